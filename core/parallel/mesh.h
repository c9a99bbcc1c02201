// The 2-D context-parallel mesh: `ulysses` ranks exchange heads for sequence (all-to-all), `ring`
// groups of them pass key/value blocks around a ring; ulysses × ring = world size. Rank r sits at
// ulysses index r % ulysses and ring index r / ulysses, so a Ulysses group is consecutive ranks
// (one host's NVLink domain first).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/parallel/communicator.h"

namespace ditstream::parallel {

// What the user asked for; 0 means "choose".
struct MeshConfig {
  int ulysses = 0;
  int ring = 0;
};

struct Mesh {
  int ulysses = 1;
  int ring = 1;

  int world_size() const { return ulysses * ring; }
  int ulysses_index(int rank) const { return rank % ulysses; }
  int ring_index(int rank) const { return rank / ulysses; }
  std::string to_string() const;  // "ulysses 2 x ring 1"
};

// Picks the mesh for `world_size` ranks, `heads` attention heads and `video_tokens` tokens to
// split. With nothing asked for, Ulysses takes the largest degree that divides both the world
// size and the head count (its all-to-all moves less than the ring), the ring the rest. Throws
// ditstream::Error when the request cannot work: degrees that do not multiply to the world size,
// a Ulysses degree that does not divide the heads, more ranks than video tokens.
Mesh choose_mesh(int world_size, int64_t heads, int64_t video_tokens, MeshConfig config = {});

// The Ulysses and ring sub-communicators of this rank. Every rank of `world` must call it.
struct MeshCommunicators {
  Mesh mesh;
  std::unique_ptr<Communicator> ulysses;
  std::unique_ptr<Communicator> ring;
};
MeshCommunicators make_mesh_communicators(Communicator& world, const Mesh& mesh);

}  // namespace ditstream::parallel
