// Full-size HunyuanVideo transformer steps with random weights in bf16 on the GPU: seconds per
// step, effective TFLOP/s and peak memory per video size, beside diffusers' numbers from the same
// run when the reference JSON (diffusers_baseline.py --json) is given.
//   bench_dit [--cases 320x512x33,544x960x61,720x1280x129] [--text-tokens 32] [--repeat N]
//             [--reference diffusers.json] [--json docs/benchmarks/dit.json]
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "core/model/hunyuan_video/transformer.h"
#include "tests/bench/bench_util.h"

using namespace ditstream;
using model::hunyuan_video::HunyuanVideoTransformer3DModel;
using model::hunyuan_video::HunyuanVideoTransformerConfig;
using model::hunyuan_video::TransformerInputs;

namespace {

struct Case {
  std::string name;
  int64_t height, width, frames;
};

std::vector<Case> parse_cases(const std::string& list) {
  std::vector<Case> cases;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    Case c{item, 0, 0, 0};
    if (std::sscanf(item.c_str(), "%ldx%ldx%ld", &c.height, &c.width, &c.frames) != 3 || c.height % 16 != 0 ||
        c.width % 16 != 0 || (c.frames - 1) % 4 != 0) {
      std::fprintf(stderr, "bad case '%s': expected HxWxF with H, W multiples of 16 and F = 4k+1\n", item.c_str());
      std::exit(2);
    }
    cases.push_back(c);
  }
  return cases;
}

}  // namespace

int main(int argc, char** argv) {
  std::string cases_arg = "320x512x33,544x960x61,720x1280x129", reference_path, json_path;
  int64_t text_tokens = 32;
  int repeat = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--cases") cases_arg = value;
    else if (flag == "--text-tokens") text_tokens = std::stol(value);
    else if (flag == "--repeat") repeat = std::stoi(value);
    else if (flag == "--reference") reference_path = value;
    else if (flag == "--json") json_path = value;
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (!at::hasCUDA()) {
    std::fprintf(stderr, "bench_dit needs a CUDA device\n");
    return 2;
  }
  const auto cases = parse_cases(cases_arg);
  c10::InferenceMode guard;
  const auto reference = bench::read_reference(reference_path);

  HunyuanVideoTransformerConfig config;  // the released model's dimensions
  HunyuanVideoTransformer3DModel model(config);
  model.init_random(at::kCUDA, at::kBFloat16, 0);
  const double params = static_cast<double>(model.parameter_count());
  std::printf("ditstream dit: %.2f B parameters on %s\n", params / 1e9, bench::device_name().c_str());

  bench::Record record("dit", "scripts/device/bench-dit.sh");
  const auto bf16 = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  for (const auto& c : cases) {
    const int64_t t = (c.frames - 1) / 4 + 1, h = c.height / 8, w = c.width / 8;
    TransformerInputs in;
    in.hidden_states = at::randn({1, 16, t, h, w}, bf16);
    in.timestep = at::full({1}, 500.0, bf16);
    in.encoder_hidden_states = at::randn({1, text_tokens, config.text_embed_dim}, bf16);
    in.encoder_attention_mask = at::ones({1, text_tokens}, at::kLong);  // host: no device sync per step
    in.pooled_projections = at::randn({1, config.pooled_projection_dim}, bf16);
    in.guidance = at::full({1}, 6000.0, bf16);
    const int64_t tokens = t * (h / 2) * (w / 2);
    const double length = static_cast<double>(tokens + text_tokens);
    const double flops = 2 * params * length + 4 * length * length * 3072 * 60;

    bench::reset_peak_memory();
    const int reps = repeat > 0 ? repeat : (tokens > 50000 ? 1 : 3);
    const double step = bench::time_median([&] { model.forward(in); }, reps, 1);
    const double peak = bench::peak_memory_gib();
    std::printf("ditstream dit %s: %ld tokens, %.3f s/step, %.0f TFLOP/s, peak %.1f GiB\n", c.name.c_str(),
                static_cast<long>(tokens), step, flops / step / 1e12, peak);

    nlohmann::json fields = {{"ours", step}, {"tflops", flops / step / 1e12}, {"peak_gib", peak}, {"tokens", tokens}};
    if (auto ref = bench::reference_value(reference, "dit_" + c.name, "step_s")) {
      fields["reference"] = *ref;
      fields["reference_name"] = "diffusers eager, same run";
      fields["ratio"] = step / *ref;
      std::printf("  diffusers eager %.3f s/step -> ratio %.2f\n", *ref, step / *ref);
    }
    if (auto ref = bench::reference_value(reference, "compiled_" + c.name, "step_s")) {
      fields["reference_compiled"] = *ref;
      fields["ratio_compiled"] = step / *ref;
      std::printf("  diffusers torch.compile %.3f s/step -> ratio %.2f\n", *ref, step / *ref);
    }
    record.add(c.name, "bf16", "step_s", fields);
    std::fflush(stdout);
  }
  if (!json_path.empty()) record.write(json_path);
  return 0;
}
