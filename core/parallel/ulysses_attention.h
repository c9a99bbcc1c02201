// Ulysses (DeepSpeed-Ulysses) layout switches: attention needs every token of a head, the rest of
// the block needs every head of a token. An all-to-all turns a sequence split into a head split
// before attention and back after it.
#pragma once

#include <ATen/Tensor.h>

#include "core/parallel/communicator.h"

namespace ditstream::parallel {

// [..., H, S, D] with S this rank's tokens → [..., H/N, N*S, D] with this rank's heads
// [rank*H/N, (rank+1)*H/N) over the tokens of all N ranks in rank order. The head dimension is
// dim -3, the sequence dim -2. H must divide by N.
at::Tensor sequence_to_head_split(Communicator& comm, const at::Tensor& x);

// The inverse: [..., H/N, N*S, D] → [..., H, S, D].
at::Tensor head_to_sequence_split(Communicator& comm, const at::Tensor& x);

// This rank's heads of a tensor every rank holds whole (the replicated text): [..., H, T, D] →
// [..., H/N, T, D].
at::Tensor local_heads(Communicator& comm, const at::Tensor& x);

// The inverse of local_heads: every rank's heads gathered, [..., H/N, T, D] → [..., H, T, D].
at::Tensor gather_heads(Communicator& comm, const at::Tensor& x);

}  // namespace ditstream::parallel
