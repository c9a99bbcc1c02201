#include "core/parallel/reductions.h"

#include <ATen/ATen.h>

#include "core/util/error.h"

namespace ditstream::parallel {

double global_relative_l1(Communicator& comm, const SequenceSplit& split, const at::Tensor& current,
                          const at::Tensor& previous, int64_t dim) {
  require(current.sizes() == previous.sizes(), "global_relative_l1", "previous",
          "must have the shape of current");
  dim = c10::maybe_wrap_dim(dim, current.dim());
  const int64_t valid = split.local_valid();
  const at::Tensor a = current.narrow(dim, 0, valid).to(at::kDouble);
  const at::Tensor b = previous.narrow(dim, 0, valid).to(at::kDouble);
  at::Tensor sums = at::stack({(a - b).abs().sum(), b.abs().sum()});  // [2]
  comm.all_reduce_sum(sums);
  const auto host = sums.cpu();
  return host[0].item<double>() / host[1].item<double>();
}

}  // namespace ditstream::parallel
