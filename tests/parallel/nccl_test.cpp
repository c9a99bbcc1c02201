// NCCL collectives and context-parallel attention on real GPUs, one process per GPU.
//
// NcclRank.* are the per-rank checks. Run by themselves (ctest, or a plain shell) they form a
// world of one; under `torchrun --no-python --nproc_per_node 2 parallel_gpu_tests
// --gtest_filter='NcclRank.*'` or through NcclLaunch.RanksOnEveryGpu (which starts one rank per
// GPU, at most DITSTREAM_GPU_TEST_RANKS, default 2, with ditstream's launcher) they run on all ranks.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <gtest/gtest.h>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <thread>

#include <c10/core/InferenceMode.h>

#include "core/kernels/attention.h"
#include "core/kernels/fp8_attention.h"
#include "core/model/hunyuan_video/transformer.h"
#include "core/parallel/context_parallel_attention.h"
#include "core/parallel/context_parallel_transformer.h"
#include "core/parallel/launcher.h"
#include "core/parallel/mesh.h"
#include "core/parallel/nccl_communicator.h"
#include "core/parallel/rank_group.h"
#include "core/parallel/rendezvous.h"
#include "core/parallel/ulysses_pipeline.h"
#include "core/util/error.h"
#include "tests/support/test_support.h"

namespace ditstream {
namespace {

using namespace std::chrono_literals;
using parallel::Communicator;

#define REQUIRE_GPU() \
  if (!testing::cuda_available()) GTEST_SKIP() << "no CUDA device: NCCL tests need a GPU"

// One world per process, formed on first use and never destroyed: NCCL must not be torn down
// during static destruction, after the CUDA runtime may be gone.
parallel::RankGroup& group() {
  static parallel::RankGroup* g = [] {
    auto env = parallel::rank_environment_from_process();
    if (!env.is_distributed()) env.master_port = parallel::find_free_port("127.0.0.1");  // a world of one
    auto* out = new parallel::RankGroup();
    out->env = env;
    out->store = parallel::connect_rendezvous(env, 60s);
    parallel::check_same_model(*out->store, env, testing::tiny_model_dir(), 60s);
    out->world = parallel::make_nccl_communicator(*out->store, env, {60s, "world"});
    return out;
  }();
  return *g;
}

at::TensorOptions gpu(at::ScalarType type) {
  return at::TensorOptions().device(at::kCUDA, group().env.local_rank).dtype(type);
}

TEST(NcclRank, AllReduceSum) {
  REQUIRE_GPU();
  auto& comm = *group().world;
  const int n = comm.world_size();
  for (auto type : {at::kFloat, at::kBFloat16, at::kLong}) {
    at::Tensor t = at::full({3, 5}, comm.rank() + 1, gpu(type));
    comm.all_reduce_sum(t);
    EXPECT_TRUE(at::equal(t.cpu(), at::full({3, 5}, n * (n + 1) / 2, at::TensorOptions().dtype(type))));
  }
  // Not contiguous: written back in place.
  at::Tensor t = at::ones({4, 6}, gpu(at::kFloat)).t();
  comm.all_reduce_sum(t);
  EXPECT_EQ(t.sum().item<float>(), 24.0f * n);
}

TEST(NcclRank, AllGatherAlongAnyDim) {
  REQUIRE_GPU();
  auto& comm = *group().world;
  const int n = comm.world_size();
  const auto input = [&](int r) { return at::arange(2 * 3 * 4, at::kFloat).reshape({2, 3, 4}) + 100 * r; };
  for (int64_t dim : {0, 1, 2, -1}) {
    std::vector<at::Tensor> all;
    for (int r = 0; r < n; ++r) all.push_back(input(r));
    const at::Tensor got = comm.all_gather(input(comm.rank()).to(gpu(at::kFloat)), dim);
    EXPECT_TRUE(at::equal(got.cpu(), at::cat(all, dim))) << "dim " << dim;
  }
}

TEST(NcclRank, AllToAllMatchesItsDefinition) {
  REQUIRE_GPU();
  auto& comm = *group().world;
  const int n = comm.world_size();
  const auto input = [&](int r) { return at::arange(2 * n * 3 * 2 * n * 5, at::kFloat).reshape({2, n * 3, 2 * n, 5}) + 1e4 * r; };
  for (auto [scatter, gather] : std::vector<std::pair<int64_t, int64_t>>{{1, 2}, {2, 1}, {0, 3}, {1, 1}}) {
    if (input(0).size(scatter) % n != 0) continue;
    std::vector<at::Tensor> received;
    for (int r = 0; r < n; ++r) received.push_back(input(r).chunk(n, scatter)[comm.rank()]);
    const at::Tensor got = comm.all_to_all(input(comm.rank()).to(gpu(at::kFloat)), scatter, gather);
    EXPECT_TRUE(at::equal(got.cpu(), at::cat(received, gather))) << "scatter " << scatter << " gather " << gather;
  }
}

TEST(NcclRank, AllToAllAsyncEqualsAllToAll) {
  REQUIRE_GPU();
  auto& comm = *group().world;
  const int n = comm.world_size();
  const at::Tensor x =
      (at::arange(2 * n * 3 * 2 * n * 5, at::kFloat).reshape({2, n * 3, 2 * n, 5}) + 1e4 * comm.rank()).to(gpu(at::kFloat));
  for (auto [scatter, gather] : std::vector<std::pair<int64_t, int64_t>>{{1, 2}, {2, 1}, {0, 3}, {1, 0}, {2, 2}}) {
    if (x.size(scatter) % n != 0) continue;
    const at::Tensor blocking = comm.all_to_all(x, scatter, gather);
    auto pending = comm.all_to_all_async(x, scatter, gather);
    // Work queued meanwhile on the caller's stream runs beside it.
    const at::Tensor busy = at::matmul(at::randn({512, 512}, gpu(at::kFloat)), at::randn({512, 512}, gpu(at::kFloat)));
    EXPECT_TRUE(at::equal(pending->wait(), blocking)) << "scatter " << scatter << " gather " << gather;
    EXPECT_TRUE(busy.isfinite().all().item<bool>());
  }
  // Several in flight at once complete in order, each with its own result.
  std::vector<std::unique_ptr<parallel::PendingExchange>> pending;
  for (int i = 0; i < 4; ++i) pending.push_back(comm.all_to_all_async(x * (i + 1), 1, 2));
  const at::Tensor base = comm.all_to_all(x, 1, 2);
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(at::equal(pending[i]->wait(), base * (i + 1))) << "in flight " << i;
  comm.barrier();
}

TEST(NcclRank, BroadcastAndRingExchange) {
  REQUIRE_GPU();
  auto& comm = *group().world;
  const int n = comm.world_size();
  at::Tensor t = at::full({7}, comm.rank(), gpu(at::kBFloat16));
  comm.broadcast(t, n - 1);
  EXPECT_EQ(t.sum().item<float>(), 7.0f * (n - 1));

  const at::Tensor mine = at::full({1000}, comm.rank(), gpu(at::kFloat));
  EXPECT_EQ(comm.ring_exchange(mine)[0].item<float>(), static_cast<float>((comm.rank() + n - 1) % n));
  // The async step overlaps with work queued meanwhile on the caller's stream.
  auto pending = comm.ring_exchange_async(mine * 2);
  const at::Tensor busy = at::matmul(at::randn({512, 512}, gpu(at::kFloat)), at::randn({512, 512}, gpu(at::kFloat)));
  EXPECT_EQ(pending->wait()[999].item<float>(), 2.0f * ((comm.rank() + n - 1) % n));
  EXPECT_TRUE(busy.isfinite().all().item<bool>());
  comm.barrier();
}

TEST(NcclRank, SplitFormsGroups) {
  REQUIRE_GPU();
  auto& comm = *group().world;
  const int n = comm.world_size();
  auto odd_even = comm.split(comm.rank() % 2, comm.rank());
  at::Tensor t = at::ones({1}, gpu(at::kFloat));
  odd_even->all_reduce_sum(t);
  const int members = comm.rank() % 2 == 0 ? (n + 1) / 2 : n / 2;
  EXPECT_EQ(odd_even->world_size(), members);
  EXPECT_EQ(t.item<float>(), static_cast<float>(members));
}

// 2-rank (or n-rank) context-parallel attention equals one device's SDPA over cat([video, text]).
void check_attention(parallel::Mesh mesh, at::ScalarType type, double tolerance) {
  auto& comm = *group().world;
  if (mesh.world_size() != comm.world_size()) return;
  SCOPED_TRACE(mesh.to_string() + " " + std::string(c10::toString(type)));
  const int64_t heads = 24, dim = 128, video = 4093, text = 77;
  at::manual_seed(17);  // the same full tensors on every rank
  const auto make = [&](int64_t tokens) { return at::randn({1, heads, tokens, dim}, gpu(type)); };
  const at::Tensor qv = make(video), kv = make(video), vv = make(video);
  const at::Tensor qt = make(text), kt = make(text), vt = make(text);
  const at::Tensor expected = at::scaled_dot_product_attention(at::cat({qv, qt}, 2), at::cat({kv, kt}, 2),
                                                               at::cat({vv, vt}, 2));  // [1, H, L + T, D]
  auto groups = parallel::make_mesh_communicators(comm, mesh);
  const parallel::SequenceSplit split(video, comm.world_size(), comm.rank());
  const parallel::ContextParallelAttention attention(*groups.ulysses, *groups.ring, split);
  const auto out = attention(split.shard_of(qv, 2), split.shard_of(kv, 2), split.shard_of(vv, 2), qt, kt, vt);
  const at::Tensor gathered = split.gather(comm, out.video, 2);
  EXPECT_LE(testing::relative_l2(gathered.cpu(), expected.narrow(2, 0, video).cpu()), tolerance);
  EXPECT_LE(testing::relative_l2(out.text.cpu(), expected.narrow(2, video, text).cpu()), tolerance);
  if (mesh.ring == 1 && type == at::kBFloat16) {
    // A Ulysses rank attends whole heads with the kernel one device uses (kernels::attention),
    // and heads do not interact: the same bits. A different kernel shows up here, not only as
    // a slower step.
    const at::Tensor one_device = kernels::attention(at::cat({qv, qt}, 2), at::cat({kv, kt}, 2), at::cat({vv, vt}, 2));
    EXPECT_TRUE(at::equal(gathered, one_device.narrow(2, 0, video)));
    EXPECT_TRUE(at::equal(out.text, one_device.narrow(2, video, text)));
  }
}

TEST(NcclRank, ContextParallelAttentionMatchesOneDevice) {
  REQUIRE_GPU();
  const int n = group().world->world_size();
  for (auto type : {at::kBFloat16, at::kFloat}) {
    const double tol = type == at::kFloat ? 1e-5 : 1e-2;
    check_attention({n, 1}, type, tol);  // Ulysses
    check_attention({1, n}, type, tol);  // ring
    if (n % 2 == 0 && n > 2) check_attention({n / 2, 2}, type, tol);
  }
}

// The Ulysses attention pipelined over head groups (all-to-alls on the side stream, beside
// attention) gives exactly the unpipelined output on every rank; with FP8 attention (scales per
// group) it stays within the kernel's error of fp32 attention.
TEST(NcclRank, PipelinedUlyssesAttentionEqualsUnpipelined) {
  REQUIRE_GPU();
  auto& comm = *group().world;
  const int n = comm.world_size();
  const int64_t heads = 12 * n, dim = 128, video = 4093, text = 77;  // 12 heads per rank, as HunyuanVideo's on 2
  at::manual_seed(23);  // the same full tensors on every rank
  const auto make = [&](int64_t tokens) { return at::randn({1, heads, tokens, dim}, gpu(at::kBFloat16)); };
  const at::Tensor qv = make(video), kv = make(video), vv = make(video);
  const at::Tensor qt = make(text), kt = make(text).narrow(2, 0, 60), vt = make(text).narrow(2, 0, 60);
  auto groups = parallel::make_mesh_communicators(comm, parallel::Mesh{n, 1});
  const parallel::SequenceSplit split(video, n, comm.rank());
  parallel::ContextParallelAttention attention(*groups.ulysses, *groups.ring, split);
  const auto run = [&](std::optional<int> count, bool fp8) {
    attention.set_ulysses_groups(count);
    return attention(split.shard_of(qv, 2), split.shard_of(kv, 2), split.shard_of(vv, 2), qt, kt, vt, fp8);
  };
  const auto plain = run(1, false);
  const int64_t per_rank = heads / n;
  for (int count = 2; per_rank / count >= 4; ++count) {  // the counts worth using: 4+ heads per group
    if (per_rank % count != 0) continue;
    SCOPED_TRACE(std::to_string(count) + " head groups");
    const auto piped = run(count, false);
    EXPECT_TRUE(at::equal(piped.video, plain.video));
    EXPECT_TRUE(at::equal(piped.text, plain.text));
  }
  attention.set_ulysses_groups(std::nullopt);
  EXPECT_EQ(attention.ulysses_groups(heads), n == 1 ? 1 : 3);

  std::string why;
  if (!kernels::fp8_attention_available(qv.device(), &why)) {
    ADD_FAILURE() << "FP8 attention unavailable: " << why;
    return;
  }
  const at::Tensor joined_k = at::cat({kv, kt}, 2).to(at::kFloat), joined_v = at::cat({vv, vt}, 2).to(at::kFloat);
  const at::Tensor expected = at::scaled_dot_product_attention(at::cat({qv, qt}, 2).to(at::kFloat), joined_k, joined_v);
  for (int count : {1, parallel::default_ulysses_groups(per_rank)}) {
    SCOPED_TRACE("fp8, " + std::to_string(count) + " head groups");
    const auto out = run(count, true);
    const at::Tensor got = at::cat({split.gather(comm, out.video, 2), out.text}, 2).to(at::kFloat);
    EXPECT_LE(testing::relative_l2(got.cpu(), expected.cpu()), 8e-2);
  }
}

// A full-size HunyuanVideo step (random bf16 weights, 320x512x33) on all ranks equals the step on
// one GPU, for every mesh the world size allows.
TEST(NcclRank, FullSizeStepMatchesOneGpu) {
  REQUIRE_GPU();
  auto& comm = *group().world;
  const int n = comm.world_size();
  c10::InferenceMode guard;
  model::hunyuan_video::HunyuanVideoTransformerConfig config;
  model::hunyuan_video::HunyuanVideoTransformer3DModel model(config);
  model.init_random(at::Device(at::kCUDA, group().env.local_rank), at::kBFloat16, 0);
  const auto bf16 = gpu(at::kBFloat16);
  auto gen = at::detail::createCPUGenerator(3);
  model::hunyuan_video::TransformerInputs in;
  in.hidden_states = at::randn({1, 16, 9, 40, 64}, gen).to(bf16);  // 320x512x33 -> 9 x 20 x 32 tokens
  in.timestep = at::full({1}, 500.0, bf16);
  in.encoder_hidden_states = at::randn({1, 64, config.text_embed_dim}, gen).to(bf16);
  in.encoder_attention_mask = at::ones({1, 64}, at::kLong);
  in.encoder_attention_mask.narrow(1, 50, 14).zero_();  // padded text is cut
  in.pooled_projections = at::randn({1, config.pooled_projection_dim}, gen).to(bf16);
  in.guidance = at::full({1}, 6000.0, bf16);
  const at::Tensor expected = model.forward(in).to(at::kFloat).cpu();

  std::vector<parallel::MeshConfig> meshes{{n, 1}, {1, n}};
  if (n >= 4 && n % 2 == 0) meshes.push_back({n / 2, 2});
  for (const auto& mesh : meshes) {
    parallel::ContextParallelTransformer transformer(model, comm, mesh);
    SCOPED_TRACE(transformer.mesh().to_string());
    const at::Tensor out = transformer.forward(in).to(at::kFloat).cpu();
    const double rel = testing::relative_l2(out, expected);
    // Not the same bits even for Ulysses, whose attention is (ContextParallelAttentionMatchesOneDevice):
    // each rank's GEMMs have fewer rows, for which cuBLAS may pick other kernels.
    EXPECT_LE(rel, 1e-2);
    if (comm.rank() == 0) std::printf("full-size step, %s: relative L2 %.3e\n", transformer.mesh().to_string().c_str(), rel);
  }
}

TEST(NcclRank, ASkippedCollectiveTimesOut) {
  REQUIRE_GPU();
  auto& g = group();
  auto short_lived = parallel::make_nccl_communicator(*g.store, g.env, {3s, "timeout_check"});
  if (short_lived->world_size() == 1) {
    short_lived->barrier();  // a world of one has nobody to wait for
    return;
  }
  const auto start = std::chrono::steady_clock::now();
  if (g.env.rank == 0) {
    try {
      short_lived->barrier();
      ADD_FAILURE() << "rank 0's barrier should time out: rank 1 never joins";
    } catch (const Error& e) {
      // Either the enqueue or the watchdog notices first; both name the cause.
      EXPECT_NE(std::string(e.what()).find("(a rank is missing, stuck or dead)"), std::string::npos) << e.what();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, 30s);
  }
  // The others skip the barrier; the world communicator still works for everyone.
  g.world->barrier();
}

// What rank 0 does when the launcher reports a dead rank: abort() from another thread releases
// collectives that wait for the missing peer: one on a group split from the world and one on the
// world queued behind it on the same stream (as a job's attention and its stop decision are).
TEST(NcclRank, AnAbortFromAnotherThreadReleasesCollectivesOnTheWorldAndItsGroups) {
  REQUIRE_GPU();
  auto& g = group();
  auto world = parallel::make_nccl_communicator(*g.store, g.env, {20s, "abort_check"});
  auto copy = world->split(0, g.env.rank);  // every rank: a group as wide as the world
  if (world->world_size() == 1) {
    world->abort("test: nobody is missing");
    EXPECT_THROW(copy->barrier(), Error);
  } else if (g.env.rank == 0) {
    const auto start = std::chrono::steady_clock::now();
    at::Tensor in_group = at::ones({1024}, gpu(at::kFloat));
    at::Tensor in_world = at::ones({1024}, gpu(at::kFloat));
    // The abort comes from another thread while this one is stuck: either in the enqueue (NCCL
    // connects peers on a communicator's first collective, which needs rank 1) or, once queued,
    // in the host's wait for the stream, as a job's stop decision waits.
    std::thread aborter([&] {
      std::this_thread::sleep_for(1s);
      world->abort("test: rank 1 is gone");
    });
    try {
      copy->all_reduce_sum(in_group);  // rank 1 never joins either
      world->all_reduce_sum(in_world);
      in_world.sum().item<float>();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("aborted: test: rank 1 is gone"), std::string::npos) << e.what();
    }
    aborter.join();
    EXPECT_LT(std::chrono::steady_clock::now() - start, 15s);  // before the 20 s timeout
    EXPECT_NE(world->failure().find("aborted: test: rank 1 is gone"), std::string::npos) << world->failure();
    try {
      copy->barrier();
      ADD_FAILURE() << "the group split from an aborted world is aborted too";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("aborted: test: rank 1 is gone"), std::string::npos) << e.what();
    }
  }
  // The others skip the collectives; the world communicator still works for everyone.
  g.world->barrier();
}

TEST(NcclLaunch, RanksOnEveryGpu) {
  REQUIRE_GPU();
  if (std::getenv("RANK") != nullptr) return;  // already a rank: the launch happens from outside
  const char* wanted = std::getenv("DITSTREAM_GPU_TEST_RANKS");
  const int ranks = std::min<int>(static_cast<int>(at::cuda::getNumGPUs()), wanted ? std::atoi(wanted) : 2);
  parallel::LaunchOptions options;
  options.ranks = ranks;
  options.program = parallel::current_executable();
  options.args = {"--gtest_filter=NcclRank.*"};
  const auto result = parallel::launch_ranks(options);
  EXPECT_EQ(result.exit_code, 0) << result.failure;
}

}  // namespace
}  // namespace ditstream
