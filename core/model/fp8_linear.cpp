#include "core/model/fp8_linear.h"

#include <ATen/ATen.h>

#include "core/kernels/fused_ops.h"
#include "core/util/error.h"

namespace ditstream::model {

Fp8Weight quantize_weight_fp8(const at::Tensor& weight) {
  require(weight.dim() == 2, "fp8_linear", "weight", "expected [out, in]");
  require(!weight.is_cuda() || (weight.size(0) % 16 == 0 && weight.size(1) % 16 == 0), "fp8_linear", "weight",
          "out and in must be multiples of 16 for the fp8 GEMM, got [" + std::to_string(weight.size(0)) + ", " +
              std::to_string(weight.size(1)) + "]");
  auto [q, scale] = kernels::rowwise_fp8_quantize(weight);
  return {q, scale.reshape({1, -1})};  // [out, 1] → [1, out]
}

at::Tensor fp8_linear(const at::Tensor& x, const Fp8Weight& w, const at::Tensor& bias) {
  const int64_t in = w.weight.size(1), out = w.weight.size(0);
  require(x.size(-1) == in, "fp8_linear", "x", "last dimension " + std::to_string(x.size(-1)) + " != in " + std::to_string(in));
  const at::Tensor x2 = x.reshape({-1, in});  // [M, in]
  auto [xq, xs] = kernels::rowwise_fp8_quantize(x2);
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = out;
  if (!x.is_cuda()) {
    const at::Tensor a = xq.to(at::kFloat) * xs, b = w.weight.to(at::kFloat) * w.scale.t();  // [M, in], [out, in]
    at::Tensor y = bias.defined() ? at::addmm(bias.to(at::kFloat), a, b.t()) : at::mm(a, b.t());
    return y.to(x.scalar_type()).view(shape);
  }
  // mat2 must be column-major: the [out, in] row-major weight transposed is exactly that.
  at::Tensor y;
  try {
    y = at::_scaled_mm(xq, w.weight.t(), xs, w.scale, bias.defined() ? std::optional<at::Tensor>(bias) : std::nullopt,
                       std::nullopt, x.scalar_type(), /*use_fast_accum=*/true);
  } catch (const c10::Error& e) {
    // cuBLASLt has no fused-bias kernel for some row-wise-scaled shapes: add the bias afterwards.
    if (!bias.defined()) {
      throw Error(ErrorKind::internal, "fp8_linear", "",
                  "fp8 GEMM [" + std::to_string(x2.size(0)) + ", " + std::to_string(in) + "] x [" + std::to_string(in) +
                      ", " + std::to_string(out) + "] failed: " + e.what_without_backtrace());
    }
    y = at::_scaled_mm(xq, w.weight.t(), xs, w.scale, std::nullopt, std::nullopt, x.scalar_type(), true);
    y.add_(bias);
  }
  return y.view(shape);
}

}  // namespace ditstream::model
