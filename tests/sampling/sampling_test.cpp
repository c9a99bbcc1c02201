// Scheduler values, request validation, cancellation, callbacks and NaN detection of the sampling
// loop on the tiny model.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "core/io/config_reader.h"
#include "core/io/diffusers_folder.h"
#include "core/sampling/cache/first_block_cache.h"
#include "core/sampling/pipeline.h"
#include "core/util/error.h"
#include "tests/support/test_support.h"

namespace ditstream::testing {
namespace {

using model::hunyuan_video::HunyuanVideoTransformer3DModel;
using sampling::FirstBlockCache;
using sampling::FlowMatchEulerDiscreteScheduler;
using sampling::FlowMatchEulerDiscreteSchedulerConfig;
using sampling::GenerationPipeline;
using sampling::GenerationRequest;
using sampling::PromptEmbeddings;

template <typename Fn>
void expect_error(Fn&& fn, ErrorKind kind, std::vector<std::string> needles) {
  try {
    fn();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), kind) << e.what();
    for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  }
}

TEST(FlowMatchScheduler, SigmasTimestepsAndEulerStep) {
  FlowMatchEulerDiscreteScheduler s({});
  s.set_timesteps(4, 1.0);
  EXPECT_EQ(s.sigmas(), (std::vector<float>{1.0f, 0.75f, 0.5f, 0.25f, 0.0f}));
  EXPECT_EQ(s.timesteps(), (std::vector<float>{1000.0f, 750.0f, 500.0f, 250.0f}));
  s.set_timesteps(4, 7.0);
  EXPECT_FLOAT_EQ(s.sigma(0), 1.0f);
  EXPECT_FLOAT_EQ(s.sigma(2), 7.0f * 0.5f / (1 + 6.0f * 0.5f));
  EXPECT_FLOAT_EQ(s.timestep(1), 1000.0f * 7.0f * 0.75f / (1 + 6.0f * 0.75f));
  const at::Tensor x = at::ones({2, 3}), v = at::full({2, 3}, 2.0);
  const at::Tensor next = s.step(v, 3, x);  // σ 0.7 → 0
  EXPECT_TRUE(at::allclose(next, x - s.sigma(3) * v));
}

TEST(FlowMatchScheduler, ConfigFromFileAndUnsupportedVariants) {
  const auto c = FlowMatchEulerDiscreteSchedulerConfig::from_config(
      io::ConfigReader::from_file(tiny_model_dir() / "scheduler" / "scheduler_config.json"));
  EXPECT_EQ(c.shift, 7.0);
  EXPECT_EQ(c.num_train_timesteps, 1000);
  expect_error([] {
    FlowMatchEulerDiscreteSchedulerConfig::from_config(io::ConfigReader::from_text(R"({"use_karras_sigmas": true})", "s"));
  }, ErrorKind::bad_file, {"use_karras_sigmas"});
  FlowMatchEulerDiscreteScheduler s({});
  expect_error([&] { s.set_timesteps(0, 7.0); }, ErrorKind::invalid_argument, {"steps"});
  expect_error([&] { s.set_timesteps(5, -1.0); }, ErrorKind::invalid_argument, {"shift"});
}

TEST(FirstBlockCacheConfig, RejectsNegativeAndNaNThreshold) {
  expect_error([] { FirstBlockCache c(-0.1); }, ErrorKind::invalid_argument, {"threshold", "-0.1"});
  expect_error([] { FirstBlockCache c(std::nan("")); }, ErrorKind::invalid_argument, {"threshold"});
  expect_error([] { FirstBlockCache c(std::numeric_limits<double>::infinity()); }, ErrorKind::invalid_argument,
               {"threshold"});
}

class Sampling : public ::testing::Test {
 protected:
  void SetUp() override {
    auto folder = io::DiffusersFolder::open(tiny_model_dir());
    model_ = HunyuanVideoTransformer3DModel::from_folder(folder, {});
    pipeline_ = std::make_unique<GenerationPipeline>(
        *model_, FlowMatchEulerDiscreteSchedulerConfig::from_config(folder.config("scheduler")));
    auto gen = at::detail::createCPUGenerator(5);
    prompt_.embeds = at::randn({1, 5, 32}, gen);
    prompt_.mask = at::ones({1, 5}, at::kLong);
    prompt_.pooled = at::randn({1, 24}, gen);
    request_ = {.num_frames = 5, .height = 32, .width = 32, .steps = 3, .shift = 7.0, .guidance_scale = 6.0, .seed = 1};
  }
  c10::InferenceMode guard_;
  std::unique_ptr<HunyuanVideoTransformer3DModel> model_;
  std::unique_ptr<GenerationPipeline> pipeline_;
  PromptEmbeddings prompt_;
  GenerationRequest request_;
};

TEST_F(Sampling, RejectsBadRequests) {
  auto r = request_;
  r.steps = 0;
  expect_error([&] { pipeline_->generate(r, prompt_); }, ErrorKind::invalid_argument, {"steps", "1..200"});
  r.steps = 201;
  expect_error([&] { pipeline_->generate(r, prompt_); }, ErrorKind::invalid_argument, {"steps", "201"});
  r = request_;
  r.shift = -1;
  expect_error([&] { pipeline_->generate(r, prompt_); }, ErrorKind::invalid_argument, {"shift"});
  r.shift = std::nan("");
  expect_error([&] { pipeline_->generate(r, prompt_); }, ErrorKind::invalid_argument, {"shift"});
  r = request_;
  r.guidance_scale = -2;
  expect_error([&] { pipeline_->generate(r, prompt_); }, ErrorKind::invalid_argument, {"guidance_scale"});
  r.guidance_scale = std::nan("");
  expect_error([&] { pipeline_->generate(r, prompt_); }, ErrorKind::invalid_argument, {"guidance_scale"});
  r = request_;
  r.num_frames = 6;
  expect_error([&] { pipeline_->generate(r, prompt_); }, ErrorKind::invalid_argument, {"num_frames", "4k+1"});
  r = request_;
  r.height = 40;
  expect_error([&] { pipeline_->generate(r, prompt_); }, ErrorKind::invalid_argument, {"height", "16"});
  auto bad_prompt = prompt_;
  bad_prompt.mask.zero_();
  expect_error([&] { pipeline_->generate(request_, bad_prompt); }, ErrorKind::invalid_argument,
               {"encoder_attention_mask", "0 valid"});
}

TEST_F(Sampling, CallbackSeesEveryStepAndLastX0IsTheResult) {
  std::vector<int64_t> seen;
  at::Tensor last_x0;
  sampling::StepHooks hooks;
  hooks.on_step = [&](const sampling::StepEvent& e) {
    seen.push_back(e.index);
    EXPECT_EQ(e.num_steps, 3);
    EXPECT_EQ(e.x0.sizes(), e.latents.sizes());
    last_x0 = e.x0;
  };
  const auto result = pipeline_->generate(request_, prompt_, hooks);
  EXPECT_EQ(seen, (std::vector<int64_t>{0, 1, 2}));
  // The last step goes to σ = 0, so its x0 prediction is the final latents.
  EXPECT_LE(relative_l2(last_x0, result.latents), 1e-6);
  EXPECT_EQ(result.latents.sizes(), (c10::IntArrayRef{1, 16, 2, 4, 4}));
  for (const auto& s : result.steps) EXPECT_GE(s.transformer_s, 0.0);
}

TEST_F(Sampling, CancellationStopsBeforeTheNextStep) {
  int steps_done = 0;
  sampling::StepHooks hooks;
  hooks.on_step = [&](const sampling::StepEvent&) { ++steps_done; };
  hooks.should_cancel = [&] { return steps_done == 2; };
  auto r = request_;
  r.steps = 10;
  expect_error([&] { pipeline_->generate(r, prompt_, hooks); }, ErrorKind::canceled, {"step 2"});
  EXPECT_EQ(steps_done, 2);
}

TEST_F(Sampling, NaNNamesTheStep) {
  auto bad = prompt_;
  bad.pooled[0][3] = std::nan("");
  expect_error([&] { pipeline_->generate(request_, bad); }, ErrorKind::internal, {"NaN", "step 0"});
}

TEST_F(Sampling, SameSeedSameLatentsAndCacheHistory) {
  FirstBlockCache cache(1e3);
  auto r = request_;
  r.steps = 5;
  const auto a = pipeline_->generate(r, prompt_, {}, &cache);
  const auto b = pipeline_->generate(r, prompt_, {}, &cache);  // the cache is reset per job
  EXPECT_TRUE(at::equal(a.latents, b.latents));
  EXPECT_EQ(a.reused_steps(), 4);
  EXPECT_EQ(cache.history().size(), 5u);
  EXPECT_FALSE(cache.history()[0].reused);
  EXPECT_TRUE(cache.history()[4].reused);
}

}  // namespace
}  // namespace ditstream::testing
