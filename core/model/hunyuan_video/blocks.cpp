#include "core/model/hunyuan_video/blocks.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <utility>

#include "core/kernels/attention.h"
#include "core/kernels/fused_ops.h"
#include "core/parallel/context_parallel_attention.h"

namespace ditstream::model::hunyuan_video {
namespace {

constexpr double kEps = 1e-6;

// The heads of part `index` (0 q, 1 k, 2 v) of a packed projection [B, L, ≥ 3·H·D] -> [B, L, H, D].
at::Tensor part_heads(const at::Tensor& packed, int64_t index, int64_t heads, int64_t head_dim) {
  return packed.narrow(2, index * heads * head_dim, heads * head_dim).unflatten(2, {heads, head_dim});
}

// Attention over the joint [video, text] q/k/v [B, Lv + Lt, H, D] -> [B, Lv + Lt, H·D]: on one
// device joint_attention; in a context-parallel job (the video part is this rank's shard) across
// the ranks, per run of samples with the same valid text length.
at::Tensor attend(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t video_len,
                  const BlockContext& ctx) {
  if (ctx.context_parallel == nullptr) return joint_attention(q, k, v, video_len, ctx.text_lengths, ctx.fp8_attention);
  const auto& attention = *ctx.context_parallel;
  const int64_t text_len = q.size(1) - video_len;
  std::vector<at::Tensor> parts;
  for (int64_t b = 0; b < q.size(0);) {
    int64_t e = b + 1;
    while (e < q.size(0) && ctx.text_lengths[e] == ctx.text_lengths[b]) ++e;
    const int64_t valid = ctx.text_lengths[b];
    const auto video = [&](const at::Tensor& x) { return x.narrow(0, b, e - b).narrow(1, 0, video_len).transpose(1, 2); };
    const auto text = [&](const at::Tensor& x, int64_t n) {
      return x.narrow(0, b, e - b).narrow(1, video_len, n).transpose(1, 2);  // [b..e, H, n, D]
    };
    const auto out =
        attention(video(q), video(k), video(v), text(q, text_len), text(k, valid), text(v, valid), ctx.fp8_attention);
    parts.push_back(at::cat({out.video, out.text}, 2));  // [b..e, H, Lv + Lt, D]
    b = e;
  }
  const at::Tensor out = parts.size() == 1 ? parts[0] : at::cat(parts, 0);
  return out.transpose(1, 2).flatten(2).to(q.scalar_type());  // [B, Lv + Lt, H·D]
}

}  // namespace

at::Tensor joint_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t video_len,
                           const std::vector<int64_t>& text_lengths, bool fp8) {
  const int64_t length = q.size(1);
  const at::Tensor qh = q.transpose(1, 2);  // [B, H, L, D] view of [B, L, H, D]
  const at::Tensor kh = k.transpose(1, 2);
  const at::Tensor vh = v.transpose(1, 2);
  const bool uniform = std::all_of(text_lengths.begin(), text_lengths.end(),
                                   [&](int64_t n) { return video_len + n == length; });
  at::Tensor out;
  if (uniform) {
    out = kernels::attention(qh, kh, vh, fp8);  // [B, H, L, D]
  } else {
    // Samples with shorter text: every query (padded text rows included, as diffusers computes them)
    // attends to that sample's video + valid text keys only.
    std::vector<at::Tensor> parts;
    for (int64_t b = 0; b < q.size(0); ++b) {
      const int64_t keys = video_len + text_lengths[b];
      parts.push_back(kernels::attention(qh.narrow(0, b, 1), kh.narrow(0, b, 1).narrow(2, 0, keys),
                           vh.narrow(0, b, 1).narrow(2, 0, keys), fp8));
    }
    out = at::cat(parts, 0);  // [B, H, L, D]
  }
  return out.transpose(1, 2).flatten(2).to(q.scalar_type());  // [B, L, H·D]
}

HunyuanVideoAttention::HunyuanVideoAttention(int64_t heads, int64_t head_dim, bool dual_stream)
    : heads_(heads),
      head_dim_(head_dim),
      to_q_(register_module("to_q", std::make_unique<Linear>(heads * head_dim, heads * head_dim))),
      to_k_(register_module("to_k", std::make_unique<Linear>(heads * head_dim, heads * head_dim))),
      to_v_(register_module("to_v", std::make_unique<Linear>(heads * head_dim, heads * head_dim))),
      norm_q_(register_module("norm_q", std::make_unique<RMSNorm>(head_dim, kEps))),
      norm_k_(register_module("norm_k", std::make_unique<RMSNorm>(head_dim, kEps))) {
  const int64_t dim = heads * head_dim;
  if (!dual_stream) return;  // pre_only: the single block projects attention and MLP together
  add_q_proj_ = &register_module("add_q_proj", std::make_unique<Linear>(dim, dim));
  add_k_proj_ = &register_module("add_k_proj", std::make_unique<Linear>(dim, dim));
  add_v_proj_ = &register_module("add_v_proj", std::make_unique<Linear>(dim, dim));
  norm_added_q_ = &register_module("norm_added_q", std::make_unique<RMSNorm>(head_dim, kEps));
  norm_added_k_ = &register_module("norm_added_k", std::make_unique<RMSNorm>(head_dim, kEps));
  auto& to_out = register_module("to_out", std::make_unique<ModuleList<Linear>>());
  to_out_ = &to_out.push_back(std::make_unique<Linear>(dim, dim));
  to_add_out_ = &register_module("to_add_out", std::make_unique<Linear>(dim, dim));
}

void HunyuanVideoAttention::fuse_projections() {
  if (add_q_proj_ == nullptr) return;
  qkv_.fuse({&to_q_, &to_k_, &to_v_});
  add_qkv_.fuse({add_q_proj_, add_k_proj_, add_v_proj_});
}

void HunyuanVideoAttention::quantize_fp8() {
  if (add_q_proj_ == nullptr) return;  // the single block owns its fused projection
  qkv_.quantize_fp8();
  add_qkv_.quantize_fp8();
  to_out_->quantize_fp8();
  to_add_out_->quantize_fp8();
}

HunyuanVideoAttention::Qkv HunyuanVideoAttention::joint_qkv(const at::Tensor& video_qkv, const at::Tensor& text_qkv,
                                                            const RMSNorm& text_norm_q, const RMSNorm& text_norm_k,
                                                            const BlockContext& ctx) const {
  const int64_t batch = video_qkv.size(0), video_len = video_qkv.size(1), text_len = text_qkv.size(1);
  const auto options = video_qkv.options();
  Qkv out{at::empty({batch, video_len + text_len, heads_, head_dim_}, options),  // [B, L, H, D]
          at::empty({batch, video_len + text_len, heads_, head_dim_}, options),
          at::empty({batch, video_len + text_len, heads_, head_dim_}, options)};
  const auto& rope = ctx.rope;
  kernels::rms_norm_rope_into(part_heads(video_qkv, 0, heads_, head_dim_), norm_q_.weight(), rope.cos, rope.sin,
                              kEps, out.q, 0);
  kernels::rms_norm_rope_into(part_heads(video_qkv, 1, heads_, head_dim_), norm_k_.weight(), rope.cos, rope.sin,
                              kEps, out.k, 0);
  kernels::rms_norm_rope_into(part_heads(text_qkv, 0, heads_, head_dim_), text_norm_q.weight(), {}, {}, kEps, out.q,
                              video_len);
  kernels::rms_norm_rope_into(part_heads(text_qkv, 1, heads_, head_dim_), text_norm_k.weight(), {}, {}, kEps, out.k,
                              video_len);
  out.v.narrow(1, 0, video_len).copy_(part_heads(video_qkv, 2, heads_, head_dim_));
  out.v.narrow(1, video_len, text_len).copy_(part_heads(text_qkv, 2, heads_, head_dim_));
  return out;
}

std::pair<at::Tensor, at::Tensor> HunyuanVideoAttention::forward_dual(const at::Tensor& video, const at::Tensor& text,
                                                                      const BlockContext& ctx) const {
  const int64_t video_len = video.size(1);
  at::Tensor out;
  {
    // Scoped so the packed projections and the joint q/k/v are freed before the output projections.
    const Qkv qkv = joint_qkv(qkv_.forward(video), add_qkv_.forward(text), *norm_added_q_, *norm_added_k_, ctx);
    out = attend(qkv.q, qkv.k, qkv.v, video_len, ctx);  // [B, Lv + Lt, C]
  }
  return {to_out_->forward(out.narrow(1, 0, video_len)),
          to_add_out_->forward(out.narrow(1, video_len, out.size(1) - video_len))};
}

at::Tensor HunyuanVideoAttention::forward_single(at::Tensor qkv, int64_t video_len, const BlockContext& ctx) const {
  const int64_t text_len = qkv.size(1) - video_len;
  // The single block has one q/k norm for both streams; only the video part is rotated.
  const Qkv joint = joint_qkv(qkv.narrow(1, 0, video_len), qkv.narrow(1, video_len, text_len), norm_q_, norm_k_, ctx);
  qkv.reset();
  return attend(joint.q, joint.k, joint.v, video_len, ctx);
}

HunyuanVideoTransformerBlock::HunyuanVideoTransformerBlock(int64_t heads, int64_t head_dim, int64_t mlp_dim)
    : norm1_(register_module("norm1", std::make_unique<AdaLayerNormZero>(heads * head_dim))),
      norm1_context_(register_module("norm1_context", std::make_unique<AdaLayerNormZero>(heads * head_dim))),
      attn_(register_module("attn", std::make_unique<HunyuanVideoAttention>(heads, head_dim, true))),
      norm2_(heads * head_dim, kEps, false),
      ff_(register_module("ff", std::make_unique<FeedForward>(heads * head_dim, mlp_dim, Activation::gelu_tanh))),
      norm2_context_(heads * head_dim, kEps, false),
      ff_context_(
          register_module("ff_context", std::make_unique<FeedForward>(heads * head_dim, mlp_dim, Activation::gelu_tanh))) {}

void HunyuanVideoTransformerBlock::quantize_fp8() {
  attn_.quantize_fp8();
  ff_.quantize_fp8();
  ff_context_.quantize_fp8();
}

std::pair<at::Tensor, at::Tensor> HunyuanVideoTransformerBlock::forward(const at::Tensor& video, const at::Tensor& text,
                                                                        const BlockContext& ctx) const {
  const auto n = norm1_.forward(video, ctx.temb);
  const auto c = norm1_context_.forward(text, ctx.temb);
  const auto [attn_video, attn_text] = attn_.forward_dual(n.x, c.x, ctx);
  at::Tensor x = kernels::gated_residual(video, attn_video, n.gate_msa);  // video + gate ⊙ attn
  at::Tensor t = kernels::gated_residual(text, attn_text, c.gate_msa);
  const at::Tensor ff_video = ff_.forward(norm2_.forward_modulated(x, n.shift_mlp, n.scale_mlp));
  const at::Tensor ff_text = ff_context_.forward(norm2_context_.forward_modulated(t, c.shift_mlp, c.scale_mlp));
  kernels::gated_residual_(x, ff_video, n.gate_mlp);
  kernels::gated_residual_(t, ff_text, c.gate_mlp);
  return {x, t};
}

HunyuanVideoSingleTransformerBlock::HunyuanVideoSingleTransformerBlock(int64_t heads, int64_t head_dim, int64_t mlp_dim)
    : attn_(register_module("attn", std::make_unique<HunyuanVideoAttention>(heads, head_dim, false))),
      norm_(register_module("norm", std::make_unique<AdaLayerNormZeroSingle>(heads * head_dim))),
      proj_mlp_(register_module("proj_mlp", std::make_unique<Linear>(heads * head_dim, mlp_dim))),
      proj_out_(register_module("proj_out", std::make_unique<Linear>(heads * head_dim + mlp_dim, heads * head_dim))),
      dim_(heads * head_dim),
      mlp_dim_(mlp_dim) {}

void HunyuanVideoSingleTransformerBlock::fuse_projections() { qkv_.fuse({&attn_.to_q(), &attn_.to_k(), &attn_.to_v()}); }

void HunyuanVideoSingleTransformerBlock::quantize_fp8() {
  qkv_.quantize_fp8();
  proj_mlp_.quantize_fp8();
  proj_out_.quantize_fp8();
}

at::Tensor HunyuanVideoSingleTransformerBlock::forward(const at::Tensor& joint, int64_t video_len,
                                                       const BlockContext& ctx) const {
  auto n = norm_.forward(joint, ctx.temb);  // [B, L, C]
  const int64_t length = joint.size(1);
  // proj_out reads [attention, gelu(mlp)]: both are written into one buffer instead of concatenated.
  at::Tensor hidden = at::empty({joint.size(0), length, dim_ + mlp_dim_}, joint.options());
  at::Tensor qkv = qkv_.forward(n.x);  // [B, L, 3·C]
  // The MLP input by blocks of tokens, each through GELU straight into its place in `hidden`.
  at::Tensor mlp_part = hidden.narrow(2, dim_, mlp_dim_);
  const int64_t block = ctx.mlp_token_block;
  for (int64_t start = 0; start < length; start += block) {
    const int64_t count = std::min(block, length - start);
    at::Tensor out = mlp_part.narrow(1, start, count);
    at::gelu_out(out, proj_mlp_.forward(n.x.narrow(1, start, count)), "tanh");
  }
  n.x.reset();
  hidden.narrow(2, 0, dim_).copy_(attn_.forward_single(std::move(qkv), video_len, ctx));
  return kernels::gated_residual(joint, proj_out_.forward(hidden), n.gate);  // joint + gate ⊙ proj_out
}

}  // namespace ditstream::model::hunyuan_video
