// Ring attention: each rank keeps its queries; the key/value blocks of all ranks pass around the
// ring (one ring_exchange per step, the next block travelling while this one is computed), and
// the partial results are merged with their log-sum-exp, which gives exactly softmax attention
// over all keys. Text keys/values are replicated on every rank, so they join once, locally.
#pragma once

#include <ATen/Tensor.h>

#include <functional>
#include <optional>

#include "core/parallel/communicator.h"

namespace ditstream::parallel {

// Attention of some queries over a subset of the keys: `out` [B, H, Lq, D] in float32 (float64
// for float64 inputs) and `lse` [B, H, Lq], the log-sum-exp of the scaled scores over that subset.
struct PartialAttention {
  at::Tensor out;
  at::Tensor lse;
};

// q [B, H, Lq, D], k/v [B, H, Lk, D] (Lk > 0). On CUDA with half/bfloat16 this is the flash
// kernel (float32: memory-efficient kernel), both of which return the log-sum-exp; on the CPU it
// is computed explicitly (the test oracle).
PartialAttention attention_with_lse(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale);

// `acc` becomes the attention over the union of both key sets. An undefined `acc` takes `part`.
void merge_partial(PartialAttention& acc, const PartialAttention& part);

struct AttentionResult {
  at::Tensor video;  // [B, H, Lq_video, D], input dtype
  at::Tensor text;   // [B, H, Lq_text, D], input dtype; undefined without text
};

// Video q/k/v [B, H, C, D] are this ring rank's chunk; text q [B, H, Tq, D] and k/v [B, H, Tk, D]
// (undefined or empty: no text) are the same on every rank. `valid_keys(r)` is how many of ring rank r's C keys are
// real tokens (the rest is padding and is left out). The text output is merged in ring-rank order
// on every rank, so all ranks produce bit-identical text.
AttentionResult ring_attention(Communicator& ring, const at::Tensor& q_video, const at::Tensor& k_video,
                               const at::Tensor& v_video, const at::Tensor& q_text, const at::Tensor& k_text,
                               const at::Tensor& v_text, const std::function<int64_t(int)>& valid_keys, double scale);

}  // namespace ditstream::parallel
