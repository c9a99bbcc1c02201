// Streaming, tiled and multi-rank decoding against the whole decode (itself checked against
// diffusers in vae_parity_test.cpp), bad input, cancellation.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <thread>

#include "core/model/vae/streaming_decoder.h"
#include "core/parallel/communicator.h"
#include "core/util/error.h"
#include "tests/model/vae/vae_test_util.h"

namespace ditstream {
namespace {

using model::vae::ChunkPlan;
using model::vae::NormStatistics;
using model::vae::StreamingDecoder;
using model::vae::StreamingOptions;
using model::vae::TileSettings;

at::Tensor stream_all(const model::vae::AutoencoderKLHunyuanVideo& vae, const at::Tensor& z, ChunkPlan plan,
                      StreamingOptions options, parallel::Communicator* comm = nullptr, int* chunks = nullptr) {
  std::vector<at::Tensor> parts;
  int64_t expected_first = 0;
  model::vae::decode_streaming(
      vae, z, plan, options,
      [&](const at::Tensor& frames, int64_t first) {
        EXPECT_EQ(first, expected_first);
        expected_first += frames.size(2);
        parts.push_back(frames);
      },
      {}, comm);
  if (chunks) *chunks = static_cast<int>(parts.size());
  return parts.empty() ? at::Tensor() : at::cat(parts, 2);
}

TEST(VaeStreaming, OneChunkPerChunkStatisticsIsTheWholeDecode) {
  auto vae = testing::tiny_vae();
  const auto z = testing::random_latents({1, 16, 4, 3, 4}, 10);
  const auto whole = vae->decode(z);
  const auto streamed = stream_all(*vae, z, ChunkPlan{4, 1}, {});
  ASSERT_EQ(streamed.sizes(), whole.sizes());
  EXPECT_LE(testing::relative_l2(streamed, whole), 1e-6);
}

TEST(VaeStreaming, ChunksWithWholeClipStatisticsEqualTheWholeDecode) {
  auto vae = testing::tiny_vae();
  const auto z = testing::random_latents({1, 16, 4, 2, 2}, 11);
  const auto whole = vae->decode(z);
  for (const ChunkPlan plan : {ChunkPlan{1, 1}, ChunkPlan{2, 2}, ChunkPlan{1, 3}}) {
    StreamingOptions options;
    options.statistics = NormStatistics::whole_clip;
    int chunks = 0;
    const auto streamed = stream_all(*vae, z, plan, options, nullptr, &chunks);
    ASSERT_EQ(streamed.sizes(), whole.sizes());
    EXPECT_EQ(chunks, static_cast<int>(plan.split(4).size()));
    const double err = testing::relative_l2(streamed, whole);
    EXPECT_LE(err, 1e-5) << "first " << plan.first_chunk_frames << " then " << plan.chunk_frames;
  }
}

TEST(VaeStreaming, PerChunkStatisticsNormaliseEachChunkOnItsOwn) {
  auto vae = testing::tiny_vae();
  const auto z = testing::random_latents({1, 16, 5, 3, 3}, 12);
  StreamingDecoder decoder(*vae, {});
  const auto first = decoder.push(z.narrow(2, 0, 2));
  EXPECT_EQ(first.size(2), 5);
  // The first chunk alone is the decode of those latent frames alone.
  EXPECT_LE(testing::relative_l2(first, vae->decode(z.narrow(2, 0, 2))), 1e-6);
  const auto rest = decoder.push(z.narrow(2, 2, 3));
  EXPECT_EQ(rest.size(2), 12);
  EXPECT_GT(decoder.cache_bytes(), 0);
  decoder.finish();
  EXPECT_EQ(decoder.cache_bytes(), 0);
}

TEST(VaeStreaming, TiledStreamingEqualsTiledWholeDecode) {
  auto vae = testing::tiny_vae();
  const auto z = testing::random_latents({1, 16, 2, 4, 5}, 13);
  const TileSettings tile{32, 32, 24, 24};
  const auto whole = vae->decode(z, tile);
  StreamingOptions options;
  options.statistics = NormStatistics::whole_clip;
  options.tiling = tile;
  const auto streamed = stream_all(*vae, z, ChunkPlan{1, 1}, options);
  ASSERT_EQ(streamed.sizes(), whole.sizes());
  EXPECT_LE(testing::relative_l2(streamed, whole), 1e-5);
}

TEST(VaeStreaming, UnscaleLatentsMatchesDecodeLatents) {
  auto vae = testing::tiny_vae();
  const auto latents = testing::random_latents({1, 16, 3, 3, 3}, 14);
  StreamingOptions options;
  options.unscale_latents = true;
  const auto streamed = stream_all(*vae, latents, ChunkPlan{3, 1}, options);
  EXPECT_LE(testing::relative_l2(streamed, vae->decode_latents(latents)), 1e-6);
}

void check_parallel(int world, NormStatistics statistics) {
  auto vae = testing::tiny_vae();
  // 2 rows × 3 columns of tiles; whole-clip statistics cost a pass per norm, so fewer frames.
  const bool whole = statistics == NormStatistics::whole_clip;
  const auto z = testing::random_latents({1, 16, whole ? 2 : 4, 4, whole ? 7 : 8}, 15);
  StreamingOptions options;
  options.statistics = statistics;
  options.tiling = TileSettings{32, 32, 24, 24};
  const ChunkPlan plan{1, whole ? 1 : 2};
  const auto single = stream_all(*vae, z, plan, options);
  auto comms = parallel::make_thread_communicators(world);
  std::vector<at::Tensor> results(world);
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] { results[r] = stream_all(*vae, z, plan, options, comms[r].get()); });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(results[0].defined());
  for (int r = 1; r < world; ++r) EXPECT_FALSE(results[r].defined()) << "frames only on rank 0";
  ASSERT_EQ(results[0].sizes(), single.sizes());
  EXPECT_LE(testing::relative_l2(results[0], single), 1e-6) << world << " ranks";
}

TEST(VaeParallel, TwoRanksEqualOneRank) { check_parallel(2, NormStatistics::per_chunk); }
TEST(VaeParallel, ThreeRanksEqualOneRank) { check_parallel(3, NormStatistics::per_chunk); }
TEST(VaeParallel, ThreeRanksWholeClipStatisticsEqualOneRank) { check_parallel(3, NormStatistics::whole_clip); }

TEST(VaeRowBands, OneFullWidthBandPerRankOverlappingByEightRows) {
  // 544x960 video: 68x120 latent; two bands of 34 rows, the first 8 rows longer.
  const auto two = model::vae::row_bands(68, 120, 2, 8);
  ASSERT_TRUE(two.has_value());
  EXPECT_EQ(two->sample_min_height, 42 * 8);
  EXPECT_EQ(two->sample_stride_height, 34 * 8);
  EXPECT_EQ(two->sample_min_width, 960);
  EXPECT_EQ(two->sample_stride_width, 960);
  const model::vae::TileGrid grid(68, 120, two, 8);
  ASSERT_EQ(grid.tiles().size(), 2u);
  EXPECT_EQ(grid.tiles()[0].height, 42);
  EXPECT_EQ(grid.tiles()[1].y, 34);
  EXPECT_EQ(grid.tiles()[1].height, 34);
  EXPECT_EQ(model::vae::TileGrid(68, 120, model::vae::row_bands(68, 120, 3, 8), 8).tiles().size(), 3u);
  // Nothing to split: one rank, or a frame no taller than a band and its overlap.
  EXPECT_FALSE(model::vae::row_bands(68, 120, 1, 8).has_value());
  EXPECT_FALSE(model::vae::row_bands(12, 120, 2, 8).has_value());
  EXPECT_FALSE(model::vae::row_bands(5, 120, 4, 8).has_value());
}

TEST(VaeRowBands, TwoRanksDecodingABandEachEqualOneRankWithTheSameBands) {
  auto vae = testing::tiny_vae();
  const auto z = testing::random_latents({1, 16, 2, 20, 6}, 17);
  StreamingOptions options;
  options.tiling = model::vae::row_bands(20, 6, 2, vae->config().spatial_compression_ratio);
  ASSERT_TRUE(options.tiling.has_value());
  const ChunkPlan plan{1, 1};
  const auto single = stream_all(*vae, z, plan, options);
  auto comms = parallel::make_thread_communicators(2);
  std::vector<at::Tensor> results(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&, r] { results[r] = stream_all(*vae, z, plan, options, comms[r].get()); });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(results[0].defined());
  EXPECT_LE(testing::relative_l2(results[0], single), 1e-6);
  // Blending at the seam makes the banded decode close to, not equal to, the whole frame's.
  const double to_whole = testing::relative_l2(single, stream_all(*vae, z, plan, StreamingOptions{}));
  EXPECT_GT(to_whole, 0.0);
  EXPECT_LT(to_whole, 0.5);
}

TEST(VaeParallel, SingleRankCommunicatorDecodesEverything) {
  auto vae = testing::tiny_vae();
  const auto z = testing::random_latents({1, 16, 2, 6, 8}, 16);
  StreamingOptions options;
  options.tiling = TileSettings{32, 32, 24, 24};
  auto comm = parallel::make_single_rank_communicator();
  const auto ours = stream_all(*vae, z, ChunkPlan{2, 1}, options, comm.get());
  EXPECT_LE(testing::relative_l2(ours, vae->decode(z, options.tiling)), 1e-6);
}

template <typename F>
void expect_invalid(F&& f, const std::string& field) {
  try {
    f();
    ADD_FAILURE() << "no error for " << field;
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::invalid_argument);
    EXPECT_EQ(e.field(), field) << e.what();
  }
}

TEST(VaeErrors, BadLatentsChunkSizesAndTilesAreRejected) {
  auto vae = testing::tiny_vae();
  expect_invalid([&] { vae->decode(testing::random_latents({1, 8, 2, 3, 3}, 1)); }, "z");
  expect_invalid([&] { vae->decode(testing::random_latents({1, 16, 2, 3}, 1)); }, "z");
  expect_invalid([&] { vae->decode(testing::random_latents({1, 16, 2, 3, 3}, 1).to(at::kDouble)); }, "z");
  StreamingDecoder decoder(*vae, {});
  expect_invalid([&] { decoder.push(testing::random_latents({1, 15, 1, 3, 3}, 1)); }, "z_chunk");
  decoder.push(testing::random_latents({1, 16, 1, 3, 3}, 1));
  expect_invalid([&] { decoder.push(testing::random_latents({1, 16, 1, 3, 4}, 1)); }, "z_chunk");
  const auto z = testing::random_latents({1, 16, 3, 3, 3}, 1);
  expect_invalid([&] { model::vae::decode_streaming(*vae, z, ChunkPlan{1, 0}, {}, {}); }, "chunk_frames");
  expect_invalid([&] { model::vae::decode_streaming(*vae, z, ChunkPlan{-1, 2}, {}, {}); }, "first_chunk_frames");
  expect_invalid([&] { vae->decode(z, TileSettings{16, 32, 8, 24}); }, "tile_sample_min_height");
  expect_invalid([&] { vae->decode(z, TileSettings{32, 36, 24, 24}); }, "tile_sample_min_width");
  expect_invalid([&] { vae->decode(z, TileSettings{32, 32, 40, 24}); }, "tile_sample_stride_height");
  StreamingOptions offload;
  offload.offload_caches = true;
  expect_invalid([&] { StreamingDecoder cpu_offload(*vae, offload); }, "offload_caches");
  StreamingOptions whole;
  whole.statistics = NormStatistics::whole_clip;
  StreamingDecoder needs_stats(*vae, whole);
  expect_invalid([&] { needs_stats.push(z); }, "statistics");
}

TEST(VaeCancel, StopsAfterTheCurrentChunkAndFreesCaches) {
  auto vae = testing::tiny_vae();
  const auto z = testing::random_latents({1, 16, 5, 3, 3}, 17);
  int chunks = 0;
  const bool completed = model::vae::decode_streaming(
      *vae, z, ChunkPlan{1, 1}, {}, [&](const at::Tensor&, int64_t) { ++chunks; }, [&] { return chunks >= 2; });
  EXPECT_FALSE(completed);
  EXPECT_EQ(chunks, 2);
}

}  // namespace
}  // namespace ditstream
