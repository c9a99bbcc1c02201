// The context-parallel attention arithmetic on simulated ranks: Ulysses layout switches, ring
// log-sum-exp merging and the 2-D mesh must reproduce single-device attention over
// cat([video, text]), padding included.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "core/parallel/context_parallel_attention.h"
#include "core/parallel/mesh.h"
#include "core/parallel/ring_attention.h"
#include "core/parallel/ulysses_attention.h"
#include "core/util/error.h"
#include "tests/parallel/thread_ranks.h"

namespace ditstream {
namespace {

using parallel::Communicator;

// softmax(q kᵀ / sqrt(D)) v in float64, the oracle.
at::Tensor reference_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  const auto scores = at::matmul(q.to(at::kDouble), k.to(at::kDouble).transpose(-2, -1)) * scale;
  return at::matmul(at::softmax(scores, -1), v.to(at::kDouble));
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>();
}

struct Case {
  int ulysses;
  int ring;
  int64_t heads;
  int64_t video_tokens;
  int64_t text_tokens;
  at::ScalarType dtype;
};

std::string name(const Case& c) {
  return "ulysses " + std::to_string(c.ulysses) + " x ring " + std::to_string(c.ring) + ", H=" +
         std::to_string(c.heads) + ", L=" + std::to_string(c.video_tokens) + ", T=" + std::to_string(c.text_tokens) +
         ", " + std::string(c10::toString(c.dtype));
}

// Runs the case on ulysses*ring thread ranks and checks every rank's gathered video output and its
// text output against the oracle; also that all ranks' text outputs are bit-identical.
void check_case(const Case& c) {
  SCOPED_TRACE(name(c));
  constexpr int64_t kBatch = 2, kHeadDim = 8;
  at::manual_seed(1234);
  const auto opts = at::TensorOptions().dtype(c.dtype);
  const at::Tensor qv = at::randn({kBatch, c.heads, c.video_tokens, kHeadDim}, opts);
  const at::Tensor kv = at::randn({kBatch, c.heads, c.video_tokens, kHeadDim}, opts);
  const at::Tensor vv = at::randn({kBatch, c.heads, c.video_tokens, kHeadDim}, opts);
  const at::Tensor qt = at::randn({kBatch, c.heads, c.text_tokens, kHeadDim}, opts);
  const at::Tensor kt = at::randn({kBatch, c.heads, c.text_tokens, kHeadDim}, opts);
  const at::Tensor vt = at::randn({kBatch, c.heads, c.text_tokens, kHeadDim}, opts);
  const at::Tensor expected =
      reference_attention(at::cat({qv, qt}, 2), at::cat({kv, kt}, 2), at::cat({vv, vt}, 2));  // [B, H, L + T, D]
  const at::Tensor expected_video = expected.narrow(2, 0, c.video_tokens);
  const at::Tensor expected_text = expected.narrow(2, c.video_tokens, c.text_tokens);

  const int world = c.ulysses * c.ring;
  std::map<int, at::Tensor> video_out, text_out;
  std::mutex mutex;
  testing::run_thread_ranks(world, [&](Communicator& comm) {
    const parallel::Mesh mesh{c.ulysses, c.ring};
    auto groups = parallel::make_mesh_communicators(comm, mesh);
    const parallel::SequenceSplit split(c.video_tokens, world, comm.rank());
    const parallel::ContextParallelAttention attention(*groups.ulysses, *groups.ring, split);
    const auto out = attention(split.shard_of(qv, 2), split.shard_of(kv, 2), split.shard_of(vv, 2), qt, kt, vt);
    EXPECT_EQ(out.video.sizes(), (std::vector<int64_t>{kBatch, c.heads, split.shard(), kHeadDim}));
    EXPECT_EQ(out.video.scalar_type(), c.dtype);
    const at::Tensor gathered = split.gather(comm, out.video, 2);
    std::lock_guard lock(mutex);
    video_out[comm.rank()] = gathered;
    text_out[comm.rank()] = out.text;
  });

  const double tol = c.dtype == at::kDouble ? 1e-12 : 1e-6;
  for (int r = 0; r < world; ++r) {
    SCOPED_TRACE("rank " + std::to_string(r));
    ASSERT_EQ(video_out[r].sizes(), expected_video.sizes());
    EXPECT_LE(max_abs_diff(video_out[r], expected_video), tol);
    if (c.text_tokens > 0) {
      ASSERT_EQ(text_out[r].sizes(), expected_text.sizes());
      EXPECT_LE(max_abs_diff(text_out[r], expected_text), tol);
      EXPECT_TRUE(at::equal(text_out[r], text_out[0])) << "text output differs from rank 0's";
    } else {
      EXPECT_FALSE(text_out[r].defined());
    }
  }
}

TEST(ContextParallelAttention, UlyssesMatchesSingleDevice) {
  for (int n : {2, 3, 4}) {
    check_case({n, 1, 12, 24, 5, at::kDouble});
    check_case({n, 1, 12, 17, 3, at::kFloat});  // 17 tokens: padded
  }
}

TEST(ContextParallelAttention, RingMatchesSingleDevice) {
  for (int n : {2, 3, 4}) {
    check_case({1, n, 3, 24, 5, at::kDouble});
    check_case({1, n, 3, 19, 4, at::kFloat});
  }
}

TEST(ContextParallelAttention, MixedMeshMatchesSingleDevice) {
  check_case({2, 2, 4, 16, 5, at::kDouble});
  check_case({2, 3, 6, 23, 2, at::kFloat});
  check_case({3, 2, 6, 31, 7, at::kFloat});
}

TEST(ContextParallelAttention, PaddingLeavesWholeShardsEmpty) {
  // 5 tokens on 4 ranks: shards of 2, the last rank holds padding only.
  check_case({1, 4, 2, 5, 3, at::kDouble});
  check_case({4, 1, 4, 5, 3, at::kDouble});
  check_case({2, 2, 2, 5, 3, at::kFloat});
}

TEST(ContextParallelAttention, WithoutText) {
  check_case({2, 1, 4, 9, 0, at::kDouble});
  check_case({1, 3, 4, 10, 0, at::kDouble});
  check_case({2, 2, 4, 11, 0, at::kFloat});
}

TEST(ContextParallelAttention, SingleRankIsPlainAttention) {
  check_case({1, 1, 3, 13, 4, at::kFloat});
}

TEST(ContextParallelAttention, RejectsWrongShardLength) {
  auto single = parallel::make_single_rank_communicator();
  auto single2 = parallel::make_single_rank_communicator();
  const parallel::ContextParallelAttention attention(*single, *single2, parallel::SequenceSplit(10, 1, 0));
  const auto x = at::randn({1, 2, 9, 4});
  EXPECT_THROW(attention(x, x, x, at::Tensor(), at::Tensor(), at::Tensor()), Error);
}

TEST(UlyssesLayout, SequenceToHeadSplitAndBack) {
  for (int n : {2, 3, 4}) {
    SCOPED_TRACE("ranks " + std::to_string(n));
    const int64_t heads = 12, tokens_per_rank = 3;
    const at::Tensor full = at::randn({2, heads, n * tokens_per_rank, 5}, at::kDouble);  // [B, H, L, D]
    testing::run_thread_ranks(n, [&](Communicator& comm) {
      const int r = comm.rank();
      const at::Tensor local = full.narrow(2, r * tokens_per_rank, tokens_per_rank);  // [B, H, S, D]
      const at::Tensor heads_split = parallel::sequence_to_head_split(comm, local);   // [B, H/N, L, D]
      const int64_t per_rank = heads / n;
      EXPECT_TRUE(at::equal(heads_split, full.narrow(1, r * per_rank, per_rank)));
      EXPECT_TRUE(at::equal(parallel::head_to_sequence_split(comm, heads_split), local));
      EXPECT_TRUE(at::equal(parallel::gather_heads(comm, parallel::local_heads(comm, full)), full));
    });
  }
}

TEST(UlyssesLayout, RejectsHeadsThatDoNotDivide) {
  EXPECT_THROW(testing::run_thread_ranks(
                   2, [&](Communicator& comm) { parallel::sequence_to_head_split(comm, at::zeros({1, 3, 4, 2})); }),
               Error);
}

TEST(RingMerge, TwoPartialsEqualAttentionOverAllKeys) {
  at::manual_seed(7);
  const at::Tensor q = at::randn({2, 3, 5, 4}, at::kDouble);
  const at::Tensor k = at::randn({2, 3, 9, 4}, at::kDouble);
  const at::Tensor v = at::randn({2, 3, 9, 4}, at::kDouble);
  const double scale = 0.5;
  parallel::PartialAttention merged;
  parallel::merge_partial(merged, parallel::attention_with_lse(q, k.narrow(2, 0, 4), v.narrow(2, 0, 4), scale));
  parallel::merge_partial(merged, parallel::attention_with_lse(q, k.narrow(2, 4, 5), v.narrow(2, 4, 5), scale));
  const auto scores = at::matmul(q, k.transpose(-2, -1)) * scale;
  EXPECT_LE(max_abs_diff(merged.out, at::matmul(at::softmax(scores, -1), v)), 1e-13);
  EXPECT_LE(max_abs_diff(merged.lse, at::logsumexp(scores, -1)), 1e-13);
}

TEST(RingExchange, AsyncStepPassesToTheNextRank) {
  testing::run_thread_ranks(3, [&](Communicator& comm) {
    const auto pending = comm.ring_exchange_async(at::full({2}, comm.rank(), at::kFloat));
    const at::Tensor got = pending->wait();
    EXPECT_EQ(got[0].item<float>(), static_cast<float>((comm.rank() + 2) % 3));
  });
}

TEST(CommunicatorSplit, GroupsByColorOrderedByKey) {
  testing::run_thread_ranks(4, [&](Communicator& comm) {
    // Colors 0,1,0,1; keys reverse the rank order.
    auto sub = comm.split(comm.rank() % 2, -comm.rank());
    EXPECT_EQ(sub->world_size(), 2);
    EXPECT_EQ(sub->rank(), comm.rank() < 2 ? 1 : 0);
    const at::Tensor gathered = sub->all_gather(at::full({1}, comm.rank(), at::kLong), 0);
    const int color = comm.rank() % 2;
    EXPECT_EQ(gathered[0].item<int64_t>(), color + 2);
    EXPECT_EQ(gathered[1].item<int64_t>(), color);
  });
}

}  // namespace
}  // namespace ditstream
