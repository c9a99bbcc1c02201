#include "core/model/layers.h"

#include <ATen/ATen.h>

#include "core/kernels/fused_ops.h"
#include "core/util/error.h"

namespace ditstream::model {

Linear::Linear(int64_t in_features, int64_t out_features, bool bias)
    : in_(in_features), out_(out_features), weight_(register_parameter("weight", {out_features, in_features})) {
  if (bias) bias_ = &register_parameter("bias", {out_features});
}

at::Tensor Linear::forward(const at::Tensor& x) const {
  if (is_fp8()) return fp8_linear(x, fp8_, bias_ ? *bias_ : at::Tensor());
  return bias_ ? at::linear(x, weight_, *bias_) : at::linear(x, weight_);
}

void Linear::quantize_fp8() {
  if (is_fp8()) return;
  require(weight_.defined(), "Linear", "weight", "quantize_fp8() needs the layer's weights");
  fp8_ = quantize_weight_fp8(weight_);
  weight_ = at::Tensor();
}

bool FusedLinear::stale() const {
  if (!fused_) return true;
  int64_t offset = 0;
  for (const Linear* p : parts_) {
    if (p->weight_.defined()) {
      const at::Tensor& w = fused_->weight_;
      const auto* expected = w.defined() ? static_cast<const char*>(w.const_data_ptr()) + offset * p->in_ * w.element_size()
                                         : nullptr;
      if (expected == nullptr || p->weight_.const_data_ptr() != expected) return true;
    }
    offset += p->out_;
  }
  return false;
}

void FusedLinear::fuse(const std::vector<Linear*>& parts) {
  require(!parts.empty(), "FusedLinear", "parts", "needs at least one layer");
  parts_ = parts;
  if (!stale()) return;
  const bool with_bias = parts[0]->bias_ != nullptr;
  int64_t out = 0;
  std::vector<at::Tensor> weights, biases;
  for (Linear* p : parts) {
    require(p->in_ == parts[0]->in_ && (p->bias_ != nullptr) == with_bias && p->weight_.defined() && !p->is_fp8(),
            "FusedLinear", "parts", "layers must share the input size, all have or lack a bias, and hold weights");
    weights.push_back(p->weight_);
    if (with_bias) biases.push_back(*p->bias_);
    out += p->out_;
  }
  fused_ = std::make_unique<Linear>(parts[0]->in_, out, with_bias);
  fused_->weight_ = at::cat(weights, 0);  // [Σ out, in]
  if (with_bias) *fused_->bias_ = at::cat(biases, 0);
  int64_t offset = 0;
  for (Linear* p : parts) {
    p->weight_ = fused_->weight_.narrow(0, offset, p->out_);
    if (with_bias) *p->bias_ = fused_->bias_->narrow(0, offset, p->out_);
    offset += p->out_;
  }
}

at::Tensor FusedLinear::forward(const at::Tensor& x) const { return fused_->forward(x); }

void FusedLinear::quantize_fp8() {
  // Per-output-channel scales: quantizing the fused weight equals quantizing each part.
  fused_->quantize_fp8();
  for (Linear* p : parts_) p->weight_ = at::Tensor();
}

LayerNorm::LayerNorm(int64_t dim, double eps, bool affine) : dim_(dim), eps_(eps) {
  if (affine) {
    weight_ = &register_parameter("weight", {dim});
    bias_ = &register_parameter("bias", {dim});
  }
}

at::Tensor LayerNorm::forward(const at::Tensor& x) const {
  const at::Tensor none;
  return at::layer_norm(x, {dim_}, weight_ ? *weight_ : none, bias_ ? *bias_ : none, eps_);
}

at::Tensor LayerNorm::forward_modulated(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale) const {
  require(weight_ == nullptr, "LayerNorm", "affine", "the modulated form has no affine parameters");
  return kernels::modulated_layer_norm(x, shift, scale, eps_);
}

RMSNorm::RMSNorm(int64_t dim, double eps) : eps_(eps), weight_(register_parameter("weight", {dim})) {}

at::Tensor RMSNorm::forward(const at::Tensor& x) const {
  const at::Tensor variance = x.to(at::kFloat).pow(2).mean(-1, /*keepdim=*/true);
  at::Tensor y = x * at::rsqrt(variance + eps_);  // float32 (type promotion)
  if (weight_.scalar_type() == at::kHalf || weight_.scalar_type() == at::kBFloat16) y = y.to(weight_.scalar_type());
  return y * weight_;
}

PatchConv3d::PatchConv3d(int64_t in_channels, int64_t out_channels, std::array<int64_t, 3> kernel)
    : kernel_(kernel),
      weight_(register_parameter("weight", {out_channels, in_channels, kernel[0], kernel[1], kernel[2]})),
      bias_(register_parameter("bias", {out_channels})) {}

at::Tensor PatchConv3d::forward(const at::Tensor& x) const {
  const std::vector<int64_t> k(kernel_.begin(), kernel_.end());
  return at::conv3d(x, weight_, bias_, k, /*padding=*/{0, 0, 0});
}

void activate_(at::Tensor& x, Activation act) {
  switch (act) {
    case Activation::silu:
      at::silu_(x);
      return;
    case Activation::gelu_tanh:
      at::gelu_(x, "tanh");
      return;
  }
}

FeedForward::FeedForward(int64_t dim, int64_t inner_dim, Activation act)
    : act_(act),
      net0_(register_module("net.0", std::make_unique<Proj>(dim, inner_dim))),
      net2_(register_module("net.2", std::make_unique<Linear>(inner_dim, dim))) {}

at::Tensor FeedForward::forward(const at::Tensor& x) const {
  at::Tensor hidden = net0_.proj.forward(x);  // [..., inner]: the largest tensor of the layer, so no copy
  activate_(hidden, act_);
  return net2_.forward(hidden);
}

at::Tensor modulate(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale) {
  return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1);
}

AdaLayerNormZero::AdaLayerNormZero(int64_t dim)
    : linear_(register_module("linear", std::make_unique<Linear>(dim, 6 * dim))), norm_(dim, 1e-6, false) {}

AdaLayerNormZero::Output AdaLayerNormZero::forward(const at::Tensor& x, const at::Tensor& emb) const {
  const auto c = linear_.forward(at::silu(emb)).chunk(6, 1);  // 6 × [B, C]
  return {norm_.forward_modulated(x, c[0], c[1]), c[2], c[3], c[4], c[5]};
}

AdaLayerNormZeroSingle::AdaLayerNormZeroSingle(int64_t dim)
    : linear_(register_module("linear", std::make_unique<Linear>(dim, 3 * dim))), norm_(dim, 1e-6, false) {}

AdaLayerNormZeroSingle::Output AdaLayerNormZeroSingle::forward(const at::Tensor& x, const at::Tensor& emb) const {
  const auto c = linear_.forward(at::silu(emb)).chunk(3, 1);  // 3 × [B, C]
  return {norm_.forward_modulated(x, c[0], c[1]), c[2]};
}

AdaLayerNormContinuous::AdaLayerNormContinuous(int64_t dim, int64_t conditioning_dim, double eps)
    : linear_(register_module("linear", std::make_unique<Linear>(conditioning_dim, 2 * dim))), norm_(dim, eps, false) {}

at::Tensor AdaLayerNormContinuous::forward(const at::Tensor& x, const at::Tensor& conditioning) const {
  const auto c = linear_.forward(at::silu(conditioning).to(x.scalar_type())).chunk(2, 1);  // scale, shift
  return norm_.forward_modulated(x, c[1], c[0]);
}

}  // namespace ditstream::model
