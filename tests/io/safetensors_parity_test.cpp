// Every tensor of the tiny model, read by our reader, equals what Python's safetensors reads.
#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <fstream>
#include <iterator>

#include "core/io/diffusers_folder.h"
#include "tests/support/test_support.h"

namespace ditstream {
namespace {

TEST(SafetensorsParity, EveryTensorOfTheTinyModelMatchesPython) {
  const auto dir = testing::fresh_temp_dir();
  const auto folder = io::DiffusersFolder::open(testing::tiny_model_dir());
  std::vector<std::string> files;
  std::map<std::string, io::Checkpoint> checkpoints;
  for (const auto& c : folder.components()) {
    if (c.library == "diffusers" && c.name == "scheduler") continue;
    if (c.name.rfind("tokenizer", 0) == 0) continue;
    auto ckpt = folder.weights(c.name);
    files.push_back(ckpt.path().string());
    checkpoints.emplace(ckpt.path().string(), std::move(ckpt));
  }
  ASSERT_EQ(files.size(), 4u) << "transformer, vae and both text encoders";
  std::vector<std::string> args{dir.string()};
  args.insert(args.end(), files.begin(), files.end());
  testing::run_reference("dump_safetensors.py", args);

  std::ifstream blob_in(dir / "blob.bin", std::ios::binary);
  const std::string blob((std::istreambuf_iterator<char>(blob_in)), std::istreambuf_iterator<char>());
  const auto manifest = nlohmann::json::parse(std::ifstream(dir / "manifest.json"));
  size_t compared = 0, per_file_total = 0;
  for (const auto& [_, ckpt] : checkpoints) per_file_total += ckpt.names().size();
  for (const auto& entry : manifest) {
    const auto& ckpt = checkpoints.at(entry["file"].get<std::string>());
    const auto name = entry["name"].get<std::string>();
    const at::Tensor t = ckpt.tensor(name).contiguous();
    EXPECT_EQ(t.sizes().vec(), entry["shape"].get<std::vector<int64_t>>()) << name;
    const size_t nbytes = entry["nbytes"].get<size_t>();
    ASSERT_EQ(static_cast<size_t>(t.numel() * t.element_size()), nbytes) << name;
    EXPECT_EQ(std::memcmp(t.const_data_ptr(), blob.data() + entry["offset"].get<size_t>(), nbytes), 0) << name;
    ++compared;
  }
  EXPECT_EQ(compared, per_file_total);
  EXPECT_GT(compared, 100u);
}

}  // namespace
}  // namespace ditstream
