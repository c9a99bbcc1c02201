#include "core/model/vae/cache_offload.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <optional>

#include "core/util/error.h"

#ifdef DITSTREAM_WITH_CUDA
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

namespace ditstream::model::vae {

#ifdef DITSTREAM_WITH_CUDA

struct CacheOffload::Impl {
  struct Slot {
    at::Tensor host;               // pinned, reused every chunk
    at::Tensor incoming;           // the copy back to the GPU while it is under way
    at::cuda::CUDAEvent on_host;   // the copy out finished: the host buffer may be read
    at::cuda::CUDAEvent arrived;   // the copy back finished: the convolution may read it
    bool fetching = false;
  };

  explicit Impl(int lookahead) : lookahead(lookahead) {}

  int lookahead;
  std::optional<at::Device> device;  // the caches' GPU, known from the first one that leaves
  std::optional<c10::cuda::CUDAStream> out_stream, in_stream;  // one per direction: both run at once
  std::vector<const void*> order;  // modules in the order a chunk uses their caches
  std::unordered_map<const void*, size_t> position;
  std::unordered_map<const void*, Slot> slots;
  const void* last = nullptr;      // the module used last in this chunk
  size_t next_fetch = 0;           // order[next_fetch] is the next cache to fetch back

  // The slot's cache (on the GPU, written by the decode's stream) goes to its host buffer; the GPU
  // memory is released once the copy has read it.
  void send_out(const void* module, at::Tensor& cache) {
    if (!cache.defined() || !cache.is_cuda()) return;
    if (!device) {
      device = cache.device();
      out_stream = c10::cuda::getStreamFromPool(false, device->index());
      in_stream = c10::cuda::getStreamFromPool(false, device->index());
    }
    Slot& slot = slots[module];
    if (!slot.host.defined() || slot.host.sizes() != cache.sizes() || slot.host.dtype() != cache.dtype()) {
      slot.host = at::empty(cache.sizes(), cache.options().device(at::kCPU).pinned_memory(true));
    }
    const auto compute = c10::cuda::getCurrentCUDAStream(cache.device().index());
    at::cuda::CUDAEvent written;
    written.record(compute);
    written.block(*out_stream);
    {
      c10::cuda::CUDAStreamGuard on_out(*out_stream);
      slot.host.copy_(cache, /*non_blocking=*/true);
    }
    slot.on_host.record(*out_stream);
    c10::cuda::CUDACachingAllocator::recordStream(cache.storage().data_ptr(), *out_stream);
    cache = slot.host;
  }

  // Starts the copy of a cache that waits on the host back to the GPU.
  void fetch(const void* module, const at::Tensor& cache) {
    Slot& slot = slots[module];
    if (slot.fetching || !cache.defined() || cache.is_cuda()) return;  // on the host only after send_out
    slot.on_host.block(*in_stream);
    {
      // Allocated on the copy stream, so no wait for the decode's stream to free memory first.
      c10::cuda::CUDAStreamGuard on_in(*in_stream);
      slot.incoming = at::empty(cache.sizes(), cache.options().device(*device));
      slot.incoming.copy_(cache, /*non_blocking=*/true);
    }
    slot.arrived.record(*in_stream);
    slot.fetching = true;
  }

  void fetch_ahead(std::unordered_map<const void*, at::Tensor>& caches, size_t upto) {
    for (; next_fetch < std::min(upto, order.size()); ++next_fetch) {
      const void* module = order[next_fetch];
      fetch(module, caches[module]);
    }
  }
};

CacheOffload::CacheOffload(int lookahead) : impl_(std::make_unique<Impl>(lookahead)) {
  require(lookahead >= 1, "[vae cache offload]", "lookahead", std::to_string(lookahead) + " must be at least 1");
}

CacheOffload::~CacheOffload() = default;

void CacheOffload::before_use(const void* module, std::unordered_map<const void*, at::Tensor>& caches) {
  Impl& s = *impl_;
  if (s.last != nullptr && s.last != module) s.send_out(s.last, caches[s.last]);
  s.last = module;
  auto known = s.position.find(module);
  if (known == s.position.end()) {  // the first chunk: nothing cached yet, learn the order
    s.position.emplace(module, s.order.size());
    s.order.push_back(module);
    return;
  }
  at::Tensor& cache = caches[module];
  s.fetch_ahead(caches, known->second + 1);
  Impl::Slot& slot = s.slots[module];
  if (!slot.fetching) s.fetch(module, cache);  // used out of the learned order
  if (slot.fetching) {
    const auto compute = c10::cuda::getCurrentCUDAStream(s.device->index());
    slot.arrived.block(compute);
    c10::cuda::CUDACachingAllocator::recordStream(slot.incoming.storage().data_ptr(), compute);
    cache = std::move(slot.incoming);
    slot.incoming = at::Tensor();
    slot.fetching = false;
  }
  s.fetch_ahead(caches, known->second + 1 + static_cast<size_t>(s.lookahead));
}

void CacheOffload::end_chunk(std::unordered_map<const void*, at::Tensor>& caches) {
  Impl& s = *impl_;
  if (s.last == nullptr) return;
  s.send_out(s.last, caches[s.last]);
  s.last = nullptr;
  s.next_fetch = 0;
  s.fetch_ahead(caches, static_cast<size_t>(s.lookahead));
}

#else

struct CacheOffload::Impl {};

CacheOffload::CacheOffload(int) {
  throw Error(ErrorKind::unavailable, "[vae cache offload]", "offload_caches", "needs a CUDA build of ditstream");
}
CacheOffload::~CacheOffload() = default;
void CacheOffload::before_use(const void*, std::unordered_map<const void*, at::Tensor>&) {}
void CacheOffload::end_chunk(std::unordered_map<const void*, at::Tensor>&) {}

#endif

}  // namespace ditstream::model::vae
