// The small layers both text encoders are built from, named as in torch.nn / transformers so the
// module tree equals the checkpoint keys: Linear (bf16/fp32, or fp8 e4m3 weights with one scale
// per output channel), Embedding, LayerNorm, LlamaRMSNorm.
#pragma once

#include <ATen/Tensor.h>

#include "core/model/module.h"

namespace ditstream::text {

class Linear : public model::Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias);

  // x: [..., in] → [..., out]. With fp8 weights, x is quantized per row to e4m3 and multiplied
  // through at::_scaled_mm (CUDA only); the result has x's dtype.
  at::Tensor forward(const at::Tensor& x) const;

  // Replaces the weight by e4m3 values and a float32 scale per output channel (amax / 448).
  // Needs a CUDA weight and in/out features divisible by 16 (what _scaled_mm takes).
  void quantize_fp8();
  bool is_fp8() const { return weight_scale_.defined(); }

 private:
  int64_t in_features_;
  int64_t out_features_;
  at::Tensor& weight_;
  at::Tensor* bias_ = nullptr;
  at::Tensor weight_scale_;  // [out] float32, set by quantize_fp8
};

class Embedding : public model::Module {
 public:
  Embedding(int64_t num_embeddings, int64_t dim);
  // ids: integer tensor; every id must be in [0, num_embeddings) (checked: an out-of-range id is
  // an error naming it, never a read outside the table).
  at::Tensor forward(const at::Tensor& ids) const;
  int64_t num_embeddings() const { return num_embeddings_; }

 private:
  int64_t num_embeddings_;
  at::Tensor& weight_;
};

class LayerNorm : public model::Module {
 public:
  LayerNorm(int64_t dim, double eps);
  at::Tensor forward(const at::Tensor& x) const;

 private:
  int64_t dim_;
  double eps_;
  at::Tensor& weight_;
  at::Tensor& bias_;
};

// transformers' LlamaRMSNorm: normalised in float32, cast back, then scaled.
class RMSNorm : public model::Module {
 public:
  RMSNorm(int64_t dim, double eps);
  at::Tensor forward(const at::Tensor& x) const;

 private:
  double eps_;
  at::Tensor& weight_;
};

// Calls quantize_fp8() on each of `linears` (an encoder lists its projection layers).
void quantize_linears_fp8(const std::vector<Linear*>& linears);

}  // namespace ditstream::text
