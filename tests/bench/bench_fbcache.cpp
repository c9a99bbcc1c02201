// First Block Cache at full size with random weights in bf16 on the GPU: whole-job wall time with
// the cache off and at two thresholds, how many steps were reused, and what a reused step costs
// beside a full one, next to diffusers' FirstBlockCache hook from the same run
// (diffusers_baseline.py --fbcache --json). Random weights do not predict real reuse rates.
//   bench_fbcache [--case 544x960x61] [--steps 30] [--thresholds 0.05,0.1]
//                 [--reused-cases 544x960x61,720x1280x129] [--reference diffusers.json] [--json FILE]
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "core/model/hunyuan_video/transformer.h"
#include "core/sampling/cache/first_block_cache.h"
#include "core/sampling/pipeline.h"
#include "tests/bench/bench_util.h"

using namespace ditstream;
using model::hunyuan_video::HunyuanVideoTransformer3DModel;

namespace {


sampling::GenerationRequest request_for(const std::string& c, int64_t steps) {
  sampling::GenerationRequest r;
  long h = 0, w = 0, f = 0;
  if (std::sscanf(c.c_str(), "%ldx%ldx%ld", &h, &w, &f) != 3) {
    std::fprintf(stderr, "bad case '%s': expected HxWxF\n", c.c_str());
    std::exit(2);
  }
  r.height = h;
  r.width = w;
  r.num_frames = f;
  r.steps = steps;
  r.seed = 0;
  return r;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string case_name = "544x960x61", thresholds_arg = "0.05,0.1", reused_cases = "544x960x61,720x1280x129";
  std::string reference_path, json_path;
  int64_t steps = 30;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--case") case_name = value;
    else if (flag == "--steps") steps = std::stol(value);
    else if (flag == "--thresholds") thresholds_arg = value;
    else if (flag == "--reused-cases") reused_cases = value;
    else if (flag == "--reference") reference_path = value;
    else if (flag == "--json") json_path = value;
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (!at::hasCUDA()) {
    std::fprintf(stderr, "bench_fbcache needs a CUDA device\n");
    return 2;
  }
  c10::InferenceMode guard;
  const auto reference = bench::read_reference(reference_path);
  model::hunyuan_video::HunyuanVideoTransformerConfig config;
  HunyuanVideoTransformer3DModel model(config);
  model.init_random(at::kCUDA, at::kBFloat16, 0);
  model.prepare();

  const auto bf16 = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  sampling::PromptEmbeddings prompt;
  prompt.embeds = at::randn({1, 32, config.text_embed_dim}, bf16);
  prompt.mask = at::ones({1, 32}, at::kLong);
  prompt.pooled = at::randn({1, config.pooled_projection_dim}, bf16);
  sampling::PipelineOptions options;
  options.synchronize_timings = true;
  sampling::GenerationPipeline pipeline(model, {}, options);
  bench::Record record("fbcache", "scripts/device/bench-fbcache.sh");

  // What a reused step costs: threshold so high that every step after the first is reused.
  for (const auto& c : bench::split_list(reused_cases)) {
    sampling::FirstBlockCache cache(1e9);
    const auto result = pipeline.generate(request_for(c, 4), prompt, {}, &cache);
    std::vector<double> reused, full;
    for (const auto& s : result.steps) (s.reused ? reused : full).push_back(s.transformer_s);
    const double reused_s = median(reused), full_s = median(full);
    std::printf("ditstream fbcache %s: reused step %.4f s, full step %.3f s (%.1f%%)\n", c.c_str(), reused_s, full_s,
                100 * reused_s / full_s);
    nlohmann::json fields = {{"ours", reused_s}, {"full_step_s", full_s}, {"cost_fraction", reused_s / full_s}};
    if (auto ref = bench::reference_value(reference, "fbcache_" + c, "reused_step_s")) {
      fields["reference"] = *ref;
      fields["reference_name"] = "diffusers FirstBlockCache hook, same run";
      fields["ratio"] = reused_s / *ref;
      std::printf("  diffusers reused step %.4f s -> ratio %.2f\n", *ref, reused_s / *ref);
    }
    record.add(c, "reused_step", "step_s", fields);
    std::fflush(stdout);
  }

  // Whole jobs at one size: cache off, then each threshold.
  std::vector<double> thresholds = {0.0};
  for (const auto& t : bench::split_list(thresholds_arg)) thresholds.push_back(std::stod(t));
  for (double threshold : thresholds) {
    sampling::FirstBlockCache cache(threshold);
    const auto start = std::chrono::steady_clock::now();
    const auto result = pipeline.generate(request_for(case_name, steps), prompt, {}, &cache);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::string pattern;
    for (const auto& s : result.steps) pattern += s.reused ? 'R' : 'C';
    std::printf("ditstream fbcache %s threshold %g: %ld steps in %.1f s, %ld reused (%s)\n", case_name.c_str(),
                threshold, static_cast<long>(steps), wall, static_cast<long>(result.reused_steps()), pattern.c_str());
    std::ostringstream variant;
    variant << "threshold-" << threshold;
    record.add(case_name, variant.str(), "wall_s",
               {{"wall_s", wall}, {"reused_steps", result.reused_steps()}, {"steps", steps}, {"pattern", pattern},
                {"note", "random weights: reuse rates do not predict those of the real model"}});
    std::fflush(stdout);
  }
  if (!json_path.empty()) record.write(json_path);
  return 0;
}
