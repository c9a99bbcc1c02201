// out = x + gate[b] ⊙ y: the gated residual that closes each attention and MLP branch (adaLN-zero).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/kernels/kernel_dtype.h"

namespace ditstream::kernels {

struct GatedResidualArgs {
  const void* x;     // [batch, tokens, channels]: tokens `x_row_stride`, batches `x_batch_stride` apart
  const void* y;     // [batch, tokens, channels]: tokens `y_row_stride`, batches `y_batch_stride` apart
  const void* gate;  // [batch, channels], batches `gate_batch_stride` elements apart
  void* out;         // [batch, tokens, channels] contiguous; may be x itself (in place)
  int64_t batch, tokens, channels;
  int64_t x_row_stride, x_batch_stride, y_row_stride, y_batch_stride, gate_batch_stride;
  ElementType type;
};

cudaError_t launch_gated_residual(const GatedResidualArgs& args, cudaStream_t stream);

}  // namespace ditstream::kernels
