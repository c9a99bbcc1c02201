#include "tests/support/test_support.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>

#include "core/io/safetensors.h"
#include "core/io/safetensors_writer.h"

namespace ditstream::testing {
namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

std::filesystem::path source_dir() { return env_or("DITSTREAM_SOURCE_DIR", DITSTREAM_TEST_SOURCE_DIR); }

std::filesystem::path tiny_model_dir() { return source_dir() / "models" / "tiny-hunyuan-video"; }

std::filesystem::path fresh_temp_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info != nullptr ? std::string(info->test_suite_name()) + "." + info->name() : "global";
  for (char& c : name) {
    if (c == '/') c = '_';
  }
  const auto dir = std::filesystem::path(env_or("DITSTREAM_TEST_TMP", DITSTREAM_TEST_TMP_DIR)) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

std::filesystem::path artifacts_dir() {
  const auto dir = std::filesystem::path(env_or("DITSTREAM_ARTIFACTS", (source_dir() / "tests" / "artifacts").string()));
  std::filesystem::create_directories(dir);
  return dir;
}

void run_reference(const std::string& script, const std::vector<std::string>& args) {
  std::string cmd = "PYTHONDONTWRITEBYTECODE=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false " + shell_quote(env_or("DITSTREAM_PYTHON", DITSTREAM_TEST_PYTHON)) + " " +
                    shell_quote((source_dir() / "tests" / "reference" / script).string());
  for (const auto& a : args) cmd += " " + shell_quote(a);
  cmd += " 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr) << "cannot start " << cmd;
  std::string output;
  std::array<char, 4096> buf{};
  while (size_t n = std::fread(buf.data(), 1, buf.size(), pipe)) output.append(buf.data(), n);
  const int status = ::pclose(pipe);
  ASSERT_EQ(status, 0) << "reference script failed: " << cmd << "\n" << output;
}

std::map<std::string, at::Tensor> load_tensors(const std::filesystem::path& file) {
  auto st = io::SafetensorsFile::open(file);
  std::map<std::string, at::Tensor> out;
  for (const auto& rec : st->records()) out.emplace(rec.name, st->tensor(rec).clone());
  return out;
}

void save_tensors(const std::filesystem::path& file, const std::map<std::string, at::Tensor>& tensors) {
  io::write_safetensors(file, tensors);
}

double relative_l2(const at::Tensor& a, const at::Tensor& b) {
  const auto a64 = a.detach().to(at::kCPU, at::kDouble);
  const auto b64 = b.detach().to(at::kCPU, at::kDouble);
  const double denom = b64.norm().item<double>();
  const double num = (a64 - b64).norm().item<double>();
  return denom == 0.0 ? num : num / denom;
}

bool cuda_available() { return at::hasCUDA() && at::getNumGPUs() > 0; }

}  // namespace ditstream::testing
