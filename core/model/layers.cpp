#include "core/model/layers.h"

#include <ATen/ATen.h>

#include "core/kernels/fused_ops.h"

namespace ditstream::model {

Linear::Linear(int64_t in_features, int64_t out_features, bool bias)
    : in_(in_features), out_(out_features), weight_(register_parameter("weight", {out_features, in_features})) {
  if (bias) bias_ = &register_parameter("bias", {out_features});
}

at::Tensor Linear::forward(const at::Tensor& x) const {
  return bias_ ? at::linear(x, weight_, *bias_) : at::linear(x, weight_);
}

void Linear::rebind(at::Tensor weight, at::Tensor bias) {
  weight_ = std::move(weight);
  if (bias_ != nullptr) *bias_ = std::move(bias);
}

PackedLinear::PackedLinear(std::vector<Linear*> parts) : parts_(std::move(parts)) {
  std::vector<at::Tensor> weights, biases;
  for (const Linear* p : parts_) {
    weights.push_back(p->weight());
    biases.push_back(*p->bias());
    sizes_.push_back(p->out_features());
  }
  weight_ = at::cat(weights, 0);  // [Σ out, in]
  bias_ = at::cat(biases, 0);     // [Σ out]
  int64_t offset = 0;
  for (size_t i = 0; i < parts_.size(); ++i) {
    parts_[i]->rebind(weight_.narrow(0, offset, sizes_[i]), bias_.narrow(0, offset, sizes_[i]));
    offset += sizes_[i];
  }
}

bool PackedLinear::active() const {
  if (!weight_.defined()) return false;
  for (const Linear* p : parts_) {
    if (!p->weight().is_alias_of(weight_) || !p->bias()->is_alias_of(bias_)) return false;
  }
  return true;
}

std::vector<at::Tensor> PackedLinear::forward(const at::Tensor& x) const {
  return at::linear(x, weight_, bias_).split_with_sizes(sizes_, -1);
}

std::vector<at::Tensor> project(const PackedLinear& pack, const std::vector<const Linear*>& parts, const at::Tensor& x) {
  if (pack.active()) return pack.forward(x);
  std::vector<at::Tensor> out;
  for (const Linear* p : parts) out.push_back(p->forward(x));
  return out;
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

at::Tensor activate(const at::Tensor& x, Activation act) {
  switch (act) {
    case Activation::silu:
      return at::silu(x);
    case Activation::gelu_tanh:
      return at::gelu(x, "tanh");
  }
  return x;
}

FeedForward::FeedForward(int64_t dim, int64_t inner_dim, Activation act)
    : act_(act),
      net0_(register_module("net.0", std::make_unique<Proj>(dim, inner_dim))),
      net2_(register_module("net.2", std::make_unique<Linear>(inner_dim, dim))) {}

at::Tensor FeedForward::forward(const at::Tensor& x) const {
  return net2_.forward(activate(net0_.proj.forward(x), act_));
}

at::Tensor modulated_layer_norm(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale, double eps) {
  return kernels::modulated_layer_norm(x, shift, scale, eps);
}

AdaLayerNormZero::AdaLayerNormZero(int64_t dim)
    : linear_(register_module("linear", std::make_unique<Linear>(dim, 6 * dim))) {}

AdaLayerNormZero::Output AdaLayerNormZero::forward(const at::Tensor& x, const at::Tensor& emb) const {
  const auto c = linear_.forward(at::silu(emb)).chunk(6, 1);  // 6 × [B, C]
  return {modulated_layer_norm(x, c[0], c[1], 1e-6), c[2], c[3], c[4], c[5]};
}

AdaLayerNormZeroSingle::AdaLayerNormZeroSingle(int64_t dim)
    : linear_(register_module("linear", std::make_unique<Linear>(dim, 3 * dim))) {}

AdaLayerNormZeroSingle::Output AdaLayerNormZeroSingle::forward(const at::Tensor& x, const at::Tensor& emb) const {
  const auto c = linear_.forward(at::silu(emb)).chunk(3, 1);  // 3 × [B, C]
  return {modulated_layer_norm(x, c[0], c[1], 1e-6), c[2]};
}

AdaLayerNormContinuous::AdaLayerNormContinuous(int64_t dim, int64_t conditioning_dim, double eps)
    : linear_(register_module("linear", std::make_unique<Linear>(conditioning_dim, 2 * dim))), eps_(eps) {}

at::Tensor AdaLayerNormContinuous::forward(const at::Tensor& x, const at::Tensor& conditioning) const {
  const auto c = linear_.forward(at::silu(conditioning).to(x.scalar_type())).chunk(2, 1);  // scale, shift
  return modulated_layer_norm(x, c[1], c[0], eps_);
}

}  // namespace ditstream::model
