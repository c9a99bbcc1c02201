#include "core/model/hunyuan_video/transformer.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <sstream>

#include "core/io/diffusers_folder.h"
#include "core/kernels/fp8_attention.h"
#include "core/util/error.h"

namespace ditstream::model::hunyuan_video {
namespace {

constexpr std::string_view kContext = "HunyuanVideoTransformer3DModel";

std::string shape_text(c10::IntArrayRef shape) {
  std::ostringstream s;
  s << shape;
  return s.str();
}

std::string dtype_text(at::ScalarType t) { return c10::toString(t); }

}  // namespace

std::unique_ptr<HunyuanVideoTransformer3DModel> HunyuanVideoTransformer3DModel::from_folder(
    const io::DiffusersFolder& folder, const LoadOptions& options) {
  auto config = HunyuanVideoTransformerConfig::from_config(folder.config("transformer"));
  auto model = std::make_unique<HunyuanVideoTransformer3DModel>(std::move(config));
  model->load(folder.weights("transformer"), options);
  model->prepare();
  return model;
}

HunyuanVideoTransformer3DModel::HunyuanVideoTransformer3DModel(HunyuanVideoTransformerConfig config)
    : config_((config.validate(), std::move(config))),
      x_embedder_(register_module("x_embedder",
                                  std::make_unique<HunyuanVideoPatchEmbed>(
                                      std::array<int64_t, 3>{config_.patch_size_t, config_.patch_size, config_.patch_size},
                                      config_.in_channels, config_.inner_dim()))),
      context_embedder_(register_module("context_embedder",
                                        std::make_unique<HunyuanVideoTokenRefiner>(
                                            config_.text_embed_dim, config_.num_attention_heads,
                                            config_.attention_head_dim, config_.num_refiner_layers))),
      time_text_embed_(register_module("time_text_embed", std::make_unique<HunyuanVideoConditionEmbedding>(
                                                              config_.inner_dim(), config_.pooled_projection_dim,
                                                              config_.guidance_embeds))),
      transformer_blocks_(
          register_module("transformer_blocks", std::make_unique<ModuleList<HunyuanVideoTransformerBlock>>())),
      single_transformer_blocks_(register_module(
          "single_transformer_blocks", std::make_unique<ModuleList<HunyuanVideoSingleTransformerBlock>>())),
      norm_out_(register_module("norm_out",
                                std::make_unique<AdaLayerNormContinuous>(config_.inner_dim(), config_.inner_dim(), 1e-6))),
      proj_out_(register_module("proj_out", std::make_unique<Linear>(config_.inner_dim(),
                                                                     config_.patch_size_t * config_.patch_size *
                                                                         config_.patch_size * config_.out_channels))) {
  for (int64_t i = 0; i < config_.num_layers; ++i) {
    transformer_blocks_.push_back(std::make_unique<HunyuanVideoTransformerBlock>(
        config_.num_attention_heads, config_.attention_head_dim, config_.mlp_dim()));
  }
  for (int64_t i = 0; i < config_.num_single_layers; ++i) {
    single_transformer_blocks_.push_back(std::make_unique<HunyuanVideoSingleTransformerBlock>(
        config_.num_attention_heads, config_.attention_head_dim, config_.mlp_dim()));
  }
}

void HunyuanVideoTransformer3DModel::validate(const TransformerInputs& in) {
  const auto fail = [](std::string_view field, const std::string& detail) { require(false, kContext, field, detail); };
  const at::Tensor& weight = proj_out_.weight();
  if (!weight.defined()) fail("weights", "the model has no weights: load() or init_random() it first");
  const auto dtype = weight.scalar_type();
  const auto device = weight.device();

  const auto check_tensor = [&](const at::Tensor& t, std::string_view field, int64_t dims, bool floating_same_dtype) {
    if (!t.defined()) fail(field, "is missing");
    if (t.dim() != dims) {
      fail(field, "has shape " + shape_text(t.sizes()) + ", expected " + std::to_string(dims) + " dimensions");
    }
    if (t.device() != device) fail(field, "is on " + t.device().str() + ", the weights are on " + device.str());
    if (floating_same_dtype && t.scalar_type() != dtype) {
      fail(field, "has dtype " + dtype_text(t.scalar_type()) + ", the weights are " + dtype_text(dtype) +
                      ": convert the input or load the weights in that dtype");
    }
  };
  check_tensor(in.hidden_states, "hidden_states", 5, true);
  check_tensor(in.encoder_hidden_states, "encoder_hidden_states", 3, true);
  check_tensor(in.pooled_projections, "pooled_projections", 2, true);
  check_tensor(in.timestep, "timestep", 1, false);

  const auto x = in.hidden_states.sizes();
  const int64_t batch = x[0];
  if (batch < 1) fail("hidden_states", "has batch size 0");
  if (x[1] != config_.in_channels) {
    fail("hidden_states", "has " + std::to_string(x[1]) + " channels (shape " + shape_text(x) + "), the model takes " +
                              std::to_string(config_.in_channels));
  }
  const std::array<std::pair<const char*, int64_t>, 3> axes = {
      {{"frames", config_.patch_size_t}, {"height", config_.patch_size}, {"width", config_.patch_size}}};
  for (int i = 0; i < 3; ++i) {
    const int64_t size = x[2 + i], patch = axes[i].second;
    if (size < 1 || size % patch != 0) {
      fail("hidden_states", std::string("latent ") + axes[i].first + " is " + std::to_string(size) +
                                ", must be a positive multiple of the patch size " + std::to_string(patch));
    }
  }
  const auto text = in.encoder_hidden_states.sizes();
  if (text[0] != batch || text[2] != config_.text_embed_dim || text[1] < 1) {
    fail("encoder_hidden_states", "has shape " + shape_text(text) + ", expected [" + std::to_string(batch) +
                                      ", L >= 1, " + std::to_string(config_.text_embed_dim) + "]");
  }
  const auto pooled = in.pooled_projections.sizes();
  if (pooled[0] != batch || pooled[1] != config_.pooled_projection_dim) {
    fail("pooled_projections", "has shape " + shape_text(pooled) + ", expected [" + std::to_string(batch) + ", " +
                                   std::to_string(config_.pooled_projection_dim) + "]");
  }
  if (in.timestep.size(0) != batch) {
    fail("timestep", "has shape " + shape_text(in.timestep.sizes()) + ", expected [" + std::to_string(batch) + "]");
  }
  if (config_.guidance_embeds) {
    if (!in.guidance) fail("guidance", "is missing; this model embeds guidance (guidance_embeds is true)");
    check_tensor(*in.guidance, "guidance", 1, false);
    if (in.guidance->size(0) != batch) {
      fail("guidance", "has shape " + shape_text(in.guidance->sizes()) + ", expected [" + std::to_string(batch) + "]");
    }
  } else if (in.guidance) {
    fail("guidance", "was given, but this model has no guidance embedding (guidance_embeds is false)");
  }
  const at::Tensor& mask = in.encoder_attention_mask;
  if (!mask.defined()) fail("encoder_attention_mask", "is missing");
  if (mask.dim() != 2 || mask.size(0) != batch || mask.size(1) != text[1]) {
    fail("encoder_attention_mask", "has shape " + shape_text(mask.sizes()) + ", expected [" + std::to_string(batch) +
                                       ", " + std::to_string(text[1]) + "]");
  }
  if (mask.device() != device && !mask.device().is_cpu()) {
    fail("encoder_attention_mask", "is on " + mask.device().str() + ", expected the CPU or " + device.str());
  }
}

void HunyuanVideoTransformer3DModel::prepare() {
  // Cheap when nothing changed: each fused projection checks that its parts still view it.
  for (auto* block : transformer_blocks_) block->fuse_projections();
  for (auto* block : single_transformer_blocks_) block->fuse_projections();
}

void HunyuanVideoTransformer3DModel::set_mlp_token_block(int64_t tokens) {
  require(tokens >= 1, "transformer", "mlp_token_block", std::to_string(tokens) + " must be at least 1");
  mlp_token_block_ = tokens;
}

void HunyuanVideoTransformer3DModel::set_fp8_attention(bool on) {
  if (on) {
    std::string why;
    if (!kernels::fp8_attention_available(parameter_device(), &why)) {
      throw Error(ErrorKind::unavailable, "transformer", "fp8_attention", why);
    }
    require(parameter_dtype() == at::kBFloat16, "transformer", "fp8_attention", "needs bfloat16 weights (activations)");
  }
  fp8_attention_ = on;
}

void HunyuanVideoTransformer3DModel::quantize_fp8() {
  prepare();
  for (auto* block : transformer_blocks_) block->quantize_fp8();
  for (auto* block : single_transformer_blocks_) block->quantize_fp8();
}

HunyuanVideoTransformer3DModel::State HunyuanVideoTransformer3DModel::begin(const TransformerInputs& in) {
  validate(in);
  prepare();
  State s;
  const auto x = in.hidden_states.sizes();
  s.batch = x[0];
  s.grid = {x[2] / config_.patch_size_t, x[3] / config_.patch_size, x[4] / config_.patch_size};

  // Valid text lengths, read on the host (the mask is small and usually there already). As in
  // diffusers, sample b attends to its first sum(mask[b]) text tokens.
  const at::Tensor mask_cpu = in.encoder_attention_mask.to(at::kCPU).to(at::kFloat);
  const at::Tensor binary = mask_cpu.eq(0).logical_or(mask_cpu.eq(1)).all();
  require(binary.item<bool>(), kContext, "encoder_attention_mask", "must hold only 0 and 1");
  const at::Tensor counts = mask_cpu.sum(1).to(at::kLong);  // [B]
  for (int64_t b = 0; b < s.batch; ++b) {
    const int64_t n = counts[b].item<int64_t>();
    require(n > 0, kContext, "encoder_attention_mask",
            "sample " + std::to_string(b) + " has 0 valid text tokens, at least 1 is needed");
    s.text_lengths.push_back(n);
  }
  const int64_t text_len = *std::max_element(s.text_lengths.begin(), s.text_lengths.end());

  s.rope = rope_tables(s.grid, config_.rope_axes_dim, config_.rope_theta, in.hidden_states.device());
  s.temb = time_text_embed_.forward(in.timestep, in.pooled_projections, in.guidance);  // [B, C]
  s.video = x_embedder_.forward(in.hidden_states);                                       // [B, T'·H'·W', C]
  const at::Tensor text = context_embedder_.forward(in.encoder_hidden_states, in.timestep, in.encoder_attention_mask);
  s.text = text.narrow(1, 0, text_len);  // [B, Lt, C]
  return s;
}

void HunyuanVideoTransformer3DModel::run_first_block(State& s) {
  const BlockContext ctx{s.temb, s.rope, s.text_lengths, s.context_parallel, fp8_attention_, mlp_token_block_};
  std::tie(s.video, s.text) = transformer_blocks_[0].forward(s.video, s.text, ctx);
}

void HunyuanVideoTransformer3DModel::run_remaining_blocks(State& s) {
  const BlockContext ctx{s.temb, s.rope, s.text_lengths, s.context_parallel, fp8_attention_, mlp_token_block_};
  for (size_t i = 1; i < transformer_blocks_.size(); ++i) {
    std::tie(s.video, s.text) = transformer_blocks_[i].forward(s.video, s.text, ctx);
  }
  if (single_transformer_blocks_.size() == 0) return;
  const int64_t video_len = s.video.size(1);
  at::Tensor joint = at::cat({s.video, s.text}, 1);  // [B, Lv + Lt, C]
  for (auto* block : single_transformer_blocks_) joint = block->forward(std::move(joint), video_len, ctx);
  s.video = joint.narrow(1, 0, video_len);
  s.text = joint.narrow(1, video_len, joint.size(1) - video_len);
}

at::Tensor HunyuanVideoTransformer3DModel::finish(State& s) {
  const int64_t p = config_.patch_size, pt = config_.patch_size_t;
  const auto [t, h, w] = s.grid;
  at::Tensor out = proj_out_.forward(norm_out_.forward(s.video, s.temb));  // [B, T'·H'·W', pt·p·p·C]
  out = out.reshape({s.batch, t, h, w, -1, pt, p, p});                     // [B, T', H', W', C, pt, p, p]
  out = out.permute({0, 4, 1, 5, 2, 6, 3, 7});                             // [B, C, T', pt, H', p, W', p]
  return out.reshape({s.batch, config_.out_channels, t * pt, h * p, w * p});  // [B, C, T, H, W]
}

at::Tensor HunyuanVideoTransformer3DModel::forward(const TransformerInputs& inputs) {
  State state = begin(inputs);
  run_first_block(state);
  run_remaining_blocks(state);
  return finish(state);
}

}  // namespace ditstream::model::hunyuan_video
