// Row-wise dynamic quantization to float8 e4m3: scale[r] = max|x[r, :]| / 448, q = x / scale.
// The activations of an FP8 linear layer, quantized per token right before `_scaled_mm`.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "core/kernels/kernel_dtype.h"

namespace ditstream::kernels {

struct RowwiseFp8QuantizeArgs {
  const void* x;    // [rows, cols], rows `x_row_stride` elements apart
  void* q;          // [rows, cols] e4m3 contiguous
  float* scale;     // [rows]
  int64_t rows, cols, x_row_stride;
  ElementType type;
};

cudaError_t launch_rowwise_fp8_quantize(const RowwiseFp8QuantizeArgs& args, cudaStream_t stream);

}  // namespace ditstream::kernels
