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
  c10::intrusive_ptr<c10d::Store> store;  // null for a world of one
  std::unique_ptr<Communicator> world;
  RankGroup();
  RankGroup(RankGroup&&) noexcept;
  ~RankGroup();
};

// Throws ditstream::Error: unreachable master or missing ranks (unavailable), different model
// files (bad_file), several ranks without a CUDA build (unavailable). Nothing waits longer than
// `timeout`.
RankGroup join_rank_group(const RankEnvironment& env, const std::filesystem::path& model,
                          std::chrono::milliseconds timeout);

}  // namespace ditstream::parallel
