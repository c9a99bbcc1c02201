// The rank launcher with /bin/sh standing in for the ranks.
#include "core/parallel/launcher.h"

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>

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
