#include "core/model/vae/stream_state.h"

#include <ATen/ATen.h>

namespace ditstream::model::vae {

at::Tensor StreamState::group_norm(const void* module, const at::Tensor& x, int64_t groups,
                                   const at::Tensor& weight, const at::Tensor& bias, double eps) {
  if (statistics_ == NormStatistics::per_chunk) return at::group_norm(x, groups, weight, bias, eps);

  GroupStats& stats = norms_[module];
  const int64_t batch = x.size(0), channels = x.size(1);
  const auto grouped = x.reshape({batch, groups, -1});  // [B, G, C/G*T*H*W]
  if (!stats.frozen) {
    if (collecting_ != nullptr && collecting_ != module) {
      throw StatisticsPassStop{};  // a later norm while an earlier one is collecting cannot happen
    }
    collecting_ = module;
    const auto g64 = grouped.to(at::kDouble);
    const auto s = g64.sum(-1), sq = (g64 * g64).sum(-1);  // [B, G]
    if (stats.sum.defined()) {
      stats.sum += s;
      stats.sum_sq += sq;
    } else {
      stats.sum = s;
      stats.sum_sq = sq;
    }
    stats.count += grouped.size(-1);
    stats.eps = eps;
    stopped_in_pass_ = true;
    throw StatisticsPassStop{};
  }
  const auto normed = ((grouped.to(at::kFloat) - stats.mean) * stats.rstd).to(x.scalar_type());
  const std::vector<int64_t> affine_shape{1, channels, 1, 1, 1};
  return normed.reshape(x.sizes()) * weight.reshape(affine_shape) + bias.reshape(affine_shape);
}

void StreamState::freeze_collected() {
  if (collecting_ == nullptr) return;
  GroupStats& stats = norms_.at(collecting_);
  const auto n = static_cast<double>(stats.count);
  const auto mean = stats.sum / n;
  const auto var = (stats.sum_sq / n - mean * mean).clamp_min(0);
  stats.mean = mean.to(at::kFloat).unsqueeze(-1);                      // [B, G, 1]
  stats.rstd = (var + stats.eps).rsqrt().to(at::kFloat).unsqueeze(-1);  // [B, G, 1]
  stats.sum = at::Tensor();
  stats.sum_sq = at::Tensor();
  stats.frozen = true;
  collecting_ = nullptr;
}

void StreamState::reset_stream() {
  first_chunk_ = true;
  conv_cache_.clear();
  kv_cache_.clear();
  if (offload_) offload_ = std::make_unique<CacheOffload>(offload_lookahead_);  // the next pass learns its order again
}

void StreamState::offload_caches(int lookahead) {
  offload_ = std::make_unique<CacheOffload>(lookahead);
  offload_lookahead_ = lookahead;
}

at::Tensor& StreamState::conv_cache(const void* module) {
  if (offload_) offload_->before_use(module, conv_cache_);
  return conv_cache_[module];
}

void StreamState::end_chunk() {
  first_chunk_ = false;
  if (offload_) offload_->end_chunk(conv_cache_);
}

int64_t StreamState::cache_bytes() const {
  auto bytes = [](const at::Tensor& t) { return t.defined() ? t.numel() * static_cast<int64_t>(t.element_size()) : 0; };
  int64_t total = 0;
  for (const auto& [_, t] : conv_cache_) total += bytes(t);
  for (const auto& [_, kv] : kv_cache_) total += bytes(kv.first) + bytes(kv.second);
  for (const auto& [_, s] : norms_) total += bytes(s.sum) + bytes(s.sum_sq) + bytes(s.mean) + bytes(s.rstd);
  return total;
}

}  // namespace ditstream::model::vae
