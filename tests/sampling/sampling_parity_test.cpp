// The C++ sampling loop against diffusers' HunyuanVideoPipeline on the tiny model (CPU, fp32):
// final latents and seeded noise for two step counts and shifts, and First Block Cache decisions
// and latents against diffusers' own FirstBlockCache hook (tests/reference/hunyuan_pipeline.py).
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/io/diffusers_folder.h"
#include "core/sampling/cache/first_block_cache.h"
#include "core/sampling/pipeline.h"
#include "tests/support/test_support.h"

namespace ditstream::testing {
namespace {

using model::hunyuan_video::HunyuanVideoTransformer3DModel;
using sampling::FirstBlockCache;
using sampling::GenerationPipeline;
using sampling::GenerationRequest;
using sampling::PromptEmbeddings;

PromptEmbeddings make_prompt() {
  auto gen = at::detail::createCPUGenerator(21);
  PromptEmbeddings p;
  p.embeds = at::randn({1, 9, 32}, gen);
  p.mask = at::zeros({1, 9}, at::kLong);
  p.mask.narrow(1, 0, 6).fill_(1);
  p.pooled = at::randn({1, 24}, gen);
  return p;
}

struct ReferenceRun {
  GenerationRequest request;
  std::optional<double> threshold;
};

// Runs diffusers for every run in one process; returns its output tensors.
std::map<std::string, at::Tensor> reference(const PromptEmbeddings& prompt, const std::vector<ReferenceRun>& runs) {
  const auto dir = fresh_temp_dir();
  save_tensors(dir / "prompt.safetensors", {{"prompt_embeds", prompt.embeds},
                                            {"prompt_attention_mask", prompt.mask},
                                            {"pooled_prompt_embeds", prompt.pooled}});
  nlohmann::json list = nlohmann::json::array();
  for (const auto& r : runs) {
    nlohmann::json j = {{"steps", r.request.steps}, {"shift", r.request.shift}, {"seed", r.request.seed},
                        {"guidance", r.request.guidance_scale}, {"height", r.request.height},
                        {"width", r.request.width}, {"frames", r.request.num_frames}};
    if (r.threshold) j["threshold"] = *r.threshold;
    list.push_back(j);
  }
  run_reference("hunyuan_pipeline.py", {"--model", tiny_model_dir().string(), "--prompt",
                                        (dir / "prompt.safetensors").string(), "--out",
                                        (dir / "out.safetensors").string(), "--runs", list.dump()});
  return load_tensors(dir / "out.safetensors");
}

class SamplingParity : public ::testing::Test {
 protected:
  void SetUp() override {
    folder_ = std::make_unique<io::DiffusersFolder>(io::DiffusersFolder::open(tiny_model_dir()));
    model_ = HunyuanVideoTransformer3DModel::from_folder(*folder_, {});
    scheduler_ = sampling::FlowMatchEulerDiscreteSchedulerConfig::from_config(folder_->config("scheduler"));
  }
  c10::InferenceMode guard_;
  std::unique_ptr<io::DiffusersFolder> folder_;
  std::unique_ptr<HunyuanVideoTransformer3DModel> model_;
  sampling::FlowMatchEulerDiscreteSchedulerConfig scheduler_;
};

TEST_F(SamplingParity, FinalLatentsMatchDiffusersPipeline) {
  std::vector<ReferenceRun> runs(2);
  runs[0].request = {.num_frames = 9, .height = 64, .width = 48, .steps = 4, .shift = 7.0, .guidance_scale = 6.0, .seed = 42};
  runs[1].request = {.num_frames = 5, .height = 32, .width = 80, .steps = 7, .shift = 2.5, .guidance_scale = 3.5, .seed = 7};
  const auto prompt = make_prompt();
  const auto expected = reference(prompt, runs);
  GenerationPipeline pipeline(*model_, scheduler_);
  for (size_t k = 0; k < runs.size(); ++k) {
    const std::string n = std::to_string(k);
    EXPECT_TRUE(at::equal(pipeline.initial_latents(runs[k].request, 1), expected.at("noise_" + n)))
        << "seeded noise differs from torch.randn, run " << k;
    const auto result = pipeline.generate(runs[k].request, prompt);
    const double err = relative_l2(result.latents, expected.at("latents_" + n));
    std::cout << "run " << k << ": " << runs[k].request.steps << " steps, shift " << runs[k].request.shift
              << ": relative L2 vs diffusers " << err << "\n";
    EXPECT_LE(err, 1e-5);
    EXPECT_EQ(result.steps.size(), static_cast<size_t>(runs[k].request.steps));
  }
}

// Thresholds 0 (off), 0.05, 0.1, one so high that every step after the first is reused, and two
// that give a mix of computed and reused steps on the tiny random model (its first-block residual
// changes by 20-50% per step, so 0.05 and 0.1 compute every step there).
TEST_F(SamplingParity, FirstBlockCacheMatchesDiffusersHook) {
  const GenerationRequest request{.num_frames = 9, .height = 48, .width = 64, .steps = 12, .shift = 7.0,
                                  .guidance_scale = 6.0, .seed = 3};
  const std::vector<double> thresholds = {0.0, 0.05, 0.1, 1e3, 0.3, 0.45};
  std::vector<ReferenceRun> runs;
  for (double t : thresholds) runs.push_back({request, t});
  const auto prompt = make_prompt();
  const auto expected = reference(prompt, runs);
  GenerationPipeline pipeline(*model_, scheduler_);
  for (size_t k = 0; k < thresholds.size(); ++k) {
    const std::string n = std::to_string(k);
    FirstBlockCache cache(thresholds[k]);
    const auto result = pipeline.generate(request, prompt, {}, &cache);
    const at::Tensor computed = expected.at("computed_" + n);
    std::string ours, theirs;
    for (size_t i = 0; i < result.steps.size(); ++i) {
      ours += result.steps[i].reused ? 'R' : 'C';
      theirs += computed[static_cast<int64_t>(i)].item<int64_t>() ? 'C' : 'R';
    }
    const double err = relative_l2(result.latents, expected.at("latents_" + n));
    std::cout << "threshold " << thresholds[k] << ": ours " << ours << ", diffusers " << theirs << ", metrics";
    for (const auto& s : result.steps) std::cout << " " << (s.cache_metric ? *s.cache_metric : -1.0);
    std::cout << "; relative L2 " << err << "\n";
    EXPECT_EQ(ours, theirs) << "threshold " << thresholds[k];
    EXPECT_LE(err, 1e-5) << "threshold " << thresholds[k];
    EXPECT_EQ(cache.history().size(), static_cast<size_t>(request.steps));
    if (thresholds[k] == 0.0) {
      EXPECT_EQ(result.reused_steps(), 0);
    }
    if (thresholds[k] == 1e3) {
      EXPECT_EQ(result.reused_steps(), request.steps - 1);
    }
    if (thresholds[k] == 0.3 || thresholds[k] == 0.45) {
      EXPECT_GT(result.reused_steps(), 0);
      EXPECT_LT(result.reused_steps(), request.steps - 1);
    }
  }
}

}  // namespace
}  // namespace ditstream::testing
