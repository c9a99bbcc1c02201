// Keeps a streaming decode's convolution caches in pinned host memory between their uses, so the
// GPU holds only the few around the layer running instead of every layer's. A cache leaves for the
// host right after the convolution that wrote it and comes back a few layers before the
// convolution that reads it, one chunk later. The copies run on a stream per direction beside the
// decode; by count, whole 720x1280 frames move about 7 GB each way per chunk, some 0.15 s at the
// host link's ~50 GB/s against roughly 0.4 s of convolutions, so they can hide behind them.
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

namespace ditstream::model::vae {

class CacheOffload {
 public:
  // `lookahead`: caches fetched back ahead of the layer that reads them (≥ 1). CUDA builds only:
  // elsewhere the constructor throws ditstream::Error (unavailable).
  explicit CacheOffload(int lookahead = 2);
  ~CacheOffload();
  CacheOffload(const CacheOffload&) = delete;
  CacheOffload& operator=(const CacheOffload&) = delete;

  // Called as a convolution asks for its cache slot in `caches` (keyed by module): the slot then
  // holds the cache on the GPU, ready for the current stream (or nothing in the first chunk); the
  // previous module's slot, written meanwhile, starts for the host; the next modules' start back.
  void before_use(const void* module, std::unordered_map<const void*, at::Tensor>& caches);
  // After a chunk's last convolution: its cache leaves too, and the first caches of the next chunk
  // start back.
  void end_chunk(std::unordered_map<const void*, at::Tensor>& caches);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ditstream::model::vae
