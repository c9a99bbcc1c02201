#include "core/model/text/llama_encoder.h"

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <cmath>

#include "core/util/error.h"

namespace ditstream::text {
namespace {

// x: [B, H, L, D] → x·cos + rotate_half(x)·sin with rotate_half(x) = cat(-x2, x1).
at::Tensor apply_rotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  const at::Tensor rotated = at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * cos + rotated * sin;
}

// transformers' modeling_rope_utils: the default inverse frequencies, then the chosen scaling.
at::Tensor inverse_frequencies(const LlamaConfig& c) {
  const int64_t dim = c.head_dim;
  at::Tensor inv_freq =
      1.0 / at::pow(c.rope_theta, at::arange(0, dim, 2, at::kLong).to(at::kFloat) / static_cast<double>(dim));
  if (c.rope_type == "linear") return inv_freq / c.rope_factor;
  if (c.rope_type != "llama3") return inv_freq;
  const double old_len = static_cast<double>(c.rope_original_max_position_embeddings);
  const double low_wavelen = old_len / c.rope_low_freq_factor;
  const double high_wavelen = old_len / c.rope_high_freq_factor;
  const at::Tensor wavelen = 2 * M_PI / inv_freq;
  at::Tensor scaled = at::where(wavelen > low_wavelen, inv_freq / c.rope_factor, inv_freq);
  const at::Tensor smooth = (old_len / wavelen - c.rope_low_freq_factor) / (c.rope_high_freq_factor - c.rope_low_freq_factor);
  const at::Tensor smoothed = (1 - smooth) * scaled / c.rope_factor + smooth * scaled;
  const at::Tensor medium = at::logical_not(wavelen < high_wavelen) * at::logical_not(wavelen > low_wavelen);
  return at::where(medium, smoothed, scaled);
}

}  // namespace

LlamaConfig LlamaConfig::from_config(const io::ConfigReader& r) {
  LlamaConfig c;
  c.vocab_size = r.get_int("vocab_size");
  c.hidden_size = r.get_int("hidden_size");
  c.intermediate_size = r.get_int("intermediate_size");
  c.num_hidden_layers = r.get_int("num_hidden_layers");
  c.num_attention_heads = r.get_int("num_attention_heads");
  c.num_key_value_heads = r.get_int("num_key_value_heads", c.num_attention_heads);
  if (c.num_attention_heads <= 0) r.fail("num_attention_heads", "must be positive");
  c.head_dim = r.get_int("head_dim", c.hidden_size / c.num_attention_heads);
  c.rms_norm_eps = r.get_double("rms_norm_eps", 1e-6);
  c.attention_bias = r.get_bool("attention_bias", false);
  c.mlp_bias = r.get_bool("mlp_bias", false);
  const std::string act = r.get_string("hidden_act", "silu");
  if (act != "silu") r.fail("hidden_act", "is '" + act + "'; the encoder implements 'silu'");
  nlohmann::json rope = nlohmann::json::object();
  if (r.has("rope_parameters")) {
    rope = r.raw("rope_parameters");
  } else if (r.has("rope_scaling")) {
    rope = r.raw("rope_scaling");
  }
  if (!rope.is_object()) r.fail("rope_parameters", "must be an object");
  c.rope_theta = rope.contains("rope_theta") ? rope.at("rope_theta").get<double>() : r.get_double("rope_theta", 10000.0);
  c.rope_type = rope.value("rope_type", rope.value("type", std::string("default")));
  if (c.rope_type == "linear" || c.rope_type == "llama3") {
    if (!rope.contains("factor")) r.fail("rope_parameters.factor", "is required for rope_type " + c.rope_type);
    c.rope_factor = rope.at("factor").get<double>();
  }
  if (c.rope_type == "llama3") {
    for (const char* key : {"low_freq_factor", "high_freq_factor", "original_max_position_embeddings"}) {
      if (!rope.contains(key)) r.fail(std::string("rope_parameters.") + key, "is required for rope_type llama3");
    }
    c.rope_low_freq_factor = rope.at("low_freq_factor").get<double>();
    c.rope_high_freq_factor = rope.at("high_freq_factor").get<double>();
    c.rope_original_max_position_embeddings = rope.at("original_max_position_embeddings").get<int64_t>();
  }
  if (c.rope_type != "default" && c.rope_type != "linear" && c.rope_type != "llama3") {
    r.fail("rope_parameters.rope_type", "is '" + c.rope_type + "'; supported: default, linear, llama3");
  }
  c.validate();
  return c;
}

void LlamaConfig::validate() const {
  const char* ctx = "[llama config]";
  require(vocab_size > 0 && hidden_size > 0 && intermediate_size > 0 && num_hidden_layers > 0, ctx, "sizes",
          "vocab_size, hidden_size, intermediate_size and num_hidden_layers must be positive");
  require(num_attention_heads > 0 && num_key_value_heads > 0 && num_attention_heads % num_key_value_heads == 0, ctx,
          "num_key_value_heads",
          std::to_string(num_key_value_heads) + " must divide num_attention_heads " + std::to_string(num_attention_heads));
  require(head_dim > 0 && head_dim % 2 == 0, ctx, "head_dim", "must be positive and even, got " + std::to_string(head_dim));
  require(rope_theta > 0 && rope_factor > 0, ctx, "rope_theta", "rope_theta and factor must be positive");
}

LlamaAttention::LlamaAttention(const LlamaConfig& c)
    : heads_(c.num_attention_heads),
      kv_heads_(c.num_key_value_heads),
      head_dim_(c.head_dim),
      q_proj(register_module("q_proj", std::make_unique<model::Linear>(c.hidden_size, c.num_attention_heads * c.head_dim, c.attention_bias))),
      k_proj(register_module("k_proj", std::make_unique<model::Linear>(c.hidden_size, c.num_key_value_heads * c.head_dim, c.attention_bias))),
      v_proj(register_module("v_proj", std::make_unique<model::Linear>(c.hidden_size, c.num_key_value_heads * c.head_dim, c.attention_bias))),
      o_proj(register_module("o_proj", std::make_unique<model::Linear>(c.num_attention_heads * c.head_dim, c.hidden_size, c.attention_bias))) {}

at::Tensor LlamaAttention::forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                   const at::Tensor& mask) const {
  const int64_t b = x.size(0);
  const int64_t l = x.size(1);
  at::Tensor q = q_proj.forward(x).view({b, l, heads_, head_dim_}).transpose(1, 2);     // [B, H, L, D]
  at::Tensor k = k_proj.forward(x).view({b, l, kv_heads_, head_dim_}).transpose(1, 2);  // [B, Hkv, L, D]
  at::Tensor v = v_proj.forward(x).view({b, l, kv_heads_, head_dim_}).transpose(1, 2);  // [B, Hkv, L, D]
  q = apply_rotary(q, cos, sin);
  k = apply_rotary(k, cos, sin);
  if (kv_heads_ != heads_) {
    // Query head h reads key/value head h / (H / Hkv), as transformers' repeat_kv.
    k = k.repeat_interleave(heads_ / kv_heads_, 1);  // [B, H, L, D]
    v = v.repeat_interleave(heads_ / kv_heads_, 1);  // [B, H, L, D]
  }
  at::Tensor out = at::scaled_dot_product_attention(q, k, v, mask);  // [B, H, L, D]
  out = out.transpose(1, 2).reshape({b, l, heads_ * head_dim_});     // [B, L, H*D]
  return o_proj.forward(out);
}

LlamaMLP::LlamaMLP(const LlamaConfig& c)
    : gate_proj(register_module("gate_proj", std::make_unique<model::Linear>(c.hidden_size, c.intermediate_size, c.mlp_bias))),
      up_proj(register_module("up_proj", std::make_unique<model::Linear>(c.hidden_size, c.intermediate_size, c.mlp_bias))),
      down_proj(register_module("down_proj", std::make_unique<model::Linear>(c.intermediate_size, c.hidden_size, c.mlp_bias))) {}

at::Tensor LlamaMLP::forward(const at::Tensor& x) const {
  return down_proj.forward(at::silu(gate_proj.forward(x)) * up_proj.forward(x));
}

LlamaDecoderLayer::LlamaDecoderLayer(const LlamaConfig& c)
    : input_layernorm(register_module("input_layernorm", std::make_unique<model::RMSNorm>(c.hidden_size, c.rms_norm_eps))),
      self_attn(register_module("self_attn", std::make_unique<LlamaAttention>(c))),
      post_attention_layernorm(
          register_module("post_attention_layernorm", std::make_unique<model::RMSNorm>(c.hidden_size, c.rms_norm_eps))),
      mlp(register_module("mlp", std::make_unique<LlamaMLP>(c))) {}

at::Tensor LlamaDecoderLayer::forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                      const at::Tensor& mask) const {
  at::Tensor h = x + self_attn.forward(input_layernorm.forward(x), cos, sin, mask);
  return h + mlp.forward(post_attention_layernorm.forward(h));
}

LlamaModel::LlamaModel(LlamaConfig config)
    : config_((config.validate(), std::move(config))),
      inv_freq_(inverse_frequencies(config_)),
      embed_tokens(register_module("embed_tokens", std::make_unique<Embedding>(config_.vocab_size, config_.hidden_size))),
      layers(register_module("layers", std::make_unique<model::ModuleList<LlamaDecoderLayer>>())),
      norm(register_module("norm", std::make_unique<model::RMSNorm>(config_.hidden_size, config_.rms_norm_eps))) {
  for (int64_t i = 0; i < config_.num_hidden_layers; ++i) layers.push_back(std::make_unique<LlamaDecoderLayer>(config_));
}

at::Tensor LlamaModel::forward(const at::Tensor& input_ids, const at::Tensor& attention_mask, int64_t skip_last) const {
  const char* ctx = "[llama encoder]";
  require(input_ids.dim() == 2, ctx, "input_ids", "must be [batch, length]");
  require(attention_mask.sizes() == input_ids.sizes(), ctx, "attention_mask", "must have input_ids' shape [batch, length]");
  require(skip_last >= 0 && skip_last <= config_.num_hidden_layers, ctx, "skip_last",
          "must be in 0.." + std::to_string(config_.num_hidden_layers) + ", got " + std::to_string(skip_last));
  at::Tensor h = embed_tokens.forward(input_ids);  // [B, L, hidden]
  const auto device = h.device();
  const int64_t l = input_ids.size(1);

  // Rotary tables in float32, cast to the activations' dtype as transformers does.
  const at::Tensor positions = at::arange(l, at::TensorOptions().device(device).dtype(at::kFloat));
  const at::Tensor freqs = positions.unsqueeze(1) * inv_freq_.to(device).unsqueeze(0);  // [L, D/2]
  const at::Tensor emb = at::cat({freqs, freqs}, -1);                                 // [L, D]
  const at::Tensor cos = emb.cos().to(h.scalar_type());
  const at::Tensor sin = emb.sin().to(h.scalar_type());

  // Query i attends key j when j <= i and j is a token: [B, 1, L, L].
  const at::Tensor causal = at::ones({l, l}, at::TensorOptions().device(device).dtype(at::kBool)).tril();
  const at::Tensor keys = attention_mask.to(device).to(at::kBool).view({-1, 1, 1, l});
  const at::Tensor mask = at::logical_and(causal.view({1, 1, l, l}), keys);

  // hidden_states = (embeddings, layer 1, ..., layer n-1, norm(layer n)).
  const int64_t run = config_.num_hidden_layers - skip_last;
  for (int64_t i = 0; i < run; ++i) h = layers[static_cast<size_t>(i)].forward(h, cos, sin, mask);
  return skip_last == 0 ? norm.forward(h) : h;
}

void LlamaModel::quantize_fp8() {
  std::vector<model::Linear*> all;
  for (auto* layer : layers) {
    for (model::Linear* l : layer->self_attn.linears()) all.push_back(l);
    for (model::Linear* l : layer->mlp.linears()) all.push_back(l);
  }
  for (model::Linear* l : all) l->quantize_fp8();
}

}  // namespace ditstream::text
