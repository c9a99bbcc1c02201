// Building blocks shared by the diffusers-style models, named as torch.nn / diffusers name their
// parameters (`weight`, `bias`, `net.0.proj`, ...), so a module tree of these is its weight map.
#pragma once

#include <ATen/Tensor.h>

#include <array>
#include <cstdint>

#include "core/model/fp8_linear.h"
#include "core/model/module.h"

namespace ditstream::model {

// torch.nn.Linear: y = x Wᵀ + b, W [out, in].
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true);
  at::Tensor forward(const at::Tensor& x) const;
  const at::Tensor& weight() const { return weight_; }
  const at::Tensor* bias() const { return bias_; }
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }

  // Replaces the weight by its float8 e4m3 form (per-output-channel scales) and releases the
  // original: forward then runs the fp8 GEMM (emulated with ATen on the CPU). Loading a weight
  // again returns the layer to full precision.
  void quantize_fp8();
  bool is_fp8() const { return fp8_.weight.defined() && !weight_.defined(); }

 private:
  friend class FusedLinear;
  int64_t in_, out_;
  at::Tensor& weight_;
  at::Tensor* bias_ = nullptr;
  Fp8Weight fp8_;
};

// Several Linear layers that read the same input, run as one GEMM (q, k and v; in single blocks
// also the MLP input). The parts' weights become views into the fused weight, so the module tree
// and its checkpoint names are unchanged and no memory is duplicated.
class FusedLinear {
 public:
  FusedLinear() = default;
  // Concatenates the parts' weights (and biases: all or none have one) along the output dim. Called
  // again, it re-fuses only when a part's weight was replaced since (a load()).
  void fuse(const std::vector<Linear*>& parts);
  bool fused() const { return fused_ != nullptr; }
  // [..., in] -> [..., Σ out], parts side by side in the order given to fuse().
  at::Tensor forward(const at::Tensor& x) const;
  void quantize_fp8();

 private:
  // True when some part holds a weight that is not its view of the fused weight.
  bool stale() const;

  std::vector<Linear*> parts_;
  std::unique_ptr<Linear> fused_;
};

// torch.nn.LayerNorm over the last dimension; with `affine` false it has no parameters.
class LayerNorm : public Module {
 public:
  LayerNorm(int64_t dim, double eps, bool affine);
  at::Tensor forward(const at::Tensor& x) const;
  // LayerNorm(x) · (1 + scale) + shift in one pass (no affine parameters); scale, shift [B, C].
  at::Tensor forward_modulated(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale) const;

 private:
  int64_t dim_;
  double eps_;
  at::Tensor* weight_ = nullptr;
  at::Tensor* bias_ = nullptr;
};

// diffusers' RMSNorm (normalization.py): the mean square in float32, the scale applied in the
// weight's dtype when that is half precision.
class RMSNorm : public Module {
 public:
  RMSNorm(int64_t dim, double eps);
  at::Tensor forward(const at::Tensor& x) const;
  const at::Tensor& weight() const { return weight_; }
  double eps() const { return eps_; }

 private:
  double eps_;
  at::Tensor& weight_;
};

// torch.nn.Conv3d with kernel == stride and no padding (patch embedding).
class PatchConv3d : public Module {
 public:
  PatchConv3d(int64_t in_channels, int64_t out_channels, std::array<int64_t, 3> kernel);
  at::Tensor forward(const at::Tensor& x) const;  // [B, C, T, H, W] -> [B, out, T/kt, H/kh, W/kw]

 private:
  std::array<int64_t, 3> kernel_;
  at::Tensor& weight_;
  at::Tensor& bias_;
};

enum class Activation { silu, gelu_tanh };
// In place: the activation of a projection's output is the only use of that output.
void activate_(at::Tensor& x, Activation act);

// diffusers' FeedForward: net.0 = projection + activation (GELU(approximate="tanh") or
// LinearActivation(silu)), net.1 dropout (no parameters), net.2 the output projection.
class FeedForward : public Module {
 public:
  FeedForward(int64_t dim, int64_t inner_dim, Activation act);
  at::Tensor forward(const at::Tensor& x) const;
  void quantize_fp8() {
    net0_.proj.quantize_fp8();
    net2_.quantize_fp8();
  }

 private:
  class Proj : public Module {
   public:
    Proj(int64_t in, int64_t out) : proj(register_module("proj", std::make_unique<Linear>(in, out))) {}
    Linear& proj;
  };
  Activation act_;
  Proj& net0_;
  Linear& net2_;
};

// Modulation: x * (1 + scale) + shift with scale/shift [B, C] broadcast over tokens of x [B, L, C].
at::Tensor modulate(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale);

// diffusers AdaLayerNormZero(norm_type="layer_norm"): linear(silu(emb)) -> 6 chunks; returns the
// modulated norm of x and the remaining (gate_msa, shift_mlp, scale_mlp, gate_mlp), each [B, C].
class AdaLayerNormZero : public Module {
 public:
  struct Output {
    at::Tensor x, gate_msa, shift_mlp, scale_mlp, gate_mlp;
  };
  explicit AdaLayerNormZero(int64_t dim);
  Output forward(const at::Tensor& x, const at::Tensor& emb) const;

 private:
  Linear& linear_;
  LayerNorm norm_;
};

// diffusers AdaLayerNormZeroSingle(norm_type="layer_norm"): 3 chunks (shift, scale, gate).
class AdaLayerNormZeroSingle : public Module {
 public:
  struct Output {
    at::Tensor x, gate;
  };
  explicit AdaLayerNormZeroSingle(int64_t dim);
  Output forward(const at::Tensor& x, const at::Tensor& emb) const;

 private:
  Linear& linear_;
  LayerNorm norm_;
};

// diffusers AdaLayerNormContinuous(elementwise_affine=False): linear(silu(cond)) -> (scale, shift).
class AdaLayerNormContinuous : public Module {
 public:
  AdaLayerNormContinuous(int64_t dim, int64_t conditioning_dim, double eps);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& conditioning) const;

 private:
  Linear& linear_;
  LayerNorm norm_;
};

}  // namespace ditstream::model
