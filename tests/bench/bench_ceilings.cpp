// The measured ceilings the model benchmarks are judged against: bf16 and fp8 GEMM rates, SDPA
// per backend at HunyuanVideo's attention shapes, and device copy bandwidth.
//   bench_ceilings [--json FILE]
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <cstdio>
#include <string>

#include "core/kernels/fused_ops.h"
#include "tests/bench/bench_util.h"

using namespace ditstream;

int main(int argc, char** argv) {
  std::string json_path;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--json") json_path = argv[i + 1];
  }
  if (!at::hasCUDA()) {
    std::fprintf(stderr, "bench_ceilings needs a CUDA device\n");
    return 2;
  }
  c10::InferenceMode guard;
  const auto bf16 = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  nlohmann::json out = {{"device", bench::device_name()}};

  const int64_t n = 8192;
  const auto a = at::randn({n, n}, bf16), b = at::randn({n, n}, bf16);
  const double mm = bench::time_median([&] { at::mm(a, b); }, 10, 3);
  out["bf16_mm_tflops"] = 2.0 * n * n * n / mm / 1e12;
  const auto [aq, as] = kernels::rowwise_fp8_quantize(a);
  const auto [bq, bs] = kernels::rowwise_fp8_quantize(b);
  const auto bs_row = bs.reshape({1, -1});
  const double fp8 = bench::time_median(
      [&] { at::_scaled_mm(aq, bq.t(), as, bs_row, std::nullopt, std::nullopt, at::kBFloat16, true); }, 10, 3);
  out["fp8_scaled_mm_tflops"] = 2.0 * n * n * n / fp8 / 1e12;
  const double quant = bench::time_median([&] { kernels::rowwise_fp8_quantize(a); }, 10, 3);
  out["fp8_quantize_gbps"] = (2.0 * n * n + 1.0 * n * n) / quant / 1e9;

  const auto big = at::empty({int64_t(1) << 31}, bf16);  // 4 GiB
  auto dst = at::empty_like(big);
  const double copy = bench::time_median([&] { dst.copy_(big); }, 10, 2);
  out["copy_tbps"] = 2.0 * big.numel() * 2 / copy / 1e12;

  for (int64_t len : {32640 + 32, 118800 + 32}) {
    const auto q = at::randn({1, len, 24, 128}, bf16).transpose(1, 2);  // [B, H, L, D] view of [B, L, H, D]
    const auto k = at::randn({1, len, 24, 128}, bf16).transpose(1, 2);
    const auto v = at::randn({1, len, 24, 128}, bf16).transpose(1, 2);
    const double flops = 4.0 * len * len * 128 * 24;
    const int reps = len > 100000 ? 2 : 5;
    const double cudnn = bench::time_median(
        [&] { at::_scaled_dot_product_cudnn_attention(q, k, v, std::nullopt, false, 0.0, false, false); }, reps, 1);
    const double flash = bench::time_median(
        [&] { at::_scaled_dot_product_flash_attention(q, k, v, 0.0, false, false); }, reps, 1);
    const std::string key = "sdpa_L" + std::to_string(len);
    out[key] = {{"cudnn_s", cudnn}, {"cudnn_tflops", flops / cudnn / 1e12}, {"flash_s", flash},
                {"flash_tflops", flops / flash / 1e12}};
  }
  std::printf("%s\n", out.dump(1).c_str());
  if (!json_path.empty()) {
    bench::Record rec("ceilings", "scripts/device/bench-dit.sh");
    rec.add("8192^3", "bf16", "tflops", {{"ours", out["bf16_mm_tflops"]}});
    rec.add("8192^3", "fp8", "tflops", {{"ours", out["fp8_scaled_mm_tflops"]}});
    rec.write(json_path);
  }
  return 0;
}
