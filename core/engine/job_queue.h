// The FIFO job queue: a bounded line of submitted jobs and two workers that run them on the engine
// as a pipeline. The denoise worker takes jobs in order and runs their first stage (text encoding,
// denoising, previews); the finish worker runs the second (final decode, the stream's encoding, the
// recording). So job N+1 denoises while job N finishes, when the engine's memory budget admits both
// stages at once; otherwise job N+1 waits and its status says why. The queue keeps each job's record
// and engine timeline in the store, fans events out to observers (the stream, metrics) and to
// readers (SSE), and cancels queued jobs and jobs in either stage.
#pragma once

#include <cstdint>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/engine/engine.h"
#include "core/engine/job_store.h"
#include "core/engine/metrics.h"

namespace ditstream::engine {

// Something that follows every job: the stream hub encodes its frames, records it and returns the
// recording when the job ends.
class JobObserver {
 public:
  virtual ~JobObserver() = default;
  virtual void on_submitted(const std::string& id, const JobRequest& request) {}
  virtual void on_event(const std::string& id, const Event& event) = 0;
  // Called once the engine returned and before the final status is stored and announced: finish
  // this job's outputs. Returns the recording's file name for a completed job ("" for none).
  virtual std::string finalize(const std::string& id, JobStatus status) { return ""; }
  // The job and its outputs are being deleted.
  virtual void on_removed(const std::string& id) {}
};

// A subscription to one job's events: the history first, then live events. Destroying it
// unsubscribes.
class EventReader {
 public:
  struct Channel;
  explicit EventReader(std::shared_ptr<Channel> channel);
  ~EventReader();
  // The next event, or nullopt when none came within `timeout` or the stream ended.
  std::optional<Event> next(std::chrono::milliseconds timeout);
  // True once the job's terminal event was read.
  bool ended() const { return ended_; }

 private:
  std::shared_ptr<Channel> channel_;
  bool ended_ = false;
};

struct JobQueueOptions {
  int max_queued = 8;        // jobs waiting (the running ones not counted)
  int kept_histories = 64;   // finished jobs whose event history stays in memory
  bool pipeline = true;      // false: a job starts only when the previous one has finished
};

struct Submitted {
  std::string id;
  int position = 0;   // 0: runs next
  JobRecord record;   // as it was queued (the worker may have started it since)
};

class JobQueue {
 public:
  JobQueue(Engine& engine, JobStore& store, JobQueueOptions options, ServiceMetrics* metrics = nullptr);
  ~JobQueue();
  JobQueue(const JobQueue&) = delete;
  JobQueue& operator=(const JobQueue&) = delete;

  // Observers are added before start(); they must outlive the queue.
  void add_observer(JobObserver* observer);
  void start();
  // Cancels the running jobs, waits for the workers; queued jobs stay queued in the store and are
  // failed as interrupted on the next open.
  void stop();

  // Throws Error(too_many_requests) when the queue is full.
  Submitted submit(const JobRequest& request);
  // Throws Error(not_found) for an unknown id.
  JobRecord get(const std::string& id) const;
  std::vector<JobRecord> list(int offset, int limit) const;
  int count() const;
  // A queued job becomes canceled at once; a running one (in either stage) is asked to stop (its
  // status follows).
  // Throws Error(conflict) for a finished job.
  JobRecord cancel(const std::string& id);
  // Deletes a finished job and its outputs; throws Error(conflict) while it is queued or running.
  void remove(const std::string& id);
  std::unique_ptr<EventReader> subscribe(const std::string& id);

  int queue_length() const;
  int max_queued() const { return options_.max_queued; }
  std::optional<int> queue_position(const std::string& id) const;
  // A guess of when a slot frees up, for Retry-After.
  int retry_after_seconds() const;

 private:
  struct Live;
  struct Handoff {
    std::string id;
    std::unique_ptr<Finisher> finisher;
  };
  // Lets the engine's readiness subscription (Engine::on_readiness_change) reach this queue while
  // it exists and nothing after: the engine outlives it.
  struct ReadinessBell {
    std::mutex mutex;
    JobQueue* queue = nullptr;
  };
  void readiness_changed();
  void denoise_loop();
  void finish_loop();
  // Whether the job at the front may start denoising now; notes on it why not (caller holds mutex_).
  bool admits_front();
  std::unique_ptr<Finisher> run_denoise(const std::string& id);
  void run_finish(Handoff handoff);
  void on_engine_event(const std::string& id, Event event);
  void publish(const std::string& id, const Event& event);
  void finish(const std::string& id, JobStatus status, const std::string& error);
  void trim_histories();
  JobRecord snapshot(const std::string& id) const;
  std::shared_ptr<Live> live(const std::string& id) const;

  Engine& engine_;
  std::shared_ptr<ReadinessBell> bell_ = std::make_shared<ReadinessBell>();
  JobStore& store_;
  JobQueueOptions options_;
  ServiceMetrics* metrics_;
  std::vector<JobObserver*> observers_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::string> pending_;
  std::map<std::string, std::shared_ptr<Live>> live_;
  std::deque<std::string> finished_order_;
  std::string denoising_;           // in the first stage
  std::optional<Handoff> handoff_;  // denoised, waiting for the finish worker
  std::string finishing_;           // in the second stage
  bool stopping_ = false;           // the denoise worker stops
  bool finish_stopping_ = false;    // the finish worker stops once nothing is handed over
  double mean_job_seconds_ = 5;
  uint64_t next_serial_ = 0;
  std::thread denoise_worker_;
  std::thread finish_worker_;
};

}  // namespace ditstream::engine
