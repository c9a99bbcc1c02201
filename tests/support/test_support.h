// Helpers every test uses: where things are, running reference scripts, comparing tensors.
#pragma once

#include <ATen/Tensor.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace ditstream::testing {

std::filesystem::path source_dir();
std::filesystem::path tiny_model_dir();
// A fresh, empty folder under the build tree for this test (named after the running test).
std::filesystem::path fresh_temp_dir();
std::filesystem::path artifacts_dir();

// Runs `tests/reference/<script>` with the project's Python and the given arguments; fails the
// test with the script's output when it exits non-zero.
void run_reference(const std::string& script, const std::vector<std::string>& args);

// All tensors of a safetensors file, as owned CPU tensors.
std::map<std::string, at::Tensor> load_tensors(const std::filesystem::path& file);
// Writes tensors (made contiguous, on the CPU) to a safetensors file for a reference script.
void save_tensors(const std::filesystem::path& file, const std::map<std::string, at::Tensor>& tensors);

// ‖a − b‖ / ‖b‖ in float64.
double relative_l2(const at::Tensor& a, const at::Tensor& b);

bool cuda_available();

}  // namespace ditstream::testing
