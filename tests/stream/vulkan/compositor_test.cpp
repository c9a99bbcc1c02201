// The Vulkan compositor (lavapipe on CPU machines) against the plain C++ conversions, and those
// against independent references: known BT.709 colours, the chroma siting, torch's bilinear
// interpolation, the overlay's glyphs and bar.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/util/error.h"
#include "stream/vulkan/compositor.h"
#include "stream/vulkan/cpu_conversions.h"
#include "stream/vulkan/vulkan_compositor.h"
#include "tests/stream/vulkan/reference_frames.h"

namespace ditstream::stream {
namespace {

struct Size {
  int width, height;
};
// Non-multiples of the 64-wide workgroups and of 8x8 tiles, and a 16:9 frame.
const Size kSizes[] = {{66, 38}, {130, 74}, {320, 180}};

std::vector<uint8_t> random_frame(const RgbFormat& format, int width, int height, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> bytes(rgb_frame_bytes(format, width, height));
  if (format.type == SampleType::f32) {
    // Slightly beyond the range so that clamping is exercised.
    std::uniform_real_distribution<float> dist(format.range == FloatRange::unit ? -0.05f : -1.1f, 1.05f);
    auto* f = reinterpret_cast<float*>(bytes.data());
    for (size_t i = 0; i < bytes.size() / 4; ++i) f[i] = dist(rng);
  } else {
    for (auto& b : bytes) b = static_cast<uint8_t>(rng());
  }
  return bytes;
}

std::vector<float> random_latent(size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 2.0f);
  std::vector<float> out(count);
  for (auto& v : out) v = dist(rng);
  return out;
}

// Largest per-sample difference of two equally sized byte spans.
int max_diff(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  EXPECT_EQ(a.size(), b.size());
  int worst = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) worst = std::max(worst, std::abs(int(a[i]) - int(b[i])));
  return worst;
}

std::unique_ptr<Compositor> vulkan_compositor(int width, int height, int slots = 3) {
  CompositorOptions options;
  options.width = width;
  options.height = height;
  options.slots = slots;
  options.backend = BackendChoice::vulkan;
  auto compositor = Compositor::create(options);
  EXPECT_EQ(compositor->info().backend, CompositorBackend::vulkan);
  return compositor;
}

const RgbFormat kFormats[] = {
    {SampleType::f32, PixelLayout::planar, FloatRange::signed_unit},
    {SampleType::f32, PixelLayout::interleaved, FloatRange::unit},
    {SampleType::u8, PixelLayout::planar, FloatRange::unit},
    {SampleType::u8, PixelLayout::interleaved, FloatRange::unit},
    {SampleType::u8, PixelLayout::rgba8, FloatRange::unit},
};

void expect_error(const std::function<void()>& call, ErrorKind kind, const std::string& field,
                  const std::string& detail_part) {
  try {
    call();
    FAIL() << "no error; expected one about " << field;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    EXPECT_EQ(e.field(), field) << e.what();
    EXPECT_NE(std::string(e.what()).find(detail_part), std::string::npos) << e.what();
  }
}

// --- the CPU path against independent references ---

TEST(CpuConversions, KnownBt709LimitedRangeColours) {
  // 2x2 frames of one colour, u8 interleaved: (R, G, B) → (Y, Cb, Cr) from the BT.709 matrix.
  struct Case {
    uint8_t r, g, b, y, cb, cr;
  };
  const Case cases[] = {
      {0, 0, 0, 16, 128, 128},       {255, 255, 255, 235, 128, 128}, {255, 0, 0, 63, 102, 240},
      {0, 255, 0, 173, 42, 26},      {0, 0, 255, 32, 240, 118},      {128, 128, 128, 126, 128, 128},
  };
  for (const auto& c : cases) {
    std::vector<uint8_t> frame(4 * 3);
    for (int i = 0; i < 4; ++i) frame[3 * i] = c.r, frame[3 * i + 1] = c.g, frame[3 * i + 2] = c.b;
    std::vector<uint8_t> out(I420Frame::size_bytes(2, 2));
    cpu::rgb_to_i420(frame.data(), {SampleType::u8, PixelLayout::interleaved}, 2, 2, out.data());
    SCOPED_TRACE(std::to_string(c.r) + "," + std::to_string(c.g) + "," + std::to_string(c.b));
    EXPECT_EQ(out[0], c.y);
    EXPECT_EQ(out[4], c.cb);
    EXPECT_EQ(out[5], c.cr);
  }
}

TEST(CpuConversions, ChromaIsSitedOnTheLeftLumaColumn) {
  // A red column at x = 3 on grey. Left-sited chroma (samples on columns 0, 2, 4, 6, taps
  // [1, 2, 1] / 4) gives it a quarter weight in samples 1 and 2 alike; centre-sited chroma
  // (mean of columns 2i, 2i+1) would put half of it in sample 1 and none in sample 2.
  const int w = 8, h = 2;
  std::vector<uint8_t> frame(w * h * 3, 128);
  for (int y = 0; y < h; ++y) {
    uint8_t* p = &frame[(y * w + 3) * 3];
    p[0] = 255, p[1] = 0, p[2] = 0;
  }
  std::vector<uint8_t> out(I420Frame::size_bytes(w, h));
  cpu::rgb_to_i420(frame.data(), {SampleType::u8, PixelLayout::interleaved}, w, h, out.data());
  const uint8_t* v = out.data() + w * h + (w / 2) * (h / 2);
  EXPECT_EQ(v[0], 128);
  EXPECT_GT(v[1], 150);
  EXPECT_EQ(v[1], v[2]);
  EXPECT_EQ(v[3], 128);
}

TEST(CpuConversions, LatentPreviewMatchesTorchBilinear) {
  const auto factors = LatentRgbFactors::hunyuan_video();
  for (auto [lh, lw, h, w] : {std::array{5, 9, 38, 66}, std::array{23, 40, 180, 320}, std::array{8, 8, 8, 8}}) {
    const auto latent = random_latent(size_t(kLatentChannels) * lh * lw, 7);
    std::vector<uint32_t> ours(size_t(w) * h);
    cpu::latent_preview(latent.data(), {lh, lw}, factors, w, h, ours.data());

    at::Tensor l = at::from_blob(const_cast<float*>(latent.data()), {kLatentChannels, lh * lw}, at::kFloat);
    at::Tensor f = at::empty({kLatentChannels, 3}, at::kFloat);
    for (int c = 0; c < kLatentChannels; ++c)
      for (int k = 0; k < 3; ++k) f[c][k] = factors.factors[c][k];
    at::Tensor bias = at::tensor(std::vector<float>(factors.bias.begin(), factors.bias.end()));
    at::Tensor rgb = (f.t().matmul(l) + bias.unsqueeze(1)).reshape({1, 3, lh, lw});  // [1, 3, lh, lw]
    at::Tensor up = at::upsample_bilinear2d(rgb, {h, w}, /*align_corners=*/false);       // [1, 3, h, w]
    at::Tensor ref = ((up + 1) * 0.5).clamp(0, 1).mul(255).round().to(at::kInt)[0];    // [3, h, w]
    auto acc = ref.accessor<int, 3>();
    int worst = 0;
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x)
        for (int k = 0; k < 3; ++k)
          worst = std::max(worst, std::abs(int((ours[y * w + x] >> (8 * k)) & 0xFF) - acc[k][y][x]));
    EXPECT_LE(worst, 1) << lh << "x" << lw << " -> " << h << "x" << w;
  }
}

TEST(CpuConversions, OverlayDrawsTextAndProgress) {
  const int w = 320, h = 180;
  std::vector<uint8_t> black(rgb_frame_bytes({SampleType::u8, PixelLayout::interleaved}, w, h), 0);
  const Overlay overlay{3, 4, "denoise"};
  const auto layout = OverlayLayout::place(overlay, w, h);
  EXPECT_EQ(overlay.text(), "step 3/4 denoise");
  EXPECT_EQ(layout.text[3], 16);
  std::vector<uint32_t> out(w * h);
  cpu::overlay(black.data(), {SampleType::u8, PixelLayout::interleaved}, w, h, layout, out.data());
  // 'S' row 0 is 0x0F: columns 1..4 lit, column 0 not.
  const int tx = layout.text[0], ty = layout.text[1];
  EXPECT_EQ(out[ty * w + tx] & 0xFFFFFF, 0u);
  EXPECT_EQ(out[ty * w + tx + 1] & 0xFFFFFF, 0xFFFFFFu);
  // Three quarters of the bar are filled (blue-ish), the rest stays dark.
  const int bar_y = layout.bar[1], bar_len = layout.bar[2] - layout.bar[0];
  EXPECT_EQ(layout.fill_x1 - layout.bar[0], bar_len * 3 / 4);
  EXPECT_GT((out[bar_y * w + layout.bar[0]] >> 16) & 0xFF, 200u);
  EXPECT_EQ(out[bar_y * w + layout.bar[2] - 1] & 0xFFFFFF, 0u);
  // Outside both: untouched.
  EXPECT_EQ(out[(h / 2) * w + w / 2] & 0xFFFFFF, 0u);
}

// --- the Vulkan shaders against the CPU path ---

TEST(VulkanCompositor, RgbToI420MatchesCpuForEveryFormatAndSize) {
  for (const auto& size : kSizes) {
    auto compositor = vulkan_compositor(size.width, size.height);
    for (const auto& format : kFormats) {
      SCOPED_TRACE(to_string(format) + " " + std::to_string(size.width) + "x" + std::to_string(size.height));
      const auto frame = random_frame(format, size.width, size.height, 11);
      const I420Frame got = compositor->compose_rgb(frame.data(), format, nullptr);
      const auto want = cpu_i420(frame.data(), format, size.width, size.height, nullptr);
      EXPECT_LE(max_diff(got.bytes, want), 1);
    }
  }
}

TEST(VulkanCompositor, OverlayMatchesCpuForEveryFormatAndSize) {
  const Overlay overlay{7, 30, "denoise"};
  for (const auto& size : kSizes) {
    auto compositor = vulkan_compositor(size.width, size.height);
    for (const auto& format : kFormats) {
      SCOPED_TRACE(to_string(format) + " " + std::to_string(size.width) + "x" + std::to_string(size.height));
      const auto frame = random_frame(format, size.width, size.height, 12);
      const I420Frame got = compositor->compose_rgb(frame.data(), format, &overlay);
      const auto want = cpu_i420(frame.data(), format, size.width, size.height, &overlay);
      EXPECT_LE(max_diff(got.bytes, want), 1);
      // The overlay is there: the frame differs from the one without it.
      EXPECT_GT(max_diff(got.bytes, cpu_i420(frame.data(), format, size.width, size.height, nullptr)), 10);
    }
  }
}

// The shader's rgba8 preview and overlay, read back through an rgba8 → I420 identity check:
// compare the rgba8 frames themselves by running them as u8 input on the CPU.
TEST(VulkanCompositor, LatentPreviewMatchesCpu) {
  const auto factors = LatentRgbFactors::hunyuan_video();
  const Overlay overlay{2, 3, "preview"};
  struct Case {
    Size out;
    int lh, lw;
  };
  for (const Case& c : {Case{{66, 38}, 5, 9}, Case{{130, 74}, 10, 17}, Case{{320, 180}, 23, 40}, Case{{64, 64}, 8, 8}}) {
    auto compositor = vulkan_compositor(c.out.width, c.out.height);
    const auto latent = random_latent(size_t(kLatentChannels) * c.lh * c.lw, 5);
    for (const Overlay* ov : {static_cast<const Overlay*>(nullptr), &overlay}) {
      SCOPED_TRACE(std::to_string(c.lh) + "x" + std::to_string(c.lw) + " -> " + std::to_string(c.out.width) + "x" +
                   std::to_string(c.out.height) + (ov ? " with overlay" : ""));
      const I420Frame got = compositor->compose_latent(latent.data(), {c.lh, c.lw}, ov);
      std::vector<uint32_t> rgba(size_t(c.out.width) * c.out.height);
      cpu::latent_preview(latent.data(), {c.lh, c.lw}, factors, c.out.width, c.out.height, rgba.data());
      const auto want = cpu_i420(rgba.data(), {SampleType::u8, PixelLayout::rgba8}, c.out.width, c.out.height, ov);
      EXPECT_LE(max_diff(got.bytes, want), 1);
    }
  }
}

TEST(VulkanCompositor, LatentFrameOfAVideoIsReadWithItsStrides) {
  // Frame t = 2 of a [16, T = 3, 6, 10] latent: offset t*h*w, channel stride T*h*w.
  const int t = 2, frames = 3, lh = 6, lw = 10, w = 130, h = 74;
  const auto video = random_latent(size_t(kLatentChannels) * frames * lh * lw, 9);
  const LatentFrameDesc desc{lh, lw, int64_t(frames) * lh * lw, int64_t(t) * lh * lw};
  auto compositor = vulkan_compositor(w, h);
  const I420Frame got = compositor->compose_latent(video.data(), desc, nullptr);
  std::vector<float> frame(size_t(kLatentChannels) * lh * lw);
  for (int c = 0; c < kLatentChannels; ++c)
    for (int i = 0; i < lh * lw; ++i) frame[c * lh * lw + i] = video[desc.offset + c * desc.channel_stride + i];
  std::vector<uint32_t> rgba(size_t(w) * h);
  cpu::latent_preview(frame.data(), {lh, lw}, LatentRgbFactors::hunyuan_video(), w, h, rgba.data());
  EXPECT_LE(max_diff(got.bytes, cpu_i420(rgba.data(), {SampleType::u8, PixelLayout::rgba8}, w, h, nullptr)), 1);
}

TEST(VulkanCompositor, FramesInFlightComeBackInOrderAndSlotsAreNotOverrun) {
  const int w = 66, h = 38;
  const RgbFormat format{SampleType::f32, PixelLayout::planar, FloatRange::signed_unit};
  auto compositor = vulkan_compositor(w, h, 3);
  std::vector<std::vector<uint8_t>> frames;
  std::vector<FrameTicket> tickets;
  for (uint32_t i = 0; i < 3; ++i) {
    frames.push_back(random_frame(format, w, h, 100 + i));
    tickets.push_back(compositor->submit_rgb(frames.back().data(), format, nullptr));
  }
  try {
    compositor->submit_rgb(frames[0].data(), format, nullptr);
    FAIL() << "a fourth frame was accepted into three busy slots";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::conflict);
    EXPECT_EQ(e.field(), "slots");
  }
  I420Frame out;
  for (size_t i = 0; i < 3; ++i) {
    compositor->collect(tickets[i], out);
    EXPECT_LE(max_diff(out.bytes, cpu_i420(frames[i].data(), format, w, h, nullptr)), 1) << "frame " << i;
  }
  EXPECT_THROW(compositor->collect(tickets[0], out), Error);
  // Slots are free again.
  const auto next = compositor->submit_rgb(frames[1].data(), format, nullptr);
  compositor->collect(next, out);
  EXPECT_LE(max_diff(out.bytes, cpu_i420(frames[1].data(), format, w, h, nullptr)), 1);
}

TEST(VulkanCompositor, CpuBackendGivesTheSameFrames) {
  const int w = 130, h = 74;
  CompositorOptions options{w, h};
  options.backend = BackendChoice::cpu;
  auto cpu_backend = Compositor::create(options);
  EXPECT_EQ(cpu_backend->info().backend, CompositorBackend::cpu);
  EXPECT_EQ(cpu_backend->info().reason, "requested");
  auto gpu_backend = vulkan_compositor(w, h);
  const Overlay overlay{1, 2, "decode"};
  const RgbFormat format{SampleType::u8, PixelLayout::planar};
  const auto frame = random_frame(format, w, h, 3);
  EXPECT_LE(max_diff(cpu_backend->compose_rgb(frame.data(), format, &overlay).bytes,
                     gpu_backend->compose_rgb(frame.data(), format, &overlay).bytes),
            1);
  const auto latent = random_latent(size_t(kLatentChannels) * 9 * 16, 4);
  EXPECT_LE(max_diff(cpu_backend->compose_latent(latent.data(), {9, 16}, &overlay).bytes,
                     gpu_backend->compose_latent(latent.data(), {9, 16}, &overlay).bytes),
            1);
}

// --- device input: frames written by a device producer, ordered by the `ready` semaphore ---

TEST(VulkanDeviceInput, FramesWaitForTheReadySemaphoreThenConvert) {
  // On lavapipe every memory type is host-visible, so the test plays the device producer by
  // writing the input buffer through its mapping and signalling `ready` from the host.
  const int w = 130, h = 74;
  CompositorOptions options{w, h};
  options.backend = BackendChoice::vulkan;
  options.device_input = true;
  VulkanCompositor compositor(options);
  const RgbFormat format{SampleType::f32, PixelLayout::planar, FloatRange::signed_unit};
  const Overlay overlay{5, 9, "decode"};
  std::vector<std::vector<uint8_t>> frames;
  std::vector<FrameTicket> tickets;
  for (uint32_t i = 0; i < 2; ++i) {
    frames.push_back(random_frame(format, w, h, 40 + i));
    void* input = compositor.input_buffer(compositor.next_slot()).mapped();
    ASSERT_NE(input, nullptr) << "this test needs host-visible device memory (lavapipe)";
    std::memcpy(input, frames.back().data(), frames.back().size());
    tickets.push_back(compositor.submit_device_rgb(format, &overlay, /*ready_value=*/i + 1));
  }
  // Nothing runs before the producer says its writes are done.
  EXPECT_FALSE(compositor.done_semaphore().wait(tickets[0], 50'000'000));
  compositor.ready_semaphore().signal(1);
  I420Frame out;
  compositor.collect(tickets[0], out);
  EXPECT_LE(max_diff(out.bytes, cpu_i420(frames[0].data(), format, w, h, &overlay)), 1);
  EXPECT_LT(compositor.done_semaphore().value(), tickets[1]);
  compositor.ready_semaphore().signal(2);
  compositor.collect(tickets[1], out);
  EXPECT_LE(max_diff(out.bytes, cpu_i420(frames[1].data(), format, w, h, &overlay)), 1);
  // Host frames still work beside device ones (copied in directly, or through a staging buffer
  // where device memory is not host-visible).
  EXPECT_LE(max_diff(compositor.compose_rgb(frames[0].data(), format, nullptr).bytes,
                     cpu_i420(frames[0].data(), format, w, h, nullptr)),
            1);
}

TEST(VulkanDeviceInput, DeviceSubmitsNeedDeviceInput) {
  CompositorOptions options{66, 38};
  options.backend = BackendChoice::vulkan;
  VulkanCompositor compositor(options);
  expect_error([&] { compositor.submit_device_rgb({}, nullptr, 1); }, ErrorKind::invalid_argument, "device_input",
               "without device input");
}

// --- bad input ---


TEST(CompositorErrors, OddOrZeroSizesAreRejected) {
  for (auto backend : {BackendChoice::vulkan, BackendChoice::cpu, BackendChoice::automatic}) {
    CompositorOptions options{65, 38};
    options.backend = backend;
    expect_error([&] { Compositor::create(options); }, ErrorKind::invalid_argument, "width", "even width");
    options.width = 66;
    options.height = 37;
    expect_error([&] { Compositor::create(options); }, ErrorKind::invalid_argument, "height", "even height");
    options.height = 0;
    expect_error([&] { Compositor::create(options); }, ErrorKind::invalid_argument, "height", "is 0");
    options.height = 38;
    options.slots = 0;
    expect_error([&] { Compositor::create(options); }, ErrorKind::invalid_argument, "slots", "1..8");
  }
}

TEST(CompositorErrors, UuidMismatchIsAnErrorOrAFallbackWithItsReason) {
  CompositorOptions options{66, 38};
  options.device_uuid = vk::Uuid{};
  options.device_uuid->fill(0xAB);
  options.backend = BackendChoice::vulkan;
  expect_error([&] { Compositor::create(options); }, ErrorKind::unavailable, "device_uuid",
               "abababab-abab-abab-abab-abababababab");
  options.backend = BackendChoice::automatic;
  auto fallback = Compositor::create(options);
  EXPECT_EQ(fallback->info().backend, CompositorBackend::cpu);
  EXPECT_NE(fallback->info().reason.find("UUID"), std::string::npos) << fallback->info().reason;
}

TEST(CompositorErrors, MissingDeviceExtensionIsNamed) {
  CompositorOptions options{66, 38};
  options.backend = BackendChoice::vulkan;
  options.device_extensions = {"VK_DITSTREAM_no_such_extension"};
  expect_error([&] { Compositor::create(options); }, ErrorKind::unavailable, "extensions",
               "lacks VK_DITSTREAM_no_such_extension");
}

TEST(CompositorErrors, NoVulkanDriverFallsBackToCpu) {
  // Point the loader at a driver list that does not exist, as on a machine without Vulkan.
  const char* saved = std::getenv("VK_DRIVER_FILES");
  const std::string restore = saved ? saved : "";
  setenv("VK_DRIVER_FILES", "/nonexistent/ditstream_icd.json", 1);
  setenv("VK_ICD_FILENAMES", "/nonexistent/ditstream_icd.json", 1);
  CompositorOptions options{66, 38};
  options.backend = BackendChoice::vulkan;
  try {
    Compositor::create(options);
    ADD_FAILURE() << "a Vulkan compositor was created without a driver";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::unavailable) << e.what();
  }
  options.backend = BackendChoice::automatic;
  auto fallback = Compositor::create(options);
  EXPECT_EQ(fallback->info().backend, CompositorBackend::cpu);
  EXPECT_FALSE(fallback->info().reason.empty());
  const RgbFormat format{SampleType::u8, PixelLayout::interleaved};
  const auto frame = random_frame(format, 66, 38, 1);
  EXPECT_EQ(fallback->compose_rgb(frame.data(), format, nullptr).bytes, cpu_i420(frame.data(), format, 66, 38, nullptr));
  unsetenv("VK_ICD_FILENAMES");
  if (saved) setenv("VK_DRIVER_FILES", restore.c_str(), 1); else unsetenv("VK_DRIVER_FILES");
}

TEST(CompositorErrors, BadFramesAndOverlaysAreRejected) {
  auto compositor = vulkan_compositor(66, 38);
  const RgbFormat format{SampleType::u8, PixelLayout::interleaved};
  const auto frame = random_frame(format, 66, 38, 1);
  expect_error([&] { compositor->submit_rgb(nullptr, format, nullptr); }, ErrorKind::invalid_argument, "frame", "null");
  expect_error([&] { compositor->submit_rgb(frame.data(), {SampleType::f32, PixelLayout::rgba8}, nullptr); },
               ErrorKind::invalid_argument, "format", "rgba8");
  const Overlay past_end{5, 4, "x"};
  expect_error([&] { compositor->submit_rgb(frame.data(), format, &past_end); }, ErrorKind::invalid_argument, "step",
               "0..4");
  const Overlay bad_text{1, 4, "d\xC3\xA9"};
  expect_error([&] { compositor->submit_rgb(frame.data(), format, &bad_text); }, ErrorKind::invalid_argument, "phase",
               "printable ASCII");
  // An f32 RGB frame of 66x38 fits a slot; a latent larger than that does not.
  const auto latent = random_latent(size_t(kLatentChannels) * 40 * 40, 1);
  expect_error([&] { compositor->submit_latent(latent.data(), {40, 40}, nullptr); }, ErrorKind::invalid_argument,
               "latent", "input slots hold");
  expect_error([&] { compositor->submit_latent(latent.data(), {0, 4}, nullptr); }, ErrorKind::invalid_argument,
               "latent.height", "is 0");
  // The compositor still works after rejected frames.
  EXPECT_LE(max_diff(compositor->compose_rgb(frame.data(), format, nullptr).bytes,
                     cpu_i420(frame.data(), format, 66, 38, nullptr)),
            1);
}

TEST(CompositorErrors, BackendChoiceParsesOrNamesTheField) {
  EXPECT_EQ(parse_backend_choice("auto"), BackendChoice::automatic);
  EXPECT_EQ(parse_backend_choice("vulkan"), BackendChoice::vulkan);
  EXPECT_EQ(parse_backend_choice("cpu"), BackendChoice::cpu);
  expect_error([] { parse_backend_choice("gpu", "compositor.backend"); }, ErrorKind::invalid_argument,
               "compositor.backend", "auto, vulkan, cpu");
}

TEST(LatentRgbFactors, ShippedFileParsesAndBadFilesAreNamed) {
  const auto f = LatentRgbFactors::hunyuan_video();
  EXPECT_FLOAT_EQ(f.factors[0][0], -0.0395f);
  EXPECT_FLOAT_EQ(f.factors[15][2], -0.1703f);
  EXPECT_FLOAT_EQ(f.bias[2], -0.0761f);
  expect_error([] { LatentRgbFactors::from_json_text(R"({"factors": [[1,2,3]], "bias": [0,0,0]})", "t.json"); },
               ErrorKind::bad_file, "factors", "16 rows");
  expect_error([] { LatentRgbFactors::from_json_text("{", "t.json"); }, ErrorKind::bad_file, "", "not valid JSON");
}

}  // namespace
}  // namespace ditstream::stream
