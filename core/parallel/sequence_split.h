// How the video tokens are split over the ranks of a context-parallel job. The sequence of
// `total` tokens is padded at the end to `world * shard` and rank r holds tokens
// [r * shard, (r + 1) * shard). Everything per token (norms, projections, RoPE, MLPs) runs on a
// rank's shard alone; only attention looks across shards, and it ignores the padding (see
// valid_in). Text tokens are not split: every rank holds all of them.
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>

#include "core/parallel/communicator.h"

namespace ditstream::parallel {

class SequenceSplit {
 public:
  // Throws ditstream::Error when there are fewer tokens than ranks.
  SequenceSplit(int64_t total, int world_size, int rank);

  int64_t total() const { return total_; }
  int64_t shard() const { return shard_; }
  int64_t padded() const { return shard_ * world_; }
  int world_size() const { return world_; }
  int rank() const { return rank_; }
  int64_t begin() const { return shard_ * rank_; }
  // Real (not padding) tokens in the global range [begin, begin + length).
  int64_t valid_in(int64_t begin, int64_t length) const;
  int64_t local_valid() const { return valid_in(begin(), shard_); }

  // This rank's shard of a tensor holding all `total` tokens along `dim`, zero-padded to `shard`.
  at::Tensor shard_of(const at::Tensor& full, int64_t dim) const;
  // All shards gathered along `dim`, the padding dropped: the inverse of shard_of.
  at::Tensor gather(Communicator& comm, const at::Tensor& local, int64_t dim) const;

 private:
  int64_t total_;
  int64_t shard_;
  int world_;
  int rank_;
};

}  // namespace ditstream::parallel
