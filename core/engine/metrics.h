// A small metrics registry in Prometheus' data model: counters, gauges and histograms with fixed
// buckets, rendered in the text exposition format. Thread-safe; metrics live as long as the registry.
#pragma once

#include <cstdint>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ditstream::engine {

class Counter {
 public:
  void add(double v = 1);
  double value() const;

 private:
  mutable std::mutex mutex_;
  double value_ = 0;
};

class Gauge {
 public:
  void set(double v);
  void add(double v);
  double value() const;

 private:
  mutable std::mutex mutex_;
  double value_ = 0;
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void observe(double v);
  struct Snapshot {
    std::vector<double> upper_bounds;
    std::vector<uint64_t> cumulative;  // per bound, then +Inf last
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  mutable std::mutex mutex_;
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket (not cumulative), +Inf last
  double sum_ = 0;
  uint64_t count_ = 0;
};

// Buckets from 1 ms to ~100 s, for latencies of every stage.
std::vector<double> latency_buckets();

class MetricsRegistry {
 public:
  Counter& counter(const std::string& name, const std::string& help);
  Gauge& gauge(const std::string& name, const std::string& help);
  Histogram& histogram(const std::string& name, const std::string& help,
                       std::vector<double> bounds = latency_buckets());
  // Runs before every render(): refreshes gauges whose values live elsewhere (device memory).
  void add_collector(std::function<void()> collect);
  // Prometheus text exposition format 0.0.4.
  std::string render() const;

 private:
  struct Entry {
    std::string help;
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
  };
  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;
  std::vector<std::function<void()>> collectors_;
};

// The service's metrics, registered once with their names and help texts.
struct ServiceMetrics {
  explicit ServiceMetrics(MetricsRegistry& registry);
  Histogram& first_preview;      // submit → first preview frame emitted
  Histogram& step;               // one denoising step
  Counter& steps;                // all steps
  Counter& reused_steps;         // steps the cache skipped
  Histogram& decode_chunk;       // one decode chunk
  Histogram& first_final_frame;  // submit → first final frame
  Histogram& end_to_end;         // submit → finished
  Histogram& queue_wait;         // submit → started
  Histogram& encode_frame;       // one frame through the encoder
  Counter& jobs_completed;
  Counter& jobs_failed;
  Counter& jobs_canceled;
  Gauge& viewers;
  Gauge& queue_length;
  Histogram& vae_preview_age;    // end of a step → a chunk of its real-VAE preview out
};

}  // namespace ditstream::engine
