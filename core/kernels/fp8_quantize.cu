#include <cuda_fp8.h>

#include "core/kernels/fp8_quantize.h"
#include "core/kernels/kernel_types.cuh"

namespace ditstream::kernels {
namespace {

constexpr int kThreads = 256;
constexpr float kE4m3Max = 448.0f;
// A row of zeros would give scale 0 and 0/0 below; the smallest normal float keeps it finite.
constexpr float kMinScale = 1.17549435e-38f;

// One block per row: the max pass and the quantize pass read the row once from DRAM (the second
// read hits L1/L2).
template <typename T>
__global__ void __launch_bounds__(kThreads) rowwise_fp8_quantize_kernel(RowwiseFp8QuantizeArgs a) {
  const int64_t row = blockIdx.x;
  const T* x = static_cast<const T*>(a.x) + row * a.x_row_stride;
  __nv_fp8_e4m3* q = static_cast<__nv_fp8_e4m3*>(a.q) + row * a.cols;
  float amax = 0.0f;
  for (int64_t c = threadIdx.x; c < a.cols; c += kThreads) amax = fmaxf(amax, fabsf(to_float(x[c])));
  const float scale = fmaxf(block_max(amax) / kE4m3Max, kMinScale);
  // Division, not a reciprocal multiply: the result then rounds exactly as the reference's x / scale.
  for (int64_t c = threadIdx.x; c < a.cols; c += kThreads) q[c] = __nv_fp8_e4m3(to_float(x[c]) / scale);
  if (threadIdx.x == 0) a.scale[row] = scale;
}

}  // namespace

cudaError_t launch_rowwise_fp8_quantize(const RowwiseFp8QuantizeArgs& args, cudaStream_t stream) {
  if (args.rows == 0) return cudaSuccess;
  if (args.rows > 0x7fffffff) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(args.rows));
  switch (args.type) {
    case ElementType::f32: rowwise_fp8_quantize_kernel<float><<<grid, kThreads, 0, stream>>>(args); break;
    case ElementType::f16: rowwise_fp8_quantize_kernel<__half><<<grid, kThreads, 0, stream>>>(args); break;
    case ElementType::bf16: rowwise_fp8_quantize_kernel<__nv_bfloat16><<<grid, kThreads, 0, stream>>>(args); break;
  }
  return cudaGetLastError();
}

}  // namespace ditstream::kernels
