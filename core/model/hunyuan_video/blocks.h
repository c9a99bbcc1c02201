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

namespace ditstream::parallel {
class ContextParallelAttention;
}

namespace ditstream::model::hunyuan_video {

// Tokens per block of the single blocks' MLP projection, whose whole [L, mlp] output would be the
// largest tensor of a step: GEMMs of 32k rows run as fast as whole ones, and at 720x1280x129 a
// block is a quarter of the whole.
inline constexpr int64_t kMlpTokenBlock = 32768;

// What every block needs besides its hidden states.
struct BlockContext {
  const at::Tensor& temb;                     // [B, C]
  const RopeTables& rope;                     // for the video tokens
  const std::vector<int64_t>& text_lengths;   // valid text tokens per sample, each ≤ text length
  // Set when the video tokens are this rank's shard of a context-parallel job: attention then
  // runs across the ranks (core/parallel/context_parallel_attention.h).
  const parallel::ContextParallelAttention* context_parallel = nullptr;
  // Attention with FP8 operands (core/kernels/fp8_attention.h) on one device.
  bool fp8_attention = false;
  // Tokens per block of the single blocks' MLP projection.
  int64_t mlp_token_block = kMlpTokenBlock;
};

// softmax(q kᵀ/√d) v over q, k, v [B, L, H, D] (L = video + text tokens, video first) -> [B, L, H·D].
// Keys/values of sample b are cut to video_len + text_lengths[b]. `fp8`: FP8 operands (CUDA, bf16).
at::Tensor joint_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t video_len,
                           const std::vector<int64_t>& text_lengths, bool fp8 = false);

// diffusers Attention with HunyuanVideoAttnProcessor2_0: to_q/k/v, RMS qk-norm, and, for the
// dual-stream form, add_{q,k,v}_proj, norm_added_{q,k}, to_out.0 and to_add_out.
class HunyuanVideoAttention : public Module {
 public:
  HunyuanVideoAttention(int64_t heads, int64_t head_dim, bool dual_stream);
  // Dual stream: (video, text) each [B, L*, C] -> attention outputs (video, text) after to_out/to_add_out.
  std::pair<at::Tensor, at::Tensor> forward_dual(const at::Tensor& video, const at::Tensor& text,
                                                 const BlockContext& ctx) const;
  // Single stream: `qkv` [B, Lv + Lt, 3·C] holds q, k, v side by side -> attention output
  // [B, Lv + Lt, C] (no output projection). Takes `qkv` over and frees it once q, k and v are
  // laid out for attention.
  at::Tensor forward_single(at::Tensor qkv, int64_t video_len, const BlockContext& ctx) const;

  // Fuses to_q/k/v (and add_q/k/v) into single GEMMs; call once the weights are in place.
  void fuse_projections();
  void quantize_fp8();
  Linear& to_q() { return to_q_; }
  Linear& to_k() { return to_k_; }
  Linear& to_v() { return to_v_; }

 private:
  // q, k, v [B, L, H, D] of the joint sequence from the packed projections of its two parts: the
  // video part (q/k normalized and rotated) at 0, the text part (normalized) at `video_len`.
  struct Qkv {
    at::Tensor q, k, v;
  };
  Qkv joint_qkv(const at::Tensor& video_qkv, const at::Tensor& text_qkv, const RMSNorm& text_norm_q,
                const RMSNorm& text_norm_k, const BlockContext& ctx) const;

  int64_t heads_, head_dim_;
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
  FusedLinear qkv_;      // to_q, to_k, to_v (dual stream only; the single block fuses its own)
  FusedLinear add_qkv_;  // add_q_proj, add_k_proj, add_v_proj
};

class HunyuanVideoTransformerBlock : public Module {
 public:
  HunyuanVideoTransformerBlock(int64_t heads, int64_t head_dim, int64_t mlp_dim);
  // video [B, Lv, C], text [B, Lt, C] -> updated (video, text).
  std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& video, const at::Tensor& text,
                                            const BlockContext& ctx) const;
  void fuse_projections() { attn_.fuse_projections(); }
  void quantize_fp8();

 private:
  AdaLayerNormZero& norm1_;
  AdaLayerNormZero& norm1_context_;
  HunyuanVideoAttention& attn_;
  LayerNorm norm2_;
  FeedForward& ff_;
  LayerNorm norm2_context_;
  FeedForward& ff_context_;
};

class HunyuanVideoSingleTransformerBlock : public Module {
 public:
  HunyuanVideoSingleTransformerBlock(int64_t heads, int64_t head_dim, int64_t mlp_dim);
  // joint [B, Lv + Lt, C] (video first) -> updated joint. diffusers concatenates and splits the two
  // streams around every single block; keeping them joined between blocks is the same computation.
  at::Tensor forward(const at::Tensor& joint, int64_t video_len, const BlockContext& ctx) const;
  // Fuses attn.to_q/k/v into one GEMM. proj_mlp, which reads the same input, stays apart: it runs
  // by blocks of tokens, so its [L, mlp] output (the largest tensor of a step) never exists whole.
  void fuse_projections();
  void quantize_fp8();

 private:
  HunyuanVideoAttention& attn_;
  AdaLayerNormZeroSingle& norm_;
  Linear& proj_mlp_;
  Linear& proj_out_;
  int64_t dim_, mlp_dim_;
  FusedLinear qkv_;
};

}  // namespace ditstream::model::hunyuan_video
