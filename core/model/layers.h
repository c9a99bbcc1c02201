// Building blocks shared by the diffusers-style models, named as torch.nn / diffusers name their
// parameters (`weight`, `bias`, `net.0.proj`, ...), so a module tree of these is its weight map.
#pragma once

#include <ATen/Tensor.h>

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

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
  // Points the parameter slots at other storage of the same shape (views of a packed weight).
  void rebind(at::Tensor weight, at::Tensor bias);
  // Replaces the weight by float8 e4m3 with per-output-channel scales (the original is released)
  // and runs through fp8_forward. A later load() brings a full-precision weight back into use.
  void quantize_fp8();
  bool is_fp8() const { return fp8_.has_value() && !weight_.defined(); }

 private:
  int64_t in_, out_;
  at::Tensor& weight_;
  at::Tensor* bias_ = nullptr;
  std::optional<Fp8Weight> fp8_;
};

// x · wᵀ + bias with an fp8 weight: on CUDA the fp8 GEMM with activations quantized per token
// (fp8_linear); on the CPU the same quantization of both operands computed in float32 with ATen
// (the reference). Returns x's dtype.
at::Tensor fp8_forward(const at::Tensor& x, const Fp8Weight& w, const at::Tensor& bias);

// Linear layers that read the same input, run as one GEMM. Packing concatenates their weights once
// and points each layer's parameter slots at views of the packed weight, so no memory is added and
// named_parameters() still lists every layer. A later load() or to() replaces the slots; the pack
// notices (active() turns false) and callers fall back to the separate layers.
class PackedLinear {
 public:
  PackedLinear() = default;
  explicit PackedLinear(std::vector<Linear*> parts);
  bool active() const;
  // One output per part, each a view of the single GEMM's result [..., Σ out].
  std::vector<at::Tensor> forward(const at::Tensor& x) const;
  // The packed weight in float8 (see Linear::quantize_fp8); the parts' weights are released.
  // Needs an active pack.
  void quantize_fp8();

 private:
  std::vector<Linear*> parts_;
  std::vector<int64_t> sizes_;
  at::Tensor weight_, bias_;
  std::optional<Fp8Weight> fp8_;
};

// The outputs of `parts` for x: one packed GEMM when `pack` is active, else one GEMM per part.
std::vector<at::Tensor> project(const PackedLinear& pack, const std::vector<const Linear*>& parts, const at::Tensor& x);

// torch.nn.LayerNorm over the last dimension; with `affine` false it has no parameters.
class LayerNorm : public Module {
 public:
  LayerNorm(int64_t dim, double eps, bool affine);
  at::Tensor forward(const at::Tensor& x) const;

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
at::Tensor activate(const at::Tensor& x, Activation act);

// diffusers' FeedForward: net.0 = projection + activation (GELU(approximate="tanh") or
// LinearActivation(silu)), net.1 dropout (no parameters), net.2 the output projection.
class FeedForward : public Module {
 public:
  FeedForward(int64_t dim, int64_t inner_dim, Activation act);
  at::Tensor forward(const at::Tensor& x) const;
  void quantize_fp8();

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

// LayerNorm without affine parameters, then x * (1 + scale) + shift with scale/shift [B, C]
// broadcast over the tokens of x [B, L, C] (one fused kernel on CUDA).
at::Tensor modulated_layer_norm(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale, double eps);

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
};

// diffusers AdaLayerNormContinuous(elementwise_affine=False): linear(silu(cond)) -> (scale, shift).
class AdaLayerNormContinuous : public Module {
 public:
  AdaLayerNormContinuous(int64_t dim, int64_t conditioning_dim, double eps);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& conditioning) const;

 private:
  Linear& linear_;
  double eps_;
};

}  // namespace ditstream::model
