// The rank launcher with /bin/sh standing in for the ranks.
#include "core/parallel/launcher.h"

#include <sys/socket.h>

#include <gtest/gtest.h>

#include <chrono>
#include <algorithm>
#include <fstream>
#include <sstream>

#include "core/parallel/launcher_channel.h"
#include "core/util/error.h"
#include "tests/support/test_support.h"

namespace ditstream {
namespace {

using namespace std::chrono_literals;

parallel::LaunchOptions shell(int ranks, const std::string& script) {
  parallel::LaunchOptions o;
  o.ranks = ranks;
  o.program = "/bin/sh";
  o.args = {"-c", script};
  o.stop_grace = 2000ms;
  return o;
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Launcher, StartsEveryRankWithItsEnvironment) {
  const auto dir = testing::fresh_temp_dir();
  auto options = shell(3, "echo \"$RANK $WORLD_SIZE $LOCAL_RANK $LOCAL_WORLD_SIZE $MASTER_ADDR $MASTER_PORT "
                          "$NCCL_NVLS_ENABLE\" > " + dir.string() + "/rank$RANK");
  options.master_port = 29677;
  const auto result = parallel::launch_ranks(options);
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_FALSE(result.failed_rank.has_value());
  for (int r = 0; r < 3; ++r) {
    const std::string expected = std::to_string(r) + " 3 " + std::to_string(r) + " 3 127.0.0.1 29677 0\n";
    EXPECT_EQ(read_file(dir / ("rank" + std::to_string(r))), expected);
  }
}

TEST(Launcher, AFailingRankIsReportedAndTheOthersStopped) {
  const auto start = std::chrono::steady_clock::now();
  const auto result = parallel::launch_ranks(shell(3, "if [ \"$RANK\" = 1 ]; then exit 3; fi; exec sleep 60"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 20s);
  ASSERT_TRUE(result.failed_rank.has_value());
  EXPECT_EQ(*result.failed_rank, 1);
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_NE(result.failure.find("rank 1"), std::string::npos) << result.failure;
  EXPECT_NE(result.failure.find("exited with code 3"), std::string::npos) << result.failure;
}

TEST(Launcher, ARankKilledBySignalIsReported) {
  const auto result = parallel::launch_ranks(shell(2, "if [ \"$RANK\" = 0 ]; then kill -9 $$; fi; exec sleep 60"));
  ASSERT_TRUE(result.failed_rank.has_value());
  EXPECT_EQ(*result.failed_rank, 0);
  EXPECT_EQ(result.exit_code, 128 + 9);
  EXPECT_NE(result.failure.find("killed by signal 9"), std::string::npos) << result.failure;
}

TEST(Launcher, RanksThatIgnoreSigtermAreKilledAfterTheGrace) {
  const auto start = std::chrono::steady_clock::now();
  const auto result =
      parallel::launch_ranks(shell(2, "if [ \"$RANK\" = 1 ]; then exit 1; fi; trap '' TERM; while :; do sleep 0.2; done"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 20s);
  EXPECT_EQ(result.failed_rank, 1);
}

// Rank 0 of the fakes: says ready, writes every message of the launcher to rank0.log and exits 0
// once it read `last` (a message kind).
std::string fake_rank0(const std::filesystem::path& dir, const std::string& last, const std::string& first_line = "ready 0") {
  return "echo " + first_line + " >&$DITSTREAM_LAUNCHER_FD; while read kind gen rest <&$DITSTREAM_LAUNCHER_FD; do "
         "echo \"$kind $gen $rest\" >> " + dir.string() + "/rank0.log; "
         "if [ \"$kind\" = " + last + " ]; then exit 0; fi; done; exit 9";
}

std::vector<std::string> lines(const std::filesystem::path& p) {
  std::vector<std::string> out;
  std::ifstream in(p);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

parallel::LaunchOptions restarting(const std::string& script) {
  auto o = shell(3, script);
  o.max_restarts = 2;
  o.backoff = 100ms;
  o.backoff_max = 150ms;
  return o;
}

TEST(LauncherRestarts, AFollowerThatFailsAfterRank0IsReadyIsRestartedWithTheNextGeneration) {
  const auto dir = testing::fresh_temp_dir();
  // Followers of generation 0 fail (rank 2 after rank 1 already did: it is killed first); those of
  // generation 1 run until stopped.
  const std::string follower = "echo \"$RANK $DITSTREAM_RANK_GENERATION ${DITSTREAM_LAUNCHER_FD:-none}\" >> " +
                               dir.string() + "/followers; if [ \"$DITSTREAM_RANK_GENERATION\" = 0 ] && "
                               "[ \"$RANK\" = 1 ]; then sleep 0.3; exit 3; fi; exec sleep 60";
  const auto start = std::chrono::steady_clock::now();
  const auto result = parallel::launch_ranks(restarting(
      "if [ \"$RANK\" = 0 ]; then " + fake_rank0(dir, "restarted") + "; fi; " + follower));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 20s);
  EXPECT_EQ(result.exit_code, 0) << result.failure;
  EXPECT_FALSE(result.failed_rank.has_value());
  EXPECT_EQ(result.restarts, 1);
  EXPECT_FALSE(result.gave_up);
  const auto told = lines(dir / "rank0.log");
  ASSERT_EQ(told.size(), 2u);
  EXPECT_EQ(told[0].rfind("failed 0 rank 1 (pid ", 0), 0u) << told[0];
  EXPECT_NE(told[0].find("exited with code 3"), std::string::npos) << told[0];
  EXPECT_EQ(told[1], "restarted 1 ");
  auto started = lines(dir / "followers");
  std::sort(started.begin(), started.end());
  // Only rank 0 gets the channel; each follower once per generation.
  EXPECT_EQ(started, (std::vector<std::string>{"1 0 none", "1 1 none", "2 0 none", "2 1 none"}));
}

TEST(LauncherRestarts, GivesUpPastTheLimitAndRank0ServesOn) {
  const auto dir = testing::fresh_temp_dir();
  const auto start = std::chrono::steady_clock::now();
  const auto result = parallel::launch_ranks(
      restarting("if [ \"$RANK\" = 0 ]; then " + fake_rank0(dir, "gave_up") + "; fi; sleep 0.2; kill -9 $$"));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(result.exit_code, 0) << result.failure;
  EXPECT_EQ(result.restarts, 2);
  EXPECT_TRUE(result.gave_up);
  // Two back-offs: 100 ms, then 150 ms (capped).
  EXPECT_GE(elapsed, 250ms);
  const auto told = lines(dir / "rank0.log");
  ASSERT_EQ(told.size(), 6u);
  EXPECT_EQ(told[0].rfind("failed 0 rank ", 0), 0u) << told[0];
  EXPECT_NE(told[0].find("killed by signal 9"), std::string::npos) << told[0];
  EXPECT_EQ(told[1], "restarted 1 ");
  EXPECT_EQ(told[2].rfind("failed 1 ", 0), 0u) << told[2];
  EXPECT_EQ(told[3], "restarted 2 ");
  EXPECT_EQ(told[4].rfind("failed 2 ", 0), 0u) << told[4];
  EXPECT_EQ(told[5].rfind("gave_up 2 ", 0), 0u) << told[5];
  EXPECT_NE(told[5].find("3 failures within 600 s (at most 2 restarts)"), std::string::npos) << told[5];
}

TEST(LauncherRestarts, Rank0CanAskForARestart) {
  const auto dir = testing::fresh_temp_dir();
  const auto result = parallel::launch_ranks(restarting(
      "if [ \"$RANK\" = 0 ]; then echo ready 0 >&$DITSTREAM_LAUNCHER_FD; sleep 0.2; " +
      fake_rank0(dir, "restarted", "'restart 0 nccl world: all_to_all did not complete'") + "; fi; exec sleep 60"));
  EXPECT_EQ(result.exit_code, 0) << result.failure;
  EXPECT_EQ(result.restarts, 1);
  EXPECT_EQ(result.last_restart_cause, "rank 0 found the world broken: nccl world: all_to_all did not complete");
  EXPECT_EQ(lines(dir / "rank0.log"), (std::vector<std::string>{"restarted 1 "}));
}

TEST(LauncherRestarts, AFollowerFailingBeforeRank0IsReadyStopsEverything) {
  auto options = restarting("if [ \"$RANK\" = 2 ]; then exit 4; fi; exec sleep 60");
  const auto result = parallel::launch_ranks(options);
  EXPECT_EQ(result.failed_rank, 2);
  EXPECT_EQ(result.exit_code, 4);
  EXPECT_EQ(result.restarts, 0);
}

TEST(LauncherRestarts, Rank0FailingStopsEverythingEvenWhenReady) {
  const auto result = parallel::launch_ranks(restarting(
      "if [ \"$RANK\" = 0 ]; then echo ready 0 >&$DITSTREAM_LAUNCHER_FD; sleep 0.2; exit 5; fi; exec sleep 60"));
  EXPECT_EQ(result.failed_rank, 0);
  EXPECT_EQ(result.exit_code, 5);
  EXPECT_EQ(result.restarts, 0);
}

TEST(LauncherRestarts, BackoffDoublesUpToItsCap) {
  parallel::LaunchOptions o;
  o.backoff = 1000ms;
  o.backoff_max = 30000ms;
  EXPECT_EQ(parallel::restart_backoff(o, 1), 1000ms);
  EXPECT_EQ(parallel::restart_backoff(o, 2), 2000ms);
  EXPECT_EQ(parallel::restart_backoff(o, 5), 16000ms);
  EXPECT_EQ(parallel::restart_backoff(o, 6), 30000ms);
  EXPECT_EQ(parallel::restart_backoff(o, 40), 30000ms);
}

TEST(LauncherChannel, MessagesRoundTrip) {
  using K = parallel::LauncherMessage::Kind;
  for (const auto& m : {parallel::LauncherMessage{K::ready, 0, ""}, parallel::LauncherMessage{K::failed, 3, "rank 1 (pid 7) was killed"},
                        parallel::LauncherMessage{K::gave_up, 12, "no more"}}) {
    const auto line = parallel::encode_launcher_message(m);
    ASSERT_EQ(line.back(), '\n');
    EXPECT_EQ(parallel::decode_launcher_message(line.substr(0, line.size() - 1)), m);
  }
  EXPECT_EQ(parallel::encode_launcher_message({K::restart, 1, "two\nlines"}), "restart 1 two lines\n");
  EXPECT_THROW(parallel::decode_launcher_message("exploded 1"), Error);
  EXPECT_THROW(parallel::decode_launcher_message("failed"), Error);
  EXPECT_THROW(parallel::decode_launcher_message("failed -1 x"), Error);
}

TEST(LauncherChannel, CarriesLinesBothWaysAndReportsTheOtherEndGone) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  auto a = std::make_unique<parallel::LauncherChannel>(fds[0]);
  parallel::LauncherChannel b(fds[1]);
  using K = parallel::LauncherMessage::Kind;
  EXPECT_FALSE(b.receive(20ms).has_value());
  a->send({K::failed, 0, "rank 1 died"});
  a->send({K::restarted, 1, ""});
  EXPECT_EQ(b.receive(1000ms), (parallel::LauncherMessage{K::failed, 0, "rank 1 died"}));
  EXPECT_EQ(b.receive(1000ms), (parallel::LauncherMessage{K::restarted, 1, ""}));
  b.send({K::ready, 1, ""});
  EXPECT_EQ(a->receive(1000ms), (parallel::LauncherMessage{K::ready, 1, ""}));
  a.reset();
  EXPECT_THROW(b.receive(1000ms), Error);
}

TEST(Launcher, RejectsBadOptions) {
  EXPECT_THROW(parallel::launch_ranks(shell(0, "true")), Error);
  auto missing = shell(2, "true");
  missing.program = "/nonexistent/ditstream";
  EXPECT_THROW(parallel::launch_ranks(missing), Error);
}

TEST(Launcher, DropsTheGpusOption) {
  const std::vector<std::string> argv{"serve", "--gpus", "2", "--port", "0", "--gpus=4", "--model", "m"};
  EXPECT_EQ(parallel::without_option(argv, "--gpus"), (std::vector<std::string>{"serve", "--port", "0", "--model", "m"}));
  EXPECT_GT(parallel::find_free_port("127.0.0.1"), 0);
}

}  // namespace
}  // namespace ditstream
