#include "core/model/hunyuan_video/blocks.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "core/kernels/fused_ops.h"

namespace ditstream::model::hunyuan_video {
namespace {

constexpr double kEps = 1e-6;

// RMS-normalizes q or k of the video tokens (rotated) and of the text tokens (not rotated) into one
// [B, Lv + Lt, H, D] buffer, video first: the joint sequence attention needs, without a concat.
at::Tensor norm_rope_joint(const at::Tensor& video, const at::Tensor& video_weight, const at::Tensor& text,
                           const at::Tensor& text_weight, const RopeTables& rope) {
  const int64_t video_len = video.size(1), text_len = text.size(1);
  at::Tensor out = at::empty({video.size(0), video_len + text_len, video.size(2), video.size(3)}, video.options());
  kernels::rms_norm_rope_into(video, video_weight, rope.cos, rope.sin, kEps, out, 0);
  kernels::rms_norm_rope_into(text, text_weight, at::Tensor(), at::Tensor(), kEps, out, video_len);
  return out;  // [B, Lv + Lt, H, D]
}

}  // namespace

void prefer_cudnn_attention() {
  at::globalContext().setSDPPriorityOrder(
      {static_cast<int64_t>(at::SDPBackend::cudnn_attention), static_cast<int64_t>(at::SDPBackend::flash_attention),
       static_cast<int64_t>(at::SDPBackend::efficient_attention), static_cast<int64_t>(at::SDPBackend::math)});
}

at::Tensor joint_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t video_len,
                           const std::vector<int64_t>& text_lengths) {
  const int64_t length = q.size(1);
  const at::Tensor qh = q.transpose(1, 2);  // [B, H, L, D]
  const at::Tensor kh = k.transpose(1, 2);
  const at::Tensor vh = v.transpose(1, 2);
  const bool uniform = std::all_of(text_lengths.begin(), text_lengths.end(),
                                   [&](int64_t n) { return video_len + n == length; });
  at::Tensor out;
  if (uniform) {
    out = at::scaled_dot_product_attention(qh, kh, vh);  // [B, H, L, D]
  } else {
    // Samples with shorter text: every query (padded text rows included, as diffusers computes them)
    // attends to that sample's video + valid text keys only.
    std::vector<at::Tensor> parts;
    for (int64_t b = 0; b < q.size(0); ++b) {
      const int64_t keys = video_len + text_lengths[b];
      parts.push_back(at::scaled_dot_product_attention(qh.narrow(0, b, 1), kh.narrow(0, b, 1).narrow(2, 0, keys),
                                                       vh.narrow(0, b, 1).narrow(2, 0, keys)));
    }
    out = at::cat(parts, 0);  // [B, H, L, D]
  }
  return out.transpose(1, 2).flatten(2).to(q.scalar_type());  // [B, L, H·D]
}

HunyuanVideoAttention::HunyuanVideoAttention(int64_t heads, int64_t head_dim, bool dual_stream)
    : heads_(heads),
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

void HunyuanVideoAttention::pack_projections() {
  if (!qkv_.active()) qkv_ = PackedLinear({&to_q_, &to_k_, &to_v_});
  if (add_q_proj_ != nullptr && !add_qkv_.active()) add_qkv_ = PackedLinear({add_q_proj_, add_k_proj_, add_v_proj_});
}

void HunyuanVideoAttention::quantize_fp8() {
  qkv_.quantize_fp8();
  add_qkv_.quantize_fp8();
  to_out_->quantize_fp8();
  to_add_out_->quantize_fp8();
}

at::Tensor HunyuanVideoAttention::heads_view(const at::Tensor& x) const {
  return x.unflatten(-1, {heads_, -1});  // [B, L, H, D]
}

std::pair<at::Tensor, at::Tensor> HunyuanVideoAttention::forward_dual(const at::Tensor& video, const at::Tensor& text,
                                                                      const BlockContext& ctx) const {
  const int64_t video_len = video.size(1);
  const auto vp = project(qkv_, {&to_q_, &to_k_, &to_v_}, video);                       // 3 × [B, Lv, C]
  const auto tp = project(add_qkv_, {add_q_proj_, add_k_proj_, add_v_proj_}, text);     // 3 × [B, Lt, C]
  const at::Tensor q = norm_rope_joint(heads_view(vp[0]), norm_q_.weight(), heads_view(tp[0]),
                                       norm_added_q_->weight(), ctx.rope);              // [B, Lv + Lt, H, D]
  const at::Tensor k = norm_rope_joint(heads_view(vp[1]), norm_k_.weight(), heads_view(tp[1]),
                                       norm_added_k_->weight(), ctx.rope);
  const at::Tensor v = heads_view(at::cat({vp[2], tp[2]}, 1));                          // [B, Lv + Lt, H, D]
  const at::Tensor out = joint_attention(q, k, v, video_len, ctx.text_lengths);         // [B, Lv + Lt, C]
  return {to_out_->forward(out.narrow(1, 0, video_len)),
          to_add_out_->forward(out.narrow(1, video_len, out.size(1) - video_len))};
}

at::Tensor HunyuanVideoAttention::attend_single(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                                int64_t video_len, const BlockContext& ctx) const {
  const int64_t text_len = q.size(1) - video_len;
  const at::Tensor qn = norm_rope_joint(heads_view(q.narrow(1, 0, video_len)), norm_q_.weight(),
                                        heads_view(q.narrow(1, video_len, text_len)), norm_q_.weight(), ctx.rope);
  const at::Tensor kn = norm_rope_joint(heads_view(k.narrow(1, 0, video_len)), norm_k_.weight(),
                                        heads_view(k.narrow(1, video_len, text_len)), norm_k_.weight(), ctx.rope);
  return joint_attention(qn, kn, heads_view(v.contiguous()), video_len, ctx.text_lengths);  // [B, L, C]
}

HunyuanVideoTransformerBlock::HunyuanVideoTransformerBlock(int64_t heads, int64_t head_dim, int64_t mlp_dim)
    : norm1_(register_module("norm1", std::make_unique<AdaLayerNormZero>(heads * head_dim))),
      norm1_context_(register_module("norm1_context", std::make_unique<AdaLayerNormZero>(heads * head_dim))),
      attn_(register_module("attn", std::make_unique<HunyuanVideoAttention>(heads, head_dim, true))),
      ff_(register_module("ff", std::make_unique<FeedForward>(heads * head_dim, mlp_dim, Activation::gelu_tanh))),
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
  // New tensors (the inputs may be held by a step cache); the MLP residuals then go in place.
  at::Tensor x = video + attn_video * n.gate_msa.unsqueeze(1);
  at::Tensor t = text + attn_text * c.gate_msa.unsqueeze(1);
  const at::Tensor ff_video = ff_.forward(modulated_layer_norm(x, n.shift_mlp, n.scale_mlp, kEps));
  const at::Tensor ff_text = ff_context_.forward(modulated_layer_norm(t, c.shift_mlp, c.scale_mlp, kEps));
  kernels::gated_residual_(x, ff_video, n.gate_mlp);
  kernels::gated_residual_(t, ff_text, c.gate_mlp);
  return {x, t};
}

HunyuanVideoSingleTransformerBlock::HunyuanVideoSingleTransformerBlock(int64_t heads, int64_t head_dim, int64_t mlp_dim)
    : attn_(register_module("attn", std::make_unique<HunyuanVideoAttention>(heads, head_dim, false))),
      norm_(register_module("norm", std::make_unique<AdaLayerNormZeroSingle>(heads * head_dim))),
      proj_mlp_(register_module("proj_mlp", std::make_unique<Linear>(heads * head_dim, mlp_dim))),
      proj_out_(register_module("proj_out", std::make_unique<Linear>(heads * head_dim + mlp_dim, heads * head_dim))) {}

void HunyuanVideoSingleTransformerBlock::pack_projections() {
  if (!qkv_mlp_.active()) qkv_mlp_ = PackedLinear({&attn_.to_q(), &attn_.to_k(), &attn_.to_v(), &proj_mlp_});
}

void HunyuanVideoSingleTransformerBlock::quantize_fp8() {
  qkv_mlp_.quantize_fp8();
  proj_out_.quantize_fp8();
}

at::Tensor HunyuanVideoSingleTransformerBlock::forward(at::Tensor joint, int64_t video_len,
                                                       const BlockContext& ctx) const {
  const auto n = norm_.forward(joint, ctx.temb);                                         // [B, L, C]
  const auto p = project(qkv_mlp_, {&attn_.to_q(), &attn_.to_k(), &attn_.to_v(), &proj_mlp_}, n.x);
  const at::Tensor mlp = at::gelu(p[3], "tanh");                                        // [B, L, mlp]
  const at::Tensor attn = attn_.attend_single(p[0], p[1], p[2], video_len, ctx);         // [B, L, C]
  kernels::gated_residual_(joint, proj_out_.forward(at::cat({attn, mlp}, 2)), n.gate);
  return joint;
}

}  // namespace ditstream::model::hunyuan_video
