// Ulysses attention with its all-to-alls hidden behind attention (a Ulysses-only mesh, ring 1).
// Each rank's H/N heads are split into G groups. While group g attends on the compute stream,
// group g+1's q/k/v travel to the head split and group g−1's output travels back, on the
// communicator's side stream (Communicator::all_to_all_async); only the first group's q/k/v and the
// last group's output are waited for. Every head is still attended whole, on one rank, by the
// same kernel, so the result equals the unpipelined path bit for bit, for every G.
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>
#include <functional>
#include <optional>

#include "core/parallel/communicator.h"
#include "core/parallel/mesh.h"

namespace ditstream::parallel {

// Attention over the joint [video, text] sequence, split back into its video and text parts.
struct JointOutput {
  at::Tensor video;
  at::Tensor text;  // undefined without text
};

// Attention of some heads over every token of the Ulysses group: q/k/v [B, h, C, D] with C the
// tokens of all ranks' shards in rank order (padding included), the text's q [B, h, Tq, D] and
// k/v [B, h, Tk, D] (undefined without text) → video [B, h, C, D], text [B, h, Tq, D].
using AttendHeads = std::function<JointOutput(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                              const at::Tensor& q_text, const at::Tensor& k_text,
                                              const at::Tensor& v_text)>;

// The group count used unless one is asked for: the most groups of at least 4 heads that divide
// `heads_per_rank` (12 → 3, 8 → 2, 6 → 1); smaller attention calls start to lose kernel efficiency.
int default_ulysses_groups(int64_t heads_per_rank);

// The group count a mesh uses for `heads` attention heads: `asked`, or when unset
// default_ulysses_groups for a Ulysses-only mesh of more than one rank and 1 otherwise. Throws
// ditstream::Error naming "ulysses_groups" when `asked` is below 1, does not divide the heads per
// Ulysses rank, or is more than 1 on a mesh with a ring.
int ulysses_groups_for(const Mesh& mesh, int64_t heads, std::optional<int> asked);

// q/k/v_video [B, H, S, D]: this rank's shard of the video tokens; q_text [B, H, Tq, D] and
// k/v_text [B, H, Tk, D]: the same on every rank (undefined: no text). H must divide into N ranks
// × `groups`. Returns video [B, H, S, D] (this rank's shard) and text [B, H, Tq, D] (the same on
// every rank). With groups == 1 nothing overlaps; ContextParallelAttention then takes its plain path.
JointOutput pipelined_ulysses_attention(Communicator& ulysses, int groups, const at::Tensor& q_video,
                                        const at::Tensor& k_video, const at::Tensor& v_video,
                                        const at::Tensor& q_text, const at::Tensor& k_text, const at::Tensor& v_text,
                                        const AttendHeads& attend);

}  // namespace ditstream::parallel
