#include "core/parallel/sequence_split.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "core/util/error.h"

namespace ditstream::parallel {

SequenceSplit::SequenceSplit(int64_t total, int world_size, int rank) : total_(total), world_(world_size), rank_(rank) {
  require(world_size >= 1, "sequence split", "world_size", std::to_string(world_size) + " must be at least 1");
  require(rank >= 0 && rank < world_size, "sequence split", "rank",
          std::to_string(rank) + " is outside [0, " + std::to_string(world_size) + ")");
  require(total >= world_size, "sequence split", "video_tokens",
          std::to_string(total) + " tokens cannot be split over " + std::to_string(world_size) +
              " ranks (each rank needs at least one)");
  shard_ = (total + world_size - 1) / world_size;
}

int64_t SequenceSplit::valid_in(int64_t begin, int64_t length) const {
  return std::clamp<int64_t>(total_ - begin, 0, length);
}

at::Tensor SequenceSplit::shard_of(const at::Tensor& full, int64_t dim) const {
  dim = c10::maybe_wrap_dim(dim, full.dim());
  require(full.size(dim) == total_, "sequence split", "tokens",
          "dimension " + std::to_string(dim) + " has " + std::to_string(full.size(dim)) + " tokens, expected " +
              std::to_string(total_));
  const int64_t valid = local_valid();
  at::Tensor local = full.narrow(dim, std::min(begin(), total_), valid);
  if (valid == shard_) return local.contiguous();
  auto pad_shape = full.sizes().vec();
  pad_shape[dim] = shard_ - valid;
  return at::cat({local, at::zeros(pad_shape, full.options())}, dim);
}

at::Tensor SequenceSplit::gather(Communicator& comm, const at::Tensor& local, int64_t dim) const {
  dim = c10::maybe_wrap_dim(dim, local.dim());
  require(comm.world_size() == world_ && comm.rank() == rank_, "sequence split", "communicator",
          "rank " + std::to_string(comm.rank()) + " of " + std::to_string(comm.world_size()) +
              " does not match the split's rank " + std::to_string(rank_) + " of " + std::to_string(world_));
  require(local.size(dim) == shard_, "sequence split", "tokens",
          "dimension " + std::to_string(dim) + " has " + std::to_string(local.size(dim)) +
              " tokens, expected the shard size " + std::to_string(shard_));
  return comm.all_gather(local.contiguous(), dim).narrow(dim, 0, total_);
}

}  // namespace ditstream::parallel
