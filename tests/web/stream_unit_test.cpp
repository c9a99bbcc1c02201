// The CPU frame path (RGB → I420 with bilinear upscaling, the step label) and the JSON config
// reader of the command line.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

#include "core/util/error.h"

#include "stream/frame_convert.h"
#include "web/json_config.h"

namespace ditstream {
namespace {

engine::RgbFrame solid(int w, int h, uint8_t r, uint8_t g, uint8_t b) {
  engine::RgbFrame f{w, h, {}};
  for (int i = 0; i < w * h; ++i) f.rgb.insert(f.rgb.end(), {r, g, b});
  return f;
}

TEST(FrameConvert, SolidColoursGiveBt601LimitedRangeValues) {
  const auto white = stream::to_i420(solid(2, 2, 255, 255, 255), 4, 4);
  EXPECT_EQ(white.y()[0], 235);
  EXPECT_EQ(white.u()[0], 128);
  EXPECT_EQ(white.v()[0], 128);
  const auto black = stream::to_i420(solid(2, 2, 0, 0, 0), 4, 4);
  EXPECT_EQ(black.y()[0], 16);
  const auto red = stream::to_i420(solid(1, 1, 255, 0, 0), 2, 2);
  EXPECT_EQ(red.y()[0], 82);
  EXPECT_EQ(red.u()[0], 90);
  EXPECT_EQ(red.v()[0], 240);
  EXPECT_EQ(red.bytes.size(), 2u * 2 + 2 * 1);
}

TEST(FrameConvert, BilinearUpscaleInterpolatesBetweenPixels) {
  // Two columns, black and white, scaled 2 → 8: the luma rises monotonically across the row,
  // flat at both ends (half-pixel centres), the middle halfway.
  engine::RgbFrame f{2, 1, {0, 0, 0, 255, 255, 255}};
  const auto out = stream::to_i420(f, 8, 2);
  std::vector<int> row(out.y().begin(), out.y().begin() + 8);
  EXPECT_EQ(row.front(), 16);
  EXPECT_EQ(row.back(), 235);
  for (size_t i = 1; i < row.size(); ++i) EXPECT_GE(row[i], row[i - 1]);
  EXPECT_NEAR((row[3] + row[4]) / 2.0, (16 + 235) / 2.0, 2.0);
}

TEST(FrameConvert, RejectsOddSizesAndMismatchedData) {
  EXPECT_THROW(stream::to_i420(solid(2, 2, 0, 0, 0), 5, 4), Error);
  engine::RgbFrame bad{4, 4, std::vector<uint8_t>(10)};
  EXPECT_THROW(stream::to_i420(bad, 4, 4), Error);
}

TEST(FrameConvert, LabelDrawsDigitsInTheCorner) {
  auto frame = stream::I420Frame::black(64, 64);
  stream::draw_label(frame, "3/8");
  int bright = 0;
  for (int y = 0; y < 16; ++y) {
    for (int x = 0; x < 32; ++x) bright += frame.y()[y * 64 + x] == 235;
  }
  EXPECT_GT(bright, 10);
  for (int y = 32; y < 64; ++y) EXPECT_EQ(frame.y()[y * 64 + 40], 16);  // the rest is untouched
}

// A frame of random luma (what a preview of random weights looks like), optionally labelled, with
// `noise` added afterwards as lossy encoding would.
stream::I420Frame noisy_frame(int w, int h, const char* label, int noise, uint32_t seed) {
  std::mt19937 rng(seed);
  auto frame = stream::I420Frame::black(w, h);
  for (auto& v : frame.y()) v = static_cast<uint8_t>(16 + rng() % 220);
  if (label) stream::draw_label(frame, label);
  std::uniform_int_distribution<int> jitter(-noise, noise);
  for (auto& v : frame.y()) v = static_cast<uint8_t>(std::clamp(v + jitter(rng), 0, 255));
  return frame;
}

TEST(FrameConvert, LabelReadsBackAtEverySizeAndThroughNoise) {
  for (const auto& [w, h] : std::vector<std::pair<int, int>>{{64, 64}, {256, 256}, {960, 544}, {1280, 720}}) {
    for (const char* text : {"1/30", "17/30", "30/30", "3/8", "100/100"}) {
      const auto frame = noisy_frame(w, h, text, h >= 256 ? 40 : 0, static_cast<uint32_t>(w + h));
      EXPECT_EQ(stream::read_label(frame.y(), w, h), std::optional<std::string>(text)) << w << "x" << h << " " << text;
    }
  }
}

TEST(FrameConvert, NoLabelIsReadWhereNoneWasDrawn) {
  for (uint32_t seed = 0; seed < 20; ++seed) {
    const auto frame = noisy_frame(960, 544, nullptr, 0, seed);
    EXPECT_EQ(stream::read_label(frame.y(), 960, 544), std::nullopt) << seed;
  }
  const auto black = stream::I420Frame::black(960, 544);
  EXPECT_EQ(stream::read_label(black.y(), 960, 544), std::nullopt);
  auto white = black;
  std::fill(white.y().begin(), white.y().end(), uint8_t{235});
  EXPECT_EQ(stream::read_label(white.y(), 960, 544), std::nullopt);
  EXPECT_EQ(stream::read_label(black.y(), 960, 600), std::nullopt);  // a plane too small for the size
}

TEST(JsonConfig, ReadsNestedSubcommandOptionsArraysAndFlags) {
  CLI::App app;
  app.config_formatter(std::make_shared<web::JsonConfig>());
  app.set_config("--config");
  std::string level = "info";
  app.add_option("--log-level", level);
  auto* serve = app.add_subcommand("serve");
  int port = 0;
  std::vector<std::string> interfaces;
  bool verbose = false;
  serve->add_option("--port", port);
  serve->add_option("--ice-interface", interfaces);
  serve->add_flag("--verbose", verbose);
  const auto dir = std::filesystem::temp_directory_path() / ("ditstream-config-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / "config.json";
  std::ofstream(file) << R"({"log-level": "debug", "serve": {"port": 9123, "ice-interface": ["127.0.0.1", "lo"], "verbose": true}})";
  const std::string file_arg = file.string();
  std::vector<const char*> argv = {"ditstream", "--config", file_arg.c_str(), "serve"};
  app.parse(static_cast<int>(argv.size()), argv.data());
  EXPECT_EQ(level, "debug");
  EXPECT_EQ(port, 9123);
  EXPECT_EQ(interfaces, (std::vector<std::string>{"127.0.0.1", "lo"}));
  EXPECT_TRUE(verbose);

  std::ofstream(file) << "[1, 2]";
  CLI::App bad;
  bad.config_formatter(std::make_shared<web::JsonConfig>());
  bad.set_config("--config");
  std::vector<const char*> argv2 = {"ditstream", "--config", file_arg.c_str()};
  EXPECT_THROW(bad.parse(static_cast<int>(argv2.size()), argv2.data()), CLI::ParseError);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ditstream
