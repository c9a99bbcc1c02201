// The overlay's text line reads back from frames drawn by the compositor over random pictures
// (what previews of random weights look like), also after coarse damage to every sample; clean
// frames read as none.
#include <gtest/gtest.h>

#include <random>

#include "stream/vulkan/compositor.h"
#include "stream/vulkan/overlay_reader.h"

namespace ditstream::stream {
namespace {

std::vector<uint8_t> random_picture(int width, int height, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<uint8_t> rgb(static_cast<size_t>(width) * height * 3);
  for (auto& v : rgb) v = static_cast<uint8_t>(byte(rng));
  return rgb;
}

I420Frame compose(int width, int height, const Overlay* overlay, uint32_t seed) {
  CompositorOptions options;
  options.width = width;
  options.height = height;
  auto compositor = make_cpu_compositor(options, CompositorInfo{}, std::make_shared<CompositorCounters>());
  const auto picture = random_picture(width, height, seed);
  return compositor->compose_rgb(picture.data(), RgbFormat{SampleType::u8, PixelLayout::interleaved}, overlay);
}

TEST(OverlayReader, ReadsStepTotalAndPhaseAtSeveralSizes) {
  uint32_t seed = 1;
  for (auto [w, h] : std::vector<std::pair<int, int>>{{960, 544}, {1280, 720}, {512, 320}, {256, 256}}) {
    for (const Overlay& overlay : {Overlay{3, 30, "denoising", std::nullopt}, Overlay{30, 30, "decoding", 0.25f},
                                   Overlay{30, 30, "done", 1.0f}, Overlay{0, 7, "denoising", std::nullopt}}) {
      I420Frame frame = compose(w, h, &overlay, ++seed);
      // Damage every luma sample by up to ±12 levels, as a lossy encoder might.
      std::mt19937 rng(seed);
      std::uniform_int_distribution<int> noise(-12, 12);
      for (auto& y : frame.y()) y = static_cast<uint8_t>(std::clamp(int(y) + noise(rng), 0, 255));
      const auto reading = read_overlay(frame.y(), w, h);
      ASSERT_TRUE(reading.has_value()) << w << "x" << h << " " << overlay.text();
      EXPECT_EQ(reading->step, overlay.step) << w << "x" << h;
      EXPECT_EQ(reading->total_steps, overlay.total_steps) << w << "x" << h;
      EXPECT_EQ(reading->phase, overlay.phase) << w << "x" << h;
    }
  }
}

TEST(OverlayReader, CleanAndBlankFramesHaveNone) {
  for (uint32_t seed = 0; seed < 20; ++seed) {
    const I420Frame frame = compose(960, 544, nullptr, seed);
    EXPECT_EQ(read_overlay(frame.y(), 960, 544), std::nullopt) << seed;
  }
  std::vector<uint8_t> black(1280 * 720, 16), white(1280 * 720, 235);
  EXPECT_EQ(read_overlay(black, 1280, 720), std::nullopt);
  EXPECT_EQ(read_overlay(white, 1280, 720), std::nullopt);
  EXPECT_EQ(read_overlay(black, 1280, 800), std::nullopt);  // a plane too small for the size
}

}  // namespace
}  // namespace ditstream::stream
