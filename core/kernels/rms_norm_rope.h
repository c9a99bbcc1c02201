// Per-head RMSNorm (q/k norm) followed by rotary embedding, written straight into a joint
// [batch, sequence, heads, head_dim] buffer at a sequence offset: the video stream and the text
// stream fill one attention input without a concatenation, and the separate norm, rope and copy
// passes become one.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/kernels/kernel_dtype.h"

namespace ditstream::kernels {

struct RmsNormRopeArgs {
  const void* x;        // [batch, tokens, heads, head_dim]: heads packed, tokens `x_token_stride` and
                        // batches `x_batch_stride` elements apart
  const void* weight;   // [head_dim] or null (no scale)
  const float* cos;     // [tokens, head_dim] or null (no rotation)
  const float* sin;     // [tokens, head_dim]
  void* y;              // [batch, out_tokens, heads, head_dim] contiguous; rows written from `out_offset`
  int64_t batch, tokens, heads, head_dim;
  int64_t x_token_stride, x_batch_stride, out_tokens, out_offset;
  float eps;
  ElementType type;
};

cudaError_t launch_rms_norm_rope(const RmsNormRopeArgs& args, cudaStream_t stream);

}  // namespace ditstream::kernels
