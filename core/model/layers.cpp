#include "core/model/layers.h"

#include <ATen/ATen.h>

#include "core/kernels/fused_ops.h"

namespace ditstream::model {

Linear::Linear(int64_t in_features, int64_t out_features, bool bias)
    : in_(in_features), out_(out_features), weight_(register_parameter("weight", {out_features, in_features})) {
  if (bias) bias_ = &register_parameter("bias", {out_features});
}

at::Tensor Linear::forward(const at::Tensor& x) const {
  if (is_fp8()) return fp8_forward(x, *fp8_, bias_ ? *bias_ : at::Tensor());
  return bias_ ? at::linear(x, weight_, *bias_) : at::linear(x, weight_);
}

void Linear::quantize_fp8() {
  if (is_fp8()) return;
  fp8_ = quantize_weight_fp8(weight_);
  weight_ = at::Tensor();
}

at::Tensor fp8_forward(const at::Tensor& x, const Fp8Weight& w, const at::Tensor& bias) {
  if (x.is_cuda()) return fp8_linear(x, w, bias);
  const int64_t in = w.weight.size(1);
  const auto [xq, xs] = kernels::rowwise_fp8_quantize_reference(x.reshape({-1, in}));  // [M, in], [M, 1]
  const at::Tensor xd = xq.to(at::kFloat) * xs;
  const at::Tensor wd = w.weight.to(at::kFloat) * w.scale.reshape({-1, 1});          // [out, in]
  at::Tensor y = bias.defined() ? at::linear(xd, wd, bias.to(at::kFloat)) : at::linear(xd, wd);
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = w.weight.size(0);
  return y.view(shape).to(x.scalar_type());
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
  if (!bias_.defined()) return false;
  for (const Linear* p : parts_) {
    if (!p->bias()->is_alias_of(bias_)) return false;  // load() or to() replaced the parts
    if (fp8_ ? p->weight().defined() : !p->weight().is_alias_of(weight_)) return false;
  }
  return true;
}

std::vector<at::Tensor> PackedLinear::forward(const at::Tensor& x) const {
  const at::Tensor y = fp8_ ? fp8_forward(x, *fp8_, bias_) : at::linear(x, weight_, bias_);
  return y.split_with_sizes(sizes_, -1);
}

void PackedLinear::quantize_fp8() {
  if (fp8_ && active()) return;
  fp8_ = quantize_weight_fp8(weight_);
  weight_ = at::Tensor();
  int64_t offset = 0;
  for (size_t i = 0; i < parts_.size(); ++i) {
    parts_[i]->rebind(at::Tensor(), bias_.narrow(0, offset, sizes_[i]));
    offset += sizes_[i];
  }
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

void FeedForward::quantize_fp8() {
  net0_.proj.quantize_fp8();
  net2_.quantize_fp8();
}

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
