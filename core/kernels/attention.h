// The attention every path of the transformer calls (one device, and each rank of a
// context-parallel job): softmax(q kᵀ/√D) v over q [B, H, Lq, D], k and v [B, H, Lk, D], no mask.
// One function so that a head attended on one GPU and on a rank of several runs the same kernel
// and gives the same bits.
#pragma once

#include <ATen/Tensor.h>

namespace ditstream::kernels {

// bf16/fp16 on CUDA: cuDNN's fused attention, called directly (the fastest kernel on Hopper for
// these shapes, see docs/BENCHMARKS.md; the SDPA dispatcher does not reliably pick it). If cuDNN
// ever rejects a call, the dispatcher's choice serves that call and every later one (logged once).
// `fp8`: kernels::fp8_attention. Elsewhere: ATen's scaled_dot_product_attention.
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool fp8 = false);

}  // namespace ditstream::kernels
