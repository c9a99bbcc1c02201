// The fused elementwise operations of the transformer blocks, ATen-facing. Each runs its CUDA kernel
// for CUDA tensors (when built with CUDA) and its pure-ATen reference otherwise; the reference is
// also the test oracle for the kernel.
#pragma once

#include <ATen/Tensor.h>

#include <utility>

namespace ditstream::kernels {

// LayerNorm(x) · (1 + scale) + shift without affine parameters. x [B, L, C]; shift, scale [B, C]
// (strided views of a packed modulation tensor are fine). Returns [B, L, C] in x's dtype.
at::Tensor modulated_layer_norm(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale, double eps);
at::Tensor modulated_layer_norm_reference(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale,
                                          double eps);

// x + gate ⊙ y for x, y [B, L, C] (channels contiguous; token and batch strides free), gate [B, C].
at::Tensor gated_residual(const at::Tensor& x, const at::Tensor& y, const at::Tensor& gate);
// The same in place; x must be contiguous.
void gated_residual_(at::Tensor& x, const at::Tensor& y, const at::Tensor& gate);
at::Tensor gated_residual_reference(const at::Tensor& x, const at::Tensor& y, const at::Tensor& gate);

// RMSNorm over head_dim (weight [D], may be undefined), then RoPE with cos/sin [L, D] (float32;
// undefined: no rotation) on x [B, L, H, D] (the last two dims contiguous), written into
// out[:, offset:offset+L] of a contiguous [B, L_out, H, D] buffer of x's dtype.
void rms_norm_rope_into(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& cos,
                        const at::Tensor& sin, double eps, at::Tensor& out, int64_t offset);
// The same as a new [B, L, H, D] tensor, computed as diffusers does (RMSNorm in float32, cast to
// the weight's dtype, scaled; rotation in float32, cast back).
at::Tensor rms_norm_rope_reference(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& cos,
                                   const at::Tensor& sin, double eps);

// Per-row float8 e4m3 quantization of x [M, K]: (q [M, K] e4m3, scale [M, 1] float32) with
// x ≈ q · scale.
std::pair<at::Tensor, at::Tensor> rowwise_fp8_quantize(const at::Tensor& x);
std::pair<at::Tensor, at::Tensor> rowwise_fp8_quantize_reference(const at::Tensor& x);

}  // namespace ditstream::kernels
