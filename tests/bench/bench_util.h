// What every benchmark program shares: timing on the device, peak memory, the machine-readable
// record written to docs/benchmarks/<name>.json, and the diffusers reference read from the JSON
// that the reference script wrote in the same GPU run.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace ditstream::bench {

// A video size "HxWxF" (height, width, frames) as the benchmarks take it on the command line.
struct VideoCase {
  std::string name;
  int64_t height = 0, width = 0, frames = 0;
  int64_t latent_frames() const { return (frames - 1) / 4 + 1; }
};

// Comma-separated items, empty ones dropped.
std::vector<std::string> split_list(const std::string& list);
// "HxWxF,..." with H, W multiples of 16 and F = 4k+1; throws ditstream::Error naming `flag`.
std::vector<VideoCase> parse_video_cases(const std::string& list, const std::string& flag = "--cases");

// Median seconds of `repeat` calls after `warmup` calls, the device synchronized around each.
double time_median(const std::function<void()>& fn, int repeat, int warmup = 1);

std::string device_name();
double peak_memory_gib();
void reset_peak_memory();

// A benchmark record in the format of docs/benchmarks/*.json.
class Record {
 public:
  Record(std::string benchmark, std::string command);
  // Adds a row; `fields` holds ours, reference, ratio, and any extra fields.
  void add(const std::string& case_name, const std::string& variant, const std::string& metric, nlohmann::json fields);
  // Writes `path` (creating folders).
  void write(const std::string& path) const;
  const nlohmann::json& json() const { return doc_; }

 private:
  nlohmann::json doc_;
};

// The reference JSON (diffusers_baseline.py --json), or an empty object when the path is empty.
nlohmann::json read_reference(const std::string& path);
// doc[key][field] when present.
std::optional<double> reference_value(const nlohmann::json& doc, const std::string& key, const std::string& field);

}  // namespace ditstream::bench
