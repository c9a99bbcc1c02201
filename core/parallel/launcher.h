// `ditstream ... --gpus N`: starts N rank processes of a program with the environment torchrun
// would give them (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT) and
// watches them. Rank 0 is the one in charge (it serves HTTP); the launcher starts, waits, stops and
// restarts. A rank that fails (non-zero exit, killed by a signal) is reported by rank number.
// Rank 0 failing, or any rank failing before rank 0 said its world is up, stops the others:
// SIGTERM, then SIGKILL after a grace period, and the launcher exits with the failed rank's status.
// Once rank 0 said "ready" (launcher_channel.h), a failure of another rank is told to rank 0 (which
// fails the running job and keeps serving), the other ranks but 0 are killed, and after a back-off
// all of them are started again with the next generation (DITSTREAM_RANK_GENERATION), with which
// they and rank 0 form a new world; NCCL cannot take one member back into a world. At most
// `max_restarts` restarts within `restart_window`; the next failure makes the launcher give up:
// rank 0 is told and keeps serving status and recordings without the other ranks. SIGINT/SIGTERM
// to the launcher are passed on to every rank. Torch-free, no HTTP.
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
  // Restarts of ranks 1..N-1 (0: none; a failure then stops every rank, as before rank 0 is ready).
  int max_restarts = 0;
  std::chrono::milliseconds restart_window{std::chrono::minutes(10)};
  // Wait before the k-th restart within the window: backoff * 2^(k-1), at most backoff_max.
  std::chrono::milliseconds backoff{1000};
  std::chrono::milliseconds backoff_max{30000};
};

struct LaunchResult {
  int exit_code = 0;               // 0 when every rank exited 0
  std::optional<int> failed_rank;  // the first rank that failed
  std::string failure;             // "rank 1 (pid 42) exited with code 3"
  int restarts = 0;                // times ranks 1..N-1 were started again
  bool gave_up = false;            // a failure past the restart limit left rank 0 alone
  std::string last_restart_cause;  // the failure that caused the last restart (or giving up)
};

// The wait before the `nth` restart (1-based) within the window.
std::chrono::milliseconds restart_backoff(const LaunchOptions& options, int nth);

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
// `restart` gives the restart settings (ranks, program and args are filled in here).
int relaunch_as_ranks(int argc, char** argv, int ranks, LaunchOptions restart = {});

}  // namespace ditstream::parallel
