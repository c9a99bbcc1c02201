// One job's frames through the compositor as the stream hub uses it: latent previews with the
// denoising overlay, final frames composed twice (with the decode overlay for the live stream,
// clean for the recording) through pipelined slots, device frames copied to the host when there is
// no device input, and the factory that shares one Vulkan context between frame sizes and threads.
// Every result is compared with the CPU conversions (cpu_conversions.h).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <random>
#include <thread>

#include "core/util/error.h"
#include "stream/job_compositor.h"
#include "stream/vulkan/compositor_factory.h"
#include "stream/vulkan/cpu_conversions.h"
#include "tests/stream/vulkan/reference_frames.h"

namespace ditstream::stream {
namespace {

int max_diff(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  EXPECT_EQ(a.size(), b.size());
  int worst = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) worst = std::max(worst, std::abs(int(a[i]) - int(b[i])));
  return worst;
}

std::shared_ptr<CompositorFactory> factory(BackendChoice backend, int slots = 3) {
  CompositorOptions options;
  options.backend = backend;
  options.slots = slots;
  return std::make_shared<CompositorFactory>(options);
}

JobCompositor job(const CompositorFactory& f, int width, int height) {
  auto compositor = f.make(width, height);
  auto input = f.device_input(*compositor);
  return JobCompositor(std::move(compositor), std::move(input));
}

engine::FramePtr random_picture(int width, int height, uint32_t seed) {
  std::mt19937 rng(seed);
  auto f = std::make_shared<engine::RgbFrame>();
  f->width = width;
  f->height = height;
  f->rgb.resize(size_t(width) * height * 3);
  for (auto& b : f->rgb) b = static_cast<uint8_t>(rng());
  return f;
}

engine::LatentPtr random_latent(int width, int height, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 2.0f);
  auto l = std::make_shared<engine::LatentFrame>();
  l->channels = kLatentChannels;
  l->height = height;
  l->width = width;
  l->host.resize(size_t(kLatentChannels) * width * height);
  for (auto& v : l->host) v = dist(rng);
  return l;
}

// A device tensor as an engine on a GPU hands it over, played by host memory here.
class HostBackedDeviceTensor final : public engine::DeviceTensor {
 public:
  HostBackedDeviceTensor(std::vector<int64_t> sizes, std::vector<float> values)
      : sizes_(std::move(sizes)), values_(std::move(values)) {}
  std::vector<int64_t> sizes() const override { return sizes_; }
  std::vector<float> to_host_float() const override { return values_; }

 private:
  std::vector<int64_t> sizes_;
  std::vector<float> values_;
};

std::vector<uint8_t> latent_reference(const engine::LatentFrame& l, int width, int height, const Overlay* overlay) {
  std::vector<uint32_t> rgba(size_t(width) * height);
  cpu::latent_preview(l.host.data(), {l.height, l.width}, LatentRgbFactors::hunyuan_video(), width, height,
                      rgba.data());
  return cpu_i420(rgba.data(), {SampleType::u8, PixelLayout::rgba8}, width, height, overlay);
}

const RgbFormat kHostRgb{SampleType::u8, PixelLayout::interleaved, FloatRange::unit};

class JobCompositorTest : public ::testing::TestWithParam<BackendChoice> {};

TEST_P(JobCompositorTest, PreviewIsTheLatentDrawnWithTheDenoisingOverlay) {
  const auto f = factory(GetParam());
  EXPECT_EQ(f->info().backend, GetParam() == BackendChoice::cpu ? CompositorBackend::cpu : CompositorBackend::vulkan);
  auto frames = job(*f, 80, 48);
  const auto latent = random_latent(10, 6, 1);
  const I420Frame got = frames.preview({2, 5, nullptr, latent});
  const Overlay overlay{2, 5, "denoising"};
  EXPECT_LE(max_diff(got.bytes, latent_reference(*latent, 80, 48, &overlay)), 1);
  // A picture instead of a latent (a real decode of x0) gets the same overlay.
  const auto picture = random_picture(80, 48, 2);
  const Overlay third{3, 5, "denoising"};
  EXPECT_LE(
      max_diff(frames.preview({3, 5, picture, nullptr}).bytes, cpu_i420(picture->rgb.data(), kHostRgb, 80, 48, &third)),
      1);
  EXPECT_EQ(f->counters().host_frames, 2u);
  EXPECT_EQ(f->counters().device_frames, 0u);
}

TEST_P(JobCompositorTest, FinalFramesAreShownWithTheDecodeOverlayAndRecordedClean) {
  const auto f = factory(GetParam(), 3);  // 5 frames, 10 conversions: the slots wrap several times
  auto frames = job(*f, 64, 32);
  engine::FrameChunk chunk{4, 13, 0, {}};
  for (uint32_t i = 0; i < 5; ++i) chunk.frames.push_back(random_picture(64, 32, 10 + i));
  const auto out = frames.final_frames(chunk, 30);
  ASSERT_EQ(out.shown.size(), 5u);
  ASSERT_EQ(out.recorded.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    SCOPED_TRACE("frame " + std::to_string(i));
    const auto& rgb = chunk.frames[i]->rgb;
    EXPECT_LE(max_diff(out.recorded[i].bytes, cpu_i420(rgb.data(), kHostRgb, 64, 32, nullptr)), 1);
    const Overlay overlay{30, 30, "decoding", float(4 + i + 1) / 13.0f};
    EXPECT_LE(max_diff(out.shown[i].bytes, cpu_i420(rgb.data(), kHostRgb, 64, 32, &overlay)), 1);
    EXPECT_GT(max_diff(out.shown[i].bytes, out.recorded[i].bytes), 10);
  }
  // The last chunk says the job is done, its bar full.
  engine::FrameChunk last{9, 10, 0, {random_picture(64, 32, 20)}};
  const auto end = frames.final_frames(last, 30);
  const Overlay done{30, 30, "done", 1.0f};
  EXPECT_LE(max_diff(end.shown[0].bytes, cpu_i420(last.frames[0]->rgb.data(), kHostRgb, 64, 32, &done)), 1);
  EXPECT_EQ(f->counters().host_frames, 12u);
}

TEST_P(JobCompositorTest, DeviceFramesWithoutDeviceInputAreCopiedToTheHost) {
  const auto f = factory(GetParam());
  auto compositor = f->make(32, 32);
  EXPECT_EQ(f->device_input(*compositor), nullptr) << "no interop was asked for";
  JobCompositor frames(std::move(compositor), nullptr);
  // A decoded frame [3, H, W] in [-1, 1], as the VAE leaves it on the GPU.
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> planar(3 * 32 * 32);
  for (auto& v : planar) v = dist(rng);
  auto picture = std::make_shared<engine::RgbFrame>();
  picture->width = picture->height = 32;
  picture->device = std::make_shared<HostBackedDeviceTensor>(std::vector<int64_t>{3, 32, 32}, planar);
  const auto out = frames.final_frames({0, 1, 0, {picture}}, 4);
  const RgbFormat vae{SampleType::f32, PixelLayout::planar, FloatRange::signed_unit};
  EXPECT_LE(max_diff(out.recorded[0].bytes, cpu_i420(planar.data(), vae, 32, 32, nullptr)), 1);
  // A latent frame on the device likewise.
  const auto host_latent = random_latent(4, 4, 6);
  auto latent = std::make_shared<engine::LatentFrame>(engine::LatentFrame{kLatentChannels, 4, 4, {}, nullptr});
  latent->device = std::make_shared<HostBackedDeviceTensor>(std::vector<int64_t>{16, 4, 4}, host_latent->host);
  const Overlay overlay{1, 4, "denoising"};
  EXPECT_LE(max_diff(frames.preview({1, 4, nullptr, latent}).bytes, latent_reference(*host_latent, 32, 32, &overlay)),
            1);
  EXPECT_EQ(f->counters().host_frames, 3u);
  EXPECT_EQ(f->counters().device_frames, 0u);
}

TEST_P(JobCompositorTest, FramesItCannotTakeAreNamed) {
  const auto f = factory(GetParam());
  auto frames = job(*f, 64, 32);
  auto expect_field = [](const std::function<void()>& call, const std::string& field, const std::string& part) {
    try {
      call();
      ADD_FAILURE() << "no error about " << field;
    } catch (const Error& e) {
      EXPECT_EQ(e.field(), field) << e.what();
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  expect_field(
      [&] {
        frames.final_frames({0, 1, 0, {random_picture(32, 32, 1)}}, 4);
      },
      "frame", "is 32x32; the job streams 64x32");
  auto short_frame = std::make_shared<engine::RgbFrame>(engine::RgbFrame{64, 32, std::vector<uint8_t>(10), nullptr});
  expect_field([&] { frames.final_frames({0, 1, 0, {short_frame}}, 4); }, "frame", "holds 10 bytes");
  auto latent = random_latent(8, 4, 1);
  auto four = std::make_shared<engine::LatentFrame>(*latent);
  four->channels = 4;
  expect_field([&] { frames.preview({1, 4, nullptr, four}); }, "latent.channels", "is 4");
  expect_field([&] { frames.preview({1, 4, nullptr, nullptr}); }, "preview", "neither");
  // Still usable afterwards.
  const Overlay overlay{1, 4, "denoising"};
  EXPECT_LE(max_diff(frames.preview({1, 4, nullptr, latent}).bytes, latent_reference(*latent, 64, 32, &overlay)), 1);
}

INSTANTIATE_TEST_SUITE_P(Backends, JobCompositorTest, ::testing::Values(BackendChoice::vulkan, BackendChoice::cpu),
                         [](const auto& info) { return info.param == BackendChoice::vulkan ? "Vulkan" : "Cpu"; });

TEST(CompositorFactory, OneVulkanContextServesEverySizeAndThread) {
  const auto f = factory(BackendChoice::vulkan);
  ASSERT_EQ(f->info().backend, CompositorBackend::vulkan);
  EXPECT_EQ(f->info().reason.rfind("requested", 0), 0u) << f->info().reason;
  // Jobs of different sizes on their own threads at once, as overlapping jobs would run.
  std::vector<std::thread> threads;
  std::atomic<int> worst{0};
  for (auto [w, h] : {std::pair{64, 32}, std::pair{130, 74}, std::pair{320, 176}}) {
    threads.emplace_back([&, w = w, h = h] {
      auto frames = job(*f, w, h);
      for (uint32_t i = 0; i < 6; ++i) {
        const auto picture = random_picture(w, h, 100 + i);
        const auto out = frames.final_frames({int(i), 6, 0, {picture}}, 2);
        worst = std::max(worst.load(),
                         max_diff(out.recorded[0].bytes, cpu_i420(picture->rgb.data(), kHostRgb, w, h, nullptr)));
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(worst.load(), 1);
  EXPECT_EQ(f->counters().host_frames, 3u * 6 * 2);
  // Every compositor of the factory reports the factory's choice.
  EXPECT_EQ(f->make(64, 32)->info().device, f->info().device);
  EXPECT_THROW(f->make(63, 32), Error);
}

TEST(CompositorFactory, MissingVulkanIsAStartUpErrorWhenRequiredAndAFallbackOtherwise) {
  const char* saved = std::getenv("VK_DRIVER_FILES");
  const std::string restore = saved ? saved : "";
  setenv("VK_DRIVER_FILES", "/nonexistent/ditstream_icd.json", 1);
  setenv("VK_ICD_FILENAMES", "/nonexistent/ditstream_icd.json", 1);
  try {
    factory(BackendChoice::vulkan);
    ADD_FAILURE() << "a Vulkan factory was made without a driver";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unavailable);
    EXPECT_NE(std::string(e.what()).find("Vulkan was required"), std::string::npos) << e.what();
  }
  const auto fallback = factory(BackendChoice::automatic);
  EXPECT_EQ(fallback->info().backend, CompositorBackend::cpu);
  EXPECT_EQ(fallback->info().device, "host");
  EXPECT_NE(fallback->info().reason.find("Vulkan is not usable"), std::string::npos) << fallback->info().reason;
  unsetenv("VK_ICD_FILENAMES");
  if (saved)
    setenv("VK_DRIVER_FILES", restore.c_str(), 1);
  else
    unsetenv("VK_DRIVER_FILES");
  EXPECT_EQ(factory(BackendChoice::cpu)->info().reason, "requested");
}

TEST(OverlayLayout, ProgressOverridesTheStepFractionAndIsChecked) {
  const auto by_step = OverlayLayout::place({1, 4, "decoding"}, 200, 100);
  const auto by_progress = OverlayLayout::place({4, 4, "decoding", 0.25f}, 200, 100);
  EXPECT_EQ(by_step.fill_x1, by_progress.fill_x1);
  EXPECT_THROW(OverlayLayout::place({4, 4, "decoding", 1.5f}, 200, 100), Error);
}

}  // namespace
}  // namespace ditstream::stream
