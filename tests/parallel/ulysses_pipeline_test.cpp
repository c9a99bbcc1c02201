// The pipelined Ulysses attention on simulated ranks: split over head groups whose all-to-alls
// overlap with attention, it must give exactly (bit for bit) the unpipelined output, padding and
// text included; the asynchronous all-to-all must equal the blocking one; bad group counts are
// errors naming the field.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <optional>

#include "core/parallel/context_parallel_attention.h"
#include "core/parallel/mesh.h"
#include "core/parallel/ulysses_pipeline.h"
#include "core/util/error.h"
#include "tests/parallel/thread_ranks.h"

namespace ditstream {
namespace {

using parallel::Communicator;

struct Case {
  int ranks;
  int64_t heads;
  int64_t video_tokens;
  int64_t text_tokens;  // text queries
  int64_t text_keys;    // valid text keys (≤ text_tokens)
  at::ScalarType dtype;
};

std::string name(const Case& c) {
  return std::to_string(c.ranks) + " ranks, H=" + std::to_string(c.heads) + ", L=" + std::to_string(c.video_tokens) +
         ", Tq=" + std::to_string(c.text_tokens) + ", Tk=" + std::to_string(c.text_keys) + ", " +
         std::string(c10::toString(c.dtype));
}

struct Gathered {
  at::Tensor video;  // [B, H, L, D], every rank's shard gathered
  at::Tensor text;   // [B, H, Tq, D], rank 0's
};

// Runs a Ulysses-only mesh of c.ranks thread ranks with `groups` head groups (unset: default).
Gathered run(const Case& c, std::optional<int> groups, const std::vector<at::Tensor>& qkv,
             const std::vector<at::Tensor>& text) {
  std::map<int, Gathered> outs;
  std::mutex mutex;
  testing::run_thread_ranks(c.ranks, [&](Communicator& comm) {
    auto mesh = parallel::make_mesh_communicators(comm, parallel::Mesh{c.ranks, 1});
    const parallel::SequenceSplit split(c.video_tokens, c.ranks, comm.rank());
    parallel::ContextParallelAttention attention(*mesh.ulysses, *mesh.ring, split);
    attention.set_ulysses_groups(groups);
    const auto out = attention(split.shard_of(qkv[0], 2), split.shard_of(qkv[1], 2), split.shard_of(qkv[2], 2),
                               text[0], text[1], text[2]);
    EXPECT_EQ(out.video.sizes(), (std::vector<int64_t>{qkv[0].size(0), c.heads, split.shard(), qkv[0].size(3)}));
    const at::Tensor video = split.gather(comm, out.video, 2);
    std::lock_guard lock(mutex);
    outs[comm.rank()] = {video, out.text};
  });
  for (int r = 1; r < c.ranks && c.text_tokens > 0; ++r) {
    EXPECT_TRUE(at::equal(outs.at(r).text, outs.at(0).text)) << "rank " << r << "'s text output differs from rank 0's";
  }
  return outs.at(0);
}

void check_case(const Case& c, const std::vector<int>& group_counts) {
  SCOPED_TRACE(name(c));
  constexpr int64_t kBatch = 2, kHeadDim = 8;
  at::manual_seed(99);
  const auto opts = at::TensorOptions().dtype(c.dtype);
  std::vector<at::Tensor> qkv, text;
  for (int i = 0; i < 3; ++i) qkv.push_back(at::randn({kBatch, c.heads, c.video_tokens, kHeadDim}, opts));
  if (c.text_tokens > 0) {
    text.push_back(at::randn({kBatch, c.heads, c.text_tokens, kHeadDim}, opts));
    for (int i = 0; i < 2; ++i) text.push_back(at::randn({kBatch, c.heads, c.text_keys, kHeadDim}, opts));
  } else {
    text.assign(3, at::Tensor());
  }
  const Gathered plain = run(c, 1, qkv, text);
  for (int groups : group_counts) {
    SCOPED_TRACE(std::to_string(groups) + " head groups");
    const Gathered piped = run(c, groups, qkv, text);
    ASSERT_EQ(piped.video.sizes(), plain.video.sizes());
    EXPECT_TRUE(at::equal(piped.video, plain.video)) << "video differs by "
                                                     << (piped.video - plain.video).abs().max().item<double>();
    if (c.text_tokens > 0) {
      ASSERT_EQ(piped.text.sizes(), plain.text.sizes());
      EXPECT_TRUE(at::equal(piped.text, plain.text)) << "text differs";
    } else {
      EXPECT_FALSE(piped.text.defined());
    }
  }
}

TEST(UlyssesPipeline, EqualsUnpipelinedBitForBit) {
  check_case({2, 12, 24, 5, 5, at::kFloat}, {2, 3, 6});
  check_case({2, 12, 17, 3, 3, at::kFloat}, {2, 3});  // 17 tokens on 2 ranks: padded
  check_case({3, 12, 31, 7, 4, at::kDouble}, {2, 4});  // padded text rows: fewer keys than queries
  check_case({2, 8, 20, 4, 4, at::kDouble}, {2, 4});
}

TEST(UlyssesPipeline, EqualsUnpipelinedWithoutText) {
  check_case({2, 12, 18, 0, 0, at::kFloat}, {3, 6});
  check_case({3, 6, 13, 0, 0, at::kDouble}, {2});
}

TEST(UlyssesPipeline, PaddingLeavesWholeShardsEmpty) {
  // 5 tokens on 4 ranks: shards of 2, the last rank holds padding only.
  check_case({4, 8, 5, 3, 3, at::kDouble}, {2});
}

TEST(UlyssesPipeline, DefaultGroupsKeepFourHeadsEach) {
  EXPECT_EQ(parallel::default_ulysses_groups(12), 3);
  EXPECT_EQ(parallel::default_ulysses_groups(8), 2);
  EXPECT_EQ(parallel::default_ulysses_groups(6), 1);
  EXPECT_EQ(parallel::default_ulysses_groups(3), 1);
  EXPECT_EQ(parallel::default_ulysses_groups(24), 6);
  // HunyuanVideo's 24 heads: 2 Ulysses ranks pipeline 3 groups, 3 ranks 2; a ring or a world of
  // one does not pipeline.
  EXPECT_EQ(parallel::ulysses_groups_for({2, 1}, 24, std::nullopt), 3);
  EXPECT_EQ(parallel::ulysses_groups_for({3, 1}, 24, std::nullopt), 2);
  EXPECT_EQ(parallel::ulysses_groups_for({8, 1}, 24, std::nullopt), 1);
  EXPECT_EQ(parallel::ulysses_groups_for({1, 2}, 24, std::nullopt), 1);
  EXPECT_EQ(parallel::ulysses_groups_for({2, 2}, 24, std::nullopt), 1);
  EXPECT_EQ(parallel::ulysses_groups_for({1, 1}, 24, std::nullopt), 1);
  EXPECT_EQ(parallel::ulysses_groups_for({2, 1}, 24, 4), 4);
}

// `fn` must throw ditstream::Error naming `field`.
template <typename Fn>
void expect_error(Fn fn, const std::string& field) {
  try {
    fn();
    ADD_FAILURE() << "no error for " << field;
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), field) << e.what();
    EXPECT_EQ(e.kind(), ErrorKind::invalid_argument);
  }
}

TEST(UlyssesPipeline, RejectsGroupCountsTheHeadsOrMeshCannotUse) {
  expect_error([] { parallel::ulysses_groups_for({2, 1}, 24, 0); }, "ulysses_groups");
  expect_error([] { parallel::ulysses_groups_for({2, 1}, 24, 5); }, "ulysses_groups");   // 12 heads per rank
  expect_error([] { parallel::ulysses_groups_for({2, 2}, 24, 2); }, "ulysses_groups");   // a ring
  EXPECT_EQ(parallel::ulysses_groups_for({2, 2}, 24, 1), 1);

  auto u = parallel::make_single_rank_communicator();
  auto r = parallel::make_single_rank_communicator();
  parallel::ContextParallelAttention attention(*u, *r, parallel::SequenceSplit(6, 1, 0));
  expect_error([&] { attention.set_ulysses_groups(0); }, "ulysses_groups");
  expect_error([&] { attention.set_ulysses_groups(-2); }, "ulysses_groups");
  attention.set_ulysses_groups(3);  // 4 heads: checked when called
  const auto x = at::randn({1, 4, 6, 8});
  expect_error([&] { attention(x, x, x, at::Tensor(), at::Tensor(), at::Tensor()); }, "ulysses_groups");
  // On 2 ranks 12 heads are 6 per rank: 4 groups do not divide them.
  expect_error(
      [] {
        testing::run_thread_ranks(2, [&](Communicator& comm) {
          auto single = parallel::make_single_rank_communicator();
          parallel::ContextParallelAttention a(comm, *single, parallel::SequenceSplit(8, 2, comm.rank()));
          a.set_ulysses_groups(4);
          const auto y = at::randn({1, 12, 4, 8});
          a(y, y, y, at::Tensor(), at::Tensor(), at::Tensor());
        });
      },
      "ulysses_groups");
}

TEST(AllToAllAsync, EqualsAllToAll) {
  for (int n : {2, 3}) {
    SCOPED_TRACE(std::to_string(n) + " ranks");
    testing::run_thread_ranks(n, [&](Communicator& comm) {
      const at::Tensor x = at::arange(2 * 3 * n * 2 * n * 5, at::kFloat).reshape({2, 3 * n, 2 * n, 5}) + 1e4 * comm.rank();
      for (auto [scatter, gather] : std::vector<std::pair<int64_t, int64_t>>{{1, 2}, {2, 1}, {1, 0}, {2, 2}}) {
        const at::Tensor blocking = comm.all_to_all(x, scatter, gather);
        const at::Tensor async = comm.all_to_all_async(x, scatter, gather)->wait();
        EXPECT_TRUE(at::equal(async, blocking)) << "scatter " << scatter << " gather " << gather;
      }
    });
  }
}

}  // namespace
}  // namespace ditstream
