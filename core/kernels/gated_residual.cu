#include "core/kernels/gated_residual.h"
#include "core/kernels/kernel_types.cuh"

namespace ditstream::kernels {
namespace {

constexpr int kThreads = 256;

// One block per row, channels strided over the threads: coalesced, and the gate row is reused
// from L1 by every token of the batch.
template <typename T>
__global__ void __launch_bounds__(kThreads) gated_residual_kernel(GatedResidualArgs a) {
  const int64_t row = blockIdx.x;
  const int64_t b = row / a.tokens;
  const int64_t t = row - b * a.tokens;
  const T* x = static_cast<const T*>(a.x) + b * a.x_batch_stride + t * a.x_row_stride;
  const T* y = static_cast<const T*>(a.y) + b * a.y_batch_stride + t * a.y_row_stride;
  T* out = static_cast<T*>(a.out) + row * a.channels;
  const T* gate = static_cast<const T*>(a.gate) + b * a.gate_batch_stride;
  for (int64_t c = threadIdx.x; c < a.channels; c += kThreads) {
    out[c] = from_float<T>(to_float(x[c]) + to_float(gate[c]) * to_float(y[c]));
  }
}

}  // namespace

cudaError_t launch_gated_residual(const GatedResidualArgs& args, cudaStream_t stream) {
  const int64_t rows = args.batch * args.tokens;
  if (rows == 0 || args.channels == 0) return cudaSuccess;
  if (rows > 0x7fffffff) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(rows));
  switch (args.type) {
    case ElementType::f32: gated_residual_kernel<float><<<grid, kThreads, 0, stream>>>(args); break;
    case ElementType::f16: gated_residual_kernel<__half><<<grid, kThreads, 0, stream>>>(args); break;
    case ElementType::bf16: gated_residual_kernel<__nv_bfloat16><<<grid, kThreads, 0, stream>>>(args); break;
  }
  return cudaGetLastError();
}

}  // namespace ditstream::kernels
