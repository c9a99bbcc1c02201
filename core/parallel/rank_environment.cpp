#include "core/parallel/rank_environment.h"

#include <charconv>
#include <cstdlib>

#include "core/util/error.h"
#include "core/util/log.h"

namespace ditstream::parallel {
namespace {

constexpr std::string_view kContext = "rank environment";

int64_t parse_integer(std::string_view name, const std::string& text, int64_t min, int64_t max) {
  int64_t value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  require(ec == std::errc() && ptr == end && !text.empty(), kContext, name,
          "'" + text + "' is not an integer");
  require(value >= min && value <= max, kContext, name,
          "'" + text + "' is outside [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  return value;
}

std::optional<int64_t> read_integer(const EnvironmentLookup& lookup, std::string_view name, int64_t min, int64_t max) {
  const auto text = lookup(name);
  if (!text) return std::nullopt;
  return parse_integer(name, *text, min, max);
}

int required_integer(const EnvironmentLookup& lookup, std::string_view name, std::string_view because, int64_t min,
                     int64_t max) {
  const auto value = read_integer(lookup, name, min, max);
  require(value.has_value(), kContext, name, "is not set but " + std::string(because) + " is");
  return static_cast<int>(*value);
}

constexpr int64_t kMaxRanks = 1 << 16;

}  // namespace

std::string_view to_string(RankSource source) {
  switch (source) {
    case RankSource::single: return "single";
    case RankSource::torchrun: return "torchrun";
    case RankSource::openmpi: return "openmpi";
  }
  return "unknown";
}

RankEnvironment rank_environment_from(const EnvironmentLookup& lookup) {
  RankEnvironment env;
  if (lookup("RANK") || lookup("WORLD_SIZE")) {
    env.source = RankSource::torchrun;
    env.world_size = required_integer(lookup, "WORLD_SIZE", "RANK", 1, kMaxRanks);
    env.rank = required_integer(lookup, "RANK", "WORLD_SIZE", 0, kMaxRanks - 1);
    env.local_rank = static_cast<int>(read_integer(lookup, "LOCAL_RANK", 0, kMaxRanks - 1).value_or(env.rank));
    env.local_world_size =
        static_cast<int>(read_integer(lookup, "LOCAL_WORLD_SIZE", 1, kMaxRanks).value_or(env.world_size));
  } else if (lookup("OMPI_COMM_WORLD_RANK") || lookup("OMPI_COMM_WORLD_SIZE")) {
    env.source = RankSource::openmpi;
    env.world_size = required_integer(lookup, "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", 1, kMaxRanks);
    env.rank = required_integer(lookup, "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", 0, kMaxRanks - 1);
    env.local_rank =
        static_cast<int>(read_integer(lookup, "OMPI_COMM_WORLD_LOCAL_RANK", 0, kMaxRanks - 1).value_or(env.rank));
    env.local_world_size =
        static_cast<int>(read_integer(lookup, "OMPI_COMM_WORLD_LOCAL_SIZE", 1, kMaxRanks).value_or(env.world_size));
  }
  const std::string rank_name = env.source == RankSource::openmpi ? "OMPI_COMM_WORLD_RANK" : "RANK";
  require(env.rank < env.world_size, kContext, rank_name,
          std::to_string(env.rank) + " must be below the world size " + std::to_string(env.world_size));
  require(env.local_rank < env.local_world_size, kContext, "LOCAL_RANK",
          std::to_string(env.local_rank) + " must be below the local world size " +
              std::to_string(env.local_world_size));
  require(env.local_world_size <= env.world_size, kContext, "LOCAL_WORLD_SIZE",
          std::to_string(env.local_world_size) + " exceeds the world size " + std::to_string(env.world_size));

  if (const auto addr = lookup("MASTER_ADDR")) {
    require(!addr->empty(), kContext, "MASTER_ADDR", "is set but empty");
    env.master_addr = *addr;
  } else {
    require(env.world_size == 1 || env.local_world_size == env.world_size, kContext, "MASTER_ADDR",
            "is not set, and the job spans several hosts (" + std::to_string(env.world_size) + " ranks, " +
                std::to_string(env.local_world_size) + " on this host)");
  }
  if (const auto port = read_integer(lookup, "MASTER_PORT", 1, 65535)) env.master_port = static_cast<uint16_t>(*port);
  env.agent_store = env.source == RankSource::torchrun && lookup("TORCHELASTIC_USE_AGENT_STORE") == "True";
  return env;
}

RankEnvironment rank_environment_from_process() {
  return rank_environment_from([](std::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  });
}

void apply_nccl_environment_defaults() {
  const char* nvls = std::getenv("NCCL_NVLS_ENABLE");
  if (nvls != nullptr && std::string_view(nvls) != "0") {
    log::warn("NCCL_NVLS_ENABLE={} ignored: NVLink multicast stays off (set to 0)", nvls);
  }
  ::setenv("NCCL_NVLS_ENABLE", "0", 1);
}

}  // namespace ditstream::parallel
