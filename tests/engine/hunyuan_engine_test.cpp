// The HunyuanVideo engine on the tiny model: every step emits progress and a preview of its x0
// prediction, the final frames cover the requested frame count, cancellation stops between steps,
// and the same seed and prompt give the same frames.
#include <gtest/gtest.h>

#include "core/engine/hunyuan_engine.h"
#include "core/util/error.h"
#include "tests/support/test_support.h"

namespace ditstream {
namespace {

engine::HunyuanEngineOptions tiny_options() {
  return {testing::tiny_model_dir(), "cpu", "float32"};
}

engine::JobRequest small_request() {
  engine::JobRequest r;
  r.prompt = "a small test";
  r.width = 32;
  r.height = 32;
  r.frames = 5;
  r.steps = 3;
  r.seed = 11;
  return r;
}

struct Collected {
  std::vector<engine::Progress> steps;
  std::vector<engine::PreviewFrame> previews;
  std::vector<engine::FramePtr> frames;
};

Collected run(engine::HunyuanEngine& e, const engine::JobRequest& r, engine::CancelToken& cancel) {
  Collected c;
  e.run(r,
        [&](engine::Event ev) {
          if (auto* p = std::get_if<engine::Progress>(&ev)) c.steps.push_back(*p);
          if (auto* p = std::get_if<engine::PreviewFrame>(&ev)) c.previews.push_back(*p);
          if (auto* p = std::get_if<engine::FrameChunk>(&ev)) c.frames.insert(c.frames.end(), p->frames.begin(), p->frames.end());
        },
        cancel);
  return c;
}

TEST(HunyuanEngine, EmitsEveryStepWithAPreviewAndAllFinalFrames) {
  engine::HunyuanEngine e(tiny_options());
  EXPECT_FALSE(e.paths().text_path.empty());
  EXPECT_FALSE(e.paths().decode_path.empty());
  engine::CancelToken cancel;
  const auto c = run(e, small_request(), cancel);
  ASSERT_EQ(c.steps.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(c.steps[static_cast<size_t>(i)].step, i + 1);
    EXPECT_EQ(c.steps[static_cast<size_t>(i)].steps, 3);
  }
  ASSERT_EQ(c.previews.size(), 3u);
  // Each preview is the x0 prediction's first latent frame, in host memory on the CPU.
  const auto& latent = *c.previews[0].latent;
  EXPECT_EQ(latent.channels, 16);
  EXPECT_EQ(latent.width, 4);  // 32 / 8: latent resolution
  EXPECT_EQ(latent.height, 4);
  EXPECT_EQ(latent.host.size(), 16u * 4 * 4);
  EXPECT_EQ(latent.device, nullptr);
  ASSERT_EQ(c.frames.size(), 5u);
  EXPECT_EQ(c.frames[0]->width, 32);
  EXPECT_EQ(c.frames[0]->rgb.size(), 32u * 32 * 3);
  // The previews change as denoising proceeds.
  EXPECT_NE(c.previews.front().latent->host, c.previews.back().latent->host);

  engine::CancelToken again;
  const auto d = run(e, small_request(), again);
  ASSERT_EQ(d.frames.size(), c.frames.size());
  for (size_t i = 0; i < c.frames.size(); ++i) EXPECT_EQ(d.frames[i]->rgb, c.frames[i]->rgb) << "frame " << i;
}

TEST(HunyuanEngine, CancelStopsBetweenSteps) {
  engine::HunyuanEngine e(tiny_options());
  engine::CancelToken cancel;
  int seen = 0;
  auto r = small_request();
  r.steps = 10;
  try {
    e.run(r,
          [&](engine::Event ev) {
            if (std::holds_alternative<engine::Progress>(ev) && ++seen == 2) cancel.cancel();
          },
          cancel);
    FAIL() << "the run was not canceled";
  } catch (const Error& err) {
    EXPECT_EQ(err.kind(), ErrorKind::canceled);
  }
  EXPECT_EQ(seen, 2);
}

TEST(HunyuanEngine, Fp8AttentionOnTheCpuIsRefusedNamingTheOption) {
  auto options = tiny_options();
  options.fp8_attention = true;
  try {
    engine::HunyuanEngine e(options);
    FAIL() << "fp8 attention was accepted on the CPU";
  } catch (const Error& err) {
    EXPECT_EQ(err.kind(), ErrorKind::invalid_argument);
    EXPECT_NE(std::string(err.what()).find("fp8_attention"), std::string::npos) << err.what();
    EXPECT_NE(std::string(err.what()).find("CUDA"), std::string::npos) << err.what();
  }
}

TEST(HunyuanEngine, Fp8LinearsRunTheJobCloseToFullPrecision) {
  engine::HunyuanEngine full(tiny_options());
  auto options = tiny_options();
  options.fp8_linears = true;
  engine::HunyuanEngine fp8(options);
  EXPECT_EQ(full.precision(), "float32");
  EXPECT_EQ(fp8.precision(), "float32, fp8 linears");
  engine::CancelToken cancel;
  const auto a = run(full, small_request(), cancel);
  const auto b = run(fp8, small_request(), cancel);
  ASSERT_EQ(b.frames.size(), a.frames.size());
  double diff = 0, count = 0;
  bool differs = false;
  for (size_t i = 0; i < a.frames.size(); ++i) {
    for (size_t p = 0; p < a.frames[i]->rgb.size(); ++p) {
      diff += std::abs(int(a.frames[i]->rgb[p]) - int(b.frames[i]->rgb[p]));
      differs = differs || a.frames[i]->rgb[p] != b.frames[i]->rgb[p];
      ++count;
    }
  }
  std::printf("fp8 linears: mean |difference| %.3f of 255 over %.0f values\n", diff / count, count);
  EXPECT_TRUE(differs) << "the fp8 weights were not used";
  EXPECT_LT(diff / count, 4.0);
}

}  // namespace
}  // namespace ditstream
