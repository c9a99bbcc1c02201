// What a decode remembers between temporal chunks of one spatial region: the last input frames of
// every causal convolution, the keys/values of the mid-block attention for earlier frames, whether
// the clip's first frame has been seen (the upsamplers treat it apart), and how group norms take
// their statistics. A fresh state fed the whole clip in one chunk is diffusers' decode.
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "core/model/vae/cache_offload.h"

namespace ditstream::model::vae {

// diffusers' GroupNorm normalises over all frames of what it is given, which no single causal
// pass over chunks can reproduce: the first frames would need statistics of the last ones.
enum class NormStatistics {
  // Each chunk is normalised over its own frames (as diffusers' framewise decode normalises
  // each temporal tile). One chunk holding the whole clip is exactly diffusers' decode.
  per_chunk,
  // Statistics over every frame of the clip, gathered by StreamingDecoder::collect_statistics
  // in extra passes over the latents before the first chunk; chunks then equal the whole decode.
  whole_clip,
};

class StreamState {
 public:
  explicit StreamState(NormStatistics statistics = NormStatistics::per_chunk) : statistics_(statistics) {}

  NormStatistics statistics() const { return statistics_; }
  bool first_chunk() const { return first_chunk_; }
  void end_chunk();

  // CUDA only: the convolution caches wait in pinned host memory between chunks, fetched back
  // `lookahead` layers ahead of their use (CacheOffload).
  void offload_caches(int lookahead = 2);

  // Last (kernel_t − 1) temporally padded input frames of a causal convolution, keyed by module;
  // on the GPU while the caller uses it, even when offloaded.
  at::Tensor& conv_cache(const void* module);
  // Keys and values of every earlier frame of an attention layer: [B, frames*h*w, C].
  std::pair<at::Tensor, at::Tensor>& kv_cache(const void* module) { return kv_cache_[module]; }

  // GroupNorm of x [B, C, T, H, W] under this state's statistics policy.
  at::Tensor group_norm(const void* module, const at::Tensor& x, int64_t groups, const at::Tensor& weight,
                        const at::Tensor& bias, double eps);

  // Forgets caches and the first-frame flag (not the frozen statistics): ready for another pass.
  void reset_stream();
  // Bytes held by caches and statistics.
  int64_t cache_bytes() const;

  // Statistics passes (whole_clip): the first group norm without frozen statistics accumulates
  // sums of its input and stops the forward pass (throws StatisticsPassStop); after every chunk of
  // the clip went through, freeze_collected() turns the sums into mean and 1/std.
  bool collecting() const { return collecting_ != nullptr; }
  void freeze_collected();
  bool all_frozen_in_last_pass() const { return !stopped_in_pass_; }
  void begin_pass() { stopped_in_pass_ = false; }

 private:
  struct GroupStats {
    at::Tensor sum, sum_sq;  // [B, G] float64 while collecting
    int64_t count = 0;
    at::Tensor mean, rstd;   // [B, G, 1] once frozen
    double eps = 0;
    bool frozen = false;
  };

  NormStatistics statistics_;
  bool first_chunk_ = true;
  bool stopped_in_pass_ = false;
  const void* collecting_ = nullptr;
  std::unordered_map<const void*, at::Tensor> conv_cache_;
  std::unordered_map<const void*, std::pair<at::Tensor, at::Tensor>> kv_cache_;
  std::unordered_map<const void*, GroupStats> norms_;
  int offload_lookahead_ = 0;  // 0: caches stay on the device
  std::unique_ptr<CacheOffload> offload_;
};

// Thrown by StreamState::group_norm to end a statistics pass at the norm being collected.
struct StatisticsPassStop {};

}  // namespace ditstream::model::vae
