#include "core/model/hunyuan_video/token_refiner.h"

#include <ATen/ATen.h>

namespace ditstream::model::hunyuan_video {

// diffusers builds the refiner with its default MLP ratio, whatever the model's mlp_ratio is.
constexpr double kRefinerMlpRatio = 4.0;
constexpr double kEps = 1e-6;

HunyuanVideoIndividualTokenRefinerBlock::SelfAttention::SelfAttention(int64_t heads, int64_t dim)
    : heads_(heads),
      to_q_(register_module("to_q", std::make_unique<Linear>(dim, dim))),
      to_k_(register_module("to_k", std::make_unique<Linear>(dim, dim))),
      to_v_(register_module("to_v", std::make_unique<Linear>(dim, dim))) {
  auto& to_out = register_module("to_out", std::make_unique<ModuleList<Linear>>());
  to_out_ = &to_out.push_back(std::make_unique<Linear>(dim, dim));
}

at::Tensor HunyuanVideoIndividualTokenRefinerBlock::SelfAttention::forward(const at::Tensor& x,
                                                                           const at::Tensor& mask) const {
  const int64_t batch = x.size(0);
  const auto heads = [&](const at::Tensor& t) { return t.view({batch, -1, heads_, t.size(2) / heads_}).transpose(1, 2); };
  const at::Tensor q = heads(to_q_.forward(x));  // [B, H, L, D]
  const at::Tensor k = heads(to_k_.forward(x));
  const at::Tensor v = heads(to_v_.forward(x));
  const at::Tensor out = at::scaled_dot_product_attention(q, k, v, mask);  // [B, H, L, D]
  return to_out_->forward(out.transpose(1, 2).reshape({batch, -1, q.size(1) * q.size(3)}).to(q.scalar_type()));
}

HunyuanVideoIndividualTokenRefinerBlock::AdaNorm::AdaNorm(int64_t dim)
    : linear_(register_module("linear", std::make_unique<Linear>(dim, 2 * dim))) {}

std::pair<at::Tensor, at::Tensor> HunyuanVideoIndividualTokenRefinerBlock::AdaNorm::forward(const at::Tensor& temb) const {
  const auto c = linear_.forward(at::silu(temb)).chunk(2, 1);  // 2 × [B, C]
  return {c[0].unsqueeze(1), c[1].unsqueeze(1)};
}

HunyuanVideoIndividualTokenRefinerBlock::HunyuanVideoIndividualTokenRefinerBlock(int64_t heads, int64_t head_dim,
                                                                                 double mlp_ratio)
    : norm1_(register_module("norm1", std::make_unique<LayerNorm>(heads * head_dim, kEps, true))),
      attn_(register_module("attn", std::make_unique<SelfAttention>(heads, heads * head_dim))),
      norm2_(register_module("norm2", std::make_unique<LayerNorm>(heads * head_dim, kEps, true))),
      ff_(register_module("ff", std::make_unique<FeedForward>(
                                     heads * head_dim, static_cast<int64_t>(static_cast<double>(heads * head_dim) * mlp_ratio),
                                     Activation::silu))),
      norm_out_(register_module("norm_out", std::make_unique<AdaNorm>(heads * head_dim))) {}

at::Tensor HunyuanVideoIndividualTokenRefinerBlock::forward(const at::Tensor& x, const at::Tensor& temb,
                                                            const at::Tensor& mask) const {
  const at::Tensor attn = attn_.forward(norm1_.forward(x), mask);
  const auto [gate_msa, gate_mlp] = norm_out_.forward(temb);  // [B, 1, C]
  const at::Tensor h = x + attn * gate_msa;
  return h + ff_.forward(norm2_.forward(h)) * gate_mlp;
}

HunyuanVideoTokenRefiner::HunyuanVideoTokenRefiner(int64_t in_channels, int64_t heads, int64_t head_dim,
                                                   int64_t num_layers)
    : time_text_embed_(register_module("time_text_embed",
                                       std::make_unique<CombinedTimestepTextProjEmbeddings>(heads * head_dim, in_channels))),
      proj_in_(register_module("proj_in", std::make_unique<Linear>(in_channels, heads * head_dim))),
      token_refiner_(register_module("token_refiner", std::make_unique<Blocks>())) {
  for (int64_t i = 0; i < num_layers; ++i) {
    token_refiner_.refiner_blocks.push_back(
        std::make_unique<HunyuanVideoIndividualTokenRefinerBlock>(heads, head_dim, kRefinerMlpRatio));
  }
}

at::Tensor HunyuanVideoTokenRefiner::forward(const at::Tensor& text, const at::Tensor& timestep,
                                             const at::Tensor& mask) const {
  const at::Tensor valid = mask.to(text.device()).ne(0);                          // [B, L] bool
  const at::Tensor weights = valid.to(at::kFloat).unsqueeze(-1);                  // [B, L, 1]
  const at::Tensor pooled = ((text * weights).sum(1) / weights.sum(1)).to(text.scalar_type());  // [B, in]
  const at::Tensor temb = time_text_embed_.forward(timestep, pooled);
  at::Tensor h = proj_in_.forward(text);                                          // [B, L, C]

  // Token i may attend to token j when both are valid; column 0 is always open so that no row of
  // the softmax is empty.
  const int64_t batch = valid.size(0), length = valid.size(1);
  at::Tensor attn_mask = valid.view({batch, 1, 1, length}) & valid.view({batch, 1, length, 1});  // [B, 1, L, L]
  attn_mask.select(3, 0).fill_(true);
  for (auto& block : token_refiner_.refiner_blocks) h = block->forward(h, temb, attn_mask);
  return h;
}

}  // namespace ditstream::model::hunyuan_video
