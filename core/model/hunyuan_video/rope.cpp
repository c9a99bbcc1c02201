#include "core/model/hunyuan_video/rope.h"

#include <ATen/ATen.h>

namespace ditstream::model::hunyuan_video {

RopeTables rope_tables(std::array<int64_t, 3> grid, std::array<int64_t, 3> axes_dim, double theta, at::Device device) {
  const auto f32 = at::TensorOptions().dtype(at::kFloat).device(device);
  const auto mesh = at::meshgrid({at::arange(grid[0], f32), at::arange(grid[1], f32), at::arange(grid[2], f32)}, "ij");
  std::vector<at::Tensor> cos_parts, sin_parts;
  for (int axis = 0; axis < 3; ++axis) {
    const int64_t dim = axes_dim[axis];
    const at::Tensor pos = mesh[axis].reshape({-1});                               // [S]
    const at::Tensor freqs = 1.0 / at::pow(theta, at::arange(0, dim, 2, f32) / static_cast<double>(dim));  // [dim/2]
    const at::Tensor angles = at::outer(pos, freqs);                                // [S, dim/2]
    cos_parts.push_back(angles.cos().repeat_interleave(2, 1));                      // [S, dim]
    sin_parts.push_back(angles.sin().repeat_interleave(2, 1));
  }
  return {at::cat(cos_parts, 1), at::cat(sin_parts, 1)};  // [S, head_dim]
}

at::Tensor apply_rope(const at::Tensor& x, const RopeTables& rope, int64_t seq_dim) {
  // cos/sin broadcast as [1, S, 1, D] (seq_dim 1) or [1, 1, S, D] (seq_dim 2).
  const at::Tensor cos = seq_dim == 1 ? rope.cos.unsqueeze(0).unsqueeze(2) : rope.cos.unsqueeze(0).unsqueeze(0);
  const at::Tensor sin = seq_dim == 1 ? rope.sin.unsqueeze(0).unsqueeze(2) : rope.sin.unsqueeze(0).unsqueeze(0);
  auto sizes = x.sizes().vec();
  sizes.back() /= 2;
  sizes.push_back(2);
  const auto pairs = x.reshape(sizes).unbind(-1);                                  // 2 × [..., D/2]
  const at::Tensor rotated = at::stack({-pairs[1], pairs[0]}, -1).flatten(-2);     // [..., D]
  return (x.to(at::kFloat) * cos + rotated.to(at::kFloat) * sin).to(x.scalar_type());
}

}  // namespace ditstream::model::hunyuan_video
