#include "core/kernels/attention.h"

#include <ATen/ATen.h>

#include <atomic>

#include "core/kernels/fp8_attention.h"
#include "core/util/log.h"

namespace ditstream::kernels {

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool fp8) {
  if (fp8) return fp8_attention(q, k, v);
  static std::atomic<bool> cudnn_usable{true};
  const bool half = q.scalar_type() == at::kBFloat16 || q.scalar_type() == at::kHalf;
  if (q.is_cuda() && half && cudnn_usable.load(std::memory_order_relaxed)) {
    try {
      return std::get<0>(at::_scaled_dot_product_cudnn_attention(q, k, v, std::nullopt, /*compute_log_sumexp=*/false,
                                                                 0.0, /*is_causal=*/false, /*return_debug_mask=*/false));
    } catch (const c10::Error& e) {
      cudnn_usable.store(false);
      log::warn("cuDNN attention unavailable ({}); using the default SDPA backend", e.what_without_backtrace());
    }
  }
  return at::scaled_dot_product_attention(q, k, v);
}

}  // namespace ditstream::kernels
