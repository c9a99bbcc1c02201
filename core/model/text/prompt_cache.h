// An LRU cache of prompt embeddings keyed by (prompt, model id), bounded in bytes, with hit, miss
// and eviction counters for the metrics. Thread-safe: the service's workers share one.
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace ditstream::text {

// What the transformer reads for one prompt (batch 1), as HunyuanVideoPipeline.encode_prompt
// returns it.
struct PromptEmbeddings {
  at::Tensor prompt_embeds;          // [B, max_sequence_length, hidden]
  at::Tensor prompt_attention_mask;  // [B, max_sequence_length] int64
  at::Tensor pooled_prompt_embeds;   // [B, clip hidden]
  size_t bytes() const;
};

struct PromptCacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t evictions = 0;
  size_t entries = 0;
  size_t bytes = 0;
  size_t capacity_bytes = 0;
};

class PromptCache {
 public:
  explicit PromptCache(size_t capacity_bytes);

  // The entry for (prompt, model_id), made most recently used; counts a hit or a miss. The
  // tensors share storage with the cached ones: read them, do not write into them.
  std::optional<PromptEmbeddings> get(const std::string& prompt, const std::string& model_id);
  // Stores (or replaces) an entry and evicts least recently used ones until the total fits. An
  // entry larger than the whole capacity is not stored.
  void put(const std::string& prompt, const std::string& model_id, PromptEmbeddings value);
  void clear();
  PromptCacheStats stats() const;

 private:
  struct Entry {
    std::string key;
    PromptEmbeddings value;
    size_t bytes;
  };
  static std::string key_of(const std::string& prompt, const std::string& model_id);
  void evict_to(size_t limit);

  mutable std::mutex mutex_;
  size_t capacity_bytes_;
  size_t bytes_ = 0;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
  uint64_t evictions_ = 0;
  std::list<Entry> order_;  // front = most recently used
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

}  // namespace ditstream::text
