// transformers' LlamaModel (models/llama/modeling_llama.py) as a text encoder: token embedding,
// decoder layers with RMSNorm, rotary embeddings (default, linear or llama3 scaling), grouped-query
// attention under a causal + padding mask, SwiGLU MLP. It returns one hidden state counted from the
// end, as `output_hidden_states=True` gives them: hidden_states[-(k+1)] for k = `skip_last`
// (HunyuanVideo takes k = 2); layers after the requested one are not run. model::RMSNorm computes
// what LlamaRMSNorm does (float32 statistics, the scale applied in the weights' dtype).
#pragma once

#include <ATen/Tensor.h>

#include <memory>
#include <string>
#include <vector>

#include "core/io/config_reader.h"
#include "core/model/module.h"
#include "core/model/layers.h"
#include "core/model/text/embedding.h"

namespace ditstream::text {

struct LlamaConfig {
  int64_t vocab_size = 128256;
  int64_t hidden_size = 4096;
  int64_t intermediate_size = 14336;
  int64_t num_hidden_layers = 32;
  int64_t num_attention_heads = 32;
  int64_t num_key_value_heads = 8;
  int64_t head_dim = 128;
  double rms_norm_eps = 1e-5;
  bool attention_bias = false;
  bool mlp_bias = false;
  // Rotary embedding: "default", "linear" (factor) or "llama3" (factor, low/high_freq_factor,
  // original_max_position_embeddings).
  std::string rope_type = "default";
  double rope_theta = 500000.0;
  double rope_factor = 1.0;
  double rope_low_freq_factor = 1.0;
  double rope_high_freq_factor = 4.0;
  int64_t rope_original_max_position_embeddings = 8192;

  // Reads config.json in either layout transformers writes: `rope_parameters` (5.x) or
  // `rope_theta` + `rope_scaling` (4.x).
  static LlamaConfig from_config(const io::ConfigReader& config);
  void validate() const;
};

class LlamaAttention : public model::Module {
 public:
  explicit LlamaAttention(const LlamaConfig& config);
  // x: [B, L, hidden]; cos/sin: [L, head_dim]; mask: [B, 1, L, L] bool (true = attend).
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& mask) const;
  std::vector<model::Linear*> linears() { return {&q_proj, &k_proj, &v_proj, &o_proj}; }

 private:
  int64_t heads_;
  int64_t kv_heads_;
  int64_t head_dim_;

 public:
  model::Linear& q_proj;
  model::Linear& k_proj;
  model::Linear& v_proj;
  model::Linear& o_proj;
};

class LlamaMLP : public model::Module {
 public:
  explicit LlamaMLP(const LlamaConfig& config);
  at::Tensor forward(const at::Tensor& x) const;
  std::vector<model::Linear*> linears() { return {&gate_proj, &up_proj, &down_proj}; }

  model::Linear& gate_proj;
  model::Linear& up_proj;
  model::Linear& down_proj;
};

class LlamaDecoderLayer : public model::Module {
 public:
  explicit LlamaDecoderLayer(const LlamaConfig& config);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& mask) const;

  model::RMSNorm& input_layernorm;
  LlamaAttention& self_attn;
  model::RMSNorm& post_attention_layernorm;
  LlamaMLP& mlp;
};

class LlamaModel : public model::Module {
 public:
  explicit LlamaModel(LlamaConfig config);
  const LlamaConfig& config() const { return config_; }

  // input_ids: [B, L] integer; attention_mask: [B, L] (1 = token, 0 = padding).
  // Returns hidden_states[-(skip_last + 1)]: [B, L, hidden] in the weights' dtype.
  at::Tensor forward(const at::Tensor& input_ids, const at::Tensor& attention_mask, int64_t skip_last) const;

  // Projection weights to fp8 e4m3 with per-channel scales (model::Linear::quantize_fp8; embeddings
  // and norms stay). Projection sizes must be multiples of 16.
  void quantize_fp8();

 private:
  LlamaConfig config_;
  at::Tensor inv_freq_;  // [head_dim / 2] float32

 public:
  Embedding& embed_tokens;
  model::ModuleList<LlamaDecoderLayer>& layers;
  model::RMSNorm& norm;
};

}  // namespace ditstream::text
