// Rank 0 of a service over several ranks keeps the world here: the communicator, the command
// channel and the store of the current generation of ranks. Started by the `--gpus N` launcher it
// listens to the launcher (launcher_channel.h): a rank that failed makes the health "restarting"
// and aborts the world (the running job's collectives return and the job fails with that
// failure); ranks started again make rank 0 form a new world with them (same model check, new
// NCCL communicator, under the generation's keys), install it in the engine and the health goes
// back to "ok"; the launcher giving up makes it "failed". A world that broke inside a job without
// the launcher noticing (an NCCL error or timeout) is reported by the engine (world_failed) and
// rank 0 asks the launcher for a restart. Without a launcher (torchrun, mpirun) nobody restarts
// the ranks: a broken world makes the health "failed".
#pragma once

#include <c10/util/intrusive_ptr.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "core/engine/rank_commands.h"
#include "core/engine/rank_health.h"
#include "core/parallel/communicator.h"
#include "core/parallel/launcher_channel.h"

namespace c10d {
class Store;
}

namespace ditstream::engine {

struct RankWorld {
  int generation = 0;
  c10::intrusive_ptr<c10d::Store> store;  // the generation's keys
  std::unique_ptr<parallel::Communicator> world;
  std::unique_ptr<RankCommands> commands;

  RankWorld();
  RankWorld(RankWorld&&) noexcept;
  RankWorld& operator=(RankWorld&&) noexcept;
  ~RankWorld();
};

class RankRecovery {
 public:
  // Forms rank 0's part of the world of `generation` with the ranks the launcher started again;
  // throws ditstream::Error when they do not come (bounded by the rank timeout) or differ.
  using FormWorld = std::function<RankWorld(int generation)>;
  // Makes the engine run on a new world (HunyuanEngine::rebind_world); may throw.
  using Install = std::function<void(RankWorld& world)>;

  // `channel` null: no launcher. `health` must outlive this object.
  RankRecovery(RankHealth& health, std::unique_ptr<parallel::LauncherChannel> channel, RankWorld initial, FormWorld form);
  ~RankRecovery();
  RankRecovery(const RankRecovery&) = delete;
  RankRecovery& operator=(const RankRecovery&) = delete;

  // The world in use; replaced (on the recovery thread, after `install` returned) on recovery.
  RankWorld& current() { return current_; }

  // Tells the launcher that rank 0 serves and starts following its messages.
  void start(Install install);
  // Stops following the launcher; current() stays valid until destruction.
  void stop();

  // From the engine: the world broke inside a job (`why`; its communicator has failed already).
  // The first report of a break makes the health restarting (or failed without a launcher) and
  // asks the launcher for a restart. Thread-safe.
  void world_failed(const std::string& why);

 private:
  void run();
  void recover(int generation);
  void send(parallel::LauncherMessage::Kind kind, const std::string& text);

  RankHealth& health_;
  std::unique_ptr<parallel::LauncherChannel> channel_;
  FormWorld form_;
  Install install_;
  RankWorld current_;
  RankWorld retired_;  // the world before current_, while installing current_
  std::atomic<int> generation_{0};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace ditstream::engine
