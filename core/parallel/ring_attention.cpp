#include "core/parallel/ring_attention.h"

#include <ATen/ATen.h>

#include <vector>

#include "core/util/error.h"

namespace ditstream::parallel {
namespace {

bool has_tokens(const at::Tensor& t) { return t.defined() && t.size(2) > 0; }

PartialAttention attention_with_lse_reference(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                              double scale) {
  const auto acc = q.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const at::Tensor scores = at::matmul(q.to(acc), k.to(acc).transpose(-2, -1)).mul_(scale);  // [B, H, Lq, Lk]
  at::Tensor lse = at::logsumexp(scores, -1);                                                  // [B, H, Lq]
  at::Tensor out = at::matmul(at::exp(scores - lse.unsqueeze(-1)), v.to(acc));                // [B, H, Lq, D]
  return {out, lse};
}

}  // namespace

PartialAttention attention_with_lse(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, double scale) {
  if (q.is_cuda()) {
    const int64_t lq = q.size(2);
    if (q.scalar_type() == at::kHalf || q.scalar_type() == at::kBFloat16) {
      // (out, logsumexp [B, H, Lq] float32, ...)
      auto result = at::_scaled_dot_product_flash_attention(q, k, v, 0.0, false, false, scale);
      return {std::get<0>(result).to(at::kFloat), std::get<1>(result).narrow(-1, 0, lq)};
    }
    if (q.scalar_type() == at::kFloat) {
      // The log-sum-exp may come padded along Lq: keep the first Lq entries.
      auto result = at::_scaled_dot_product_efficient_attention(q, k, v, std::nullopt, true, 0.0, false, scale);
      return {std::get<0>(result), std::get<1>(result).narrow(-1, 0, lq)};
    }
  }
  return attention_with_lse_reference(q, k, v, scale);
}

void merge_partial(PartialAttention& acc, const PartialAttention& part) {
  if (!acc.out.defined()) {
    acc = part;
    return;
  }
  const at::Tensor lse = at::logaddexp(acc.lse, part.lse);             // [B, H, Lq]
  const at::Tensor w_acc = at::exp(acc.lse - lse).unsqueeze(-1);       // [B, H, Lq, 1]
  const at::Tensor w_part = at::exp(part.lse - lse).unsqueeze(-1);
  acc.out = acc.out * w_acc + part.out * w_part;
  acc.lse = lse;
}

AttentionResult ring_attention(Communicator& ring, const at::Tensor& q_video, const at::Tensor& k_video,
                               const at::Tensor& v_video, const at::Tensor& q_text, const at::Tensor& k_text,
                               const at::Tensor& v_text, const std::function<int64_t(int)>& valid_keys, double scale) {
  const int world = ring.world_size();
  const int rank = ring.rank();
  const bool text = has_tokens(q_text);

  at::Tensor block = at::stack({k_video, v_video}).contiguous();  // [2, B, H, C, D]
  PartialAttention video;
  std::vector<PartialAttention> text_parts(world + 1);  // by source ring rank, then the text keys
  for (int step = 0; step < world; ++step) {
    const int source = (rank - step + world) % world;
    // Start passing this block on before computing with it.
    std::unique_ptr<PendingExchange> next;
    if (step + 1 < world) next = ring.ring_exchange_async(block);
    const int64_t valid = valid_keys(source);
    if (valid > 0) {
      const at::Tensor k = block[0].narrow(2, 0, valid);  // [B, H, valid, D]
      const at::Tensor v = block[1].narrow(2, 0, valid);
      merge_partial(video, attention_with_lse(q_video, k, v, scale));
      if (text) text_parts[source] = attention_with_lse(q_text, k, v, scale);
    }
    if (next) block = next->wait();
  }
  if (has_tokens(k_text)) {
    merge_partial(video, attention_with_lse(q_video, k_text, v_text, scale));
    if (text) text_parts[world] = attention_with_lse(q_text, k_text, v_text, scale);
  }
  if (!video.out.defined()) {
    throw Error(ErrorKind::internal, "ring attention", "keys", "no rank holds a real key");
  }
  AttentionResult result;
  result.video = video.out.to(q_video.scalar_type());
  if (text) {
    PartialAttention merged;
    for (const auto& part : text_parts)
      if (part.out.defined()) merge_partial(merged, part);
    result.text = merged.out.to(q_text.scalar_type());
  }
  return result;
}

}  // namespace ditstream::parallel
