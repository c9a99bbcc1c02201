#include "core/parallel/mesh.h"

#include <numeric>

#include "core/util/error.h"

namespace ditstream::parallel {
namespace {

constexpr std::string_view kContext = "context parallel mesh";

std::string str(int64_t v) { return std::to_string(v); }

}  // namespace

std::string Mesh::to_string() const { return "ulysses " + str(ulysses) + " x ring " + str(ring); }

Mesh choose_mesh(int world_size, int64_t heads, int64_t video_tokens, MeshConfig config) {
  require(world_size >= 1, kContext, "world_size", str(world_size) + " must be at least 1");
  require(heads >= 1, kContext, "heads", str(heads) + " must be at least 1");
  require(config.ulysses >= 0, kContext, "ulysses_degree", str(config.ulysses) + " must be 0 (choose) or positive");
  require(config.ring >= 0, kContext, "ring_degree", str(config.ring) + " must be 0 (choose) or positive");
  require(video_tokens >= world_size, kContext, "world_size",
          str(world_size) + " ranks is more than the " + str(video_tokens) +
              " video tokens to split; use at most " + str(video_tokens) + " GPUs for this size");

  Mesh mesh;
  if (config.ulysses > 0 && config.ring > 0) {
    require(int64_t{config.ulysses} * config.ring == world_size, kContext, "ulysses_degree",
            "ulysses " + str(config.ulysses) + " x ring " + str(config.ring) + " = " +
                str(int64_t{config.ulysses} * config.ring) + " does not equal the world size " + str(world_size));
    mesh = {config.ulysses, config.ring};
  } else if (config.ulysses > 0) {
    require(world_size % config.ulysses == 0, kContext, "ulysses_degree",
            str(config.ulysses) + " does not divide the world size " + str(world_size));
    mesh = {config.ulysses, world_size / config.ulysses};
  } else if (config.ring > 0) {
    require(world_size % config.ring == 0, kContext, "ring_degree",
            str(config.ring) + " does not divide the world size " + str(world_size));
    mesh = {world_size / config.ring, config.ring};
  } else {
    int best = 1;
    for (int u = 1; u <= world_size; ++u) {
      if (world_size % u == 0 && heads % u == 0) best = u;
    }
    mesh = {best, world_size / best};
  }
  require(heads % mesh.ulysses == 0, kContext, "ulysses_degree",
          str(mesh.ulysses) + " does not divide the " + str(heads) +
              " attention heads; allowed Ulysses degrees are divisors of " + str(heads) + " that divide " +
              str(world_size));
  return mesh;
}

MeshCommunicators make_mesh_communicators(Communicator& world, const Mesh& mesh) {
  require(world.world_size() == mesh.world_size(), kContext, "mesh",
          mesh.to_string() + " does not fit a world of " + str(world.world_size()) + " ranks");
  const int rank = world.rank();
  MeshCommunicators out;
  out.mesh = mesh;
  // Ulysses groups: same ring index; ring groups: same Ulysses index.
  out.ulysses = world.split(mesh.ring_index(rank), rank);
  out.ring = world.split(mesh.ulysses_index(rank), rank);
  return out;
}

}  // namespace ditstream::parallel
