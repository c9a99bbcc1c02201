// Element-type helpers shared by the kernels: loads and stores through float, so one kernel body
// serves float, half and bfloat16.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace ditstream::kernels {

template <typename T>
__device__ __forceinline__ float to_float(T v);
template <>
__device__ __forceinline__ float to_float<float>(float v) { return v; }
template <>
__device__ __forceinline__ float to_float<__half>(__half v) { return __half2float(v); }
template <>
__device__ __forceinline__ float to_float<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) { return v; }
template <>
__device__ __forceinline__ __half from_float<__half>(float v) { return __float2half_rn(v); }
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) { return __float2bfloat16_rn(v); }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Reduces over a block whose size is a multiple of 32 (at most 1024) with `warp_op` (warp_sum or
// warp_max); every thread gets the result.
template <float (*warp_op)(float)>
__device__ __forceinline__ float block_reduce(float v) {
  __shared__ float partial[32];
  __shared__ float total;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_op(v);
  __syncthreads();  // `partial` may still be read by a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  if (warp == 0) {
    // Both reductions have 0 as a neutral element here: sums, and maxima of absolute values.
    float w = lane < static_cast<int>(blockDim.x >> 5) ? partial[lane] : 0.0f;
    w = warp_op(w);
    if (lane == 0) total = w;
  }
  __syncthreads();
  return total;
}

__device__ __forceinline__ float block_sum(float v) { return block_reduce<warp_sum>(v); }
// Maximum of non-negative values (0 pads the unused warps).
__device__ __forceinline__ float block_max(float v) { return block_reduce<warp_max>(v); }

}  // namespace ditstream::kernels
