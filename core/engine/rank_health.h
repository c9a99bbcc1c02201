// The state of a service's ranks as rank 0 sees it: ok, restarting (a rank failed; the running job
// failed with that failure, queued jobs wait, the launcher starts the other ranks again and rank 0
// forms a new world with them) or failed (no more restarts: new jobs are refused with 503). Shown
// by /healthz under "rank_group"; the engine asks it whether jobs may start. Torch-free.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "core/engine/engine.h"
#include "core/engine/metrics.h"

namespace ditstream::engine {

enum class RankGroupState { ok, restarting, failed };
std::string to_string(RankGroupState state);

struct RankGroupStatus {
  int world = 1;
  RankGroupState state = RankGroupState::ok;
  int restarts = 0;          // times the other ranks were started again
  int generation = 0;        // of the ranks in the current (or coming) world
  std::string last_failure;  // "rank 1 (pid 4242) was killed by signal 9 (Killed)", "" before any
  bool restartable = false;  // run by the `--gpus N` launcher, which restarts failed ranks

  // {"world": 2, "state": "ok", "restarts": 1, "generation": 1, "last_failure": "...",
  //  "restartable": true}
  std::string to_json() const;
};

class RankHealth {
 public:
  RankHealth(int world, bool restartable);

  // The world broke: ok → restarting when restartable, else → failed. Returns true for the first
  // report of this break (later reports of the same break, from other threads, change nothing).
  bool report_failure(const std::string& what);
  // While restarting: a better account of the break than the one reported first (the launcher's
  // "rank 1 (pid 42) was killed by signal 9" after a collective's error).
  void explain(const std::string& what);
  // The launcher started the other ranks again with `generation` (counts a restart).
  void restarting(int generation);
  // A new world is formed and in use: restarting → ok.
  void recovered();
  // No more restarts: → failed, with `why` as the failure.
  void give_up(const std::string& why);

  RankGroupStatus status() const;
  // What a job that failed because of the break says: "<failure>; the ranks are being restarted"
  // or "<failure>; the ranks were not restarted ..." (failed).
  std::string job_error() const;
  // Waits until the failure is no longer `reported` (explain() gave a better account), at most
  // `timeout`.
  void wait_explained(const std::string& reported, std::chrono::milliseconds timeout) const;
  // Waits until the state is not restarting, at most `timeout`; returns the state then.
  RankGroupState wait_settled(std::chrono::milliseconds timeout) const;

  // Called after every change, outside the lock, with the new status and the previous state.
  using Listener = std::function<void(const RankGroupStatus& now, RankGroupState before)>;
  void add_listener(Listener listener);

 private:
  void changed(std::unique_lock<std::mutex>& lock, RankGroupState before);

  mutable std::mutex mutex_;
  mutable std::condition_variable settled_;
  RankGroupStatus status_;
  std::vector<Listener> listeners_;
};

// What the engine of rank 0 answers the queue: restarting → jobs wait; failed → no new jobs.
EngineReadiness readiness_of(const RankHealth& health);

// /metrics: ditstream_rank_restarts_total (counter) and ditstream_rank_group_state (gauge: 0 ok,
// 1 restarting, 2 failed). `health` must outlive `registry`'s renders; the registry must outlive
// the health's changes.
void add_rank_health_metrics(MetricsRegistry& registry, RankHealth& health);

}  // namespace ditstream::engine
