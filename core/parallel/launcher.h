// `ditstream ... --gpus N`: starts N rank processes of a program with the environment torchrun
// would give them (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT) and
// watches them. Rank 0 is the one in charge (it serves HTTP); the launcher only starts, waits and
// stops. A rank that fails (non-zero exit, killed by a signal) is reported by rank number and the
// others are stopped: SIGTERM, then SIGKILL after a grace period. SIGINT/SIGTERM to the launcher
// are passed on to every rank. Torch-free, no HTTP.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace ditstream::parallel {

struct LaunchOptions {
  int ranks = 1;
  std::filesystem::path program;  // run by every rank; usually this executable
  std::vector<std::string> args;  // argv[1...] for every rank
  std::string master_addr = "127.0.0.1";
  uint16_t master_port = 0;  // 0: a free port on master_addr
  std::chrono::milliseconds stop_grace{10000};
};

struct LaunchResult {
  int exit_code = 0;               // 0 when every rank exited 0
  std::optional<int> failed_rank;  // the first rank that failed
  std::string failure;             // "rank 1 (pid 42) exited with code 3"
};

// Starts the ranks and returns when all have exited. Throws ditstream::Error for bad options or
// when a process cannot be started at all.
LaunchResult launch_ranks(const LaunchOptions& options);

// `argv` without `--name VALUE` / `--name=VALUE` (the ranks must not launch again).
std::vector<std::string> without_option(const std::vector<std::string>& argv, const std::string& name);

// A TCP port on `addr` that was free a moment ago.
uint16_t find_free_port(const std::string& addr);

// The running executable, for relaunching itself.
std::filesystem::path current_executable();

// `--gpus N` in the running program: starts N ranks of this executable with the same arguments
// minus `--gpus`, waits for them and returns the exit status to use (a failed rank's, reported).
int relaunch_as_ranks(int argc, char** argv, int ranks);

}  // namespace ditstream::parallel
