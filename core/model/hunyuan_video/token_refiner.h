// The text token refiner (`context_embedder`): HunyuanVideoTokenRefiner,
// HunyuanVideoIndividualTokenRefiner(Block) and HunyuanVideoAdaNorm of diffusers'
// transformer_hunyuan_video.py. It runs on the padded text with its own self-attention mask, as
// diffusers does; the big blocks then see only the valid tokens.
#pragma once

#include <ATen/Tensor.h>

#include "core/model/hunyuan_video/embeddings.h"
#include "core/model/layers.h"
#include "core/model/module.h"

namespace ditstream::model::hunyuan_video {

class HunyuanVideoIndividualTokenRefinerBlock : public Module {
 public:
  HunyuanVideoIndividualTokenRefinerBlock(int64_t heads, int64_t head_dim, double mlp_ratio);
  // x [B, L, C], temb [B, C], mask [B, 1, L, L] bool (true = may attend).
  at::Tensor forward(const at::Tensor& x, const at::Tensor& temb, const at::Tensor& mask) const;

 private:
  // diffusers Attention with the default processor: to_q/k/v, to_out.0, no qk-norm.
  class SelfAttention : public Module {
   public:
    SelfAttention(int64_t heads, int64_t dim);
    at::Tensor forward(const at::Tensor& x, const at::Tensor& mask) const;

   private:
    int64_t heads_;
    Linear& to_q_;
    Linear& to_k_;
    Linear& to_v_;
    Linear* to_out_;
  };
  // HunyuanVideoAdaNorm: linear(silu(temb)) -> (gate_msa, gate_mlp).
  class AdaNorm : public Module {
   public:
    explicit AdaNorm(int64_t dim);
    std::pair<at::Tensor, at::Tensor> forward(const at::Tensor& temb) const;

   private:
    Linear& linear_;
  };

  LayerNorm& norm1_;
  SelfAttention& attn_;
  LayerNorm& norm2_;
  FeedForward& ff_;
  AdaNorm& norm_out_;
};

class HunyuanVideoTokenRefiner : public Module {
 public:
  HunyuanVideoTokenRefiner(int64_t in_channels, int64_t heads, int64_t head_dim, int64_t num_layers);
  // text [B, L, in_channels], timestep [B], mask [B, L] (nonzero = valid) -> [B, L, C].
  at::Tensor forward(const at::Tensor& text, const at::Tensor& timestep, const at::Tensor& mask) const;

 private:
  class Blocks : public Module {
   public:
    Blocks() : refiner_blocks(register_module("refiner_blocks", std::make_unique<ModuleList<HunyuanVideoIndividualTokenRefinerBlock>>())) {}
    ModuleList<HunyuanVideoIndividualTokenRefinerBlock>& refiner_blocks;
  };
  CombinedTimestepTextProjEmbeddings& time_text_embed_;
  Linear& proj_in_;
  Blocks& token_refiner_;
};

}  // namespace ditstream::model::hunyuan_video
