#include "core/model/text/text_layers.h"

#include <ATen/ATen.h>

#include "core/util/error.h"

namespace ditstream::text {
namespace {
constexpr double kE4m3Max = 448.0;
}

Linear::Linear(int64_t in_features, int64_t out_features, bool bias)
    : in_features_(in_features), out_features_(out_features), weight_(register_parameter("weight", {out_features, in_features})) {
  if (bias) bias_ = &register_parameter("bias", {out_features});
}

at::Tensor Linear::forward(const at::Tensor& x) const {
  if (!is_fp8()) return at::linear(x, weight_, bias_ != nullptr ? std::optional<at::Tensor>(*bias_) : std::nullopt);
  const auto out_dtype = x.scalar_type();
  const at::Tensor rows = x.reshape({-1, in_features_});  // [M, in]
  const at::Tensor amax = rows.abs().amax({-1}, true).to(at::kFloat).clamp_min(1e-12);
  const at::Tensor x_scale = amax / kE4m3Max;  // [M, 1]
  const at::Tensor xq = (rows.to(at::kFloat) / x_scale).to(at::kFloat8_e4m3fn);
  std::optional<at::Tensor> bias;
  if (bias_ != nullptr) bias = bias_->to(out_dtype == at::kFloat ? at::kBFloat16 : out_dtype);
  // weight_ is [out, in] row-major, so its transpose is the column-major [in, out] operand.
  at::Tensor y = at::_scaled_mm(xq, weight_.t(), x_scale, weight_scale_.view({1, out_features_}), bias, std::nullopt,
                                out_dtype == at::kFloat ? at::kBFloat16 : out_dtype);  // [M, out]
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = out_features_;
  return y.to(out_dtype).view(shape);
}

void Linear::quantize_fp8() {
  require(weight_.defined() && weight_.is_cuda(), "[fp8 linear]", "weight",
          "fp8 weights need the weight loaded on a CUDA device (at::_scaled_mm has no CPU implementation)");
  require(in_features_ % 16 == 0 && out_features_ % 16 == 0, "[fp8 linear]", "shape",
          "in and out features must be multiples of 16 for at::_scaled_mm, got " + std::to_string(in_features_) + "x" +
              std::to_string(out_features_));
  if (is_fp8()) return;
  const at::Tensor w = weight_.to(at::kFloat);
  const at::Tensor amax = w.abs().amax({1}).clamp_min(1e-12);  // [out]
  weight_scale_ = (amax / kE4m3Max).contiguous();
  weight_ = (w / weight_scale_.unsqueeze(1)).to(at::kFloat8_e4m3fn).contiguous();
}

void quantize_linears_fp8(const std::vector<Linear*>& linears) {
  for (Linear* l : linears) l->quantize_fp8();
}

Embedding::Embedding(int64_t num_embeddings, int64_t dim)
    : num_embeddings_(num_embeddings), weight_(register_parameter("weight", {num_embeddings, dim})) {}

at::Tensor Embedding::forward(const at::Tensor& ids) const {
  if (ids.numel() > 0) {
    const int64_t lo = ids.min().item<int64_t>();
    const int64_t hi = ids.max().item<int64_t>();
    if (lo < 0 || hi >= num_embeddings_) {
      throw_invalid("[embedding]", "input_ids",
                    "token id " + std::to_string(lo < 0 ? lo : hi) + " is outside the vocabulary 0.." +
                        std::to_string(num_embeddings_ - 1));
    }
  }
  return at::embedding(weight_, ids.to(weight_.device()));
}

LayerNorm::LayerNorm(int64_t dim, double eps)
    : dim_(dim), eps_(eps), weight_(register_parameter("weight", {dim})), bias_(register_parameter("bias", {dim})) {}

at::Tensor LayerNorm::forward(const at::Tensor& x) const { return at::layer_norm(x, {dim_}, weight_, bias_, eps_); }

RMSNorm::RMSNorm(int64_t dim, double eps) : eps_(eps), weight_(register_parameter("weight", {dim})) {}

at::Tensor RMSNorm::forward(const at::Tensor& x) const {
  const auto dtype = x.scalar_type();
  const at::Tensor h = x.to(at::kFloat);
  const at::Tensor variance = h.pow(2).mean({-1}, true);
  return weight_ * (h * at::rsqrt(variance + eps_)).to(dtype);
}

}  // namespace ditstream::text
