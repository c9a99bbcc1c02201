// The CUDA side of overlap: a lane waits for the work that made a tensor on another lane (and the
// test can fail: without the wait the reader sees the tensor half written), real-VAE previews
// decoded on their own stream equal a decode of the same x0 on one stream, and a job's final
// decode on the finish stream beside the next job's denoising gives the frames of one after the
// other.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "core/engine/compute_lane.h"
#include "core/engine/hunyuan_engine.h"
#include "core/engine/preview_decoder.h"
#include "core/model/vae/autoencoder_kl_hunyuan_video.h"
#include "tests/support/test_support.h"

namespace ditstream {
namespace {

#define SKIP_WITHOUT_CUDA() \
  if (!testing::cuda_available()) GTEST_SKIP() << "no CUDA device: this test runs CUDA streams"

TEST(ComputeLaneGpu, AConsumerLaneWaitsForTheProducersWork) {
  SKIP_WITHOUT_CUDA();
  c10::InferenceMode guard;
  engine::ComputeLane producer(at::Device(at::kCUDA, 0), "denoise", engine::ComputeLane::Priority::high);
  engine::ComputeLane consumer(at::Device(at::kCUDA, 0), "preview-vae", engine::ComputeLane::Priority::low);
  EXPECT_EQ(producer.name(), "cuda:0/denoise");
  const auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kFloat);
  const at::Tensor a = at::randn({2048, 2048}, opts) / 45.0;
  at::Tensor made;
  engine::LaneMark mark;
  {
    engine::ComputeLane::Use on(producer);
    made = at::zeros({2048, 2048}, opts);
    // Slow work that fills `made` last: a reader that does not wait sees zeros or partial sums.
    at::Tensor x = a;
    for (int i = 0; i < 50; ++i) x = at::tanh(at::mm(x, a));
    made.copy_(x + 1.0);
    mark = producer.mark();
  }
  double seen = 0;
  std::thread reader([&] {
    c10::InferenceMode reader_guard;
    engine::ComputeLane::Use on(consumer);
    consumer.wait(mark, made);
    seen = made.min().item<float>();
  });
  reader.join();
  producer.synchronize();
  EXPECT_NEAR(seen, made.min().item<float>(), 1e-6);
  EXPECT_GT(seen, 0.0);
}

TEST(ComputeLaneGpu, AvailableMemoryIsReported) {
  SKIP_WITHOUT_CUDA();
  const auto m = engine::available_memory(at::Device(at::kCUDA, 0));
  EXPECT_GT(m.total, int64_t{1} << 30);
  EXPECT_GT(m.free, 0);
  EXPECT_LE(m.free, m.total);
}

engine::HunyuanEngineOptions tiny_cuda_options() {
  return {testing::tiny_model_dir(), "cuda", "float32"};
}

engine::JobRequest request(int steps, int every, int64_t seed) {
  engine::JobRequest r;
  r.prompt = "a fox in the snow";
  r.width = 64;
  r.height = 48;
  r.frames = 17;
  r.steps = steps;
  r.seed = seed;
  r.preview_vae_every = every;
  return r;
}

// A frame's pixels as [H, W, 3] uint8, from the host or (frames an engine left on the GPU) from
// the device's [3, H, W] values in [-1, 1].
std::vector<uint8_t> host_rgb(const engine::RgbFrame& f) {
  if (!f.device) return f.rgb;
  const std::vector<float> chw = f.device->to_host_float();
  std::vector<uint8_t> out(chw.size());
  const size_t plane = static_cast<size_t>(f.width) * f.height;
  for (size_t c = 0; c < 3; ++c) {
    for (size_t p = 0; p < plane; ++p) {
      out[p * 3 + c] = static_cast<uint8_t>(std::clamp(std::nearbyint((chw[c * plane + p] + 1.0f) * 127.5f), 0.0f, 255.0f));
    }
  }
  return out;
}

// The largest difference of one channel of one pixel (uint8 steps) between two frames of one size.
int max_pixel_diff(const engine::RgbFrame& frame_a, const engine::RgbFrame& frame_b) {
  const auto a = host_rgb(frame_a), b = host_rgb(frame_b);
  EXPECT_EQ(a.size(), b.size());
  int most = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) most = std::max(most, std::abs(a[i] - b[i]));
  return most;
}

std::vector<engine::FramePtr> final_frames(const std::vector<engine::Event>& events) {
  std::vector<engine::FramePtr> out;
  for (const auto& e : events) {
    if (const auto* c = std::get_if<engine::FrameChunk>(&e)) out.insert(out.end(), c->frames.begin(), c->frames.end());
  }
  return out;
}

TEST(HunyuanEngineGpu, PreviewsOnTheirStreamEqualADecodeOfTheSameX0) {
  SKIP_WITHOUT_CUDA();
  c10::InferenceMode guard;
  const auto vae = model::vae::AutoencoderKLHunyuanVideo::from_folder(testing::tiny_model_dir(),
                                                                      {at::Device(at::kCUDA, 0), at::kFloat, true});
  engine::ComputeLane producer(at::Device(at::kCUDA, 0), "denoise", engine::ComputeLane::Priority::high);
  engine::ComputeLane lane(at::Device(at::kCUDA, 0), "preview-vae", engine::ComputeLane::Priority::low);
  std::mutex mutex;
  std::vector<engine::PreviewChunk> chunks;
  engine::Timeline timeline;
  engine::PreviewDecodeSettings settings;
  settings.streaming.unscale_latents = true;
  engine::PreviewDecoder decoder(*vae, lane, at::Device(at::kCUDA, 0), settings, 4, 17,
                                 [&](engine::Event e) {
                                   std::lock_guard lock(mutex);
                                   if (auto* c = std::get_if<engine::PreviewChunk>(&e)) chunks.push_back(*c);
                                 },
                                 timeline);
  at::Tensor x0;
  {
    engine::ComputeLane::Use on(producer);
    x0 = at::randn({1, 16, 5, 6, 8}, at::TensorOptions().device(at::kCUDA)) * 0.5;  // [B, C, T', H', W']
    decoder.submit(1, x0, producer.mark());
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (decoder.stats().completed < 1 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  decoder.stop();
  producer.synchronize();
  lane.synchronize();
  std::vector<at::Tensor> parts;
  model::vae::decode_streaming(*vae, x0, model::vae::ChunkPlan{}, settings.streaming,
                               [&](const at::Tensor& frames, int64_t) { parts.push_back(frames); });
  std::vector<engine::FramePtr> want;
  for (const auto& p : parts) {
    const auto f = engine::decoded_frames(p);
    want.insert(want.end(), f.begin(), f.end());
  }
  std::vector<engine::FramePtr> have;
  for (const auto& c : chunks) have.insert(have.end(), c.frames.begin(), c.frames.end());
  ASSERT_EQ(have.size(), 17u);
  ASSERT_EQ(want.size(), 17u);
  // Rounding to uint8 may land one step apart where kernels differ in the last bit.
  for (size_t i = 0; i < want.size(); ++i) EXPECT_LE(max_pixel_diff(*have[i], *want[i]), 1) << "frame " << i;
  for (const auto& s : timeline.spans()) EXPECT_EQ(s.lane, "cuda:0/preview-vae");
}

TEST(HunyuanEngineGpu, FinalDecodeBesideTheNextDenoiseGivesTheSameFrames) {
  SKIP_WITHOUT_CUDA();
  engine::HunyuanEngine e(tiny_cuda_options());
  EXPECT_GT(e.memory_budget(), 0);
  const auto a = request(4, 2, 3), b = request(6, 2, 4);
  std::mutex mutex;
  auto collect = [&](std::vector<engine::Event>& into) {
    return [&mutex, &into](engine::Event ev) {
      std::lock_guard lock(mutex);
      into.push_back(std::holds_alternative<engine::FrameChunk>(ev) ? ev : engine::without_pixels(ev));
    };
  };
  engine::CancelToken cancel;
  std::vector<engine::Event> alone_a, alone_b, over_a, over_b;
  e.run(a, collect(alone_a), cancel);
  e.run(b, collect(alone_b), cancel);
  engine::Timeline ta, tb;
  const engine::EventSink sink_a = collect(over_a), sink_b = collect(over_b);
  auto finisher_a = e.denoise(a, sink_a, cancel, ta);
  std::thread finishing([&] { finisher_a->finish(sink_a, cancel, ta); });
  auto finisher_b = e.denoise(b, sink_b, cancel, tb);
  finishing.join();
  finisher_b->finish(sink_b, cancel, tb);
  for (auto [alone, over] : {std::pair{&alone_a, &over_a}, std::pair{&alone_b, &over_b}}) {
    const auto want = final_frames(*alone), have = final_frames(*over);
    ASSERT_EQ(have.size(), 17u);
    ASSERT_EQ(want.size(), 17u);
    for (size_t i = 0; i < want.size(); ++i) EXPECT_LE(max_pixel_diff(*have[i], *want[i]), 1) << "frame " << i;
  }
  bool finish_lane = false, denoise_lane = false;
  for (const auto& s : ta.spans()) finish_lane |= s.lane == "cuda:0/finish";
  for (const auto& s : tb.spans()) denoise_lane |= s.lane == "cuda:0/denoise";
  EXPECT_TRUE(finish_lane);
  EXPECT_TRUE(denoise_lane);
}

}  // namespace
}  // namespace ditstream
