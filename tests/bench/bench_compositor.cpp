// Compositor benchmark: per 720p frame, from an RGB frame in GPU memory (as the VAE leaves it) to
// I420 planes in host memory, with the overlay drawn.
//   gpu-interop        CUDA writes into the Vulkan buffer imported into CUDA, Vulkan converts,
//                      the host reads I420 back (no host copy before conversion)
//   host-copy          the plain path: copy RGB to the host, convert on the CPU (one thread)
//   vulkan-host-upload a frame already in host memory, uploaded and converted by Vulkan
//   cpu                a frame already in host memory, converted on the CPU (no copy)
// The CUDA variants run where a GPU is present. Latency: one frame at a time, median and p99.
// Throughput: frames pipelined through all slots. Prints a table and writes a JSON record
// (docs/benchmarks/compositor.json by default) in the project's benchmark-record format.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "stream/vulkan/compositor.h"
#include "stream/vulkan/cpu_conversions.h"
#include "stream/vulkan/vulkan_compositor.h"
#include "tests/bench/bench_util.h"
#if DITSTREAM_WITH_CUDA
#include <c10/cuda/CUDAStream.h>

#include "stream/vulkan/cuda_frame_bridge.h"
#endif

namespace ds = ditstream::stream;
using Clock = std::chrono::steady_clock;

namespace {

struct Result {
  std::string variant;
  double p50_ms = 0, p99_ms = 0, frames_per_s = 0;
};

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Runs `frame` once per iteration and returns the median and p99 of its wall time.
std::pair<double, double> latency(int warmup, int frames, const std::function<void()>& frame) {
  for (int i = 0; i < warmup; ++i) frame();
  std::vector<double> ms;
  for (int i = 0; i < frames; ++i) {
    const auto t0 = Clock::now();
    frame();
    ms.push_back(ms_since(t0));
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 99 / 100)]};
}

// Submits `frames` frames keeping up to slots-1 uncollected; returns frames per second.
double throughput(ds::Compositor& compositor, int frames, const std::function<ds::FrameTicket()>& submit) {
  std::vector<ds::FrameTicket> tickets;
  ds::I420Frame out;
  const int depth = std::max(1, compositor.slots() - 1);
  const auto t0 = Clock::now();
  for (int i = 0; i < frames; ++i) {
    if (int(tickets.size()) >= depth) {
      compositor.collect(tickets.front(), out);
      tickets.erase(tickets.begin());
    }
    tickets.push_back(submit());
  }
  for (auto t : tickets) compositor.collect(t, out);
  return frames / (ms_since(t0) / 1000.0);
}

}  // namespace

int main(int argc, char** argv) {
  int width = 1280, height = 720, frames = 300, warmup = 30;
  std::string out_path = "docs/benchmarks/compositor.json";
  std::string command = "scripts/device/bench-compositor.sh";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--width") width = std::stoi(value);
    else if (key == "--height") height = std::stoi(value);
    else if (key == "--frames") frames = std::stoi(value);
    else if (key == "--warmup") warmup = std::stoi(value);
    else if (key == "--out") out_path = value;
    else if (key == "--command") command = value;
    else {
      std::fprintf(stderr, "unknown option %s\n", key.c_str());
      return 2;
    }
  }
  c10::InferenceMode guard;
  const ds::RgbFormat format{ds::SampleType::f32, ds::PixelLayout::planar, ds::FloatRange::signed_unit};
  const ds::Overlay overlay{12, 30, "decode"};
  const std::string size_case = std::to_string(height) + "p";

  at::manual_seed(0);
  at::Tensor host_frame = (at::rand({3, height, width}) * 2 - 1).contiguous();  // [3, H, W] in [-1, 1]
  std::vector<uint32_t> rgba(size_t(width) * height);
  std::vector<uint8_t> i420(ds::I420Frame::size_bytes(width, height));
  const auto layout = ds::OverlayLayout::place(overlay, width, height);
  auto cpu_convert = [&](const void* frame) {
    ds::cpu::compose_i420(frame, format, width, height, &layout, rgba, i420.data());
  };

  std::vector<Result> results;
  std::string device_name = "host CPU";

#if DITSTREAM_WITH_CUDA
  if (at::hasCUDA() && at::getNumGPUs() > 0) {
    cudaDeviceProp props{};
    cudaGetDeviceProperties(&props, 0);
    device_name = props.name;
    cudaStream_t stream = c10::cuda::getCurrentCUDAStream(0).stream();
    at::Tensor gpu_frame = host_frame.to(at::kCUDA);  // the VAE's output stands in here

    ds::CompositorOptions options{width, height};
    options.backend = ds::BackendChoice::vulkan;
    options.cuda_interop = true;
    options.device_uuid = ds::CudaFrameBridge::device_uuid(0);
    ds::VulkanCompositor compositor(options);
    {
      ds::CudaFrameBridge bridge(compositor, 0);
      ds::I420Frame out;
      auto submit = [&] {
        bridge.next_rgb_input(format, stream).copy_(gpu_frame);  // device → device, no host copy
        return bridge.submit_rgb(format, &overlay, stream);
      };
      Result r{"gpu-interop"};
      std::tie(r.p50_ms, r.p99_ms) = latency(warmup, frames, [&] { compositor.collect(submit(), out); });
      r.frames_per_s = throughput(compositor, frames, submit);
      results.push_back(r);
    }

    // The plain path: device → pinned host buffer, then the CPU conversion.
    at::Tensor pinned = at::empty({3, height, width}, at::TensorOptions().dtype(at::kFloat).pinned_memory(true));
    Result r{"host-copy"};
    std::tie(r.p50_ms, r.p99_ms) = latency(warmup, frames, [&] {
      pinned.copy_(gpu_frame);  // synchronous for a pinned destination without non_blocking
      cpu_convert(pinned.data_ptr());
    });
    r.frames_per_s = 1000.0 / r.p50_ms;
    results.push_back(r);
  }
#endif

  {
    ds::CompositorOptions options{width, height};
    options.backend = ds::BackendChoice::vulkan;
    auto compositor = ds::Compositor::create(options);
    if (results.empty()) device_name = compositor->info().device;
    ds::I420Frame out;
    auto submit = [&] { return compositor->submit_rgb(host_frame.data_ptr(), format, &overlay); };
    Result r{"vulkan-host-upload"};
    const int n = std::max(3, frames / 10);  // lavapipe is slow; fewer frames there
    std::tie(r.p50_ms, r.p99_ms) = latency(std::min(warmup, 3), n, [&] { compositor->collect(submit(), out); });
    r.frames_per_s = throughput(*compositor, n, submit);
    results.push_back(r);
  }
  {
    Result r{"cpu"};
    std::tie(r.p50_ms, r.p99_ms) = latency(std::min(warmup, 3), std::max(3, frames / 10),
                                           [&] { cpu_convert(host_frame.data_ptr()); });
    r.frames_per_s = 1000.0 / r.p50_ms;
    results.push_back(r);
  }

  double host_copy_ms = 0;
  for (const auto& r : results)
    if (r.variant == "host-copy") host_copy_ms = r.p50_ms;
  std::printf("compositor %dx%d f32 planar + overlay -> I420 in host memory, %s\n", width, height, device_name.c_str());
  std::printf("%-20s %12s %12s %12s\n", "variant", "p50 ms", "p99 ms", "frames/s");
  ditstream::bench::Record record("compositor", command);
  for (const auto& r : results) {
    std::printf("%-20s %12.3f %12.3f %12.1f\n", r.variant.c_str(), r.p50_ms, r.p99_ms, r.frames_per_s);
    nlohmann::json fields = {{"ours_ms", r.p50_ms}, {"p99_ms", r.p99_ms}, {"frames_per_s", r.frames_per_s},
                             {"compositor_device", device_name}, {"input", "f32 planar [-1,1] + overlay"}};
    if (r.variant == "gpu-interop" && host_copy_ms > 0) {
      fields["reference"] = host_copy_ms;
      fields["reference_name"] = "host-copy (device to pinned host copy + CPU conversion), same run";
      fields["ratio"] = r.p50_ms / host_copy_ms;
    }
    record.add(size_case, r.variant, "ms_per_frame", fields);
  }
  record.write(out_path);
  std::printf("wrote %s\n", out_path.c_str());
  return 0;
}
