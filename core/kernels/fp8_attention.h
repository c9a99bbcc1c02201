// Attention with FP8 (e4m3) operands on Hopper, through cuDNN's fused FP8 SDPA: q, k and v are
// quantized per tensor (scale = 448 / amax, computed on the device every call), the softmax
// probabilities are taken to FP8 at a fixed scale (they lie in [0, 1]), and the output is
// quantized with v's scale (softmax(·)·v is a convex combination of v's rows, so |o| ≤ amax(v))
// and brought back to bf16. Twice the tensor-core rate of bf16 for the two attention GEMMs; the
// error against bf16 attention is measured in docs/BENCHMARKS.md.
#pragma once

#include <ATen/Tensor.h>

#include <string>

namespace ditstream::kernels {

// Whether fp8_attention can run on `device`; when not, `why` says what is missing (a CUDA build
// with the cuDNN frontend, a Hopper GPU, cuDNN ≥ 9.1).
bool fp8_attention_available(const at::Device& device, std::string* why = nullptr);

// softmax(q kᵀ/√D) v for bf16 q [B, H, Lq, D], k and v [B, H, Lk, D] on a CUDA device (any strides
// with D contiguous; D a multiple of 16, ≤ 256) -> [B, H, Lq, D] bf16, stored as [B, Lq, H, D].
// Throws ditstream::Error naming the argument for inputs it cannot take.
at::Tensor fp8_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

}  // namespace ditstream::kernels
