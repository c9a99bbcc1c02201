#include "core/parallel/rank_group.h"

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include "core/parallel/rendezvous.h"
#include "core/util/error.h"
#if DITSTREAM_WITH_CUDA
#include "core/parallel/nccl_communicator.h"
#endif

namespace ditstream::parallel {

RankGroup::RankGroup() = default;
RankGroup::RankGroup(RankGroup&&) noexcept = default;
RankGroup::~RankGroup() {
  world.reset();  // before the store that rank 0 hosts
  store.reset();
}

c10::intrusive_ptr<c10d::Store> generation_store(const c10::intrusive_ptr<c10d::Store>& store, int generation) {
  require(generation >= 0, "rank group", "generation", std::to_string(generation) + " is negative");
  if (generation == 0) return store;
  return c10::make_intrusive<c10d::PrefixStore>("generation/" + std::to_string(generation), store);
}

std::unique_ptr<Communicator> form_world(c10d::Store& store, const RankEnvironment& env,
                                         const std::filesystem::path& model, std::chrono::milliseconds timeout) {
#if DITSTREAM_WITH_CUDA
  check_same_model(store, env, model, timeout);
  return make_nccl_communicator(store, env, {timeout, "world"});
#else
  throw Error(ErrorKind::unavailable, "rank group", "WORLD_SIZE",
              std::to_string(env.world_size) + " ranks need NCCL, and this build has no CUDA (DITSTREAM_CUDA=OFF)");
#endif
}

RankGroup join_rank_group(const RankEnvironment& env, const std::filesystem::path& model,
                          std::chrono::milliseconds timeout, int generation) {
  RankGroup group;
  group.env = env;
  group.generation = generation;
  if (!env.is_distributed()) {
    group.world = make_single_rank_communicator();
    return group;
  }
#if DITSTREAM_WITH_CUDA
  apply_nccl_environment_defaults();
  group.store = generation_store(connect_rendezvous(env, timeout), generation);
  group.world = form_world(*group.store, env, model, timeout);
  return group;
#else
  throw Error(ErrorKind::unavailable, "rank group", "WORLD_SIZE",
              std::to_string(env.world_size) + " ranks need NCCL, and this build has no CUDA (DITSTREAM_CUDA=OFF)");
#endif
}

}  // namespace ditstream::parallel
