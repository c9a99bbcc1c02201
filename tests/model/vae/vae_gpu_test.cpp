// The full-size decoder (diffusers' default config, random weights) in fp16/bf16 on the GPU
// against diffusers with the same weights and latents.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <functional>

#ifdef DITSTREAM_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

#include "core/model/vae/streaming_decoder.h"
#include "tests/model/vae/vae_test_util.h"

namespace ditstream {
namespace {

void compare_with_diffusers(at::ScalarType dtype, const char* dtype_name) {
  if (!testing::cuda_available()) GTEST_SKIP() << "no CUDA device: the full-size VAE test runs on a GPU";
  using model::vae::AutoencoderKLHunyuanVideo;
  AutoencoderKLHunyuanVideo vae(model::vae::AutoencoderKLHunyuanVideoConfig{});
  vae.init_random(at::kCUDA, dtype, 1234);
  const auto dir = testing::fresh_temp_dir();
  std::map<std::string, at::Tensor> weights;
  for (auto& [name, slot] : vae.named_parameters()) weights.emplace(name, slot->to(at::kCPU));
  testing::save_tensors(dir / "weights.safetensors", weights);
  weights.clear();

  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  const auto z = at::randn({1, 16, 3, 32, 48}, gen, at::TensorOptions().dtype(at::kFloat));
  testing::save_tensors(dir / "in.safetensors", {{"z", z}});
  testing::run_reference("vae_reference.py",
                         {"decode", (dir / "in.safetensors").string(), (dir / "out.safetensors").string(),
                          "--weights", (dir / "weights.safetensors").string(), "--dtype", dtype_name, "--device",
                          "cuda"});
  const auto ref = testing::load_tensors(dir / "out.safetensors").at("sample");
  const auto ours = vae.decode(z.to(at::kCUDA, dtype));
  ASSERT_EQ(ours.sizes(), ref.sizes());
  const double err = testing::relative_l2(ours.to(at::kFloat), ref);
  ::testing::Test::RecordProperty("rel_l2", testing::scientific(err));
  std::printf("full-size decoder %s vs diffusers: rel L2 %.3e\n", dtype_name, err);
  EXPECT_LE(err, 2e-2);

  // Streaming with whole-clip statistics gives the same frames on the GPU too.
  model::vae::StreamingOptions options;
  options.statistics = model::vae::NormStatistics::whole_clip;
  std::vector<at::Tensor> parts;
  model::vae::decode_streaming(vae, z.to(at::kCUDA, dtype), model::vae::ChunkPlan{1, 1}, options,
                               [&](const at::Tensor& f, int64_t) { parts.push_back(f); });
  const auto streamed = at::cat(parts, 2);
  EXPECT_LE(testing::relative_l2(streamed.to(at::kFloat), ref), 2e-2);

  // Tiled streaming keeps its caches on the host between chunks when asked, same frames.
  model::vae::StreamingOptions tiled;
  tiled.tiling = model::vae::TileSettings{128, 128, 96, 96};
  std::vector<at::Tensor> on_gpu, offloaded;
  model::vae::decode_streaming(vae, z.to(at::kCUDA, dtype), model::vae::ChunkPlan{1, 1}, tiled,
                               [&](const at::Tensor& f, int64_t) { on_gpu.push_back(f); });
  tiled.offload_caches = true;
  model::vae::decode_streaming(vae, z.to(at::kCUDA, dtype), model::vae::ChunkPlan{1, 1}, tiled,
                               [&](const at::Tensor& f, int64_t) { offloaded.push_back(f); });
  EXPECT_TRUE(at::equal(at::cat(offloaded, 2), at::cat(on_gpu, 2)));
}

#ifdef DITSTREAM_WITH_CUDA
int64_t peak_allocated_during(const std::function<void()>& run) {
  const auto device = c10::cuda::current_device();
  c10::cuda::CUDACachingAllocator::emptyCache();
  c10::cuda::CUDACachingAllocator::resetPeakStats(device);
  run();
  c10::cuda::device_synchronize();
  return c10::cuda::CUDACachingAllocator::getDeviceStats(device).allocated_bytes[0].peak;
}
#endif

// Whole 512x512 frames, chunks of one latent frame: with the caches offloaded the frames are the
// same bits and the GPU's peak drops by most of what the caches weigh (about 1.5 GB here).
TEST(VaeGpu, OffloadedCachesGiveTheSameFramesWithMostOfTheCachesOffTheGpu) {
  if (!testing::cuda_available()) GTEST_SKIP() << "no CUDA device: cache offload copies between a GPU and the host";
#ifdef DITSTREAM_WITH_CUDA
  model::vae::AutoencoderKLHunyuanVideo vae(model::vae::AutoencoderKLHunyuanVideoConfig{});
  vae.init_random(at::kCUDA, at::kBFloat16, 99);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
  const auto z = at::randn({1, 16, 5, 64, 64}, gen, at::TensorOptions().dtype(at::kFloat)).to(at::kCUDA, at::kBFloat16);
  int64_t cache_bytes = 0;
  auto decode = [&](bool offload) {
    model::vae::StreamingOptions options;
    options.offload_caches = offload;
    model::vae::StreamingDecoder decoder(vae, options);
    std::vector<at::Tensor> frames;
    for (const auto& [start, count] : model::vae::ChunkPlan{1, 1}.split(z.size(2))) {
      frames.push_back(decoder.push(z.narrow(2, start, count)));
    }
    cache_bytes = decoder.cache_bytes();
    return at::cat(frames, 2);
  };
  decode(false);  // cuDNN settles its algorithms first
  at::Tensor resident, offloaded;
  const int64_t peak_resident = peak_allocated_during([&] { resident = decode(false); });
  const int64_t peak_offloaded = peak_allocated_during([&] { offloaded = decode(true); });
  std::printf("caches %.2f GiB; peak with them on the GPU %.2f GiB, offloaded %.2f GiB\n", cache_bytes / 1073741824.0,
              peak_resident / 1073741824.0, peak_offloaded / 1073741824.0);
  EXPECT_TRUE(at::equal(offloaded, resident));
  EXPECT_LT(peak_offloaded, peak_resident - cache_bytes / 2);
#endif
}

TEST(VaeGpu, FullSizeDecoderBf16MatchesDiffusers) { compare_with_diffusers(at::kBFloat16, "bfloat16"); }
TEST(VaeGpu, FullSizeDecoderFp16MatchesDiffusers) { compare_with_diffusers(at::kHalf, "float16"); }

}  // namespace
}  // namespace ditstream
