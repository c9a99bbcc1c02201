// Values every rank must agree on, computed from each rank's shard of the video tokens. First
// Block Cache decides whether to reuse a step from the relative change of the first block's
// residual; computed per shard, ranks would decide differently and diverge.
#pragma once

#include <ATen/Tensor.h>

#include "core/parallel/communicator.h"
#include "core/parallel/sequence_split.h"

namespace ditstream::parallel {

// sum|current − previous| / sum|previous| over the real (not padding) tokens of all ranks, along
// token dimension `dim` of this rank's shards [.., S, ..]: what one device computes on the whole
// tensors (diffusers' mean(|a − b|) / mean(|b|)). The same double on every rank.
double global_relative_l1(Communicator& comm, const SequenceSplit& split, const at::Tensor& current,
                          const at::Tensor& previous, int64_t dim);

}  // namespace ditstream::parallel
