#include "core/model/text/clip_text_encoder.h"

#include <ATen/ATen.h>

#include "core/util/error.h"

namespace ditstream::text {

ClipTextConfig ClipTextConfig::from_config(const io::ConfigReader& r) {
  ClipTextConfig c;
  c.vocab_size = r.get_int("vocab_size");
  c.hidden_size = r.get_int("hidden_size");
  c.intermediate_size = r.get_int("intermediate_size");
  c.num_hidden_layers = r.get_int("num_hidden_layers");
  c.num_attention_heads = r.get_int("num_attention_heads");
  c.max_position_embeddings = r.get_int("max_position_embeddings", 77);
  c.layer_norm_eps = r.get_double("layer_norm_eps", 1e-5);
  c.eos_token_id = r.get_int("eos_token_id", 2);
  const std::string act = r.get_string("hidden_act", "quick_gelu");
  if (act != "quick_gelu" && act != "gelu") r.fail("hidden_act", "is '" + act + "'; supported: quick_gelu, gelu");
  c.quick_gelu = act == "quick_gelu";
  c.validate();
  return c;
}

void ClipTextConfig::validate() const {
  const char* ctx = "[clip text config]";
  require(vocab_size > 0 && hidden_size > 0 && intermediate_size > 0 && num_hidden_layers > 0 &&
              max_position_embeddings > 0,
          ctx, "sizes", "vocab_size, hidden_size, intermediate_size, layers and positions must be positive");
  require(num_attention_heads > 0 && hidden_size % num_attention_heads == 0, ctx, "num_attention_heads",
          std::to_string(num_attention_heads) + " must divide hidden_size " + std::to_string(hidden_size));
}

ClipAttention::ClipAttention(const ClipTextConfig& c)
    : heads_(c.num_attention_heads),
      head_dim_(c.hidden_size / c.num_attention_heads),
      q_proj(register_module("q_proj", std::make_unique<model::Linear>(c.hidden_size, c.hidden_size, true))),
      k_proj(register_module("k_proj", std::make_unique<model::Linear>(c.hidden_size, c.hidden_size, true))),
      v_proj(register_module("v_proj", std::make_unique<model::Linear>(c.hidden_size, c.hidden_size, true))),
      out_proj(register_module("out_proj", std::make_unique<model::Linear>(c.hidden_size, c.hidden_size, true))) {}

at::Tensor ClipAttention::forward(const at::Tensor& x) const {
  const int64_t b = x.size(0);
  const int64_t l = x.size(1);
  const at::Tensor q = q_proj.forward(x).view({b, l, heads_, head_dim_}).transpose(1, 2);  // [B, H, L, D]
  const at::Tensor k = k_proj.forward(x).view({b, l, heads_, head_dim_}).transpose(1, 2);  // [B, H, L, D]
  const at::Tensor v = v_proj.forward(x).view({b, l, heads_, head_dim_}).transpose(1, 2);  // [B, H, L, D]
  at::Tensor out = at::scaled_dot_product_attention(q, k, v, std::nullopt, 0.0, /*is_causal=*/true);
  out = out.transpose(1, 2).reshape({b, l, heads_ * head_dim_});  // [B, L, hidden]
  return out_proj.forward(out);
}

ClipMLP::ClipMLP(const ClipTextConfig& c)
    : quick_gelu_(c.quick_gelu),
      fc1(register_module("fc1", std::make_unique<model::Linear>(c.hidden_size, c.intermediate_size, true))),
      fc2(register_module("fc2", std::make_unique<model::Linear>(c.intermediate_size, c.hidden_size, true))) {}

at::Tensor ClipMLP::forward(const at::Tensor& x) const {
  const at::Tensor h = fc1.forward(x);
  return fc2.forward(quick_gelu_ ? h * at::sigmoid(1.702 * h) : at::gelu(h));
}

ClipEncoderLayer::ClipEncoderLayer(const ClipTextConfig& c)
    : self_attn(register_module("self_attn", std::make_unique<ClipAttention>(c))),
      layer_norm1(register_module("layer_norm1", std::make_unique<model::LayerNorm>(c.hidden_size, c.layer_norm_eps, true))),
      mlp(register_module("mlp", std::make_unique<ClipMLP>(c))),
      layer_norm2(register_module("layer_norm2", std::make_unique<model::LayerNorm>(c.hidden_size, c.layer_norm_eps, true))) {}

at::Tensor ClipEncoderLayer::forward(const at::Tensor& x) const {
  const at::Tensor h = x + self_attn.forward(layer_norm1.forward(x));
  return h + mlp.forward(layer_norm2.forward(h));
}

ClipEncoder::ClipEncoder(const ClipTextConfig& c)
    : layers(register_module("layers", std::make_unique<model::ModuleList<ClipEncoderLayer>>())) {
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) layers.push_back(std::make_unique<ClipEncoderLayer>(c));
}

ClipTextEmbeddings::ClipTextEmbeddings(const ClipTextConfig& c)
    : token_embedding(register_module("token_embedding", std::make_unique<Embedding>(c.vocab_size, c.hidden_size))),
      position_embedding(
          register_module("position_embedding", std::make_unique<Embedding>(c.max_position_embeddings, c.hidden_size))) {}

ClipTextModel::ClipTextModel(ClipTextConfig config)
    : config_((config.validate(), std::move(config))),
      embeddings(register_module("embeddings", std::make_unique<ClipTextEmbeddings>(config_))),
      encoder(register_module("encoder", std::make_unique<ClipEncoder>(config_))),
      final_layer_norm(register_module("final_layer_norm", std::make_unique<model::LayerNorm>(config_.hidden_size, config_.layer_norm_eps, true))) {}

ClipTextOutput ClipTextModel::forward(const at::Tensor& input_ids) const {
  const char* ctx = "[clip text encoder]";
  require(input_ids.dim() == 2 && input_ids.size(1) >= 1, ctx, "input_ids", "must be [batch, length]");
  const int64_t l = input_ids.size(1);
  require(l <= config_.max_position_embeddings, ctx, "input_ids",
          "length " + std::to_string(l) + " is over max_position_embeddings " + std::to_string(config_.max_position_embeddings));
  at::Tensor h = embeddings.token_embedding.forward(input_ids);  // [B, L, hidden]
  const at::Tensor positions = at::arange(l, at::TensorOptions().device(h.device()).dtype(at::kLong));
  h = h + embeddings.position_embedding.forward(positions).unsqueeze(0);
  for (auto* layer : encoder.layers) h = layer->forward(h);
  h = final_layer_norm.forward(h);

  const at::Tensor ids = input_ids.to(h.device()).to(at::kInt);
  const at::Tensor eos_index =
      config_.eos_token_id == 2 ? ids.argmax(-1) : ids.eq(config_.eos_token_id).to(at::kInt).argmax(-1);  // [B]
  const at::Tensor rows = at::arange(h.size(0), at::TensorOptions().device(h.device()).dtype(at::kLong));
  return {h, h.index({rows, eos_index})};
}

void ClipTextModel::quantize_fp8() {
  std::vector<model::Linear*> all;
  for (auto* layer : encoder.layers) {
    for (model::Linear* l : layer->self_attn.linears()) all.push_back(l);
    all.push_back(&layer->mlp.fc1);
    all.push_back(&layer->mlp.fc2);
  }
  for (model::Linear* l : all) l->quantize_fp8();
}

}  // namespace ditstream::text
