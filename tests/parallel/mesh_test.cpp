// Mesh choice, its errors, and the sequence split's padding and gather.
#include "core/parallel/mesh.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/parallel/reductions.h"
#include "core/parallel/sequence_split.h"
#include "core/util/error.h"
#include "tests/parallel/thread_ranks.h"

namespace ditstream {
namespace {

using parallel::choose_mesh;
using parallel::MeshConfig;

// Expects `fn` to throw an invalid_argument error whose text holds `fragment`.
template <typename Fn>
void expect_invalid(Fn fn, const std::string& field, const std::string& fragment) {
  try {
    fn();
    FAIL() << "expected an error about " << field;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_argument);
    EXPECT_EQ(e.field(), field);
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(Mesh, AutomaticPrefersUlyssesThatDividesHeads) {
  const int64_t tokens = 118800;  // 720x1280x129 after patching
  auto m = choose_mesh(2, 24, tokens);
  EXPECT_EQ(m.ulysses, 2);
  EXPECT_EQ(m.ring, 1);
  m = choose_mesh(8, 24, tokens);
  EXPECT_EQ(m.ulysses, 8);
  EXPECT_EQ(m.ring, 1);
  m = choose_mesh(16, 24, tokens);
  EXPECT_EQ(m.ulysses, 8);
  EXPECT_EQ(m.ring, 2);
  m = choose_mesh(5, 24, tokens);  // 5 does not divide 24: all ring
  EXPECT_EQ(m.ulysses, 1);
  EXPECT_EQ(m.ring, 5);
  m = choose_mesh(1, 24, tokens);
  EXPECT_EQ(m.world_size(), 1);
}

TEST(Mesh, FlagsAreHonoured) {
  auto m = choose_mesh(4, 24, 1000, {2, 2});
  EXPECT_EQ(m.ulysses, 2);
  EXPECT_EQ(m.ring, 2);
  m = choose_mesh(8, 24, 1000, {0, 4});
  EXPECT_EQ(m.ulysses, 2);
  EXPECT_EQ(m.ring, 4);
  m = choose_mesh(8, 24, 1000, {4, 0});
  EXPECT_EQ(m.ring, 2);
  m = choose_mesh(2, 24, 1000, {1, 0});
  EXPECT_EQ(m.ring, 2);
  EXPECT_EQ(m.to_string(), "ulysses 1 x ring 2");
  EXPECT_EQ(m.ulysses_index(1), 0);
  EXPECT_EQ(m.ring_index(1), 1);
}

TEST(Mesh, RejectsUnusableRequests) {
  expect_invalid([] { choose_mesh(5, 24, 1000, {5, 1}); }, "ulysses_degree", "does not divide the 24 attention heads");
  expect_invalid([] { choose_mesh(4, 24, 1000, {2, 3}); }, "ulysses_degree", "does not equal the world size 4");
  expect_invalid([] { choose_mesh(6, 24, 1000, {4, 0}); }, "ulysses_degree", "does not divide the world size 6");
  expect_invalid([] { choose_mesh(6, 24, 1000, {0, 4}); }, "ring_degree", "does not divide the world size 6");
  expect_invalid([] { choose_mesh(16, 24, 1000, {16, 0}); }, "ulysses_degree", "24 attention heads");
  expect_invalid([] { choose_mesh(8, 24, 6); }, "world_size", "more than the 6 video tokens");
  expect_invalid([] { choose_mesh(0, 24, 6); }, "world_size", "at least 1");
  expect_invalid([] { choose_mesh(2, 24, 6, {-1, 0}); }, "ulysses_degree", "positive");
}

TEST(Mesh, CommunicatorsFollowTheLayout) {
  // 2 x 3 on 6 ranks: Ulysses groups {0,1},{2,3},{4,5}; ring groups {0,2,4},{1,3,5}.
  testing::run_thread_ranks(6, [](parallel::Communicator& comm) {
    const auto groups = parallel::make_mesh_communicators(comm, {2, 3});
    EXPECT_EQ(groups.ulysses->world_size(), 2);
    EXPECT_EQ(groups.ring->world_size(), 3);
    EXPECT_EQ(groups.ulysses->rank(), comm.rank() % 2);
    EXPECT_EQ(groups.ring->rank(), comm.rank() / 2);
    const at::Tensor ring_members = groups.ring->all_gather(at::full({1}, comm.rank(), at::kLong), 0);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(ring_members[i].item<int64_t>(), comm.rank() % 2 + 2 * i);
  });
}

TEST(SequenceSplit, PadsTheLastShardsAndGathersBack) {
  const parallel::SequenceSplit split(5, 4, 3);
  EXPECT_EQ(split.shard(), 2);
  EXPECT_EQ(split.padded(), 8);
  EXPECT_EQ(split.local_valid(), 0);
  EXPECT_EQ(split.valid_in(4, 2), 1);
  EXPECT_EQ(split.valid_in(0, 4), 4);
  for (int n : {1, 2, 3, 4}) {
    const at::Tensor full = at::arange(2 * 11 * 3, at::kFloat).reshape({2, 11, 3});  // [B, L, C]
    testing::run_thread_ranks(n, [&](parallel::Communicator& comm) {
      const parallel::SequenceSplit s(11, n, comm.rank());
      const at::Tensor local = s.shard_of(full, 1);
      EXPECT_EQ(local.size(1), s.shard());
      const int64_t valid = s.local_valid();
      EXPECT_TRUE(at::equal(local.narrow(1, 0, valid), full.narrow(1, s.begin(), valid)));
      EXPECT_EQ(local.narrow(1, valid, s.shard() - valid).abs().sum().item<float>(), 0.0f);
      EXPECT_TRUE(at::equal(s.gather(comm, local, -2), full));
    });
  }
}

TEST(Reductions, RelativeL1OverShardsEqualsOneDevice) {
  at::manual_seed(5);
  const at::Tensor now = at::randn({2, 13, 4}, at::kDouble);   // [B, L, C]
  const at::Tensor before = at::randn({2, 13, 4}, at::kDouble);
  const double expected = ((now - before).abs().mean() / before.abs().mean()).item<double>();
  for (int n : {1, 2, 3, 4}) {
    std::vector<double> got(n);
    testing::run_thread_ranks(n, [&](parallel::Communicator& comm) {
      const parallel::SequenceSplit s(13, n, comm.rank());
      at::Tensor a = s.shard_of(now, 1);
      a.narrow(1, s.local_valid(), s.shard() - s.local_valid()).fill_(7.0);  // padding rows: must not count
      const at::Tensor b = s.shard_of(before, 1);
      got[comm.rank()] = parallel::global_relative_l1(comm, s, a, b, 1);
    });
    for (double g : got) EXPECT_NEAR(g, expected, 1e-12) << n << " ranks";
  }
}

TEST(SequenceSplit, RejectsMoreRanksThanTokens) {
  expect_invalid([] { parallel::SequenceSplit(3, 4, 0); }, "video_tokens", "cannot be split over 4 ranks");
  expect_invalid([] { parallel::SequenceSplit(8, 4, 4); }, "rank", "outside [0, 4)");
  const parallel::SequenceSplit s(8, 2, 0);
  expect_invalid([&] { s.shard_of(at::zeros({1, 7}), 1); }, "tokens", "expected 8");
}

}  // namespace
}  // namespace ditstream
