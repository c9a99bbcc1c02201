#include "core/parallel/rank_environment.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>

#include "core/util/error.h"

namespace ditstream {
namespace {

using parallel::RankSource;

parallel::RankEnvironment parse(const std::map<std::string, std::string>& vars) {
  return parallel::rank_environment_from([&](std::string_view name) -> std::optional<std::string> {
    const auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  });
}

void expect_invalid(const std::map<std::string, std::string>& vars, const std::string& field,
                    const std::string& fragment) {
  try {
    parse(vars);
    FAIL() << "expected an error about " << field;
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), field) << e.what();
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(RankEnvironment, NothingSetIsAWorldOfOne) {
  const auto env = parse({});
  EXPECT_EQ(env.source, RankSource::single);
  EXPECT_EQ(env.rank, 0);
  EXPECT_EQ(env.world_size, 1);
  EXPECT_FALSE(env.is_distributed());
}

TEST(RankEnvironment, Torchrun) {
  const auto env = parse({{"RANK", "3"}, {"WORLD_SIZE", "8"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "2"},
                          {"MASTER_ADDR", "10.0.0.7"}, {"MASTER_PORT", "29511"}});
  EXPECT_EQ(env.source, RankSource::torchrun);
  EXPECT_EQ(env.rank, 3);
  EXPECT_EQ(env.world_size, 8);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.local_world_size, 2);
  EXPECT_EQ(env.master_addr, "10.0.0.7");
  EXPECT_EQ(env.master_port, 29511);
  EXPECT_TRUE(env.is_distributed());
  EXPECT_FALSE(env.agent_store);
  EXPECT_TRUE(parse({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"TORCHELASTIC_USE_AGENT_STORE", "True"}}).agent_store);
}

TEST(RankEnvironment, OpenMpiWithDefaultsOnOneHost) {
  const auto env = parse({{"OMPI_COMM_WORLD_RANK", "1"}, {"OMPI_COMM_WORLD_SIZE", "2"},
                          {"OMPI_COMM_WORLD_LOCAL_RANK", "1"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"}});
  EXPECT_EQ(env.source, RankSource::openmpi);
  EXPECT_EQ(env.rank, 1);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.master_addr, "127.0.0.1");
  EXPECT_EQ(env.master_port, 29500);
}

TEST(RankEnvironment, TorchrunWinsOverOpenMpi) {
  const auto env = parse({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"OMPI_COMM_WORLD_RANK", "1"},
                          {"OMPI_COMM_WORLD_SIZE", "2"}});
  EXPECT_EQ(env.source, RankSource::torchrun);
  EXPECT_EQ(env.rank, 0);
  EXPECT_EQ(env.local_rank, 0);
}

TEST(RankEnvironment, RejectsBadValues) {
  expect_invalid({{"RANK", "x"}, {"WORLD_SIZE", "2"}}, "RANK", "'x' is not an integer");
  expect_invalid({{"RANK", "2"}, {"WORLD_SIZE", "2"}}, "RANK", "must be below the world size 2");
  expect_invalid({{"RANK", "0"}}, "WORLD_SIZE", "is not set but RANK is");
  expect_invalid({{"WORLD_SIZE", "0"}, {"RANK", "0"}}, "WORLD_SIZE", "outside [1,");
  expect_invalid({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "70000"}}, "MASTER_PORT", "outside [1, 65535]");
  expect_invalid({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", ""}}, "MASTER_ADDR", "empty");
  expect_invalid({{"RANK", "0"}, {"WORLD_SIZE", "4"}, {"LOCAL_WORLD_SIZE", "2"}}, "MASTER_ADDR",
                 "spans several hosts");
  expect_invalid({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "2"}}, "LOCAL_RANK", "below the local world");
  expect_invalid({{"OMPI_COMM_WORLD_RANK", "3"}, {"OMPI_COMM_WORLD_SIZE", "2"}}, "OMPI_COMM_WORLD_RANK",
                 "below the world size");
}

TEST(RankEnvironment, NvlinkMulticastStaysOff) {
  ::unsetenv("NCCL_NVLS_ENABLE");
  parallel::apply_nccl_environment_defaults();
  EXPECT_STREQ(std::getenv("NCCL_NVLS_ENABLE"), "0");
  ::setenv("NCCL_NVLS_ENABLE", "1", 1);
  parallel::apply_nccl_environment_defaults();
  EXPECT_STREQ(std::getenv("NCCL_NVLS_ENABLE"), "0");
}

}  // namespace
}  // namespace ditstream
