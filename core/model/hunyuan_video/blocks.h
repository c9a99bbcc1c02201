// The dual-stream (`transformer_blocks`) and single-stream (`single_transformer_blocks`) blocks of
// HunyuanVideo, mirroring HunyuanVideoTransformerBlock, HunyuanVideoSingleTransformerBlock and
// HunyuanVideoAttnProcessor2_0 in diffusers' transformer_hunyuan_video.py.
//
// Joint attention runs over [video tokens, valid text tokens] with no mask: padded text is cut
// before the blocks. Text may still carry per-sample padding when a batch's samples have different
// valid lengths (`text_lengths`); then each sample attends only to its own valid keys.
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "core/model/hunyuan_video/rope.h"
#include "core/model/layers.h"
#include "core/model/module.h"

namespace ditstream::model::hunyuan_video {

// What every block needs besides its hidden states.
struct BlockContext {
  const at::Tensor& temb;                     // [B, C]
  const RopeTables& rope;                     // for the video tokens
  const std::vector<int64_t>& text_lengths;   // valid text tokens per sample, each ≤ text length
};

// Orders the SDPA backends cuDNN, flash, mem-efficient, math for the whole process (cuDNN runs
// HunyuanVideo's unmasked bf16 attention at about 1.6× flash's rate on Hopper). Shapes cuDNN
// cannot take still fall back to the next backend. Call once at start-up on GPU runs.
void prefer_cudnn_attention();

// softmax(q kᵀ/√d) v over q, k, v [B, L, H, D] (L = video + text tokens, video first) -> [B, L, H·D].
// Keys/values of sample b are cut to video_len + text_lengths[b].
at::Tensor joint_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t video_len,
                           const std::vector<int64_t>& text_lengths);

// diffusers Attention with HunyuanVideoAttnProcessor2_0: to_q/k/v, RMS qk-norm, and, for the
// dual-stream form, add_{q,k,v}_proj, norm_added_{q,k}, to_out.0 and to_add_out.
class HunyuanVideoAttention : public Module {
 public:
  HunyuanVideoAttention(int64_t heads, int64_t head_dim, bool dual_stream);
  // Dual stream: (video, text) each [B, L*, C] -> attention outputs (video, text) after to_out/to_add_out.
  std::pair<at::Tensor, at::Tensor> forward_dual(const at::Tensor& video, const at::Tensor& text,
                                                 const BlockContext& ctx) const;
  // Single stream, from the projections q, k, v [B, Lv + Lt, C] of the joint sequence (the block
  // computes them together with its MLP input) -> [B, Lv + Lt, C] (no output projection).
  at::Tensor attend_single(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t video_len,
                           const BlockContext& ctx) const;
  // Dual stream: packs to_q/k/v and add_q/k/v_proj into one GEMM each (see PackedLinear).
  void pack_projections();
  // Dual stream: the packed projections and to_out/to_add_out in float8 (after pack_projections).
  void quantize_fp8();
  const Linear& to_q() const { return to_q_; }
  const Linear& to_k() const { return to_k_; }
  const Linear& to_v() const { return to_v_; }
  Linear& to_q() { return to_q_; }
  Linear& to_k() { return to_k_; }
  Linear& to_v() { return to_v_; }

 private:
  at::Tensor heads_view(const at::Tensor& x) const;  // [B, L, H·D] -> [B, L, H, D]

  int64_t heads_;
  PackedLinear qkv_;
  PackedLinear add_qkv_;
  Linear& to_q_;
  Linear& to_k_;
  Linear& to_v_;
  RMSNorm& norm_q_;
  RMSNorm& norm_k_;
  Linear* add_q_proj_ = nullptr;
  Linear* add_k_proj_ = nullptr;
  Linear* add_v_proj_ = nullptr;
  RMSNorm* norm_added_q_ = nullptr;
  RMSNorm* norm_added_k_ = nullptr;
  Linear* to_out_ = nullptr;
  Linear* to_add_out_ = nullptr;
};

class HunyuanVideoTransformerBlock : public Module {
 public:
  HunyuanVideoTransformerBlock(int64_t heads, int64_t head_dim, int64_t mlp_dim);
  // video [B, Lv, C], text [B, Lt, C] -> updated (video, text).
  std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& video, const at::Tensor& text,
                                            const BlockContext& ctx) const;
  void pack_projections() { attn_.pack_projections(); }
  // Every linear layer of the block except the adaLN modulation in float8 (after pack_projections).
  void quantize_fp8();

 private:
  AdaLayerNormZero& norm1_;
  AdaLayerNormZero& norm1_context_;
  HunyuanVideoAttention& attn_;
  FeedForward& ff_;
  FeedForward& ff_context_;
};

class HunyuanVideoSingleTransformerBlock : public Module {
 public:
  HunyuanVideoSingleTransformerBlock(int64_t heads, int64_t head_dim, int64_t mlp_dim);
  // joint [B, Lv + Lt, C] (video first), updated in place and returned. diffusers concatenates and
  // splits the two streams around every single block; keeping them joined between blocks is the
  // same computation. The caller must own `joint` (no other tensor may share its storage).
  at::Tensor forward(at::Tensor joint, int64_t video_len, const BlockContext& ctx) const;
  // Packs to_q, to_k, to_v and proj_mlp (all read the normed input) into one GEMM.
  void pack_projections();
  // The packed projection and proj_out in float8 (after pack_projections).
  void quantize_fp8();

 private:
  HunyuanVideoAttention& attn_;
  AdaLayerNormZeroSingle& norm_;
  Linear& proj_mlp_;
  Linear& proj_out_;
  PackedLinear qkv_mlp_;
};

}  // namespace ditstream::model::hunyuan_video
