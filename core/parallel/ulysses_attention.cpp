#include "core/parallel/ulysses_attention.h"

#include <ATen/ATen.h>

#include "core/util/error.h"

namespace ditstream::parallel {
namespace {

void require_heads_divide(const Communicator& comm, const at::Tensor& x) {
  require(x.dim() >= 3, "ulysses attention", "tensor", "needs [..., heads, tokens, head_dim], got " +
                                                           std::to_string(x.dim()) + " dimensions");
  require(x.size(-3) % comm.world_size() == 0, "ulysses attention", "heads",
          std::to_string(x.size(-3)) + " heads do not divide over " + std::to_string(comm.world_size()) +
              " Ulysses ranks");
}

}  // namespace

at::Tensor sequence_to_head_split(Communicator& comm, const at::Tensor& x) {
  if (comm.world_size() == 1) return x;
  require_heads_divide(comm, x);
  return comm.all_to_all(x, x.dim() - 3, x.dim() - 2);
}

at::Tensor head_to_sequence_split(Communicator& comm, const at::Tensor& x) {
  if (comm.world_size() == 1) return x;
  require(x.size(-2) % comm.world_size() == 0, "ulysses attention", "tokens",
          std::to_string(x.size(-2)) + " tokens do not divide over " + std::to_string(comm.world_size()) +
              " Ulysses ranks");
  return comm.all_to_all(x, x.dim() - 2, x.dim() - 3);
}

at::Tensor local_heads(Communicator& comm, const at::Tensor& x) {
  if (comm.world_size() == 1) return x;
  require_heads_divide(comm, x);
  const int64_t per_rank = x.size(-3) / comm.world_size();
  return x.narrow(x.dim() - 3, comm.rank() * per_rank, per_rank);
}

at::Tensor gather_heads(Communicator& comm, const at::Tensor& x) {
  if (comm.world_size() == 1) return x;
  return comm.all_gather(x.contiguous(), x.dim() - 3);
}

}  // namespace ditstream::parallel
