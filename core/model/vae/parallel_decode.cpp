#include "core/model/vae/parallel_decode.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>

#include "core/util/error.h"

namespace ditstream::model::vae {

namespace {
bool shared_work(const TileGrid& grid, parallel::Communicator* comm) {
  return comm != nullptr && comm->world_size() > 1 && grid.tiles().size() > 1;
}
}  // namespace

std::vector<size_t> owned_tiles(const TileGrid& grid, int rank, int world_size) {
  std::vector<size_t> mine;
  const size_t n = grid.tiles().size();
  if (n == 1 || world_size <= 1) {
    if (rank == 0) {
      for (size_t i = 0; i < n; ++i) mine.push_back(i);
    }
    return mine;
  }
  for (size_t i = static_cast<size_t>(rank); i < n; i += static_cast<size_t>(world_size)) mine.push_back(i);
  return mine;
}

std::vector<at::Tensor> gather_tiles(const TileGrid& grid, std::vector<at::Tensor> mine,
                                     parallel::Communicator* comm) {
  const auto& tiles = grid.tiles();
  if (!shared_work(grid, comm)) {
    // Rank 0 decodes every tile; the other ranks of a job have nothing to do and return nothing.
    const bool root = comm == nullptr || comm->rank() == 0;
    const size_t expected = root ? tiles.size() : 0;
    require(mine.size() == expected, "[vae parallel decode]", "tiles",
            fmt::format("rank {} holds {} of {} tiles, must hold {}", root ? 0 : comm->rank(), mine.size(),
                        tiles.size(), expected));
    return mine;
  }
  const int world = comm->world_size();
  const int rank = comm->rank();
  const auto n = static_cast<int64_t>(tiles.size());
  const int64_t per_rank = (n + world - 1) / world;
  const auto owned = owned_tiles(grid, rank, world);
  require(mine.size() == owned.size(), "[vae parallel decode]", "tiles",
          fmt::format("rank {} decoded {} tiles, owns {}", rank, mine.size(), owned.size()));
  // Every decoded tile of this chunk has the same batch, channels and frames; tiles differ only in
  // height and width (the last row and column may be shorter), so each is padded to the largest.
  const int64_t ratio = grid.ratio();
  int64_t max_h = 0, max_w = 0;
  for (const auto& t : tiles) {
    max_h = std::max(max_h, t.height * ratio);
    max_w = std::max(max_w, t.width * ratio);
  }
  // Shape of a decoded tile's leading dims, taken from rank 0's first tile (rank 0 always owns one).
  at::Tensor lead = mine.empty() ? at::Tensor() : mine.front();
  std::vector<int64_t> head(3, 0);
  at::TensorOptions options;
  if (lead.defined()) {
    head = {lead.size(0), lead.size(1), lead.size(2)};
    options = lead.options();
  }
  require(lead.defined(), "[vae parallel decode]", "tiles",
          fmt::format("rank {} owns no tile of {}; use at most {} ranks for this tiling", rank, n, n));
  // [per_rank, B, C, F, max_h, max_w], zero where a slot or a border is empty
  at::Tensor packed = at::zeros({per_rank, head[0], head[1], head[2], max_h, max_w}, options);
  for (size_t s = 0; s < mine.size(); ++s) {
    packed[static_cast<int64_t>(s)].narrow(3, 0, mine[s].size(3)).narrow(4, 0, mine[s].size(4)).copy_(mine[s]);
  }
  const at::Tensor all = comm->all_gather(packed, 0);  // [world·per_rank, B, C, F, max_h, max_w]
  std::vector<at::Tensor> out;
  out.reserve(tiles.size());
  for (int64_t i = 0; i < n; ++i) {
    const int64_t slot = (i % world) * per_rank + i / world;
    out.push_back(all[slot].narrow(3, 0, tiles[i].height * ratio).narrow(4, 0, tiles[i].width * ratio));
  }
  return out;
}

}  // namespace ditstream::model::vae
