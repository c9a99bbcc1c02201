// The tiny HunyuanVideo transformer on 2 and 3 simulated ranks equals its single-device forward.
#include "core/parallel/context_parallel_transformer.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <map>
#include <mutex>

#include "core/util/error.h"
#include "tests/model/hunyuan_test_util.h"
#include "tests/parallel/thread_ranks.h"
#include "tests/support/test_support.h"

namespace ditstream {
namespace {

using model::hunyuan_video::TransformerInputs;

auto load_tiny() { return testing::load_transformer_dir(testing::tiny_model_dir() / "transformer"); }

// Runs the tiny model on `mesh` thread ranks and compares every rank's output with one device's.
void check(parallel::MeshConfig mesh, int world, const testing::InputSpec& spec) {
  SCOPED_TRACE("ulysses " + std::to_string(mesh.ulysses) + " ring " + std::to_string(mesh.ring) + ", frames " +
               std::to_string(spec.frames) + ", " + std::to_string(spec.height) + "x" + std::to_string(spec.width));
  const TransformerInputs inputs = testing::make_inputs(spec);
  at::Tensor expected;
  {
    c10::InferenceMode guard;
    expected = load_tiny()->forward(inputs);
  }
  std::map<int, at::Tensor> outputs;
  std::mutex mutex;
  testing::run_thread_ranks(world, [&](parallel::Communicator& comm) {
    c10::InferenceMode guard;
    auto model = load_tiny();
    parallel::ContextParallelTransformer transformer(*model, comm, mesh);
    EXPECT_EQ(transformer.mesh().world_size(), world);
    const at::Tensor out = transformer.forward(inputs);
    std::lock_guard lock(mutex);
    outputs[comm.rank()] = out;
  });
  for (int r = 0; r < world; ++r) {
    ASSERT_EQ(outputs[r].sizes(), expected.sizes());
    const double error = testing::relative_l2(outputs[r], expected);
    EXPECT_LE(error, 1e-5) << "rank " << r;
    char text[32];
    std::snprintf(text, sizeof(text), "%.3g", error);
    ::testing::Test::RecordProperty("relative_l2_rank" + std::to_string(r), text);
  }
}

TEST(ContextParallelTransformer, UlyssesOnTwoRanksEqualsOneDevice) {
  check({2, 1}, 2, {});
}

TEST(ContextParallelTransformer, RingOnTwoRanksEqualsOneDevice) {
  check({1, 2}, 2, {});
}

TEST(ContextParallelTransformer, FourRanksWithPaddingAndUnequalText) {
  // 3 x 2 x 6 latents -> 3·1·3 = 9 tokens over 4 ranks: shards of 3, the last rank all padding.
  testing::InputSpec spec;
  spec.frames = 3;
  spec.height = 2;
  spec.width = 6;
  spec.batch = 2;
  spec.valid = {7, 4};
  check({1, 4}, 4, spec);
  check({2, 2}, 4, spec);
}

TEST(ContextParallelTransformer, AutomaticMeshUsesUlyssesForTwoHeads) {
  check({}, 2, {});
}

TEST(ContextParallelTransformer, MoreRanksThanTokensIsAnError) {
  testing::InputSpec spec;
  spec.frames = 1;
  spec.height = 2;
  spec.width = 4;  // 1·1·2 = 2 tokens
  const TransformerInputs inputs = testing::make_inputs(spec);
  EXPECT_THROW(testing::run_thread_ranks(3,
                                         [&](parallel::Communicator& comm) {
                                           c10::InferenceMode guard;
                                           auto model = load_tiny();
                                           parallel::ContextParallelTransformer transformer(*model, comm, {1, 3});
                                           transformer.forward(inputs);
                                         }),
               Error);
}

}  // namespace
}  // namespace ditstream
