#include "core/parallel/context_parallel_transformer.h"

#include <ATen/ATen.h>

#include <limits>

#include "core/parallel/ulysses_pipeline.h"

namespace ditstream::parallel {

ContextParallelTransformer::ContextParallelTransformer(Model& model, Communicator& world, MeshConfig mesh)
    : model_(model),
      world_(world),
      // Token counts are checked per job, in begin().
      groups_(make_mesh_communicators(world, choose_mesh(world.world_size(), model.config().num_attention_heads,
                                                         std::numeric_limits<int64_t>::max(), mesh))) {}

void ContextParallelTransformer::set_ulysses_groups(std::optional<int> groups) {
  ulysses_groups_for(mesh(), model_.config().num_attention_heads, groups);  // throws for a count the mesh cannot use
  ulysses_groups_ = groups;
}

int ContextParallelTransformer::ulysses_groups() const {
  return ulysses_groups_for(mesh(), model_.config().num_attention_heads, ulysses_groups_);
}

ContextParallelTransformer::State ContextParallelTransformer::begin(
    const model::hunyuan_video::TransformerInputs& inputs) {
  State state;
  state.model = model_.begin(inputs);
  auto& s = state.model;
  state.split.emplace(s.video.size(1), world_.world_size(), world_.rank());
  state.attention = std::make_unique<ContextParallelAttention>(*groups_.ulysses, *groups_.ring, *state.split);
  state.attention->set_ulysses_groups(ulysses_groups_);
  s.video = state.split->shard_of(s.video, 1);        // [B, S, C]
  s.rope.cos = state.split->shard_of(s.rope.cos, 0);  // [S, head_dim]
  s.rope.sin = state.split->shard_of(s.rope.sin, 0);
  s.context_parallel = state.attention.get();
  return state;
}

at::Tensor ContextParallelTransformer::finish(State& state) {
  auto& s = state.model;
  s.video = state.split->gather(world_, s.video, 1);  // [B, T'·H'·W', C]
  s.context_parallel = nullptr;
  return model_.finish(s);
}

at::Tensor ContextParallelTransformer::forward(const model::hunyuan_video::TransformerInputs& inputs) {
  State state = begin(inputs);
  run_first_block(state);
  run_remaining_blocks(state);
  return finish(state);
}

}  // namespace ditstream::parallel
