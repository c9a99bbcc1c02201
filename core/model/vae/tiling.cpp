#include "core/model/vae/tiling.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>

#include "core/util/error.h"

namespace ditstream::model::vae {

namespace {
constexpr const char* kContext = "[vae tiling]";

// diffusers' blend_v / blend_h: the first `extent` rows (dim -2) or columns (dim -1) of b fade
// from a's last ones to b's own, weight y/extent for b.
void blend(const at::Tensor& a, at::Tensor& b, int64_t extent, int64_t dim) {
  extent = std::min({a.size(dim), b.size(dim), extent});
  if (extent <= 0) return;
  const auto weight_b = at::arange(extent, at::TensorOptions().dtype(at::kDouble)).div_(static_cast<double>(extent));
  std::vector<int64_t> shape(5, 1);
  shape[dim < 0 ? 5 + dim : dim] = extent;
  const auto wb = weight_b.reshape(shape).to(b.options());
  const auto wa = (1.0 - weight_b).reshape(shape).to(b.options());
  auto head = b.narrow(dim, 0, extent);
  head.copy_(a.narrow(dim, a.size(dim) - extent, extent) * wa + head * wb);
}
}  // namespace

void TileSettings::validate(int64_t ratio) const {
  auto check_side = [&](int64_t min, int64_t stride, const char* min_field, const char* stride_field) {
    require(min % ratio == 0, kContext, min_field,
            fmt::format("is {}; must be a multiple of the spatial compression ratio {}", min, ratio));
    require(min / ratio >= kMinTileLatent, kContext, min_field,
            fmt::format("is {} ({} latent pixels); a tile must cover the decoder's 3x3 convolution window, "
                        "at least {} sample pixels",
                        min, min / ratio, kMinTileLatent * ratio));
    require(stride % ratio == 0 && stride > 0 && stride <= min, kContext, stride_field,
            fmt::format("is {}; must be a positive multiple of {} no larger than the tile ({})", stride, ratio, min));
  };
  check_side(sample_min_height, sample_stride_height, "tile_sample_min_height", "tile_sample_stride_height");
  check_side(sample_min_width, sample_stride_width, "tile_sample_min_width", "tile_sample_stride_width");
}

std::optional<TileSettings> row_bands(int64_t latent_height, int64_t latent_width, int bands, int64_t ratio) {
  if (bands <= 1) return std::nullopt;
  const int64_t stride = (latent_height + bands - 1) / bands;
  const int64_t tile = stride + kBandOverlapLatent;
  const int64_t rows = (latent_height + stride - 1) / stride;
  const int64_t last = latent_height - (rows - 1) * stride;
  if (latent_height <= tile || stride < kMinTileLatent || last < kMinTileLatent) return std::nullopt;
  return TileSettings{tile * ratio, latent_width * ratio, stride * ratio, latent_width * ratio};
}

TileGrid::TileGrid(int64_t latent_height, int64_t latent_width, const std::optional<TileSettings>& settings,
                   int64_t ratio)
    : latent_height_(latent_height), latent_width_(latent_width), ratio_(ratio) {
  if (settings) {
    settings->validate(ratio);
    settings_ = *settings;
    tiled_ = latent_width > settings_.sample_min_width / ratio || latent_height > settings_.sample_min_height / ratio;
  }
  if (!tiled_) {
    tiles_.push_back(Tile{0, 0, 0, 0, latent_height, latent_width});
    return;
  }
  const int64_t min_h = settings_.sample_min_height / ratio, min_w = settings_.sample_min_width / ratio;
  const int64_t stride_h = settings_.sample_stride_height / ratio, stride_w = settings_.sample_stride_width / ratio;
  rows_ = (latent_height + stride_h - 1) / stride_h;
  cols_ = (latent_width + stride_w - 1) / stride_w;
  for (int64_t r = 0; r < rows_; ++r) {
    for (int64_t c = 0; c < cols_; ++c) {
      const int64_t y = r * stride_h, x = c * stride_w;
      tiles_.push_back(Tile{r, c, y, x, std::min(min_h, latent_height - y), std::min(min_w, latent_width - x)});
    }
  }
}

at::Tensor TileGrid::assemble(std::vector<at::Tensor>& decoded) const {
  require(decoded.size() == tiles_.size(), kContext, "tiles",
          fmt::format("got {} decoded tiles for a grid of {}", decoded.size(), tiles_.size()));
  if (!tiled_) return decoded.front();
  const int64_t blend_h = settings_.sample_min_height - settings_.sample_stride_height;
  const int64_t blend_w = settings_.sample_min_width - settings_.sample_stride_width;
  std::vector<at::Tensor> result_rows;
  for (int64_t r = 0; r < rows_; ++r) {
    std::vector<at::Tensor> row;
    for (int64_t c = 0; c < cols_; ++c) {
      at::Tensor& tile = decoded[r * cols_ + c];
      if (r > 0) blend(decoded[(r - 1) * cols_ + c], tile, blend_h, -2);
      if (c > 0) blend(decoded[r * cols_ + c - 1], tile, blend_w, -1);
      row.push_back(tile.narrow(3, 0, std::min(settings_.sample_stride_height, tile.size(3)))
                        .narrow(4, 0, std::min(settings_.sample_stride_width, tile.size(4))));
    }
    result_rows.push_back(at::cat(row, 4));
  }
  return at::cat(result_rows, 3).narrow(3, 0, sample_height()).narrow(4, 0, sample_width());
}

}  // namespace ditstream::model::vae
