#include "core/io/diffusers_folder.h"

#include <gtest/gtest.h>

#include <fstream>

#include "core/util/error.h"
#include "tests/support/test_support.h"

namespace ditstream {
namespace {

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(DiffusersFolder, ReadsTheTinyModel) {
  const auto folder = io::DiffusersFolder::open(testing::tiny_model_dir());
  EXPECT_EQ(folder.pipeline_class(), "HunyuanVideoPipeline");
  EXPECT_EQ(folder.component("transformer").class_name, "HunyuanVideoTransformer3DModel");
  EXPECT_EQ(folder.component("text_encoder").library, "transformers");
  EXPECT_EQ(folder.config("transformer").get_int("num_attention_heads"), 2);
  EXPECT_EQ(folder.config("scheduler").get_double("shift"), 7.0);
  EXPECT_EQ(folder.config("transformer").get_int_list("rope_axes_dim"), (std::vector<int64_t>{4, 6, 6}));
  EXPECT_FALSE(folder.config("transformer").get_optional_string("image_condition_type").has_value());
  EXPECT_GT(folder.weights("vae").names().size(), 10u);
  EXPECT_GT(folder.weights("text_encoder").names().size(), 10u);
}

TEST(DiffusersFolder, MissingFolderOrIndex) {
  EXPECT_NE(message_of([] { io::DiffusersFolder::open("/nonexistent/model"); }).find("/nonexistent/model"),
            std::string::npos);
  const auto dir = testing::fresh_temp_dir();
  EXPECT_NE(message_of([&] { io::DiffusersFolder::open(dir); }).find("model_index.json"), std::string::npos);
}

TEST(DiffusersFolder, IllTypedIndexEntries) {
  const auto dir = testing::fresh_temp_dir();
  std::ofstream(dir / "model_index.json") << R"({"_class_name": 3})";
  auto msg = message_of([&] { io::DiffusersFolder::open(dir); });
  EXPECT_NE(msg.find("_class_name: expected a string, got number 3"), std::string::npos) << msg;
  std::ofstream(dir / "model_index.json") << R"({"_class_name": "P", "vae": ["diffusers"]})";
  msg = message_of([&] { io::DiffusersFolder::open(dir); });
  EXPECT_NE(msg.find("vae: expected [library, class_name]"), std::string::npos) << msg;
}

TEST(DiffusersFolder, ListedComponentWithoutItsFolder) {
  const auto dir = testing::fresh_temp_dir();
  std::ofstream(dir / "model_index.json") << R"({"_class_name": "P", "vae": ["diffusers", "AutoencoderKL"]})";
  const auto folder = io::DiffusersFolder::open(dir);
  const auto msg = message_of([&] { folder.config("vae"); });
  EXPECT_NE(msg.find("vae"), std::string::npos);
  EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
  std::filesystem::create_directories(dir / "vae");
  EXPECT_NE(message_of([&] { folder.config("vae"); }).find("config.json: missing"), std::string::npos);
  EXPECT_NE(message_of([&] { folder.weights("vae"); }).find("diffusion_pytorch_model.safetensors"), std::string::npos);
}

TEST(ConfigReader, NamesFileFieldAndExpectation) {
  const auto cfg = io::ConfigReader::from_text(R"({"layers": "20", "dims": [1, "x"], "ok": 3.5})", "transformer/config.json");
  auto msg = message_of([&] { cfg.get_int("layers"); });
  EXPECT_EQ(msg, "[transformer/config.json] layers: expected an integer, got string \"20\"");
  msg = message_of([&] { cfg.get_int("heads"); });
  EXPECT_EQ(msg, "[transformer/config.json] heads: missing; expected an integer");
  msg = message_of([&] { cfg.get_int_list("dims"); });
  EXPECT_NE(msg.find("dims: expected a list of integers, found string"), std::string::npos) << msg;
  EXPECT_EQ(cfg.get_int("heads", 24), 24);
  EXPECT_DOUBLE_EQ(cfg.get_double("ok"), 3.5);
  EXPECT_NE(message_of([] { io::ConfigReader::from_text("{", "x.json"); }).find("[x.json] is not valid JSON"),
            std::string::npos);
}

}  // namespace
}  // namespace ditstream
