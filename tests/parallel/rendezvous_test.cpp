// Start-up agreement over a real TCPStore on 127.0.0.1, ranks simulated by threads.
#include "core/parallel/rendezvous.h"

#include <gtest/gtest.h>
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <fstream>
#include <mutex>
#include <thread>

#include "core/parallel/launcher.h"
#include "core/util/error.h"
#include "tests/support/test_support.h"

namespace ditstream {
namespace {

using namespace std::chrono_literals;

parallel::RankEnvironment env_for(int rank, int world, uint16_t port) {
  parallel::RankEnvironment env;
  env.rank = rank;
  env.world_size = world;
  env.local_rank = rank;
  env.local_world_size = world;
  env.master_port = port;
  env.source = parallel::RankSource::torchrun;
  return env;
}

// Runs `body(rank, store)` on `world` threads joined through one TCPStore; returns each rank's
// error text ("" when it succeeded).
std::vector<std::string> run_store_ranks(int world, const std::function<void(int, c10d::Store&)>& body) {
  const uint16_t port = parallel::find_free_port("127.0.0.1");
  std::vector<std::string> errors(world);
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      try {
        auto store = parallel::connect_rendezvous(env_for(r, world, port), 20s);
        body(r, *store);
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  return errors;
}

void copy_tiny_model(const std::filesystem::path& to) {
  std::filesystem::copy(testing::tiny_model_dir(), to, std::filesystem::copy_options::recursive);
}

TEST(Rendezvous, RanksExchangeValuesInRankOrder) {
  std::mutex mutex;
  std::vector<std::vector<std::string>> seen(3);
  const auto errors = run_store_ranks(3, [&](int r, c10d::Store& store) {
    auto all = parallel::exchange_strings(store, env_for(r, 3, 0), "hello", "from " + std::to_string(r), 10s);
    std::lock_guard lock(mutex);
    seen[r] = all;
  });
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(errors[r], "");
    EXPECT_EQ(seen[r], (std::vector<std::string>{"from 0", "from 1", "from 2"}));
  }
}

TEST(Rendezvous, SameModelFilesPass) {
  const auto errors = run_store_ranks(2, [&](int r, c10d::Store& store) {
    parallel::check_same_model(store, env_for(r, 2, 0), testing::tiny_model_dir(), 10s);
  });
  EXPECT_EQ(errors, (std::vector<std::string>{"", ""}));
}

TEST(Rendezvous, MismatchedModelFilesFailEveryRank) {
  const auto dir = testing::fresh_temp_dir();
  copy_tiny_model(dir / "a");
  copy_tiny_model(dir / "b");
  EXPECT_EQ(parallel::model_files_digest(dir / "a"), parallel::model_files_digest(dir / "b"));
  {
    std::ofstream config(dir / "b" / "transformer" / "config.json", std::ios::app);
    config << "\n";
  }
  EXPECT_NE(parallel::model_files_digest(dir / "a"), parallel::model_files_digest(dir / "b"));
  const auto errors = run_store_ranks(2, [&](int r, c10d::Store& store) {
    parallel::check_same_model(store, env_for(r, 2, 0), dir / (r == 0 ? "a" : "b"), 10s);
  });
  for (const auto& e : errors) {
    EXPECT_NE(e.find("ranks [1 ("), std::string::npos) << e;
    EXPECT_NE(e.find("do not hold the same model files as rank 0"), std::string::npos) << e;
  }
}

TEST(Rendezvous, TorchrunAgentStoreIsJoinedAsAClient) {
  // torchrun's agent hosts the store on MASTER_PORT; rank 0 must not try to serve it again.
  c10d::TCPStoreOptions agent_options;
  agent_options.port = parallel::find_free_port("127.0.0.1");
  agent_options.isServer = true;
  agent_options.waitWorkers = false;
  auto agent = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", agent_options);
  std::vector<std::string> errors(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] {
      try {
        auto env = env_for(r, 2, agent_options.port);
        env.agent_store = true;
        auto store = parallel::connect_rendezvous(env, 10s);
        parallel::check_same_model(*store, env, testing::tiny_model_dir(), 10s);
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors, (std::vector<std::string>{"", ""}));
}

TEST(Rendezvous, UnreachableMasterFailsWithinTheTimeout) {
  const uint16_t port = parallel::find_free_port("127.0.0.1");  // nobody listens there
  const auto start = std::chrono::steady_clock::now();
  try {
    parallel::connect_rendezvous(env_for(1, 2, port), 2s);
    FAIL() << "connecting to a missing master should fail";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unavailable);
    EXPECT_EQ(e.field(), "MASTER_ADDR");
    EXPECT_NE(std::string(e.what()).find("could not reach the master at 127.0.0.1:" + std::to_string(port)),
              std::string::npos)
        << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 15s);
}

TEST(Rendezvous, AMissingRankTimesOut) {
  // Rank 0 of a world of 2 whose rank 1 never comes.
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(parallel::connect_rendezvous(env_for(0, 2, parallel::find_free_port("127.0.0.1")), 2s), Error);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 15s);
}

}  // namespace
}  // namespace ditstream
