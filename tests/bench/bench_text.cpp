// Text conditioning at full size on one GPU with random weights: a LLaMA-3-8B-shaped encoder
// (hidden 4096, 32 layers, 32/8 heads, intermediate 14336, vocab 128256) and CLIP-L (hidden 768,
// 12 layers), in bf16 and with fp8 projection weights. Times the whole encode of a typical prompt
// and of one that fills the 256-token window, CLIP alone, and a prompt-cache hit; records peak
// memory. The tokenizers are the tiny model's (vocabulary ids fit the full-size tables) and
// crop_start is HunyuanVideo's 95, so the LLaMA sequence is 95 + 256 tokens as with the real model.
//
//   bench_text [--out docs/benchmarks/text.json] [--iters 10] [--variants bf16,fp8]
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <sstream>

#include "core/model/text/prompt_encoder.h"
#include "tests/bench/bench_util.h"

namespace {

using namespace ditstream::text;
namespace bench = ditstream::bench;

LlamaConfig llama3_8b() {
  LlamaConfig c;
  c.vocab_size = 128256, c.hidden_size = 4096, c.intermediate_size = 14336, c.num_hidden_layers = 32;
  c.num_attention_heads = 32, c.num_key_value_heads = 8, c.head_dim = 128, c.rms_norm_eps = 1e-5;
  c.rope_theta = 500000.0;
  return c;
}

ClipTextConfig clip_l() {
  ClipTextConfig c;
  c.vocab_size = 49408, c.hidden_size = 768, c.intermediate_size = 3072, c.num_hidden_layers = 12;
  c.num_attention_heads = 12, c.max_position_embeddings = 77, c.eos_token_id = 2;
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out_path = "docs/benchmarks/text.json";
  int iters = 10;
  std::vector<std::string> variants = {"bf16", "fp8"};
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--out") {
      out_path = argv[i + 1];
    } else if (flag == "--iters") {
      iters = std::stoi(argv[i + 1]);
    } else if (flag == "--variants") {
      variants.clear();
      std::stringstream ss(argv[i + 1]);
      for (std::string v; std::getline(ss, v, ',');) variants.push_back(v);
    } else {
      std::cerr << "unknown flag " << flag << "\n";
      return 2;
    }
  }
  if (!at::hasCUDA()) {
    std::cerr << "bench_text: no CUDA device\n";
    return 1;
  }
  const std::filesystem::path source = DITSTREAM_SOURCE_DIR;
  const auto tiny = source / "models" / "tiny-hunyuan-video";
  c10::InferenceMode guard;

  const std::string typical = "A red panda climbs a snowy tree at dawn, cinematic lighting, 35mm film.";
  std::string long_prompt;
  for (int i = 0; i < 80; ++i) long_prompt += "waves crash against black volcanic rocks under a stormy sky, ";

  bench::Record record("text", "scripts/device/bench-text.sh");
  for (const auto& variant : variants) {
    if (variant != "bf16" && variant != "fp8") {
      std::cerr << "unknown variant " << variant << "\n";
      return 2;
    }
    bench::reset_peak_memory();
    PromptEncoderOptions options;
    options.device = at::kCUDA;
    options.dtype = at::kBFloat16;
    options.fp8 = variant == "fp8";
    options.crop_start = kHunyuanVideoCropStart;
    auto llama = std::make_unique<LlamaModel>(llama3_8b());
    llama->init_random(at::kCUDA, at::kBFloat16, 0);
    auto clip = std::make_unique<ClipTextModel>(clip_l());
    clip->init_random(at::kCUDA, at::kBFloat16, 1);
    if (options.fp8) {
      llama->quantize_fp8();
      clip->quantize_fp8();
    }
    PromptEncoder encoder(BpeTokenizer::from_file(tiny / "tokenizer"), ClipTokenizer::from_folder(tiny / "tokenizer_2"),
                          std::move(llama), std::move(clip), options, "bench-random");
    // Peak over loading: with fp8 it includes one bf16 weight being quantized.
    const double load_peak_gib = bench::peak_memory_gib();
    bench::reset_peak_memory();

    const double t_typical = bench::time_median([&] { encoder.encode(typical); }, iters, 3);
    const double t_long = bench::time_median([&] { encoder.encode(long_prompt); }, iters, 3);
    const at::Tensor clip_ids =
        at::tensor(encoder.tokenizer_2().encode(typical).ids, at::kInt).to(at::kLong).view({1, -1}).to(at::kCUDA);
    const double t_clip = bench::time_median([&] { encoder.text_encoder_2().forward(clip_ids); }, iters, 3);
    const double peak = bench::peak_memory_gib();
    PromptCache cache(size_t{1} << 30);
    encoder.encode(typical, cache);
    const double t_cached = bench::time_median([&] { encoder.encode(typical, cache); }, iters, 3);

    const auto valid = encoder.encode(typical).prompt_attention_mask.sum().item<int64_t>();
    std::printf("%-5s typical (%lld tokens) %.4f s | 256-token %.4f s | clip %.5f s | cached %.6f s | "
                "peak %.2f GiB (loading %.2f GiB)\n",
                variant.c_str(), static_cast<long long>(valid), t_typical, t_long, t_clip, t_cached, peak, load_peak_gib);
    auto row = [&](const std::string& name, double seconds) {
      record.add(name, variant, "encode_s", {{"ours_s", seconds}, {"peak_gib", peak}, {"load_peak_gib", load_peak_gib}});
    };
    row("llama-typical", t_typical);
    row("llama-256tok", t_long);
    row("clip", t_clip);
    row("cached", t_cached);
  }

  record.write(out_path);
  std::printf("wrote %s\n", out_path.c_str());
  return 0;
}
