// Full-size HunyuanVideo transformer steps with random weights in bf16 on the GPU: seconds per
// step, effective TFLOP/s and peak memory per video size, beside diffusers' numbers from the same
// run when the reference JSON (diffusers_baseline.py --json) is given.
//   bench_dit [--cases 320x512x33,544x960x61,720x1280x129] [--text-tokens 32] [--repeat N]
//             [--reference diffusers.json] [--json docs/benchmarks/dit.json] [--fp8 1]
//             [--fp8-attention 1] [--model DIR] [--cold-start 1]
// --fp8 also times every case with fp8 linear layers, --fp8-attention then with fp8 attention on
// top; both report their output error against bf16.
// --model loads DIR/transformer (diffusers layout) instead of drawing random weights; with
// --cold-start the first case's first step is timed from process start (weights on disk) and the
// row is added to the existing --json record.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/io/diffusers_folder.h"
#include "core/model/hunyuan_video/transformer.h"
#include "tests/bench/bench_util.h"

using namespace ditstream;
using model::hunyuan_video::HunyuanVideoTransformer3DModel;
using model::hunyuan_video::HunyuanVideoTransformerConfig;
using model::hunyuan_video::TransformerInputs;

namespace {

// Seconds since this process started, from the kernel's own record of the start time.
double seconds_since_process_start() {
  std::ifstream stat("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  std::istringstream fields(text.substr(text.rfind(')') + 2));
  std::string field;
  for (int i = 3; i <= 22; ++i) fields >> field;  // field 22: start time in clock ticks after boot
  const double start = std::stod(field) / static_cast<double>(sysconf(_SC_CLK_TCK));
  std::ifstream uptime("/proc/uptime");
  double up = 0;
  uptime >> up;
  return up - start;
}

TransformerInputs make_inputs(const bench::VideoCase& c, int64_t text_tokens, const HunyuanVideoTransformerConfig& config) {
  const auto bf16 = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  const int64_t t = (c.frames - 1) / 4 + 1, h = c.height / 8, w = c.width / 8;
  TransformerInputs in;
  in.hidden_states = at::randn({1, 16, t, h, w}, bf16);
  in.timestep = at::full({1}, 500.0, bf16);
  in.encoder_hidden_states = at::randn({1, text_tokens, config.text_embed_dim}, bf16);
  in.encoder_attention_mask = at::ones({1, text_tokens}, at::kLong);  // host: no device sync per step
  in.pooled_projections = at::randn({1, config.pooled_projection_dim}, bf16);
  in.guidance = at::full({1}, 6000.0, bf16);
  return in;
}

}  // namespace

int main(int argc, char** argv) {
  std::string cases_arg = "320x512x33,544x960x61,720x1280x129", reference_path, json_path, model_dir;
  int64_t text_tokens = 32;
  int repeat = 0;
  bool fp8 = false, fp8_attention = false, cold_start = false;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--cases") cases_arg = value;
    else if (flag == "--text-tokens") text_tokens = std::stol(value);
    else if (flag == "--repeat") repeat = std::stoi(value);
    else if (flag == "--reference") reference_path = value;
    else if (flag == "--json") json_path = value;
    else if (flag == "--fp8") fp8 = value == "1";
    else if (flag == "--fp8-attention") fp8_attention = value == "1";
    else if (flag == "--model") model_dir = value;
    else if (flag == "--cold-start") cold_start = value == "1";
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (!at::hasCUDA()) {
    std::fprintf(stderr, "bench_dit needs a CUDA device\n");
    return 2;
  }
  const auto cases = bench::parse_video_cases(cases_arg);
  c10::InferenceMode guard;
  const auto reference = bench::read_reference(reference_path);

  std::unique_ptr<HunyuanVideoTransformer3DModel> loaded;
  const model::LoadOptions to_gpu{at::Device(at::kCUDA), at::kBFloat16, true};
  if (!model_dir.empty() && std::filesystem::exists(std::filesystem::path(model_dir) / "model_index.json")) {
    loaded = HunyuanVideoTransformer3DModel::from_folder(io::DiffusersFolder::open(model_dir), to_gpu);
  } else if (!model_dir.empty()) {  // a transformer folder of its own: config.json + weights
    const std::filesystem::path dir(model_dir);
    loaded = std::make_unique<HunyuanVideoTransformer3DModel>(
        HunyuanVideoTransformerConfig::from_config(io::ConfigReader::from_file(dir / "config.json")));
    const auto index = dir / "diffusion_pytorch_model.safetensors.index.json";
    loaded->load(io::Checkpoint::open(std::filesystem::exists(index) ? index : dir / "diffusion_pytorch_model.safetensors"),
                 to_gpu);
  } else {
    loaded = std::make_unique<HunyuanVideoTransformer3DModel>(HunyuanVideoTransformerConfig{});  // released dims
    loaded->init_random(at::kCUDA, at::kBFloat16, 0);
  }
  HunyuanVideoTransformer3DModel& model = *loaded;
  const auto& config = model.config();

  if (cold_start) {
    const auto& c = cases.front();
    auto in = make_inputs(c, text_tokens, config);
    model.forward(in);
    bench::time_median([] {}, 1, 0);  // synchronizes
    const double elapsed = seconds_since_process_start();
    std::printf("ditstream dit %s: cold start (process start to first finished step) %.2f s\n", c.name.c_str(), elapsed);
    nlohmann::json doc = bench::read_reference(json_path);
    bench::Record record("dit", "scripts/device/bench-dit.sh");
    nlohmann::json merged = doc.empty() ? record.json() : doc;
    merged["rows"].push_back({{"case", c.name}, {"variant", "cold-start"}, {"metric", "seconds"}, {"ours_s", elapsed}});
    if (!json_path.empty()) std::ofstream(json_path) << merged.dump(1) << "\n";
    return 0;
  }

  const double params = static_cast<double>(model.parameter_count());
  std::printf("ditstream dit: %.2f B parameters on %s\n", params / 1e9, bench::device_name().c_str());
  bench::Record record("dit", "scripts/device/bench-dit.sh");
  std::vector<TransformerInputs> inputs;
  std::vector<at::Tensor> bf16_outputs;
  for (const auto& c : cases) inputs.push_back(make_inputs(c, text_tokens, config));

  const auto run_cases = [&](const std::string& variant) {
    for (size_t i = 0; i < cases.size(); ++i) {
      const auto& c = cases[i];
      const auto& in = inputs[i];
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
        bf16_outputs.push_back(out);
      } else {
        const auto a = out.to(at::kDouble), b = bf16_outputs[i].to(at::kDouble);
        const double rel = ((a - b).norm() / b.norm()).item<double>();
        fields["rel_l2"] = rel;
        std::printf("  %s output vs bf16: relative L2 %.4f\n", variant.c_str(), rel);
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
      if (auto ref = bench::reference_value(reference, "dit_" + c.name, "peak_gib")) fields["reference_peak_gib"] = *ref;
      record.add(c.name, variant, "step_s", fields);
      std::fflush(stdout);
    }
  };
  run_cases("bf16");
  if (fp8) {
    model.quantize_fp8();
    run_cases("fp8");
  }
  if (fp8_attention) {
    model.set_fp8_attention(true);
    run_cases(fp8 ? "fp8+fp8-attention" : "bf16+fp8-attention");
  }
  if (!json_path.empty()) record.write(json_path);
  return 0;
}
