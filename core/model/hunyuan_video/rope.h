// 3D rotary position embedding of HunyuanVideo (HunyuanVideoRotaryPosEmbed and diffusers'
// get_1d_rotary_pos_embed / apply_rotary_emb with use_real=True, interleaved pairs).
#pragma once

#include <ATen/Tensor.h>

#include <array>
#include <cstdint>

namespace ditstream::model::hunyuan_video {

struct RopeTables {
  at::Tensor cos;  // [T'·H'·W', head_dim] float32
  at::Tensor sin;  // [T'·H'·W', head_dim] float32
};

// Tables for a post-patch grid of (frames, height, width) tokens, token order t, h, w (as the patch
// embedding flattens them). `axes_dim` splits head_dim between the three axes.
RopeTables rope_tables(std::array<int64_t, 3> grid, std::array<int64_t, 3> axes_dim, double theta, at::Device device);

// Rotates pairs (x[2i], x[2i+1]) of x [B, L, H, D] (or [B, H, L, D] with seq_dim 2) in float32 and
// returns x's dtype.
at::Tensor apply_rope(const at::Tensor& x, const RopeTables& rope, int64_t seq_dim);

}  // namespace ditstream::model::hunyuan_video
