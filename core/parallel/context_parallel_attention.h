// The attention entry point for a context-parallel transformer: called with this rank's shard of
// the video queries/keys/values and the (replicated) text ones, in place of plain
// scaled-dot-product attention over cat([video, text]). Inside, the 2-D mesh runs: all-to-all to
// a head split within the Ulysses group, ring attention within the ring group, all-to-all back.
// With a world of one it is exactly SDPA over the joined sequence. A Ulysses-only mesh pipelines
// its all-to-alls behind attention over groups of heads (ulysses_pipeline.h).
#pragma once

#include <ATen/Tensor.h>

#include <optional>

#include "core/parallel/communicator.h"
#include "core/parallel/sequence_split.h"

namespace ditstream::parallel {

class ContextParallelAttention {
 public:
  // `ulysses` and `ring` are this rank's mesh communicators (see make_mesh_communicators; a
  // dimension of 1 is a single-rank communicator). `split` describes the video tokens over the
  // whole mesh; its rank must be ring.rank() * ulysses.world_size() + ulysses.rank(). `scale`
  // defaults to 1/sqrt(head_dim). The communicators must outlive this object.
  ContextParallelAttention(Communicator& ulysses, Communicator& ring, SequenceSplit split,
                           std::optional<double> scale = std::nullopt);

  struct Output {
    at::Tensor video;  // [B, H, S, D]: this rank's shard
    at::Tensor text;   // [B, H, Tq, D]: the same on every rank; undefined without text
  };

  // q/k/v_video [B, H, S, D] with S = split.shard(), RoPE already applied; q_text [B, H, Tq, D]
  // and k/v_text [B, H, Tk, D], the same on every rank (undefined or Tq = 0: no text; Tk < Tq
  // when padded text rows still need outputs). The text joins the keys once, however many ranks
  // hold it. `fp8`: a Ulysses-only mesh (ring 1) attends with FP8 operands (kernels::fp8_attention);
  // ring hops stay in the inputs' dtype, their partial results need the log-sum-exp.
  Output operator()(const at::Tensor& q_video, const at::Tensor& k_video, const at::Tensor& v_video,
                    const at::Tensor& q_text, const at::Tensor& k_text, const at::Tensor& v_text,
                    bool fp8 = false) const;

  const SequenceSplit& split() const { return split_; }

  // A Ulysses-only mesh (ring 1) splits each rank's heads into `groups` groups and pipelines them,
  // hiding the all-to-alls behind attention (ulysses_pipeline.h); the result is bit-identical for
  // any count. Unset: the default of ulysses_groups_for (3 for 12 heads per rank); 1: no
  // pipelining. Throws ditstream::Error for a count below 1; one the heads or the mesh cannot use
  // throws when called.
  void set_ulysses_groups(std::optional<int> groups);
  // The group count used for `heads` attention heads.
  int ulysses_groups(int64_t heads) const;

 private:
  Communicator& ulysses_;
  Communicator& ring_;
  SequenceSplit split_;
  std::optional<double> scale_;
  std::optional<int> ulysses_groups_;
};

}  // namespace ditstream::parallel
