// y = LayerNorm(x) · (1 + scale[b]) + shift[b], the adaLN modulation of HunyuanVideo's blocks
// (LayerNorm without affine parameters). One pass over x instead of four.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/kernels/kernel_dtype.h"

namespace ditstream::kernels {

struct ModulatedLayerNormArgs {
  const void* x;      // [batch, tokens, channels]: tokens `x_row_stride`, batches `x_batch_stride` apart
  const void* shift;  // [batch, channels], batches `mod_batch_stride` elements apart
  const void* scale;  // same layout as shift
  void* y;            // [batch, tokens, channels] contiguous
  int64_t batch, tokens, channels;
  int64_t x_row_stride, x_batch_stride, mod_batch_stride;
  float eps;
  ElementType type;
};

cudaError_t launch_modulated_layer_norm(const ModulatedLayerNormArgs& args, cudaStream_t stream);

}  // namespace ditstream::kernels
