// transformers' CLIPTextModel (models/clip/modeling_clip.py): token + position embeddings,
// pre-norm encoder layers with causal self-attention and a quick-GELU MLP, a final LayerNorm, and
// the pooled output taken at the EOS token (the first `eos_token_id` in each row, or the largest
// id when the config's eos_token_id is 2, as transformers keeps for old CLIP configs).
#pragma once

#include <ATen/Tensor.h>

#include "core/io/config_reader.h"
#include "core/model/module.h"
#include "core/model/layers.h"
#include "core/model/text/embedding.h"

namespace ditstream::text {

struct ClipTextConfig {
  int64_t vocab_size = 49408;
  int64_t hidden_size = 768;
  int64_t intermediate_size = 3072;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 12;
  int64_t max_position_embeddings = 77;
  double layer_norm_eps = 1e-5;
  int64_t eos_token_id = 2;
  bool quick_gelu = true;  // hidden_act "quick_gelu" (else "gelu")

  static ClipTextConfig from_config(const io::ConfigReader& config);
  void validate() const;
};

class ClipAttention : public model::Module {
 public:
  explicit ClipAttention(const ClipTextConfig& config);
  // x: [B, L, hidden], causal.
  at::Tensor forward(const at::Tensor& x) const;
  std::vector<model::Linear*> linears() { return {&q_proj, &k_proj, &v_proj, &out_proj}; }

 private:
  int64_t heads_;
  int64_t head_dim_;

 public:
  model::Linear& q_proj;
  model::Linear& k_proj;
  model::Linear& v_proj;
  model::Linear& out_proj;
};

class ClipMLP : public model::Module {
 public:
  explicit ClipMLP(const ClipTextConfig& config);
  at::Tensor forward(const at::Tensor& x) const;

 private:
  bool quick_gelu_;

 public:
  model::Linear& fc1;
  model::Linear& fc2;
};

class ClipEncoderLayer : public model::Module {
 public:
  explicit ClipEncoderLayer(const ClipTextConfig& config);
  at::Tensor forward(const at::Tensor& x) const;

  ClipAttention& self_attn;
  model::LayerNorm& layer_norm1;
  ClipMLP& mlp;
  model::LayerNorm& layer_norm2;
};

class ClipEncoder : public model::Module {
 public:
  explicit ClipEncoder(const ClipTextConfig& config);
  model::ModuleList<ClipEncoderLayer>& layers;
};

class ClipTextEmbeddings : public model::Module {
 public:
  explicit ClipTextEmbeddings(const ClipTextConfig& config);
  Embedding& token_embedding;
  Embedding& position_embedding;
};

struct ClipTextOutput {
  at::Tensor last_hidden_state;  // [B, L, hidden]
  at::Tensor pooler_output;      // [B, hidden]
};

class ClipTextModel : public model::Module {
 public:
  explicit ClipTextModel(ClipTextConfig config);
  const ClipTextConfig& config() const { return config_; }

  // input_ids: [B, L] integer with L <= max_position_embeddings.
  ClipTextOutput forward(const at::Tensor& input_ids) const;
  void quantize_fp8();

 private:
  ClipTextConfig config_;

 public:
  ClipTextEmbeddings& embeddings;
  ClipEncoder& encoder;
  model::LayerNorm& final_layer_norm;
};

}  // namespace ditstream::text
