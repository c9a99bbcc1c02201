#include "core/model/text/prompt_cache.h"

namespace ditstream::text {
namespace {
size_t tensor_bytes(const at::Tensor& t) { return t.defined() ? t.numel() * t.element_size() : 0; }
}  // namespace

size_t PromptEmbeddings::bytes() const {
  return tensor_bytes(prompt_embeds) + tensor_bytes(prompt_attention_mask) + tensor_bytes(pooled_prompt_embeds);
}

PromptCache::PromptCache(size_t capacity_bytes) : capacity_bytes_(capacity_bytes) {}

std::string PromptCache::key_of(const std::string& prompt, const std::string& model_id) {
  // Length-prefixed so no (prompt, model) pair can collide with another.
  return std::to_string(model_id.size()) + ":" + model_id + prompt;
}

std::optional<PromptEmbeddings> PromptCache::get(const std::string& prompt, const std::string& model_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = index_.find(key_of(prompt, model_id));
  if (it == index_.end()) {
    ++misses_;
    return std::nullopt;
  }
  ++hits_;
  order_.splice(order_.begin(), order_, it->second);
  return it->second->value;
}

void PromptCache::put(const std::string& prompt, const std::string& model_id, PromptEmbeddings value) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string key = key_of(prompt, model_id);
  if (auto it = index_.find(key); it != index_.end()) {
    bytes_ -= it->second->bytes;
    order_.erase(it->second);
    index_.erase(it);
  }
  const size_t size = value.bytes();
  if (size > capacity_bytes_) return;
  evict_to(capacity_bytes_ - size);
  order_.push_front({key, std::move(value), size});
  index_[key] = order_.begin();
  bytes_ += size;
}

void PromptCache::evict_to(size_t limit) {
  while (bytes_ > limit && !order_.empty()) {
    bytes_ -= order_.back().bytes;
    index_.erase(order_.back().key);
    order_.pop_back();
    ++evictions_;
  }
}

void PromptCache::clear() {
  std::lock_guard<std::mutex> lock(mutex_);
  order_.clear();
  index_.clear();
  bytes_ = 0;
}

PromptCacheStats PromptCache::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {hits_, misses_, evictions_, index_.size(), bytes_, capacity_bytes_};
}

}  // namespace ditstream::text
