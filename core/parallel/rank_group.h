// Start-up of a process that may be one rank of many: read the rank environment, rendezvous,
// check that every rank loads the same model files, and form the world communicator (NCCL on the
// GPU). A world of one needs none of it.
#pragma once

#include <c10/util/intrusive_ptr.h>

#include <chrono>
#include <filesystem>
#include <memory>

#include "core/parallel/communicator.h"
#include "core/parallel/rank_environment.h"

namespace c10d {
class Store;
}

namespace ditstream::parallel {

struct RankGroup {
  RankEnvironment env;
  int generation = 0;                     // DITSTREAM_RANK_GENERATION: restarts by the launcher
  c10::intrusive_ptr<c10d::Store> store;  // of this generation (generation_store); null for a world of one
  std::unique_ptr<Communicator> world;
  RankGroup();
  RankGroup(RankGroup&&) noexcept;
  ~RankGroup();
};

// Throws ditstream::Error: unreachable master or missing ranks (unavailable), different model
// files (bad_file), several ranks without a CUDA build (unavailable). Nothing waits longer than
// `timeout`.
// `generation`: the launcher's restarts (launcher_channel.h); every rank of a world has the same.
RankGroup join_rank_group(const RankEnvironment& env, const std::filesystem::path& model,
                          std::chrono::milliseconds timeout, int generation = 0);

// The keys of one generation of ranks: the store itself for generation 0, its keys under
// "generation/<g>/" for a later one, so ranks started again read nothing of an earlier world.
c10::intrusive_ptr<c10d::Store> generation_store(const c10::intrusive_ptr<c10d::Store>& store, int generation);

// Over a generation's store: the same-model check, then the world communicator (NCCL). Every rank
// of the generation calls it. Throws like join_rank_group.
std::unique_ptr<Communicator> form_world(c10d::Store& store, const RankEnvironment& env,
                                         const std::filesystem::path& model, std::chrono::milliseconds timeout);

}  // namespace ditstream::parallel
