// Spatial tiling of a decode, as diffusers' AutoencoderKLHunyuanVideo.tiled_decode does it:
// overlapping latent tiles are decoded on their own, then each tile is blended linearly into the
// tile above and the tile to its left and cropped to the stride. Same settings, same frames.
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>
#include <optional>
#include <vector>

namespace ditstream::model::vae {

// diffusers' tile_sample_min_* and tile_sample_stride_* (sample pixels; defaults as diffusers').
struct TileSettings {
  int64_t sample_min_height = 256;
  int64_t sample_min_width = 256;
  int64_t sample_stride_height = 192;
  int64_t sample_stride_width = 192;

  // A tile must be a whole number of latent pixels and cover at least the 3×3 window of the
  // decoder's convolutions; the stride must be positive and no longer than the tile.
  void validate(int64_t spatial_compression_ratio) const;
};

// The smallest tile side, in latent pixels: the receptive field of one 3×3 convolution.
inline constexpr int64_t kMinTileLatent = 3;

// Rows a band shares with the next one (latent pixels; 64 sample pixels, diffusers' own overlap).
inline constexpr int64_t kBandOverlapLatent = 8;

// Tiles for a decode spread over `bands` ranks: horizontal bands of the whole width, one per rank,
// each overlapping the next by kBandOverlapLatent rows that are blended as tiles are. Few large
// tiles keep each rank's work near 1/bands of the frame (diffusers' 256-pixel tiles would add a
// third of overlap in both directions). nullopt when the frame is too short to split that way.
std::optional<TileSettings> row_bands(int64_t latent_height, int64_t latent_width, int bands, int64_t ratio);

struct Tile {
  int64_t row = 0, col = 0;           // position in the grid
  int64_t y = 0, x = 0;               // latent origin
  int64_t height = 0, width = 0;      // latent size (the last row/column may be smaller)
};

class TileGrid {
 public:
  // Without settings, or when the latent fits in one tile (diffusers' test: width > min or
  // height > min), the grid is one tile covering everything and assemble() returns it as is.
  TileGrid(int64_t latent_height, int64_t latent_width, const std::optional<TileSettings>& settings,
           int64_t spatial_compression_ratio);

  bool tiled() const { return tiled_; }
  const std::vector<Tile>& tiles() const { return tiles_; }
  int64_t ratio() const { return ratio_; }
  int64_t sample_height() const { return latent_height_ * ratio_; }
  int64_t sample_width() const { return latent_width_ * ratio_; }

  // decoded[i] is tiles()[i] decoded: [B, C, F, ratio·height, ratio·width]. Blends them (in
  // place, in diffusers' order) and returns [B, C, F, sample_height, sample_width].
  at::Tensor assemble(std::vector<at::Tensor>& decoded) const;

 private:
  int64_t latent_height_, latent_width_, ratio_;
  TileSettings settings_;
  bool tiled_ = false;
  int64_t rows_ = 1, cols_ = 1;
  std::vector<Tile> tiles_;
};

}  // namespace ditstream::model::vae
