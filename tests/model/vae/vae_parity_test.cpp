// The VAE against diffusers' AutoencoderKLHunyuanVideo on the tiny model, CPU fp32.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/io/diffusers_folder.h"
#include "tests/model/vae/vae_test_util.h"

namespace ditstream {
namespace {

using model::vae::TileSettings;

TEST(VaeParity, LoadsEveryTensorOfTheTinyVaeStrictly) {
  auto vae = testing::tiny_vae();
  const auto ckpt = io::DiffusersFolder::open(testing::tiny_model_dir()).weights("vae");
  EXPECT_EQ(vae->named_parameters().size(), ckpt.names().size());
  EXPECT_GT(vae->parameter_count(), 0);
}

TEST(VaeParity, WholeDecodeMatchesDiffusersDecode) {
  auto vae = testing::tiny_vae();
  const auto z = testing::random_latents({2, 16, 3, 4, 5}, 1);
  const auto ours = vae->decode(z);
  const auto ref = testing::diffusers_decode(z, std::nullopt);
  ASSERT_EQ(ours.sizes(), ref.sizes());
  EXPECT_EQ(ours.sizes().vec(), (std::vector<int64_t>{2, 3, 9, 32, 40}));
  const double err = testing::relative_l2(ours, ref);
  RecordProperty("rel_l2", testing::scientific(err));
  EXPECT_LE(err, 1e-5);
}

TEST(VaeParity, TiledDecodeMatchesDiffusersTiledDecode) {
  auto vae = testing::tiny_vae();
  const auto z = testing::random_latents({1, 16, 2, 6, 8}, 2);
  // 4-latent tiles every 3 latent pixels: 2 rows × 3 columns, 8-pixel blends.
  const TileSettings tile{32, 32, 24, 24};
  const auto ours = vae->decode(z, tile);
  const auto ref = testing::diffusers_decode(z, tile);
  ASSERT_EQ(ours.sizes(), ref.sizes());
  const double err = testing::relative_l2(ours, ref);
  RecordProperty("rel_l2", testing::scientific(err));
  EXPECT_LE(err, 1e-4);
  // Tiling changed the result (per-tile statistics), so the test would see a wrong blend.
  EXPECT_GT(testing::relative_l2(vae->decode(z), ref), 1e-4);
}

TEST(VaeParity, DecodeLatentsDividesByTheScalingFactor) {
  auto vae = testing::tiny_vae();
  const auto latents = testing::random_latents({1, 16, 2, 3, 3}, 3);
  const auto a = vae->decode_latents(latents);
  const auto b = vae->decode(latents / vae->config().scaling_factor);
  EXPECT_LE(testing::relative_l2(a, b), 1e-7);
}

TEST(VaeParity, EncoderMatchesDiffusersEncoder) {
  auto vae = testing::tiny_vae();
  const auto x = testing::random_latents({1, 3, 9, 32, 24}, 4);
  const auto dir = testing::fresh_temp_dir();
  testing::save_tensors(dir / "in.safetensors", {{"x", x}});
  testing::run_reference("vae_reference.py", {"encode", (dir / "in.safetensors").string(),
                                              (dir / "out.safetensors").string(), "--model",
                                              testing::tiny_model_dir().string()});
  const auto ref = testing::load_tensors(dir / "out.safetensors").at("moments");
  const auto ours = vae->encode(x);
  ASSERT_EQ(ours.sizes(), ref.sizes());
  EXPECT_EQ(ours.sizes().vec(), (std::vector<int64_t>{1, 32, 3, 4, 3}));
  const double err = testing::relative_l2(ours, ref);
  RecordProperty("rel_l2", testing::scientific(err));
  EXPECT_LE(err, 1e-5);
}

}  // namespace
}  // namespace ditstream
