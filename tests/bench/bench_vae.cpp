// Streaming VAE decode at full size (diffusers' default HunyuanVideo VAE config, random weights)
// on CUDA: time to the first decoded chunk, total decode time and peak memory per case, on one
// GPU or with the tiles spread over several GPUs of this host (one thread per GPU). Writes a
// record in the format of docs/benchmarks/*.json; --reference adds diffusers' tiled decode times
// from diffusers_baseline.py's JSON of the same run.
//
//   bench_vae --cases 544x960x61,720x1280x129 --dtype bf16 --gpus 1 --json vae.json [--reference d.json]
// (scripts/device/bench-vae.sh runs it beside diffusers_baseline.py)
#include <ATen/ATen.h>
#include <CLI/CLI.hpp>
#include <c10/core/InferenceMode.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <memory>
#include <sstream>
#include <thread>

#include "core/model/vae/autoencoder_kl_hunyuan_video.h"
#include "core/model/vae/streaming_decoder.h"
#include "core/parallel/communicator.h"
#include "tests/bench/bench_util.h"

namespace {

using namespace ditstream;
using Clock = std::chrono::steady_clock;

// Every rank's tensor travels to cuda:0 before the gather, so the in-process thread ranks can
// concatenate GPU tensors of different devices; rank 0 blends there.
class GatherOnFirstDevice : public parallel::Communicator {
 public:
  explicit GatherOnFirstDevice(std::unique_ptr<parallel::Communicator> inner) : inner_(std::move(inner)) {}
  int rank() const override { return inner_->rank(); }
  int world_size() const override { return inner_->world_size(); }
  void all_reduce_sum(at::Tensor& t) override { inner_->all_reduce_sum(t); }
  at::Tensor all_gather(const at::Tensor& input, int64_t dim) override {
    return inner_->all_gather(input.to(at::Device(at::kCUDA, 0)), dim);
  }
  at::Tensor all_to_all(const at::Tensor& input, int64_t s, int64_t g) override { return inner_->all_to_all(input, s, g); }
  void broadcast(at::Tensor& t, int root) override { inner_->broadcast(t, root); }
  at::Tensor ring_exchange(const at::Tensor& send) override { return inner_->ring_exchange(send); }
  void barrier() override { inner_->barrier(); }
  std::unique_ptr<parallel::Communicator> split(int color, int key) override {
    return std::make_unique<GatherOnFirstDevice>(inner_->split(color, key));
  }

 private:
  std::unique_ptr<parallel::Communicator> inner_;
};

struct Timing {
  double first_chunk_s = 0, total_s = 0, peak_gib = 0;
  int64_t frames = 0;
};

Timing run_rank(model::vae::AutoencoderKLHunyuanVideo& vae, const at::Tensor& z, const model::vae::ChunkPlan& plan,
                const model::vae::StreamingOptions& options, parallel::Communicator* comm) {
  Timing t;
  const auto start = Clock::now();
  bool first = true;
  model::vae::decode_streaming(
      vae, z, plan, options,
      [&](const at::Tensor& frames, int64_t) {
        if (first) {
          c10::cuda::device_synchronize();  // the benchmark's clock only: frames are ready here
          t.first_chunk_s = std::chrono::duration<double>(Clock::now() - start).count();
          first = false;
        }
        t.frames += frames.size(2);
      },
      {}, comm);
  c10::cuda::device_synchronize();
  t.total_s = std::chrono::duration<double>(Clock::now() - start).count();
  t.peak_gib = bench::peak_memory_gib();  // of this thread's current device
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Streaming VAE decode benchmark (full-size HunyuanVideo VAE, random weights)"};
  std::string cases = "544x960x61,720x1280x129", dtype_name = "bf16", json_path = "vae.json", reference_path;
  std::string statistics = "per_chunk";
  int gpus = 1;
  int64_t first_chunk = 1, chunk = 2, tile_min = 256, tile_stride = 192;
  int row_bands = -1;
  bool no_tiling = false, channels_last = false, offload = false;
  app.add_option("--cases", cases, "HxWxF, comma separated");
  app.add_option("--dtype", dtype_name, "bf16 or fp16")->check(CLI::IsMember({"bf16", "fp16"}));
  app.add_option("--gpus", gpus, "GPUs of this host the tiles are spread over");
  app.add_option("--first-chunk-frames", first_chunk, "latent frames of the first chunk");
  app.add_option("--chunk-frames", chunk, "latent frames of every later chunk");
  app.add_option("--tile", tile_min, "tile_sample_min_height/width");
  app.add_option("--tile-stride", tile_stride, "tile_sample_stride_height/width");
  app.add_flag("--no-tiling", no_tiling, "decode whole frames");
  app.add_option("--row-bands", row_bands,
                 "horizontal bands of the whole width instead of diffusers' tiles, as the service decodes "
                 "(0: one per GPU)")
      ->check(CLI::NonNegativeNumber)
      ->excludes("--no-tiling");
  app.add_flag("--offload-caches", offload, "keep the tiles' caches in pinned host memory between chunks");
  app.add_flag("--channels-last", channels_last, "convolution weights (and so activations) channels-last");
  app.add_option("--statistics", statistics, "per_chunk or whole_clip")->check(CLI::IsMember({"per_chunk", "whole_clip"}));
  app.add_option("--json", json_path, "record to write");
  app.add_option("--reference", reference_path, "diffusers_baseline.py JSON of the same run");
  CLI11_PARSE(app, argc, argv);
  if (!at::hasCUDA() || static_cast<int>(at::getNumGPUs()) < gpus) {
    std::fprintf(stderr, "bench_vae needs %d CUDA device(s)\n", gpus);
    return 2;
  }
  const auto dtype = dtype_name == "bf16" ? at::kBFloat16 : at::kHalf;
  at::globalContext().setBenchmarkCuDNN(true);
  c10::InferenceMode inference;

  model::vae::StreamingOptions options;
  options.statistics = statistics == "whole_clip" ? model::vae::NormStatistics::whole_clip
                                                  : model::vae::NormStatistics::per_chunk;
  options.offload_caches = offload;
  const bool tiled = !no_tiling && row_bands < 0;  // diffusers' tiles
  if (tiled) options.tiling = model::vae::TileSettings{tile_min, tile_min, tile_stride, tile_stride};
  const int bands = row_bands == 0 ? gpus : row_bands;
  const model::vae::ChunkPlan plan{first_chunk, chunk};

  std::vector<std::unique_ptr<model::vae::AutoencoderKLHunyuanVideo>> vaes;
  for (int g = 0; g < gpus; ++g) {
    c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(g));
    vaes.push_back(std::make_unique<model::vae::AutoencoderKLHunyuanVideo>(model::vae::AutoencoderKLHunyuanVideoConfig{}));
    vaes.back()->init_random(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(g)), dtype, 2026);
    if (channels_last) vaes.back()->to_channels_last();
  }
  const nlohmann::json reference = bench::read_reference(reference_path);
  bench::Record record("vae", "scripts/device/bench-vae.sh");
  for (const auto& c : bench::parse_video_cases(cases)) {
    const int64_t latent_frames = c.latent_frames();
    if (row_bands >= 0) options.tiling = model::vae::row_bands(c.height / 8, c.width / 8, bands, 8);
    auto run = [&](bool warmup) {
      std::vector<Timing> timings(gpus);
      auto comms = parallel::make_thread_communicators(gpus);
      std::vector<std::thread> threads;
      for (int g = 0; g < gpus; ++g) {
        threads.emplace_back([&, g] {
          c10::InferenceMode inner;
          c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(g));
          const at::Device dev(at::kCUDA, static_cast<c10::DeviceIndex>(g));
          auto gen = at::make_generator<at::CPUGeneratorImpl>(99);
          auto z = at::randn({1, 16, warmup ? std::min<int64_t>(latent_frames, first_chunk + chunk) : latent_frames,
                              c.height / 8, c.width / 8},
                             gen, at::TensorOptions().dtype(at::kFloat))
                       .to(dev, dtype);
          c10::cuda::CUDACachingAllocator::emptyCache();
          bench::reset_peak_memory();
          GatherOnFirstDevice comm(std::move(comms[g]));
          timings[g] = run_rank(*vaes[g], z, plan, options, gpus > 1 ? &comm : nullptr);
        });
      }
      for (auto& t : threads) t.join();
      return timings;
    };
    run(true);  // cuDNN picks its algorithms for this case's shapes
    const auto timings = run(false);
    double peak = 0;
    for (const auto& t : timings) peak = std::max(peak, t.peak_gib);
    const Timing& t = timings[0];
    const std::string layout_name = tiled                        ? fmt::format("{}/{} tiles", tile_min, tile_stride)
                                    : options.tiling.has_value() ? fmt::format("{} row bands", bands)
                                                                 : std::string("whole frames");
    std::printf("ditstream vae %s %s %d gpu, %s: first chunk %.3f s, total %.3f s, %ld frames, peak %.2f GiB\n",
                c.name.c_str(), dtype_name.c_str(), gpus, layout_name.c_str(), t.first_chunk_s, t.total_s,
                static_cast<long>(t.frames), peak);
    std::fflush(stdout);
    const auto ref = bench::reference_value(reference, "vae_" + c.name, "decode_s");
    const auto ref_peak = bench::reference_value(reference, "vae_" + c.name, "peak_gib");
    auto row = [&](const std::string& variant, double ours) {
      nlohmann::json r{{"ours", ours}, {"peak_gib", peak}, {"dtype", dtype_name}, {"statistics", statistics},
                       {"channels_last", channels_last}, {"offload_caches", offload},
                       {"first_chunk_frames", first_chunk}, {"chunk_frames", chunk},
                       {"tile", tiled ? tile_min : 0}, {"tile_stride", tiled ? tile_stride : 0},
                       {"row_bands", row_bands >= 0 ? bands : 0}};
      if (ref) {
        r["reference"] = *ref;
        r["reference_name"] = "diffusers tiled decode (fp16) same run";
        r["ratio"] = ours / *ref;
      }
      if (ref_peak) r["reference_peak_gib"] = *ref_peak;
      record.add(c.name, variant, "decode_s", r);
    };
    const std::string prefix = std::to_string(gpus) + "gpu-";
    const std::string layout = tiled ? "" : options.tiling.has_value() ? "-bands" : "-whole-frames";
    const std::string suffix =
        layout + std::string(channels_last ? "-channels-last" : "") + (offload ? "-offload" : "");
    if (gpus == 1) row(prefix + "first-chunk" + suffix, t.first_chunk_s);
    row(prefix + "total" + suffix, t.total_s);
  }
  record.write(json_path);
  return 0;
}
