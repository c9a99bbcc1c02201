#include "core/engine/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "core/util/error.h"

namespace ditstream::engine {

void Counter::add(double v) {
  std::lock_guard lock(mutex_);
  value_ += v;
}
double Counter::value() const {
  std::lock_guard lock(mutex_);
  return value_;
}
void Gauge::set(double v) {
  std::lock_guard lock(mutex_);
  value_ = v;
}
void Gauge::add(double v) {
  std::lock_guard lock(mutex_);
  value_ += v;
}
double Gauge::value() const {
  std::lock_guard lock(mutex_);
  return value_;
}

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)) {
  require(std::is_sorted(bounds_.begin(), bounds_.end()), "metrics", "buckets", "bounds must be ascending");
  counts_.assign(bounds_.size() + 1, 0);
}

void Histogram::observe(double v) {
  std::lock_guard lock(mutex_);
  const auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
  ++counts_[static_cast<size_t>(it - bounds_.begin())];
  sum_ += v;
  ++count_;
}

Histogram::Snapshot Histogram::snapshot() const {
  std::lock_guard lock(mutex_);
  Snapshot s{bounds_, {}, sum_, count_};
  uint64_t running = 0;
  for (uint64_t c : counts_) {
    running += c;
    s.cumulative.push_back(running);
  }
  return s;
}

std::vector<double> latency_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100};
}

Counter& MetricsRegistry::counter(const std::string& name, const std::string& help) {
  std::lock_guard lock(mutex_);
  auto& e = entries_[name];
  if (!e.counter) e = Entry{help, std::make_unique<Counter>(), nullptr, nullptr};
  return *e.counter;
}

Gauge& MetricsRegistry::gauge(const std::string& name, const std::string& help) {
  std::lock_guard lock(mutex_);
  auto& e = entries_[name];
  if (!e.gauge) e = Entry{help, nullptr, std::make_unique<Gauge>(), nullptr};
  return *e.gauge;
}

Histogram& MetricsRegistry::histogram(const std::string& name, const std::string& help, std::vector<double> bounds) {
  std::lock_guard lock(mutex_);
  auto& e = entries_[name];
  if (!e.histogram) e = Entry{help, nullptr, nullptr, std::make_unique<Histogram>(std::move(bounds))};
  return *e.histogram;
}

namespace {
std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}
}  // namespace

void MetricsRegistry::add_collector(std::function<void()> collect) {
  std::lock_guard lock(mutex_);
  collectors_.push_back(std::move(collect));
}

std::string MetricsRegistry::render() const {
  std::vector<std::function<void()>> collectors;
  {
    std::lock_guard lock(mutex_);
    collectors = collectors_;
  }
  for (const auto& collect : collectors) collect();  // they set gauges, which lock on their own
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& [name, e] : entries_) {
    out += fmt::format("# HELP {} {}\n", name, e.help);
    if (e.counter) {
      out += fmt::format("# TYPE {} counter\n{} {}\n", name, name, number(e.counter->value()));
    } else if (e.gauge) {
      out += fmt::format("# TYPE {} gauge\n{} {}\n", name, name, number(e.gauge->value()));
    } else if (e.histogram) {
      const auto s = e.histogram->snapshot();
      out += fmt::format("# TYPE {} histogram\n", name);
      for (size_t i = 0; i < s.upper_bounds.size(); ++i) {
        out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, number(s.upper_bounds[i]), s.cumulative[i]);
      }
      out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n", name, s.cumulative.back());
      out += fmt::format("{}_sum {}\n{}_count {}\n", name, number(s.sum), name, s.count);
    }
  }
  return out;
}

ServiceMetrics::ServiceMetrics(MetricsRegistry& r)
    : first_preview(r.histogram("ditstream_first_preview_seconds", "Time from submission to the first preview frame")),
      step(r.histogram("ditstream_step_seconds", "Time of one denoising step")),
      steps(r.counter("ditstream_steps_total", "Denoising steps run")),
      reused_steps(r.counter("ditstream_reused_steps_total", "Denoising steps whose transformer output was reused")),
      decode_chunk(r.histogram("ditstream_decode_chunk_seconds", "Time to decode one chunk of final frames")),
      first_final_frame(r.histogram("ditstream_first_final_frame_seconds", "Time from submission to the first final frame")),
      end_to_end(r.histogram("ditstream_end_to_end_seconds", "Time from submission to the finished job")),
      queue_wait(r.histogram("ditstream_queue_wait_seconds", "Time a job waited in the queue")),
      encode_frame(r.histogram("ditstream_encode_frame_seconds", "Time to encode one frame for the live stream")),
      jobs_completed(r.counter("ditstream_jobs_completed_total", "Jobs that completed")),
      jobs_failed(r.counter("ditstream_jobs_failed_total", "Jobs that failed")),
      jobs_canceled(r.counter("ditstream_jobs_canceled_total", "Jobs that were canceled")),
      viewers(r.gauge("ditstream_viewers", "WebRTC viewers connected")),
      queue_length(r.gauge("ditstream_queue_length", "Jobs waiting in the queue")),
      vae_preview_age(r.histogram("ditstream_vae_preview_age_seconds",
                                  "Age of a real-VAE preview chunk when it came out, from the end of its step")) {}

}  // namespace ditstream::engine
