#include "core/model/hunyuan_video/blocks.h"

#include <ATen/ATen.h>

#include <algorithm>

namespace ditstream::model::hunyuan_video {
namespace {

constexpr double kEps = 1e-6;

// Applies RoPE to the first `video_len` tokens of x [B, L, H, D]; text tokens pass unrotated.
at::Tensor rope_video_part(const at::Tensor& x, int64_t video_len, const RopeTables& rope) {
  if (video_len == x.size(1)) return apply_rope(x, rope, 1);
  return at::cat({apply_rope(x.narrow(1, 0, video_len), rope, 1), x.narrow(1, video_len, x.size(1) - video_len)}, 1);
}

}  // namespace

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

at::Tensor HunyuanVideoAttention::heads_view(const at::Tensor& x) const {
  return x.unflatten(2, {heads_, -1});  // [B, L, H, D]
}

std::pair<at::Tensor, at::Tensor> HunyuanVideoAttention::forward_dual(const at::Tensor& video, const at::Tensor& text,
                                                                      const BlockContext& ctx) const {
  const int64_t video_len = video.size(1);
  at::Tensor q = apply_rope(norm_q_.forward(heads_view(to_q_.forward(video))), ctx.rope, 1);  // [B, Lv, H, D]
  at::Tensor k = apply_rope(norm_k_.forward(heads_view(to_k_.forward(video))), ctx.rope, 1);
  at::Tensor v = heads_view(to_v_.forward(video));
  const at::Tensor tq = norm_added_q_->forward(heads_view(add_q_proj_->forward(text)));      // [B, Lt, H, D]
  const at::Tensor tk = norm_added_k_->forward(heads_view(add_k_proj_->forward(text)));
  const at::Tensor tv = heads_view(add_v_proj_->forward(text));
  const at::Tensor out = joint_attention(at::cat({q, tq}, 1), at::cat({k, tk}, 1), at::cat({v, tv}, 1), video_len,
                                         ctx.text_lengths);  // [B, Lv + Lt, C]
  return {to_out_->forward(out.narrow(1, 0, video_len)),
          to_add_out_->forward(out.narrow(1, video_len, out.size(1) - video_len))};
}

at::Tensor HunyuanVideoAttention::forward_single(const at::Tensor& joint, int64_t video_len,
                                                 const BlockContext& ctx) const {
  const at::Tensor q = rope_video_part(norm_q_.forward(heads_view(to_q_.forward(joint))), video_len, ctx.rope);
  const at::Tensor k = rope_video_part(norm_k_.forward(heads_view(to_k_.forward(joint))), video_len, ctx.rope);
  const at::Tensor v = heads_view(to_v_.forward(joint));  // [B, L, H, D]
  return joint_attention(q, k, v, video_len, ctx.text_lengths);
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

std::pair<at::Tensor, at::Tensor> HunyuanVideoTransformerBlock::forward(const at::Tensor& video, const at::Tensor& text,
                                                                        const BlockContext& ctx) const {
  const auto n = norm1_.forward(video, ctx.temb);
  const auto c = norm1_context_.forward(text, ctx.temb);
  const auto [attn_video, attn_text] = attn_.forward_dual(n.x, c.x, ctx);
  at::Tensor x = video + attn_video * n.gate_msa.unsqueeze(1);
  at::Tensor t = text + attn_text * c.gate_msa.unsqueeze(1);
  const at::Tensor ff_video = ff_.forward(modulate(norm2_.forward(x), n.shift_mlp, n.scale_mlp));
  const at::Tensor ff_text = ff_context_.forward(modulate(norm2_context_.forward(t), c.shift_mlp, c.scale_mlp));
  x = x + n.gate_mlp.unsqueeze(1) * ff_video;
  t = t + c.gate_mlp.unsqueeze(1) * ff_text;
  return {x, t};
}

HunyuanVideoSingleTransformerBlock::HunyuanVideoSingleTransformerBlock(int64_t heads, int64_t head_dim, int64_t mlp_dim)
    : attn_(register_module("attn", std::make_unique<HunyuanVideoAttention>(heads, head_dim, false))),
      norm_(register_module("norm", std::make_unique<AdaLayerNormZeroSingle>(heads * head_dim))),
      proj_mlp_(register_module("proj_mlp", std::make_unique<Linear>(heads * head_dim, mlp_dim))),
      proj_out_(register_module("proj_out", std::make_unique<Linear>(heads * head_dim + mlp_dim, heads * head_dim))) {}

at::Tensor HunyuanVideoSingleTransformerBlock::forward(const at::Tensor& joint, int64_t video_len,
                                                       const BlockContext& ctx) const {
  const auto n = norm_.forward(joint, ctx.temb);                            // [B, L, C]
  const at::Tensor mlp = at::gelu(proj_mlp_.forward(n.x), "tanh");         // [B, L, mlp]
  const at::Tensor attn = attn_.forward_single(n.x, video_len, ctx);       // [B, L, C]
  const at::Tensor out = n.gate.unsqueeze(1) * proj_out_.forward(at::cat({attn, mlp}, 2));
  return out + joint;
}

}  // namespace ditstream::model::hunyuan_video
