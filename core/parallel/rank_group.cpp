#include "core/parallel/rank_group.h"

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

RankGroup join_rank_group(const RankEnvironment& env, const std::filesystem::path& model,
                          std::chrono::milliseconds timeout) {
  RankGroup group;
  group.env = env;
  if (!env.is_distributed()) {
    group.world = make_single_rank_communicator();
    return group;
  }
#if DITSTREAM_WITH_CUDA
  apply_nccl_environment_defaults();
  group.store = connect_rendezvous(env, timeout);
  check_same_model(*group.store, env, model, timeout);
  group.world = make_nccl_communicator(*group.store, env, {timeout, "world"});
  return group;
#else
  throw Error(ErrorKind::unavailable, "rank group", "WORLD_SIZE",
              std::to_string(env.world_size) + " ranks need NCCL, and this build has no CUDA (DITSTREAM_CUDA=OFF)");
#endif
}

}  // namespace ditstream::parallel
