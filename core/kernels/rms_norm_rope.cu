#include "core/kernels/kernel_types.cuh"
#include "core/kernels/rms_norm_rope.h"

namespace ditstream::kernels {
namespace {

constexpr int kWarpsPerBlock = 8;

// One warp per (token, head) row; each lane owns pairs (2j, 2j+1), the complex pairs RoPE rotates.
template <typename T>
__global__ void __launch_bounds__(kWarpsPerBlock * 32) rms_norm_rope_kernel(RmsNormRopeArgs a) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= a.batch * a.tokens * a.heads) return;
  const int64_t h = row % a.heads;
  const int64_t l = (row / a.heads) % a.tokens;
  const int64_t b = row / (a.heads * a.tokens);
  const T* x = static_cast<const T*>(a.x) + b * a.x_batch_stride + l * a.x_token_stride + h * a.head_dim;
  T* y = static_cast<T*>(a.y) + ((b * a.out_tokens + a.out_offset + l) * a.heads + h) * a.head_dim;
  const T* w = static_cast<const T*>(a.weight);
  const int64_t pairs = a.head_dim / 2;

  float sq = 0.0f;
  for (int64_t j = lane; j < pairs; j += 32) {
    const float r = to_float(x[2 * j]), i = to_float(x[2 * j + 1]);
    sq += r * r + i * i;
  }
  const float rstd = rsqrtf(warp_sum(sq) / static_cast<float>(a.head_dim) + a.eps);
  for (int64_t j = lane; j < pairs; j += 32) {
    float r = to_float(x[2 * j]) * rstd, i = to_float(x[2 * j + 1]) * rstd;
    if (w != nullptr) {
      r *= to_float(w[2 * j]);
      i *= to_float(w[2 * j + 1]);
    }
    if (a.cos != nullptr) {
      const float* c = a.cos + l * a.head_dim;
      const float* s = a.sin + l * a.head_dim;
      const float rr = r * c[2 * j] - i * s[2 * j];
      const float ii = i * c[2 * j + 1] + r * s[2 * j + 1];
      r = rr;
      i = ii;
    }
    y[2 * j] = from_float<T>(r);
    y[2 * j + 1] = from_float<T>(i);
  }
}

}  // namespace

cudaError_t launch_rms_norm_rope(const RmsNormRopeArgs& args, cudaStream_t stream) {
  const int64_t rows = args.batch * args.tokens * args.heads;
  if (rows == 0) return cudaSuccess;
  if (args.head_dim % 2 != 0) return cudaErrorInvalidValue;
  const int64_t blocks = (rows + kWarpsPerBlock - 1) / kWarpsPerBlock;
  if (blocks > 0x7fffffff) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(blocks));
  constexpr int threads = kWarpsPerBlock * 32;
  switch (args.type) {
    case ElementType::f32: rms_norm_rope_kernel<float><<<grid, threads, 0, stream>>>(args); break;
    case ElementType::f16: rms_norm_rope_kernel<__half><<<grid, threads, 0, stream>>>(args); break;
    case ElementType::bf16: rms_norm_rope_kernel<__nv_bfloat16><<<grid, threads, 0, stream>>>(args); break;
  }
  return cudaGetLastError();
}

}  // namespace ditstream::kernels
