// Splitting a tiled decode over the ranks of a job: tile i belongs to rank i mod world_size, each
// rank decodes its own tiles (with their whole overlap, so no seam exchange is needed: the
// overlap is the halo), and every chunk's tiles meet again for diffusers-style blending.
#pragma once

#include <ATen/Tensor.h>

#include <vector>

#include "core/model/vae/tiling.h"
#include "core/parallel/communicator.h"

namespace ditstream::model::vae {

// Tiles of `grid` that `rank` of `world_size` decodes (indices into grid.tiles()). A grid of one
// tile belongs to rank 0 alone.
std::vector<size_t> owned_tiles(const TileGrid& grid, int rank, int world_size);

// Every rank passes the tiles it decoded for this chunk (in owned_tiles order, each
// [B, C, F, ratio·h, ratio·w] of one dtype). Returns all decoded tiles in grid order on every rank,
// through one all_gather; without a communicator, or when one rank owns every tile, no collective
// is called and `mine` must hold them all.
std::vector<at::Tensor> gather_tiles(const TileGrid& grid, std::vector<at::Tensor> mine,
                                     parallel::Communicator* comm);

}  // namespace ditstream::model::vae
