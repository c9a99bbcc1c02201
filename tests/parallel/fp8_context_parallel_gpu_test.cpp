// FP8 attention inside the context-parallel attention, on simulated ranks sharing one GPU: with a
// Ulysses-only mesh each rank's attention runs on FP8 operands and the gathered output stays within
// the kernel's own error of fp32 attention; with ring hops (which merge partial results by their
// log-sum-exp) attention stays in bf16 and matches the bf16 path exactly.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <map>
#include <mutex>

#include "core/kernels/fp8_attention.h"
#include "core/parallel/context_parallel_attention.h"
#include "core/parallel/mesh.h"
#include "tests/parallel/thread_ranks.h"
#include "tests/support/test_support.h"

namespace ditstream {
namespace {

struct Outputs {
  at::Tensor video;  // gathered over the ranks
  at::Tensor text;
};

Outputs run_mesh(const parallel::Mesh& mesh, bool fp8, const std::vector<at::Tensor>& qkv_video,
                 const std::vector<at::Tensor>& qkv_text) {
  std::map<int, Outputs> outs;
  std::mutex mutex;
  const int world = mesh.world_size();
  testing::run_thread_ranks(world, [&](parallel::Communicator& comm) {
    auto groups = parallel::make_mesh_communicators(comm, mesh);
    const parallel::SequenceSplit split(qkv_video[0].size(2), world, comm.rank());
    const parallel::ContextParallelAttention attention(*groups.ulysses, *groups.ring, split);
    const auto out = attention(split.shard_of(qkv_video[0], 2), split.shard_of(qkv_video[1], 2),
                               split.shard_of(qkv_video[2], 2), qkv_text[0], qkv_text[1], qkv_text[2], fp8);
    const at::Tensor video = split.gather(comm, out.video.contiguous(), 2);
    std::lock_guard lock(mutex);
    outs[comm.rank()] = {video, out.text};
  });
  return outs.at(0);
}

TEST(Fp8ContextParallelGpu, UlyssesRanksAttendInFp8) {
  if (!testing::cuda_available()) GTEST_SKIP() << "no CUDA device: FP8 attention runs only on the GPU machine";
  std::string why;
  ASSERT_TRUE(kernels::fp8_attention_available(at::Device(at::kCUDA, 0), &why)) << why;
  at::manual_seed(7);
  const auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  const int64_t batch = 1, heads = 24, video = 3001, text = 77, dim = 128;
  std::vector<at::Tensor> qkv_video, qkv_text;
  for (int i = 0; i < 3; ++i) qkv_video.push_back(at::randn({batch, heads, video, dim}, opts) * (i == 2 ? 3.0 : 1.0));
  for (int i = 0; i < 3; ++i) qkv_text.push_back(at::randn({batch, heads, text, dim}, opts));
  const auto joined = [&](int i) { return at::cat({qkv_video[i], qkv_text[i]}, 2).to(at::kFloat); };
  const at::Tensor expected = at::scaled_dot_product_attention(joined(0), joined(1), joined(2));

  for (const parallel::Mesh mesh : {parallel::Mesh{1, 1}, parallel::Mesh{2, 1}, parallel::Mesh{3, 1}}) {
    SCOPED_TRACE("ulysses " + std::to_string(mesh.ulysses));
    const auto fp8 = run_mesh(mesh, true, qkv_video, qkv_text);
    const auto bf16 = run_mesh(mesh, false, qkv_video, qkv_text);
    const at::Tensor got = at::cat({fp8.video, fp8.text}, 2);
    ASSERT_EQ(got.sizes(), expected.sizes());
    const double rel = testing::relative_l2(got, expected);
    const double rel_bf16 = testing::relative_l2(at::cat({bf16.video, bf16.text}, 2), expected);
    std::printf("ulysses %d: fp8 relative L2 %.4f, bf16 %.4f\n", mesh.ulysses, rel, rel_bf16);
    EXPECT_LE(rel, 8e-2);
    EXPECT_GT(rel, rel_bf16) << "the FP8 kernel did not run";
  }

  const auto ring_fp8 = run_mesh(parallel::Mesh{1, 2}, true, qkv_video, qkv_text);
  const auto ring_bf16 = run_mesh(parallel::Mesh{1, 2}, false, qkv_video, qkv_text);
  EXPECT_TRUE(at::equal(ring_fp8.video, ring_bf16.video)) << "ring hops must stay in bf16";
}

}  // namespace
}  // namespace ditstream
