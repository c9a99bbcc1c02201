#include "core/io/checkpoint.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <fstream>

#include "core/io/safetensors_writer.h"
#include "core/model/module.h"
#include "core/util/error.h"
#include "tests/support/test_support.h"

namespace ditstream {
namespace {

void write_index(const std::filesystem::path& path, const std::string& weight_map_json) {
  std::ofstream(path) << R"({"metadata":{"total_size":0},"weight_map":)" << weight_map_json << "}";
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Checkpoint, ShardedIndexJoinsItsShards) {
  const auto dir = testing::fresh_temp_dir();
  io::write_safetensors(dir / "m-1.safetensors", {{"a.weight", at::ones({2, 2})}});
  io::write_safetensors(dir / "m-2.safetensors", {{"b.weight", at::full({3}, 2.0)}, {"b.bias", at::zeros({3})}});
  write_index(dir / "m.safetensors.index.json",
              R"({"a.weight":"m-1.safetensors","b.weight":"m-2.safetensors","b.bias":"m-2.safetensors"})");
  const auto ckpt = io::Checkpoint::open(dir / "m.safetensors.index.json");
  EXPECT_EQ(ckpt.names(), (std::vector<std::string>{"a.weight", "b.bias", "b.weight"}));
  EXPECT_TRUE(at::equal(ckpt.tensor("b.weight"), at::full({3}, 2.0)));
  const auto half = ckpt.load("a.weight", at::kCPU, at::kHalf);
  EXPECT_EQ(half.scalar_type(), at::kHalf);
}

TEST(Checkpoint, MissingShardNamesTheShard) {
  const auto dir = testing::fresh_temp_dir();
  io::write_safetensors(dir / "m-1.safetensors", {{"a", at::ones({1})}});
  write_index(dir / "m.safetensors.index.json", R"({"a":"m-1.safetensors","b":"m-2.safetensors"})");
  const auto msg = message_of([&] { io::Checkpoint::open(dir / "m.safetensors.index.json"); });
  EXPECT_NE(msg.find("m-2.safetensors"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
}

TEST(Checkpoint, ShardMustHoldWhatTheIndexSays) {
  const auto dir = testing::fresh_temp_dir();
  io::write_safetensors(dir / "m-1.safetensors", {{"a", at::ones({1})}, {"stray", at::ones({1})}});
  write_index(dir / "m.safetensors.index.json", R"({"a":"m-1.safetensors"})");
  EXPECT_NE(message_of([&] { io::Checkpoint::open(dir / "m.safetensors.index.json"); }).find("stray"), std::string::npos);
  write_index(dir / "n.safetensors.index.json", R"({"a":"../m-1.safetensors"})");
  EXPECT_NE(message_of([&] { io::Checkpoint::open(dir / "n.safetensors.index.json"); }).find("beside the index"),
            std::string::npos);
  write_index(dir / "o.safetensors.index.json", R"({"a":7})");
  EXPECT_NE(message_of([&] { io::Checkpoint::open(dir / "o.safetensors.index.json"); }).find("weight_map.a"),
            std::string::npos);
}

// A two-level module for the loader tests.
class Inner : public model::Module {
 public:
  Inner() : weight(register_parameter("weight", {2, 3})), bias(register_parameter("bias", {2})) {}
  at::Tensor& weight;
  at::Tensor& bias;
};
class Outer : public model::Module {
 public:
  Outer() : scale(register_parameter("scale", {3})) {
    auto& list = register_module("blocks", std::make_unique<model::ModuleList<Inner>>());
    list.push_back(std::make_unique<Inner>());
    list.push_back(std::make_unique<Inner>());
  }
  at::Tensor& scale;
};

TEST(ModuleLoading, NamesFollowTheTreeAndLoadConverts) {
  const auto dir = testing::fresh_temp_dir();
  Outer m;
  std::vector<std::string> names;
  for (auto& [n, _] : m.named_parameters()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"scale", "blocks.0.weight", "blocks.0.bias", "blocks.1.weight",
                                             "blocks.1.bias"}));
  EXPECT_EQ(m.parameter_count(), 3 + 2 * (6 + 2));
  std::map<std::string, at::Tensor> w;
  for (auto& n : names) w[n] = at::randn(n == "scale" ? std::vector<int64_t>{3} : n.find("bias") != std::string::npos ? std::vector<int64_t>{2} : std::vector<int64_t>{2, 3});
  io::write_safetensors(dir / "w.safetensors", w);
  m.load(io::Checkpoint::open(dir / "w.safetensors"), {at::kCPU, at::kBFloat16});
  EXPECT_EQ(m.scale.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::allclose(m.scale.to(at::kFloat), w["scale"].to(at::kBFloat16).to(at::kFloat)));
}

TEST(ModuleLoading, ReportsMissingUnexpectedAndMisshaped) {
  const auto dir = testing::fresh_temp_dir();
  io::write_safetensors(dir / "w.safetensors", {{"scale", at::ones({4})},
                                                {"blocks.0.weight", at::ones({2, 3})},
                                                {"blocks.0.bias", at::ones({2})},
                                                {"blocks.1.weight", at::ones({2, 3})},
                                                {"extra.weight", at::ones({1})}});
  Outer m;
  const auto msg = message_of([&] { m.load(io::Checkpoint::open(dir / "w.safetensors"), {}); });
  EXPECT_NE(msg.find("missing tensors: blocks.1.bias"), std::string::npos) << msg;
  EXPECT_NE(msg.find("scale is [4], expected [3]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unexpected tensors: extra.weight"), std::string::npos) << msg;
}

TEST(ModuleLoading, RandomInitFollowsTorchDefaults) {
  Outer m;
  m.init_random(at::kCPU, at::kFloat, 7);
  EXPECT_TRUE(at::equal(m.scale, at::ones({3})));
  auto params = m.named_parameters();
  const at::Tensor& w = *params[1].second;
  EXPECT_LE(w.abs().max().item<float>(), 1.0f / std::sqrt(3.0f));
  Outer again;
  again.init_random(at::kCPU, at::kFloat, 7);
  EXPECT_TRUE(at::equal(*again.named_parameters()[1].second, w)) << "same seed, same weights";
}

}  // namespace
}  // namespace ditstream
