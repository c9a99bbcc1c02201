// The engine over two simulated ranks (threads, one communicator each, an in-memory store for the
// commands): rank 0 runs the job and publishes it, rank 1 follows; the frames equal a one-rank
// engine's, cancelling on rank 0 stops both ranks at the same step, and the ranks stay in step
// for the next job. Also the command wire format and its errors.
#include <gtest/gtest.h>
#include <torch/csrc/distributed/c10d/HashStore.hpp>

#include <atomic>
#include <mutex>
#include <cstdlib>
#include <thread>

#include "core/engine/hunyuan_engine.h"
#include "core/util/error.h"
#include "tests/parallel/thread_ranks.h"
#include "tests/support/test_support.h"

namespace ditstream {
namespace {

engine::HunyuanEngineOptions tiny_options() {
  return {testing::tiny_model_dir(), "cpu", "float32"};
}

engine::JobRequest small_request(int steps = 3) {
  engine::JobRequest r;
  r.prompt = "two ranks";
  r.width = 32;
  r.height = 32;
  r.frames = 5;
  r.steps = steps;
  r.seed = 5;
  r.cache_threshold = 0.05;
  return r;
}

std::vector<engine::FramePtr> frames_of(engine::HunyuanEngine& e, const engine::JobRequest& r,
                                        engine::CancelToken& cancel, int cancel_at_step = 0) {
  std::vector<engine::FramePtr> frames;
  e.run(r,
        [&](engine::Event ev) {
          if (auto* p = std::get_if<engine::Progress>(&ev); p && p->step == cancel_at_step) cancel.cancel();
          if (auto* c = std::get_if<engine::FrameChunk>(&ev)) frames.insert(frames.end(), c->frames.begin(), c->frames.end());
        },
        cancel);
  return frames;
}

int max_difference(const engine::RgbFrame& a, const engine::RgbFrame& b) {
  int worst = 0;
  for (size_t i = 0; i < a.rgb.size(); ++i) worst = std::max(worst, std::abs(int(a.rgb[i]) - int(b.rgb[i])));
  return worst;
}

TEST(RankCommand, RoundTripsEveryField) {
  engine::RankCommand c;
  c.request = small_request(7);
  c.request.prompt = "quotes \" and unicode é";
  c.request.seed = -3;
  c.request.guidance = 4.5;
  const auto back = engine::decode_rank_command(engine::encode_rank_command(c));
  EXPECT_EQ(back.kind, engine::RankCommand::Kind::run);
  EXPECT_EQ(back.request.prompt, c.request.prompt);
  EXPECT_EQ(back.request.steps, 7);
  EXPECT_EQ(back.request.seed, -3);
  EXPECT_EQ(back.request.guidance, 4.5);
  EXPECT_EQ(back.request.cache_threshold, 0.05);
  const auto stop = engine::decode_rank_command(engine::encode_rank_command({engine::RankCommand::Kind::stop, {}}));
  EXPECT_EQ(stop.kind, engine::RankCommand::Kind::stop);
}

TEST(RankCommand, BadCommandsNameTheField) {
  const auto message = [](const std::string& text) {
    try {
      engine::decode_rank_command(text);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("not json").find("command"), std::string::npos);
  EXPECT_NE(message(R"({"kind":"dance"})").find("kind"), std::string::npos);
  EXPECT_NE(message(R"({"kind":"run"})").find("request"), std::string::npos);
  EXPECT_NE(message(R"({"kind":"run","request":{"prompt":"x"}})").find("width"), std::string::npos);
  EXPECT_NE(message(R"({"kind":"run","request":{"prompt":1}})").find("prompt"), std::string::npos);
}

// Runs rank 0's part on thread 0 and a follower on thread 1; returns what rank 0 saw.
struct TwoRankRun {
  std::vector<std::vector<engine::FramePtr>> jobs;
  std::vector<std::string> errors;  // per job, "" when it completed
  bool follower_told_to_stop = false;
};

TwoRankRun run_two_ranks(const std::vector<engine::JobRequest>& requests, int cancel_first_at_step) {
  auto store = c10::make_intrusive<c10d::HashStore>();
  TwoRankRun out;
  testing::run_thread_ranks(2, [&](parallel::Communicator& world) {
    engine::RankCommands commands(store);
    auto options = tiny_options();
    options.world = &world;
    options.commands = &commands;
    auto engine = std::make_unique<engine::HunyuanEngine>(options);
    EXPECT_EQ(engine->parallelism(), "2 ranks, ulysses 2 x ring 1");
    if (world.rank() != 0) {
      std::atomic<bool> stopping{false};
      out.follower_told_to_stop = engine->follow(stopping);
      return;
    }
    for (size_t j = 0; j < requests.size(); ++j) {
      engine::CancelToken cancel;
      try {
        out.jobs.push_back(frames_of(*engine, requests[j], cancel, j == 0 ? cancel_first_at_step : 0));
        out.errors.emplace_back();
      } catch (const Error& e) {
        out.jobs.emplace_back();
        out.errors.emplace_back(e.what());
      }
    }
    engine.reset();  // tells the follower to stop
  });
  return out;
}

TEST(ContextParallelEngine, TwoRanksMakeTheFramesOfOne) {
  engine::HunyuanEngine single(tiny_options());
  engine::CancelToken cancel;
  const auto expected = frames_of(single, small_request(), cancel);

  const auto two = run_two_ranks({small_request()}, 0);
  ASSERT_EQ(two.errors.at(0), "");
  EXPECT_TRUE(two.follower_told_to_stop);
  ASSERT_EQ(two.jobs.at(0).size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_LE(max_difference(*two.jobs[0][i], *expected[i]), 1) << "frame " << i;
  }
}

TEST(ContextParallelEngine, EachRankDecodesABandOfTheFrame) {
  // 160 pixels high: 20 latent rows, two bands of 10 (+8 overlap), one per rank. One rank with
  // the same two bands makes the same frames; the whole-frame decode differs at the seam.
  auto request = small_request();
  request.height = 160;
  auto banded = tiny_options();
  banded.decode_row_bands = 2;
  engine::HunyuanEngine single_banded(banded);
  engine::HunyuanEngine single_whole(tiny_options());
  engine::CancelToken cancel;
  const auto expected = frames_of(single_banded, request, cancel);
  const auto whole = frames_of(single_whole, request, cancel);

  const auto two = run_two_ranks({request}, 0);
  ASSERT_EQ(two.errors.at(0), "");
  ASSERT_EQ(two.jobs.at(0).size(), expected.size());
  int seam = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_LE(max_difference(*two.jobs[0][i], *expected[i]), 1) << "frame " << i;
    seam = std::max(seam, max_difference(*whole[i], *expected[i]));
  }
  EXPECT_GT(seam, 0) << "the bands were not used";

  auto bad = tiny_options();
  bad.decode_row_bands = -1;
  try {
    engine::HunyuanEngine e(bad);
    ADD_FAILURE() << "a negative band count was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), "decode_row_bands") << e.what();
  }
}

TEST(ContextParallelEngine, CancelOnRankZeroStopsBothRanksAndTheNextJobRuns) {
  const auto two = run_two_ranks({small_request(8), small_request()}, 2);
  ASSERT_EQ(two.errors.size(), 2u);
  EXPECT_NE(two.errors[0].find("cancel"), std::string::npos) << two.errors[0];
  EXPECT_EQ(two.errors[1], "");
  EXPECT_EQ(two.jobs[1].size(), 5u);
  EXPECT_TRUE(two.follower_told_to_stop);
}

TEST(ContextParallelEngine, IdleFollowerReturnsWhenStopping) {
  auto store = c10::make_intrusive<c10d::HashStore>();
  engine::RankCommands commands(store);
  std::atomic<bool> stopping{true};
  EXPECT_FALSE(commands.next(stopping).has_value());
}

TEST(ContextParallelEngine, OnlyRankZeroRunsJobs) {
  auto store = c10::make_intrusive<c10d::HashStore>();
  testing::run_thread_ranks(2, [&](parallel::Communicator& world) {
    engine::RankCommands commands(store);
    auto options = tiny_options();
    options.world = &world;
    options.commands = &commands;
    engine::HunyuanEngine e(options);
    if (world.rank() == 1) {
      engine::CancelToken cancel;
      EXPECT_THROW(e.run(small_request(), [](engine::Event) {}, cancel), Error);
      std::atomic<bool> stopping{false};
      EXPECT_TRUE(e.follow(stopping));  // rank 0's engine says stop when it goes
    } else {
      std::atomic<bool> stopping{false};
      EXPECT_THROW(e.follow(stopping), Error);
    }
  });
}

// The ranks but 0 were restarted: rank 0 keeps its engine (and model) and moves to the new world
// the restarted ranks build their engines on; the next job runs on both and makes the same frames.
TEST(ContextParallelEngine, RankZeroMovesToTheWorldOfRestartedRanks) {
  engine::HunyuanEngine single(tiny_options());
  engine::CancelToken cancel;
  const auto expected = frames_of(single, small_request(), cancel);

  auto first = parallel::make_thread_communicators(2);
  auto second = parallel::make_thread_communicators(2);
  auto first_store = c10::make_intrusive<c10d::HashStore>();
  auto second_store = c10::make_intrusive<c10d::HashStore>();
  engine::RankCommands first0(first_store), first1(first_store), second0(second_store), second1(second_store);
  engine::RankHealth health(2, true);
  auto follower = [&](parallel::Communicator* world, engine::RankCommands* commands, std::atomic<bool>& stopping,
                      bool& told) {
    auto options = tiny_options();
    options.world = world;
    options.commands = commands;
    engine::HunyuanEngine e(options);
    told = e.follow(stopping);
  };

  std::atomic<bool> stop_first{false}, stop_second{false};
  bool told_first = false, told_second = false;
  std::thread first_follower(follower, first[1].get(), &first1, std::ref(stop_first), std::ref(told_first));
  auto options = tiny_options();
  options.world = first[0].get();
  options.commands = &first0;
  options.rank_health = &health;
  auto rank0 = std::make_unique<engine::HunyuanEngine>(options);
  engine::CancelToken c1;
  EXPECT_EQ(frames_of(*rank0, small_request(), c1).size(), expected.size());

  // Rank 1 goes away between jobs; rank 0 hears of it and refuses to start a job meanwhile.
  stop_first = true;
  first_follower.join();
  EXPECT_FALSE(told_first);
  health.report_failure("rank 1 (pid 4242) was killed by signal 9 (Killed)");
  EXPECT_FALSE(rank0->readiness().starts);
  try {
    engine::CancelToken c2;
    frames_of(*rank0, small_request(), c2);
    ADD_FAILURE() << "a job started while the ranks restart";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rank 1 (pid 4242) was killed by signal 9 (Killed); the ranks are being restarted"),
              std::string::npos)
        << e.what();
  }

  health.restarting(1);
  std::thread second_follower(follower, second[1].get(), &second1, std::ref(stop_second), std::ref(told_second));
  rank0->rebind_world(second[0].get(), &second0);  // forms the mesh's groups with the new rank 1
  health.recovered();
  EXPECT_TRUE(rank0->readiness().starts);
  engine::CancelToken c3;
  const auto after = frames_of(*rank0, small_request(), c3);
  ASSERT_EQ(after.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_LE(max_difference(*after[i], *expected[i]), 1) << "frame " << i;
  rank0.reset();  // tells the new rank 1 to stop
  second_follower.join();
  EXPECT_TRUE(told_second);
}

// Rank 0 of two with its partner played by a mirror: a rank that holds the same data as rank 0
// (all_gather and all_to_all hand back rank 0's own part twice, all_reduce_sum doubles). The
// mirror and the groups split from it fail together on abort(), as NCCL's do: every later
// collective throws. The groups' sizes are given in the order the mesh asks for them.
class MirrorWorld final : public parallel::Communicator {
 public:
  struct State {
    std::mutex mutex;
    std::string failure;
  };
  MirrorWorld(int size, std::vector<int> split_sizes, std::shared_ptr<State> state = std::make_shared<State>())
      : size_(size), split_sizes_(std::move(split_sizes)), state_(std::move(state)) {}
  int rank() const override { return 0; }
  int world_size() const override { return size_; }
  void all_reduce_sum(at::Tensor& t) override {
    check("all_reduce_sum");
    t.mul_(size_);
  }
  at::Tensor all_gather(const at::Tensor& t, int64_t dim) override {
    check("all_gather");
    return at::cat(std::vector<at::Tensor>(size_, t), dim);
  }
  at::Tensor all_to_all(const at::Tensor& t, int64_t scatter_dim, int64_t gather_dim) override {
    check("all_to_all");
    const at::Tensor mine = t.chunk(size_, scatter_dim)[0];
    return at::cat(std::vector<at::Tensor>(size_, mine), gather_dim);
  }
  void broadcast(at::Tensor&, int) override { check("broadcast"); }
  at::Tensor ring_exchange(const at::Tensor& t) override {
    check("ring_exchange");
    return t.clone();
  }
  void barrier() override { check("barrier"); }
  std::unique_ptr<Communicator> split(int, int) override {
    check("split");
    const int size = split_sizes_.empty() ? 1 : split_sizes_.front();
    if (!split_sizes_.empty()) split_sizes_.erase(split_sizes_.begin());
    return std::make_unique<MirrorWorld>(size, std::vector<int>{}, state_);
  }
  std::string failure() const override {
    std::lock_guard lock(state_->mutex);
    return state_->failure;
  }
  void abort(const std::string& reason) override {
    std::lock_guard lock(state_->mutex);
    if (state_->failure.empty()) state_->failure = "mirror: aborted: " + reason;
  }

 private:
  void check(const char* what) const {
    const std::string failure = this->failure();
    if (!failure.empty()) throw Error(ErrorKind::unavailable, "mirror", what, "communicator failed earlier: " + failure);
  }
  int size_;
  std::vector<int> split_sizes_;
  std::shared_ptr<State> state_;
};

// Rank 0 hears of a dead rank during a job: its world is aborted from another thread, the job
// fails with the failure's words (not as canceled) and the engine reports the broken world; on a
// new world the next job runs.
TEST(ContextParallelEngine, AJobOnAnAbortedWorldFailsWithTheRankFailureAndTheNextRunsOnANewWorld) {
  engine::RankHealth health(2, true);
  auto store = c10::make_intrusive<c10d::HashStore>();
  engine::RankCommands commands(store);
  MirrorWorld first(2, {2, 1});  // ulysses 2 x ring 1: a Ulysses group of 2, ring groups of 1
  auto second_store = c10::make_intrusive<c10d::HashStore>();  // the world after the restart
  engine::RankCommands second_commands(second_store);
  MirrorWorld second(2, {2, 1});
  std::vector<std::string> reported;
  auto options = tiny_options();
  options.world = &first;
  options.commands = &commands;
  options.mesh = {2, 1};
  options.rank_health = &health;
  options.world_failed = [&](const std::string& why) { reported.push_back(why); };
  engine::HunyuanEngine rank0(options);
  EXPECT_EQ(rank0.parallelism(), "2 ranks, ulysses 2 x ring 1");

  const std::string death = "rank 1 (pid 4242) was killed by signal 9 (Killed)";
  std::thread launcher_news;
  engine::CancelToken cancel;
  try {
    rank0.run(small_request(8),
              [&](engine::Event ev) {
                const auto* p = std::get_if<engine::Progress>(&ev);
                if (p == nullptr || p->step != 2 || launcher_news.joinable()) return;
                launcher_news = std::thread([&] {  // what the recovery does on the launcher's word
                  health.report_failure(death);
                  first.abort(death);
                });
                launcher_news.join();
              },
              cancel);
    ADD_FAILURE() << "the job should fail once its world is aborted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unavailable);
    EXPECT_NE(std::string(e.what()).find(death + "; the ranks are being restarted"), std::string::npos) << e.what();
  }
  ASSERT_EQ(reported.size(), 1u);
  EXPECT_EQ(reported[0], "mirror: aborted: " + death);
  EXPECT_FALSE(rank0.readiness().starts);

  health.restarting(1);
  rank0.rebind_world(&second, &second_commands);
  health.recovered();
  engine::CancelToken next;
  EXPECT_EQ(frames_of(rank0, small_request(), next).size(), 5u);
  // The job went out on the new world's command channel.
  std::atomic<bool> stopping{false};
  EXPECT_TRUE(engine::RankCommands(second_store).next(stopping).has_value());
}

}  // namespace
}  // namespace ditstream
