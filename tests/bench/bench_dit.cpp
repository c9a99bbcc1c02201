// Full-size HunyuanVideo transformer steps with random weights in bf16 on the GPU: seconds per
// step, effective TFLOP/s and peak memory per video size, beside diffusers' numbers from the same
// run when the reference JSON (diffusers_baseline.py --json) is given.
//   bench_dit [--cases 320x512x33,544x960x61,720x1280x129] [--text-tokens 32] [--repeat N]
//             [--reference diffusers.json] [--json docs/benchmarks/dit.json] [--fp8 0|1]
//             [--breakdown 0|1] [--cold-start MODEL_DIR]
// Every case runs in bf16, then (unless --fp8 0) again with the blocks' linear layers in fp8,
// reporting the fp8 output's relative L2 error against the bf16 output of the same step.
// --breakdown (on by default) splits each bf16 step into attention, GEMMs and the rest.
// --cold-start: instead of random weights, loads the diffusers transformer folder MODEL_DIR (full
// size, bf16) onto the GPU and reports the time from process start to the first finished step at
// the first case.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <unistd.h>
#include <string>
#include <vector>

#include "core/io/checkpoint.h"
#include "core/io/config_reader.h"
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

// Seconds since this process started (from /proc: its start time and the system uptime).
double seconds_since_process_start() {
  std::ifstream stat("/proc/self/stat"), uptime_file("/proc/uptime");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string field;
  for (int i = 3; i <= 22; ++i) fields >> field;  // field 22: start time in clock ticks after boot
  double uptime = 0;
  uptime_file >> uptime;
  return uptime - std::stod(field) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

TransformerInputs random_inputs(const HunyuanVideoTransformerConfig& config, const Case& c, int64_t text_tokens) {
  const auto bf16 = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  TransformerInputs in;
  in.hidden_states = at::randn({1, 16, (c.frames - 1) / 4 + 1, c.height / 8, c.width / 8}, bf16);
  in.timestep = at::full({1}, 500.0, bf16);
  in.encoder_hidden_states = at::randn({1, text_tokens, config.text_embed_dim}, bf16);
  in.encoder_attention_mask = at::ones({1, text_tokens}, at::kLong);  // host: no device sync per step
  in.pooled_projections = at::randn({1, config.pooled_projection_dim}, bf16);
  in.guidance = at::full({1}, 6000.0, bf16);
  return in;
}

// Where a bf16 step's time goes: attention (one SDPA call at the joint length, measured, × the 60
// blocks), the blocks' GEMMs (each distinct shape measured once at its token count, × how often a
// step runs it), and the rest (norms, RoPE, activations, residuals, copies) as the difference.
nlohmann::json breakdown(const HunyuanVideoTransformerConfig& config, int64_t video_tokens, int64_t text_tokens,
                         double step_s) {
  const auto bf16 = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  const int64_t c = config.inner_dim(), mlp = config.mlp_dim(), heads = config.num_attention_heads;
  const int64_t d = config.attention_head_dim, length = video_tokens + text_tokens;
  const int64_t blocks = config.num_layers + config.num_single_layers;
  const auto q = at::randn({1, length, heads, d}, bf16).transpose(1, 2);  // [B, H, L, D] view, as the blocks use
  const auto k = at::randn({1, length, heads, d}, bf16).transpose(1, 2);
  const auto v = at::randn({1, length, heads, d}, bf16).transpose(1, 2);
  const double attention = blocks * bench::time_median([&] { at::scaled_dot_product_attention(q, k, v); }, 3, 1);

  struct Gemm {
    int64_t tokens, in, out, count;
  };
  const std::vector<Gemm> gemms = {
      {video_tokens, c, 3 * c, config.num_layers},          // dual: packed q/k/v, video
      {text_tokens, c, 3 * c, config.num_layers},           // dual: packed q/k/v, text
      {video_tokens, c, c, config.num_layers},              // to_out
      {text_tokens, c, c, config.num_layers},               // to_add_out
      {video_tokens, c, mlp, config.num_layers},            // ff.net.0.proj
      {video_tokens, mlp, c, config.num_layers},            // ff.net.2
      {text_tokens, c, mlp, config.num_layers},             // ff_context
      {text_tokens, mlp, c, config.num_layers},
      {length, c, 3 * c + mlp, config.num_single_layers},   // single: packed q/k/v + proj_mlp
      {length, c + mlp, c, config.num_single_layers},       // single: proj_out
  };
  double gemm = 0;
  for (const auto& g : gemms) {
    const auto x = at::randn({g.tokens, g.in}, bf16), w = at::randn({g.out, g.in}, bf16), b = at::randn({g.out}, bf16);
    gemm += g.count * bench::time_median([&] { at::linear(x, w, b); }, 3, 1);
  }
  return {{"attention_s", attention}, {"gemm_s", gemm}, {"rest_s", step_s - attention - gemm},
          {"attention_share", attention / step_s}, {"gemm_share", gemm / step_s}};
}

int cold_start(const std::string& dir, const Case& c, int64_t text_tokens, const std::string& json_path) {
  c10::InferenceMode guard;
  const auto config =
      HunyuanVideoTransformerConfig::from_config(io::ConfigReader::from_file(dir + "/config.json"));
  HunyuanVideoTransformer3DModel model(config);
  const std::string index = dir + "/diffusion_pytorch_model.safetensors.index.json";
  model.load(io::Checkpoint::open(std::ifstream(index).good() ? index : dir + "/diffusion_pytorch_model.safetensors"),
             {at::Device(at::kCUDA), at::kBFloat16, true});
  model.pack_projections();
  model::hunyuan_video::prefer_cudnn_attention();
  const double loaded = seconds_since_process_start();
  model.forward(random_inputs(config, c, text_tokens)).sum().item<float>();  // waits for the step
  const double first_step = seconds_since_process_start();
  std::printf("ditstream cold start %s: weights on the GPU after %.1f s, first step finished after %.1f s\n",
              c.name.c_str(), loaded, first_step);
  if (!json_path.empty()) {
    bench::Record record("dit", "scripts/device/bench-dit.sh");
    record.add(c.name, "cold-start", "seconds", {{"ours_s", first_step}, {"load_s", loaded}});
    record.write(json_path);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string cases_arg = "320x512x33,544x960x61,720x1280x129", reference_path, json_path, cold_start_dir;
  int64_t text_tokens = 32;
  int repeat = 0;
  bool fp8 = true, with_breakdown = true;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--cases") cases_arg = value;
    else if (flag == "--text-tokens") text_tokens = std::stol(value);
    else if (flag == "--repeat") repeat = std::stoi(value);
    else if (flag == "--reference") reference_path = value;
    else if (flag == "--json") json_path = value;
    else if (flag == "--cold-start") cold_start_dir = value;
    else if (flag == "--fp8") fp8 = value != "0";
    else if (flag == "--breakdown") with_breakdown = value != "0";
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
  if (!cold_start_dir.empty()) return cold_start(cold_start_dir, cases.front(), text_tokens, json_path);
  c10::InferenceMode guard;
  const auto reference = bench::read_reference(reference_path);

  HunyuanVideoTransformerConfig config;  // the released model's dimensions
  HunyuanVideoTransformer3DModel model(config);
  model.init_random(at::kCUDA, at::kBFloat16, 0);
  model.pack_projections();
  model::hunyuan_video::prefer_cudnn_attention();
  const double params = static_cast<double>(model.parameter_count());
  std::printf("ditstream dit: %.2f B parameters on %s\n", params / 1e9, bench::device_name().c_str());

  bench::Record record("dit", "scripts/device/bench-dit.sh");
  std::vector<TransformerInputs> inputs;
  std::vector<at::Tensor> bf16_outputs;  // on the host, to measure the fp8 error over a full step
  for (const auto& c : cases) inputs.push_back(random_inputs(config, c, text_tokens));

  // Times every case in the model's current precision and records one row per case.
  const auto run_cases = [&](const std::string& variant) {
    for (size_t i = 0; i < cases.size(); ++i) {
      const Case& c = cases[i];
      const TransformerInputs& in = inputs[i];
      const int64_t tokens = in.hidden_states.size(2) * (in.hidden_states.size(3) / 2) * (in.hidden_states.size(4) / 2);
      const double length = static_cast<double>(tokens + text_tokens);
      const double flops = 2 * params * length + 4 * length * length * 3072 * 60;

      bench::reset_peak_memory();
      at::Tensor out;
      const int reps = repeat > 0 ? repeat : (tokens > 50000 ? 1 : 3);
      const double step = bench::time_median([&] { out = model.forward(in); }, reps, 1);
      const double peak = bench::peak_memory_gib();
      std::printf("ditstream dit %s %s: %ld tokens, %.3f s/step, %.0f TFLOP/s, peak %.1f GiB\n", c.name.c_str(),
                  variant.c_str(), static_cast<long>(tokens), step, flops / step / 1e12, peak);
      nlohmann::json fields = {{"ours", step}, {"tflops", flops / step / 1e12}, {"peak_gib", peak}, {"tokens", tokens}};
      if (variant == "bf16") {
        bf16_outputs.push_back(out.to(at::kCPU));
        out = at::Tensor();
        if (with_breakdown) {
          fields["breakdown"] = breakdown(config, tokens, text_tokens, step);
          const auto& b = fields["breakdown"];
          std::printf("  attention %.3f s (%.0f%%), GEMMs %.3f s (%.0f%%), rest %.3f s\n", b["attention_s"].get<double>(),
                      100 * b["attention_share"].get<double>(), b["gemm_s"].get<double>(),
                      100 * b["gemm_share"].get<double>(), b["rest_s"].get<double>());
        }
      } else {
        const at::Tensor a = out.to(at::kCPU).to(at::kDouble), b = bf16_outputs[i].to(at::kDouble);
        const double rel = ((a - b).norm() / b.norm()).item<double>();
        fields["rel_l2"] = rel;
        std::printf("  output vs bf16 over a full step: relative L2 %.4f\n", rel);
      }
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
      record.add(c.name, variant, "step_s", fields);
      std::fflush(stdout);
    }
  };
  run_cases("bf16");
  if (fp8) {
    model.quantize_fp8();
    run_cases("fp8");
  }
  if (!json_path.empty()) record.write(json_path);
  return 0;
}
