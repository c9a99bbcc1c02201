// The engine timeline of one job: a span {what, lane, start, end} for every piece of work done for
// it (text encoding, each step, each real-VAE preview chunk, each final decode chunk, handing frames
// to the encoders, finishing the recording). The lane names where it ran ("cuda:0/denoise" is one
// CUDA stream, "cuda:0/preview-vae" another, "cpu/finish" a host thread), so spans of one job that
// overlap in time ran concurrently, and so do spans of two jobs. Torch-free.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

namespace ditstream::engine {

struct Span {
  std::string what;  // "text", "step 3", "preview step 4 frames 0-0", "decode frames 1-4", ...
  std::string lane;  // "<device>/<role>": "cuda:0/denoise", "cpu/preview-vae", "host/stream"
  double start = 0;  // unix seconds
  double end = 0;
};

// Wall-clock now in unix seconds (the clock of created_at/started_at/finished_at).
double unix_seconds();

// The spans of one job. add() may be called from any thread; at most `max_spans` are kept (later
// ones are counted in dropped()), so a 100-step job cannot grow a status without bound.
class Timeline {
 public:
  explicit Timeline(size_t max_spans = 1000) : max_spans_(max_spans) {}
  Timeline(const Timeline&) = delete;
  Timeline& operator=(const Timeline&) = delete;

  void add(Span span);
  // A span from `start` (unix seconds) to now.
  void add_until_now(std::string what, std::string lane, double start);
  std::vector<Span> spans() const;
  size_t dropped() const;

 private:
  mutable std::mutex mutex_;
  std::vector<Span> spans_;
  size_t max_spans_;
  size_t dropped_ = 0;
};

// How long (seconds) some span of `a` and some span of `b` ran at the same time: the length of the
// intersection of the two sets' unions.
double overlap_seconds(const std::vector<Span>& a, const std::vector<Span>& b);

}  // namespace ditstream::engine
