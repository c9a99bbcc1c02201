// HunyuanVideoTransformer3DModel (diffusers transformer_hunyuan_video.py), text-to-video.
//
// The forward pass is exposed in stages so that step caches (First Block Cache) and context
// parallelism can work between them:
//   forward(x) == finish(run_remaining_blocks(run_first_block(begin(x))))
// State carries the video and text token streams; a cache policy may read or replace them.
#pragma once

#include <ATen/Tensor.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "core/model/hunyuan_video/blocks.h"
#include "core/model/hunyuan_video/config.h"
#include "core/model/hunyuan_video/embeddings.h"
#include "core/model/hunyuan_video/rope.h"
#include "core/model/hunyuan_video/token_refiner.h"
#include "core/model/layers.h"
#include "core/model/module.h"

namespace ditstream::io {
class DiffusersFolder;
}

namespace ditstream::model::hunyuan_video {

struct TransformerInputs {
  at::Tensor hidden_states;           // [B, C, T, H, W] latents
  at::Tensor timestep;                // [B]
  at::Tensor encoder_hidden_states;   // [B, L, text_embed_dim]
  at::Tensor encoder_attention_mask;  // [B, L], 1 = valid; on the CPU avoids a device sync
  at::Tensor pooled_projections;      // [B, pooled_projection_dim]
  std::optional<at::Tensor> guidance; // [B], already ×1000; required when guidance_embeds
};

class HunyuanVideoTransformer3DModel : public Module {
 public:
  struct State {
    at::Tensor video;                   // [B, T'·H'·W', C] video tokens
    at::Tensor text;                    // [B, Lt, C] text tokens, Lt = longest valid text in the batch
    at::Tensor temb;                    // [B, C] conditioning
    RopeTables rope;                    // [T'·H'·W', head_dim] each
    std::vector<int64_t> text_lengths;  // valid text tokens per sample (≤ Lt)
    std::array<int64_t, 3> grid{};      // post-patch (T', H', W')
    int64_t batch = 0;
    // Set by a context-parallel run (core/parallel/context_parallel_transformer.h): `video` and
    // `rope` then hold this rank's shard of the tokens.
    const parallel::ContextParallelAttention* context_parallel = nullptr;
  };

  // Reads `transformer/config.json`, loads `transformer/` weights with `options` and prepares the
  // runtime layout (prepare()).
  static std::unique_ptr<HunyuanVideoTransformer3DModel> from_folder(const io::DiffusersFolder& folder,
                                                                     const LoadOptions& options);
  explicit HunyuanVideoTransformer3DModel(HunyuanVideoTransformerConfig config);

  const HunyuanVideoTransformerConfig& config() const { return config_; }
  // Where the weights live and their dtype (after load() or init_random()).
  at::Device parameter_device() const { return proj_out_.weight().device(); }
  at::ScalarType parameter_dtype() const { return proj_out_.weight().scalar_type(); }

  at::Tensor forward(const TransformerInputs& inputs);

  // Validates the inputs (shapes, dtypes, devices, text lengths) before any work, then embeds the
  // latents, the conditioning and the refined text (padding cut) and builds the RoPE tables.
  State begin(const TransformerInputs& inputs);
  void run_first_block(State& state);       // transformer_blocks[0]
  void run_remaining_blocks(State& state);  // transformer_blocks[1..] and all single blocks
  at::Tensor finish(State& state);          // norm_out, proj_out, unpatchify -> [B, C_out, T, H, W]

  // Throws ditstream::Error naming the input, its value and what is allowed.
  void validate(const TransformerInputs& inputs);

  // Runtime layout for inference (begin() calls it; cheap when nothing changed): projections that
  // read the same input are fused into one GEMM each, and their parameters become views of the
  // fused weights, so no memory is added and names stay. After a load() it fuses again.
  void prepare();
  // Big linear layers (attention projections and MLPs of every block) in float8 e4m3 with
  // per-channel weight scales and per-token activation scales (the fp8 GEMM on CUDA; emulated on
  // the CPU); embeddings, the refiner and the output layer stay as they are. Releases the full-
  // precision copies of those weights; load() restores full precision.
  void quantize_fp8();
  // Attention in FP8 (core/kernels/fp8_attention.h) in every block, on one device (a context-
  // parallel run keeps bf16 attention). Throws ditstream::Error (unavailable) when it cannot run
  // here: no CUDA build with the cuDNN frontend, a GPU before Hopper, weights not in bf16.
  void set_fp8_attention(bool on);
  bool fp8_attention() const { return fp8_attention_; }
  // Tokens per block of the single blocks' MLP projection (kMlpTokenBlock by default); ≥ 1.
  void set_mlp_token_block(int64_t tokens);

 private:
  HunyuanVideoTransformerConfig config_;
  bool fp8_attention_ = false;
  int64_t mlp_token_block_ = kMlpTokenBlock;
  HunyuanVideoPatchEmbed& x_embedder_;
  HunyuanVideoTokenRefiner& context_embedder_;
  HunyuanVideoConditionEmbedding& time_text_embed_;
  ModuleList<HunyuanVideoTransformerBlock>& transformer_blocks_;
  ModuleList<HunyuanVideoSingleTransformerBlock>& single_transformer_blocks_;
  AdaLayerNormContinuous& norm_out_;
  Linear& proj_out_;
};

}  // namespace ditstream::model::hunyuan_video
