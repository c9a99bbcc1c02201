// HunyuanVideo's transformer run over the ranks of a context-parallel job, with the model's own
// staged API: begin() embeds as usual and keeps this rank's shard of the video tokens (and of the
// RoPE tables), the blocks run on the shard with ContextParallelAttention in place of SDPA (text
// tokens replicated), finish() gathers the video tokens and unpatchifies. Every rank returns the
// same output, equal to the single-device forward.
#pragma once

#include <ATen/Tensor.h>

#include <memory>
#include <optional>

#include "core/model/hunyuan_video/transformer.h"
#include "core/parallel/communicator.h"
#include "core/parallel/context_parallel_attention.h"
#include "core/parallel/mesh.h"
#include "core/parallel/sequence_split.h"

namespace ditstream::parallel {

class ContextParallelTransformer {
 public:
  using Model = model::hunyuan_video::HunyuanVideoTransformer3DModel;

  struct State {
    Model::State model;  // video and rope: this rank's shard
    std::optional<SequenceSplit> split;
    std::unique_ptr<ContextParallelAttention> attention;
  };

  // Every rank of `world` must construct one (it forms the mesh's groups). The mesh follows
  // `mesh` or is chosen from the world size and the model's head count (choose_mesh). `model`
  // and `world` must outlive this object.
  ContextParallelTransformer(Model& model, Communicator& world, MeshConfig mesh = {});

  const Mesh& mesh() const { return groups_.mesh; }

  // Head groups of the pipelined Ulysses attention (ContextParallelAttention::set_ulysses_groups);
  // unset: the default for the model's heads. Throws ditstream::Error for a count the mesh cannot use.
  void set_ulysses_groups(std::optional<int> groups);
  // The count the attention uses.
  int ulysses_groups() const;
  Communicator& world() { return world_; }

  // Throws ditstream::Error when the video has fewer tokens than there are ranks.
  State begin(const model::hunyuan_video::TransformerInputs& inputs);
  void run_first_block(State& state) { model_.run_first_block(state.model); }
  void run_remaining_blocks(State& state) { model_.run_remaining_blocks(state.model); }
  at::Tensor finish(State& state);

  at::Tensor forward(const model::hunyuan_video::TransformerInputs& inputs);

 private:
  Model& model_;
  Communicator& world_;
  MeshCommunicators groups_;
  std::optional<int> ulysses_groups_;
};

}  // namespace ditstream::parallel
