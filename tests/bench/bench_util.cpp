#include "tests/bench/bench_util.h"

#include "core/util/error.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#ifdef DITSTREAM_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace ditstream::bench {
namespace {

void synchronize() {
#ifdef DITSTREAM_WITH_CUDA
  if (at::hasCUDA()) at::cuda::getCurrentCUDAStream().synchronize();
#endif
}

}  // namespace

std::vector<std::string> split_list(const std::string& list) {
  std::vector<std::string> out;
  std::stringstream ss(list);
  for (std::string item; std::getline(ss, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

std::vector<VideoCase> parse_video_cases(const std::string& list, const std::string& flag) {
  std::vector<VideoCase> cases;
  for (const auto& item : split_list(list)) {
    VideoCase c{item};
    long h = 0, w = 0, f = 0;
    if (std::sscanf(item.c_str(), "%ldx%ldx%ld", &h, &w, &f) != 3 || h <= 0 || w <= 0 || h % 16 != 0 || w % 16 != 0 ||
        f < 1 || (f - 1) % 4 != 0) {
      throw Error(ErrorKind::invalid_argument, "bench", flag,
                  "'" + item + "' is not HxWxF with H, W positive multiples of 16 and F = 4k+1");
    }
    c.height = h;
    c.width = w;
    c.frames = f;
    cases.push_back(c);
  }
  return cases;
}

double time_median(const std::function<void()>& fn, int repeat, int warmup) {
  for (int i = 0; i < warmup; ++i) fn();
  std::vector<double> times;
  for (int i = 0; i < std::max(1, repeat); ++i) {
    synchronize();
    const auto start = std::chrono::steady_clock::now();
    fn();
    synchronize();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

std::string device_name() {
#ifdef DITSTREAM_WITH_CUDA
  if (at::hasCUDA()) return at::cuda::getCurrentDeviceProperties()->name;
#endif
  return "CPU";
}

double peak_memory_gib() {
#ifdef DITSTREAM_WITH_CUDA
  if (at::hasCUDA()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(at::cuda::current_device());
    return static_cast<double>(stats.allocated_bytes[0].peak) / (1ull << 30);
  }
#endif
  return 0.0;
}

void reset_peak_memory() {
#ifdef DITSTREAM_WITH_CUDA
  if (at::hasCUDA()) {
    // The caching allocator starts lazily with the first allocation; its statistics exist only then.
    at::empty({1}, at::TensorOptions().device(at::kCUDA));
    c10::cuda::CUDACachingAllocator::resetPeakStats(at::cuda::current_device());
  }
#endif
}

Record::Record(std::string benchmark, std::string command) {
  const std::time_t now = std::time(nullptr);
  char date[16];
  std::strftime(date, sizeof(date), "%Y-%m-%d", std::gmtime(&now));
  doc_ = {{"benchmark", std::move(benchmark)}, {"device", device_name()}, {"date", date},
          {"command", std::move(command)}, {"rows", nlohmann::json::array()}};
}

void Record::add(const std::string& case_name, const std::string& variant, const std::string& metric,
                 nlohmann::json fields) {
  nlohmann::json row = {{"case", case_name}, {"variant", variant}, {"metric", metric}};
  for (auto& [k, v] : fields.items()) row[k] = v;
  doc_["rows"].push_back(std::move(row));
}

void Record::write(const std::string& path) const {
  const std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  std::ofstream(p) << doc_.dump(1) << "\n";
}

nlohmann::json read_reference(const std::string& path) {
  if (path.empty() || !std::filesystem::exists(path)) return nlohmann::json::object();
  return nlohmann::json::parse(std::ifstream(path));
}

std::optional<double> reference_value(const nlohmann::json& doc, const std::string& key, const std::string& field) {
  const auto it = doc.find(key);
  if (it == doc.end() || !it->contains(field)) return std::nullopt;
  return (*it)[field].get<double>();
}

}  // namespace ditstream::bench
