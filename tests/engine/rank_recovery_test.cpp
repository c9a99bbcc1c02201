// Rank 0's state machine over its ranks with fakes: the health's transitions (ok → restarting →
// ok, → failed; without a launcher straight to failed), and the recovery following a fake
// launcher over a real socket pair: a failed rank aborts the world, restarted ranks are formed
// into a new world that is installed and announced ready, a world that cannot be formed or a
// world that broke inside a job asks the launcher for a restart, giving up fails the ranks.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <torch/csrc/distributed/c10d/HashStore.hpp>

#include <atomic>
#include <mutex>

#include "core/engine/rank_recovery.h"
#include "core/util/error.h"

namespace ditstream {
namespace {

using namespace std::chrono_literals;
using engine::RankGroupState;
using Kind = parallel::LauncherMessage::Kind;

// A world of two seen from rank 0 that only records abort().
class FakeWorld final : public parallel::Communicator {
 public:
  explicit FakeWorld(std::atomic<int>* destroyed = nullptr) : destroyed_(destroyed) {}
  ~FakeWorld() override {
    if (destroyed_) ++*destroyed_;
  }
  int rank() const override { return 0; }
  int world_size() const override { return 2; }
  void all_reduce_sum(at::Tensor&) override {}
  at::Tensor all_gather(const at::Tensor& t, int64_t) override { return t; }
  at::Tensor all_to_all(const at::Tensor& t, int64_t, int64_t) override { return t; }
  void broadcast(at::Tensor&, int) override {}
  at::Tensor ring_exchange(const at::Tensor& t) override { return t; }
  void barrier() override {}
  std::unique_ptr<Communicator> split(int, int) override { return std::make_unique<FakeWorld>(); }
  std::string failure() const override {
    std::lock_guard lock(mutex_);
    return failure_;
  }
  void abort(const std::string& reason) override {
    std::lock_guard lock(mutex_);
    if (failure_.empty()) failure_ = "aborted: " + reason;
  }

 private:
  std::atomic<int>* destroyed_;
  mutable std::mutex mutex_;
  std::string failure_;
};

engine::RankWorld fake_world(int generation, std::atomic<int>* destroyed = nullptr) {
  engine::RankWorld w;
  w.generation = generation;
  w.store = c10::make_intrusive<c10d::HashStore>();
  w.world = std::make_unique<FakeWorld>(destroyed);
  w.commands = std::make_unique<engine::RankCommands>(w.store);
  return w;
}

template <class Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

TEST(RankHealth, GoesRestartingThenOkAndCountsRestarts) {
  engine::RankHealth health(2, true);
  std::vector<std::pair<RankGroupState, RankGroupState>> seen;  // (before, after)
  health.add_listener([&](const engine::RankGroupStatus& now, RankGroupState before) { seen.emplace_back(before, now.state); });
  EXPECT_EQ(health.status().state, RankGroupState::ok);
  EXPECT_TRUE(health.report_failure("rank 1 (pid 4242) was killed by signal 9 (Killed)"));
  EXPECT_FALSE(health.report_failure("nccl world rank 0: aborted"));  // the same break, seen again
  EXPECT_EQ(health.status().state, RankGroupState::restarting);
  EXPECT_EQ(health.job_error(), "rank 1 (pid 4242) was killed by signal 9 (Killed); the ranks are being restarted");
  EXPECT_EQ(engine::readiness_of(health).starts, false);
  EXPECT_EQ(engine::readiness_of(health).accepts, true);
  health.restarting(1);
  EXPECT_EQ(health.status().restarts, 1);
  EXPECT_EQ(health.status().generation, 1);
  health.recovered();
  EXPECT_EQ(health.status().state, RankGroupState::ok);
  EXPECT_EQ(health.wait_settled(0ms), RankGroupState::ok);
  health.wait_explained("something else", 0ms);  // returns at once: the failure is another
  EXPECT_TRUE(engine::readiness_of(health).starts);
  EXPECT_EQ(seen, (std::vector<std::pair<RankGroupState, RankGroupState>>{
                      {RankGroupState::ok, RankGroupState::restarting},
                      {RankGroupState::restarting, RankGroupState::restarting},
                      {RankGroupState::restarting, RankGroupState::ok}}));
  const auto json = health.status().to_json();
  EXPECT_NE(json.find(R"("state":"ok")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("restarts":1)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("world":2)"), std::string::npos) << json;
}

TEST(RankHealth, GivingUpFailsForGoodAndWithoutALauncherAFailureIsFinal) {
  engine::RankHealth health(4, true);
  health.report_failure("rank 3 (pid 1) exited with code 3");
  health.give_up("rank 3 (pid 2) exited with code 3; 4 failures within 600 s");
  EXPECT_EQ(health.status().state, RankGroupState::failed);
  health.restarting(5);  // too late: stays failed
  health.recovered();
  EXPECT_EQ(health.status().state, RankGroupState::failed);
  EXPECT_FALSE(engine::readiness_of(health).accepts);
  EXPECT_NE(engine::readiness_of(health).reason.find("4 failures within 600 s; the ranks were not restarted again"),
            std::string::npos);

  engine::RankHealth torchrun(2, false);
  EXPECT_TRUE(torchrun.report_failure("nccl world rank 0: all_reduce_sum did not complete within 300000 ms"));
  EXPECT_EQ(torchrun.status().state, RankGroupState::failed);
  EXPECT_NE(torchrun.job_error().find("without the ditstream launcher"), std::string::npos) << torchrun.job_error();
  EXPECT_THROW(engine::RankHealth(0, true), Error);
}

struct Launcher {  // the fake launcher's end of the channel
  Launcher() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    end = std::make_unique<parallel::LauncherChannel>(fds[0]);
    rank0 = std::make_unique<parallel::LauncherChannel>(fds[1]);
  }
  parallel::LauncherMessage next() {
    auto m = end->receive(5000ms);
    EXPECT_TRUE(m.has_value());
    return m.value_or(parallel::LauncherMessage{});
  }
  std::unique_ptr<parallel::LauncherChannel> end, rank0;
};

TEST(RankRecovery, FollowsTheLauncherThroughAFailureAndARestart) {
  Launcher launcher;
  engine::RankHealth health(2, true);
  std::atomic<int> destroyed{0};
  std::vector<int> formed;
  std::mutex mutex;
  std::vector<parallel::Communicator*> installed;
  engine::RankRecovery recovery(health, std::move(launcher.rank0), fake_world(0, &destroyed), [&](int generation) {
    std::lock_guard lock(mutex);
    formed.push_back(generation);
    return fake_world(generation, &destroyed);
  });
  auto* first = recovery.current().world.get();
  recovery.start([&](engine::RankWorld& w) {
    std::lock_guard lock(mutex);
    installed.push_back(w.world.get());
  });
  EXPECT_EQ(launcher.next(), (parallel::LauncherMessage{Kind::ready, 0, ""}));

  launcher.end->send({Kind::failed, 0, "rank 1 (pid 4242) was killed by signal 9 (Killed)"});
  ASSERT_TRUE(eventually([&] { return health.status().state == RankGroupState::restarting; }));
  ASSERT_TRUE(eventually([&] { return !first->failure().empty(); }));
  EXPECT_EQ(first->failure(), "aborted: rank 1 (pid 4242) was killed by signal 9 (Killed)");
  // A second account of the same break (the launcher after the communicator) replaces the first.
  launcher.end->send({Kind::failed, 0, "rank 1 (pid 4242) was killed by signal 9 (Killed), again"});
  health.wait_explained("rank 1 (pid 4242) was killed by signal 9 (Killed)", 5000ms);
  EXPECT_EQ(health.status().last_failure, "rank 1 (pid 4242) was killed by signal 9 (Killed), again");
  EXPECT_EQ(health.job_error(), "rank 1 (pid 4242) was killed by signal 9 (Killed), again; the ranks are being restarted");

  launcher.end->send({Kind::restarted, 1, ""});
  EXPECT_EQ(launcher.next(), (parallel::LauncherMessage{Kind::ready, 1, ""}));
  EXPECT_EQ(health.status().state, RankGroupState::ok);
  EXPECT_EQ(health.status().restarts, 1);
  {
    std::lock_guard lock(mutex);
    EXPECT_EQ(formed, (std::vector<int>{1}));
    ASSERT_EQ(installed.size(), 1u);
    EXPECT_EQ(installed[0], recovery.current().world.get());
  }
  EXPECT_EQ(recovery.current().generation, 1);
  EXPECT_EQ(destroyed.load(), 1);  // the old world, once the new one was installed

  // A world that broke inside a job: the launcher is asked for a restart, once.
  recovery.world_failed("nccl world rank 0: all_to_all did not complete within 300000 ms");
  recovery.world_failed("nccl group 0 rank 0: aborted");
  EXPECT_EQ(launcher.next(),
            (parallel::LauncherMessage{Kind::restart, 1, "nccl world rank 0: all_to_all did not complete within 300000 ms"}));
  EXPECT_FALSE(launcher.end->receive(100ms).has_value());
  EXPECT_EQ(health.status().state, RankGroupState::restarting);

  launcher.end->send({Kind::gave_up, 1, "2 failures within 600 s (at most 1 restarts)"});
  ASSERT_TRUE(eventually([&] { return health.status().state == RankGroupState::failed; }));
  EXPECT_EQ(health.status().last_failure, "2 failures within 600 s (at most 1 restarts)");
  recovery.stop();
}

TEST(RankRecovery, AWorldThatCannotBeFormedAsksForAnotherRestart) {
  Launcher launcher;
  engine::RankHealth health(2, true);
  engine::RankRecovery recovery(health, std::move(launcher.rank0), fake_world(0), [](int generation) -> engine::RankWorld {
    throw Error(ErrorKind::bad_file, "model files", "m", "ranks [1 (2:abc)] do not hold the same model files");
  });
  recovery.start([](engine::RankWorld&) {});
  EXPECT_EQ(launcher.next().kind, Kind::ready);
  launcher.end->send({Kind::failed, 0, "rank 1 (pid 5) exited with code 2"});
  launcher.end->send({Kind::restarted, 1, ""});
  const auto asked = launcher.next();
  EXPECT_EQ(asked.kind, Kind::restart);
  EXPECT_EQ(asked.generation, 1);
  EXPECT_NE(asked.text.find("rank 0 could not form the world of generation 1"), std::string::npos) << asked.text;
  EXPECT_NE(asked.text.find("do not hold the same model files"), std::string::npos) << asked.text;
  EXPECT_EQ(health.status().state, RankGroupState::restarting);
  EXPECT_EQ(recovery.current().generation, 0);
}

TEST(RankRecovery, WithoutALauncherABrokenWorldFailsTheRanks) {
  engine::RankHealth health(2, false);
  engine::RankRecovery recovery(health, nullptr, fake_world(0), [](int) -> engine::RankWorld {
    throw Error(ErrorKind::internal, "test", "", "never formed without a launcher");
  });
  recovery.start([](engine::RankWorld&) {});
  recovery.world_failed("nccl world rank 0: asynchronous NCCL error: remote process exited");
  EXPECT_EQ(health.status().state, RankGroupState::failed);
  EXPECT_NE(health.job_error().find("remote process exited; without the ditstream launcher"), std::string::npos);
}

TEST(RankRecovery, LosingTheLauncherFailsTheRanks) {
  Launcher launcher;
  engine::RankHealth health(2, true);
  engine::RankRecovery recovery(health, std::move(launcher.rank0), fake_world(0), [](int) { return fake_world(1); });
  recovery.start([](engine::RankWorld&) {});
  EXPECT_EQ(launcher.next().kind, Kind::ready);
  launcher.end.reset();
  ASSERT_TRUE(eventually([&] { return health.status().state == RankGroupState::failed; }));
  EXPECT_NE(health.status().last_failure.find("lost the launcher"), std::string::npos);
}

}  // namespace
}  // namespace ditstream
