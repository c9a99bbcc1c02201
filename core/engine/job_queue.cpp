#include "core/engine/job_queue.h"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <new>
#include <random>

#include "core/util/error.h"
#include "core/util/log.h"

namespace ditstream::engine {
namespace {

using Clock = std::chrono::steady_clock;

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string gib(int64_t bytes) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.2f GiB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
  return text;
}

// The outcome of a stage that threw: canceled by its owner, or failed with the reason.
std::pair<JobStatus, std::string> outcome_of(std::exception_ptr failure, const char* stage) {
  try {
    std::rethrow_exception(failure);
  } catch (const Error& e) {
    if (e.kind() == ErrorKind::canceled) return {JobStatus::canceled, "canceled while running"};
    return {JobStatus::failed, e.what()};
  } catch (const std::bad_alloc&) {
    return {JobStatus::failed, std::string("out of memory while ") + stage + "; the job's memory was freed"};
  } catch (const std::exception& e) {
    return {JobStatus::failed, std::string("engine failure: ") + e.what()};
  }
}

std::string new_job_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "video_";
  for (int i = 0; i < 16; ++i) id += kHex[rng() % 16];
  return id;
}

}  // namespace

struct EventReader::Channel {
  std::mutex mutex;
  std::condition_variable ready;
  std::deque<Event> events;
  bool closed = false;
};

struct JobQueue::Live {
  JobRecord record;
  Clock::time_point submitted = Clock::now();
  CancelToken cancel;
  Timeline timeline;
  bool waited_for_memory = false;  // a note about it is already on the record
  std::string waited_for_engine;   // the engine's reason for not starting it, already noted
  std::vector<Event> history;  // without pixels
  std::vector<std::weak_ptr<EventReader::Channel>> readers;
  bool first_step_seen = false;
  bool first_preview_seen = false;
  bool first_frame_seen = false;
};

EventReader::EventReader(std::shared_ptr<Channel> channel) : channel_(std::move(channel)) {}

EventReader::~EventReader() {
  std::lock_guard lock(channel_->mutex);
  channel_->closed = true;
  channel_->events.clear();
}

std::optional<Event> EventReader::next(std::chrono::milliseconds timeout) {
  if (ended_) return std::nullopt;
  std::unique_lock lock(channel_->mutex);
  channel_->ready.wait_for(lock, timeout, [&] { return !channel_->events.empty(); });
  if (channel_->events.empty()) return std::nullopt;
  Event e = std::move(channel_->events.front());
  channel_->events.pop_front();
  if (is_terminal(e)) ended_ = true;
  return e;
}

JobQueue::JobQueue(Engine& engine, JobStore& store, JobQueueOptions options, ServiceMetrics* metrics)
    : engine_(engine), store_(store), options_(options), metrics_(metrics) {
  require(options_.max_queued >= 1, "job queue", "queue_length", "must be at least 1, got " +
                                                                      std::to_string(options_.max_queued));
  bell_->queue = this;
  engine_.on_readiness_change([bell = bell_] {
    std::lock_guard lock(bell->mutex);
    if (bell->queue != nullptr) bell->queue->readiness_changed();
  });
}

JobQueue::~JobQueue() {
  stop();
  std::lock_guard lock(bell_->mutex);  // waits for a ring under way
  bell_->queue = nullptr;
}

void JobQueue::readiness_changed() {
  { std::lock_guard lock(mutex_); }  // a worker between its check and its wait sees the change
  wake_.notify_all();
}

void JobQueue::add_observer(JobObserver* observer) { observers_.push_back(observer); }

void JobQueue::start() {
  std::lock_guard lock(mutex_);
  if (denoise_worker_.joinable()) return;
  stopping_ = false;
  finish_stopping_ = false;
  denoise_worker_ = std::thread([this] { denoise_loop(); });
  finish_worker_ = std::thread([this] { finish_loop(); });
}

void JobQueue::stop() {
  {
    std::lock_guard lock(mutex_);
    if (!denoise_worker_.joinable()) return;
    stopping_ = true;
    for (const auto* id : {&denoising_, &finishing_, handoff_ ? &handoff_->id : nullptr}) {
      if (id && !id->empty()) live_.at(*id)->cancel.cancel();
    }
  }
  wake_.notify_all();
  denoise_worker_.join();
  // Only now: a job the denoise worker handed over while stopping still gets its final status.
  {
    std::lock_guard lock(mutex_);
    finish_stopping_ = true;
    if (handoff_) live_.at(handoff_->id)->cancel.cancel();
  }
  wake_.notify_all();
  finish_worker_.join();
}

Submitted JobQueue::submit(const JobRequest& request) {
  if (const auto ready = engine_.readiness(); !ready.accepts) {
    throw Error(ErrorKind::unavailable, "job queue", "engine", "no new jobs: " + ready.reason);
  }
  std::shared_ptr<Live> live = std::make_shared<Live>();
  int position = 0;
  {
    std::lock_guard lock(mutex_);
    if (static_cast<int>(pending_.size()) >= options_.max_queued) {
      throw Error(ErrorKind::too_many_requests, "job queue", "queue",
                  "the queue is full (" + std::to_string(options_.max_queued) + " jobs waiting)");
    }
    live->record.id = new_job_id();
    live->record.request = request;
    live->record.status = JobStatus::queued;
    // Ties in created_at are broken by the store's rowid; a serial keeps ordering strict anyway.
    live->record.created_at = unix_now() + 1e-9 * static_cast<double>(next_serial_++);
    live->record.text_path = engine_.paths().text_path;
    live->record.decode_path = engine_.paths().decode_path;
    store_.put(live->record);
    live_[live->record.id] = live;
  }
  // Copied before the worker can see the job.
  Submitted submitted{live->record.id, 0, live->record};
  for (auto* o : observers_) o->on_submitted(live->record.id, request);
  {
    std::lock_guard lock(mutex_);
    position = static_cast<int>(pending_.size());
  }
  // Announced before the worker can start it, so every reader sees Queued before Started.
  publish(live->record.id, Queued{position});
  {
    std::lock_guard lock(mutex_);
    pending_.push_back(live->record.id);
    if (metrics_) metrics_->queue_length.set(static_cast<double>(pending_.size()));
  }
  wake_.notify_all();
  submitted.position = position;
  return submitted;
}

JobRecord JobQueue::snapshot(const std::string& id) const {
  {
    std::lock_guard lock(mutex_);
    if (auto it = live_.find(id); it != live_.end()) {
      JobRecord r = it->second->record;
      r.timeline = it->second->timeline.spans();
      return r;
    }
  }
  if (auto r = store_.get(id)) return *r;
  throw Error(ErrorKind::not_found, "job queue", "id", "no video with id '" + id + "'");
}

JobRecord JobQueue::get(const std::string& id) const { return snapshot(id); }

std::vector<JobRecord> JobQueue::list(int offset, int limit) const {
  auto records = store_.list(offset, limit);
  std::lock_guard lock(mutex_);
  for (auto& r : records) {
    if (auto it = live_.find(r.id); it != live_.end()) {
      r = it->second->record;
      r.timeline = it->second->timeline.spans();
    }
  }
  return records;
}

int JobQueue::count() const { return store_.count(); }

int JobQueue::queue_length() const {
  std::lock_guard lock(mutex_);
  return static_cast<int>(pending_.size());
}

std::optional<int> JobQueue::queue_position(const std::string& id) const {
  std::lock_guard lock(mutex_);
  const auto it = std::find(pending_.begin(), pending_.end(), id);
  if (it == pending_.end()) return std::nullopt;
  return static_cast<int>(it - pending_.begin());
}

int JobQueue::retry_after_seconds() const {
  std::lock_guard lock(mutex_);
  return std::max(1, static_cast<int>(std::ceil(mean_job_seconds_)));
}

JobRecord JobQueue::cancel(const std::string& id) {
  bool was_queued = false;
  {
    std::lock_guard lock(mutex_);
    const auto it = live_.find(id);
    if (it == live_.end() || is_terminal(it->second->record.status)) {
      if (it == live_.end() && !store_.get(id)) {
        throw Error(ErrorKind::not_found, "job queue", "id", "no video with id '" + id + "'");
      }
      throw Error(ErrorKind::conflict, "job queue", "id", "video '" + id + "' has already finished");
    }
    const auto p = std::find(pending_.begin(), pending_.end(), id);
    if (p != pending_.end()) {
      pending_.erase(p);
      was_queued = true;
      if (metrics_) metrics_->queue_length.set(static_cast<double>(pending_.size()));
    } else {
      it->second->cancel.cancel();
    }
  }
  if (was_queued) finish(id, JobStatus::canceled, "canceled while queued");
  return snapshot(id);
}

void JobQueue::remove(const std::string& id) {
  const JobRecord r = snapshot(id);
  if (!is_terminal(r.status)) {
    throw Error(ErrorKind::conflict, "job queue", "id",
                "video '" + id + "' is " + std::string(to_string(r.status)) + "; cancel it first");
  }
  for (auto* o : observers_) o->on_removed(id);
  store_.remove(id);
  std::lock_guard lock(mutex_);
  live_.erase(id);
  finished_order_.erase(std::remove(finished_order_.begin(), finished_order_.end(), id), finished_order_.end());
}

std::unique_ptr<EventReader> JobQueue::subscribe(const std::string& id) {
  auto channel = std::make_shared<EventReader::Channel>();
  std::lock_guard lock(mutex_);
  const auto it = live_.find(id);
  if (it == live_.end()) {
    // An old job (from before a restart): its outcome is all there is to tell.
    const auto r = store_.get(id);
    if (!r) throw Error(ErrorKind::not_found, "job queue", "id", "no video with id '" + id + "'");
    if (r->status == JobStatus::completed) channel->events.push_back(Finished{r->frames_done});
    else if (r->status == JobStatus::canceled) channel->events.push_back(Canceled{});
    else channel->events.push_back(Failed{r->error});
    return std::make_unique<EventReader>(channel);
  }
  for (const auto& e : it->second->history) channel->events.push_back(e);
  it->second->readers.push_back(channel);
  return std::make_unique<EventReader>(channel);
}

void JobQueue::publish(const std::string& id, const Event& event) {
  for (auto* o : observers_) o->on_event(id, event);
  const Event light = without_pixels(event);
  std::lock_guard lock(mutex_);
  const auto it = live_.find(id);
  if (it == live_.end()) return;
  auto& live = *it->second;
  live.history.push_back(light);
  auto& readers = live.readers;
  readers.erase(std::remove_if(readers.begin(), readers.end(),
                               [&](const std::weak_ptr<EventReader::Channel>& w) {
                                 auto c = w.lock();
                                 if (!c) return true;
                                 std::lock_guard channel_lock(c->mutex);
                                 if (c->closed) return true;
                                 c->events.push_back(light);
                                 c->ready.notify_all();
                                 return false;
                               }),
                readers.end());
}

std::shared_ptr<JobQueue::Live> JobQueue::live(const std::string& id) const {
  std::lock_guard lock(mutex_);
  return live_.at(id);
}

bool JobQueue::admits_front() {
  if (handoff_) return false;  // a denoised job waits for the finish worker: at most two in flight
  if (const auto ready = engine_.readiness(); !ready.starts) {
    auto& next = *live_.at(pending_.front());
    if (next.waited_for_engine != ready.reason) {
      next.waited_for_engine = ready.reason;
      add_note(next.record, "Waited: " + ready.reason + ".");
    }
    return false;
  }
  if (finishing_.empty()) return true;
  if (!options_.pipeline || !engine_.overlaps_stages()) return false;
  auto& next = *live_.at(pending_.front());
  const auto finishing = engine_.stage_memory(live_.at(finishing_)->record.request);
  const auto starting = engine_.stage_memory(next.record.request);
  const int64_t budget = engine_.memory_budget();
  if (budget == kUnlimitedMemory || finishing.finish + starting.denoise <= budget) return true;
  if (!next.waited_for_memory) {
    next.waited_for_memory = true;
    add_note(next.record, "Denoising waited for " + finishing_ + " to finish: overlapping them needs " +
                              gib(finishing.finish) + " + " + gib(starting.denoise) + ", the memory budget is " +
                              gib(budget) + ".");
  }
  return false;
}

void JobQueue::denoise_loop() {
  while (true) {
    std::string id;
    {
      std::unique_lock lock(mutex_);
      // Woken by submissions, stages that end, stop() and the engine's readiness changes.
      wake_.wait(lock, [&] { return stopping_ || (!pending_.empty() && admits_front()); });
      if (stopping_) return;
      id = pending_.front();
      pending_.pop_front();
      denoising_ = id;
      if (metrics_) metrics_->queue_length.set(static_cast<double>(pending_.size()));
    }
    auto finisher = run_denoise(id);
    std::unique_lock lock(mutex_);
    denoising_.clear();
    if (finisher) {
      wake_.wait(lock, [&] { return !handoff_.has_value(); });
      handoff_ = Handoff{id, std::move(finisher)};
    }
    lock.unlock();
    wake_.notify_all();
  }
}

void JobQueue::finish_loop() {
  // Denoising goes first where both stages want the CPU (on CUDA the engine's streams carry the
  // priorities): this thread, and the intra-op threads it starts, run at a lower priority.
  // Best effort: an unprivileged process may lower its own threads' priority, never raise it.
  setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), 5);
  while (true) {
    Handoff handoff;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return finish_stopping_ || handoff_.has_value(); });
      if (!handoff_) return;
      handoff = std::move(*handoff_);
      handoff_.reset();
      finishing_ = handoff.id;
    }
    wake_.notify_all();
    run_finish(std::move(handoff));
    {
      std::lock_guard lock(mutex_);
      finishing_.clear();
    }
    wake_.notify_all();
  }
}

std::unique_ptr<Finisher> JobQueue::run_denoise(const std::string& id) {
  const std::shared_ptr<Live> job = live(id);
  {
    std::lock_guard lock(mutex_);
    job->record.status = JobStatus::in_progress;
    job->record.started_at = unix_now();
    job->record.timings["queue_wait"] = since(job->submitted);
    if (metrics_) metrics_->queue_wait.observe(job->record.timings["queue_wait"]);
  }
  store_.put(snapshot(id));
  const auto paths = engine_.paths();
  publish(id, Started{paths.text_path, paths.decode_path});
  const auto stage_start = Clock::now();
  std::unique_ptr<Finisher> finisher;
  JobStatus status = JobStatus::completed;
  std::string error;
  try {
    job->cancel.throw_if_canceled();
    finisher = engine_.denoise(job->record.request, [this, id](Event e) { on_engine_event(id, std::move(e)); },
                               job->cancel, job->timeline);
    if (job->cancel.canceled()) std::tie(status, error) = std::pair{JobStatus::canceled, "canceled while running"};
  } catch (...) {
    std::tie(status, error) = outcome_of(std::current_exception(), "denoising");
  }
  {
    std::lock_guard lock(mutex_);
    job->record.timings["denoise_stage"] = since(stage_start);
  }
  if (status == JobStatus::completed && finisher) return finisher;
  if (status == JobStatus::completed) std::tie(status, error) = std::pair{JobStatus::failed, "the engine returned no finisher"};
  finisher.reset();  // frees what the job holds before the next one starts
  finish(id, status, error);
  return nullptr;
}

void JobQueue::run_finish(Handoff handoff) {
  const std::string& id = handoff.id;
  const std::shared_ptr<Live> job = live(id);
  const auto stage_start = Clock::now();
  JobStatus status = JobStatus::completed;
  std::string error;
  try {
    // No check of `cancel` first: the finisher stops at its first chance, and an engine over
    // several ranks must reach that point with them.
    handoff.finisher->finish([this, id](Event e) { on_engine_event(id, std::move(e)); }, job->cancel, job->timeline);
    if (job->cancel.canceled()) std::tie(status, error) = std::pair{JobStatus::canceled, "canceled while running"};
  } catch (...) {
    std::tie(status, error) = outcome_of(std::current_exception(), "finishing");
  }
  handoff.finisher.reset();
  {
    std::lock_guard lock(mutex_);
    job->record.timings["finish_stage"] = since(stage_start);
  }
  finish(id, status, error);
}

void JobQueue::on_engine_event(const std::string& id, Event event) {
  {
    std::lock_guard lock(mutex_);
    auto& live = *live_.at(id);
    auto& r = live.record;
    const double elapsed = since(live.submitted);
    if (const auto* p = std::get_if<Progress>(&event)) {
      r.step = p->step;
      (p->reused ? r.reused_steps : r.computed_steps) += 1;
      r.timings["denoise"] += p->step_seconds;
      if (!live.first_step_seen) {
        live.first_step_seen = true;
        // Start → the first step began: text encoding, the starting noise and the schedule.
        r.timings["prepare"] = std::max(0.0, elapsed - r.timings["queue_wait"] - p->step_seconds);
      }
      if (metrics_) {
        metrics_->step.observe(p->step_seconds);
        metrics_->steps.add();
        if (p->reused) metrics_->reused_steps.add();
      }
    } else if (std::holds_alternative<PreviewFrame>(event) && !live.first_preview_seen) {
      live.first_preview_seen = true;
      r.timings["first_preview"] = elapsed;
      if (metrics_) metrics_->first_preview.observe(elapsed);
    } else if (const auto* plan = std::get_if<PreviewPlan>(&event)) {
      r.preview_path = plan->path;
      add_note(r, plan->note);
    } else if (const auto* v = std::get_if<PreviewChunk>(&event)) {
      r.timings["vae_preview_decode"] += v->decode_seconds;
      r.timings["vae_preview_age"] = v->age_seconds;
      if (metrics_) metrics_->vae_preview_age.observe(v->age_seconds);
      if (!r.timings.count("first_vae_preview")) r.timings["first_vae_preview"] = elapsed;
    } else if (const auto* c = std::get_if<FrameChunk>(&event)) {
      r.frames_done = c->first_frame + static_cast<int>(c->frames.size());
      r.timings["decode"] += c->decode_seconds;
      r.timings["decode_chunk_max"] = std::max(r.timings["decode_chunk_max"], c->decode_seconds);
      if (metrics_) metrics_->decode_chunk.observe(c->decode_seconds);
      if (!live.first_frame_seen) {
        live.first_frame_seen = true;
        r.timings["first_final_frame"] = elapsed;
        if (metrics_) metrics_->first_final_frame.observe(elapsed);
      }
    }
  }
  const bool persist = std::holds_alternative<Progress>(event) || std::holds_alternative<FrameChunk>(event) ||
                       std::holds_alternative<PreviewPlan>(event);
  if (persist) store_.put(snapshot(id));
  if (const auto* c = std::get_if<FrameChunk>(&event)) {
    // The stream side's work on final frames (composite, convert, hand to the encoders) happens in
    // the observers, on this thread.
    const double start = unix_seconds();
    const int first = c->first_frame, last = c->first_frame + static_cast<int>(c->frames.size()) - 1;
    publish(id, event);
    live(id)->timeline.add_until_now("encode frames " + std::to_string(first) + "-" + std::to_string(last),
                                     "host/stream", start);
    return;
  }
  publish(id, event);
}

void JobQueue::finish(const std::string& id, JobStatus status, const std::string& error) {
  std::string recording;
  std::string final_error = error;
  {
    std::lock_guard lock(mutex_);
    if (status == JobStatus::canceled && stopping_ && live_.at(id)->record.status == JobStatus::in_progress) {
      // Not the owner's doing: the same outcome a crash would leave after a restart.
      status = JobStatus::failed;
      final_error = "interrupted: the service stopped while the job was running";
    }
  }
  const double finalize_start = unix_seconds();
  for (auto* o : observers_) {
    try {
      const auto name = o->finalize(id, status);
      if (!name.empty()) recording = name;
    } catch (const std::exception& e) {
      if (status == JobStatus::completed) {
        status = JobStatus::failed;
        final_error = std::string("recording failed: ") + e.what();
      }
    }
  }
  const auto job = live(id);
  if (job->record.started_at > 0) job->timeline.add_until_now("finalize recording", "host/stream", finalize_start);
  Event terminal;
  {
    std::lock_guard lock(mutex_);
    auto& live = *live_.at(id);
    auto& r = live.record;
    r.status = status;
    r.error = status == JobStatus::completed ? "" : final_error;
    r.recording = recording;
    r.finished_at = unix_now();
    const double total = since(live.submitted);
    r.timings["end_to_end"] = total;
    if (status == JobStatus::completed) {
      mean_job_seconds_ = 0.7 * mean_job_seconds_ + 0.3 * total;
      terminal = Finished{r.frames_done};
    } else if (status == JobStatus::canceled) {
      terminal = Canceled{};
    } else {
      terminal = Failed{r.error};
    }
    if (metrics_) {
      if (status == JobStatus::completed) {
        metrics_->end_to_end.observe(total);
        metrics_->jobs_completed.add();
      } else if (status == JobStatus::canceled) {
        metrics_->jobs_canceled.add();
      } else {
        metrics_->jobs_failed.add();
      }
    }
    finished_order_.push_back(id);
  }
  store_.put(snapshot(id));
  if (status == JobStatus::failed) log::warn("job {} failed: {}", id, final_error);
  publish(id, terminal);
  trim_histories();
}

void JobQueue::trim_histories() {
  std::lock_guard lock(mutex_);
  while (static_cast<int>(finished_order_.size()) > options_.kept_histories) {
    live_.erase(finished_order_.front());
    finished_order_.pop_front();
  }
}

void CancelToken::throw_if_canceled() const {
  if (canceled()) throw Error(ErrorKind::canceled, "engine", "", "the job was canceled");
}

}  // namespace ditstream::engine
