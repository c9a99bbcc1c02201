// x += gate[b] ⊙ y: the gated residual that closes each attention and MLP branch (adaLN-zero).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/kernels/kernel_dtype.h"

namespace ditstream::kernels {

struct GatedResidualArgs {
  void* x;           // [batch, tokens, channels] contiguous, updated in place
  const void* y;     // [batch, tokens, channels], rows `y_row_stride` elements apart
  const void* gate;  // [batch, channels], batches `gate_batch_stride` elements apart
  int64_t batch, tokens, channels;
  int64_t y_row_stride, gate_batch_stride;
  ElementType type;
};

cudaError_t launch_gated_residual(const GatedResidualArgs& args, cudaStream_t stream);

}  // namespace ditstream::kernels
