// Full-size HunyuanVideo transformer in bf16 on the GPU against diffusers in bf16 on the same
// random weights (written by diffusers) and the same inputs: relative L2 ≤ 2e-2.
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <gtest/gtest.h>

#include <cstdlib>

#include "tests/model/hunyuan_test_util.h"
#include "tests/support/test_support.h"

namespace ditstream::testing {
namespace {

TEST(HunyuanTransformerGpu, FullSizeBf16MatchesDiffusers) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: this test compares full-size bf16 outputs on the GPU";
  // 320x512x33 frames -> latents 9 x 40 x 64; 32 text tokens, 5 of them padding.
  InputSpec spec;
  spec.frames = 9;
  spec.height = 40;
  spec.width = 64;
  spec.text_len = 32;
  spec.valid = {27};
  spec.text_dim = 4096;
  spec.pooled_dim = 768;
  spec.seed = 11;
  auto inputs = make_inputs(spec);

  const auto dir = fresh_temp_dir();
  save_tensors(dir / "inputs.safetensors", to_tensor_map(inputs));
  // Default config, diffusers' own random initialisation, saved in bf16 (about 26 GB).
  run_reference("hunyuan_transformer.py", {"--model", (dir / "model").string(), "--inputs",
                                           (dir / "inputs.safetensors").string(), "--out",
                                           (dir / "out.safetensors").string(), "--make", "{}", "--default-init",
                                           "--seed", "0", "--device", "cuda", "--dtype", "bfloat16"});
  const at::Tensor expected = load_tensors(dir / "out.safetensors").at("output");

  c10::InferenceMode guard;
  auto model = load_transformer_dir(dir / "model", {at::Device(at::kCUDA), at::kBFloat16, true});
  // The folder stays for the cold-start benchmark that follows in scripts/device/bench-dit.sh.
  const auto to_gpu = [](const at::Tensor& t) { return t.to(at::kCUDA); };
  inputs.hidden_states = to_gpu(inputs.hidden_states).to(at::kBFloat16);
  inputs.encoder_hidden_states = to_gpu(inputs.encoder_hidden_states).to(at::kBFloat16);
  inputs.pooled_projections = to_gpu(inputs.pooled_projections).to(at::kBFloat16);
  inputs.timestep = to_gpu(inputs.timestep);
  inputs.guidance = to_gpu(*inputs.guidance);
  const at::Tensor actual = model->forward(inputs).to(at::kCPU).to(at::kFloat);
  const double err = relative_l2(actual, expected);
  std::cout << "full-size bf16 relative L2 vs diffusers: " << err << "\n";
  EXPECT_LE(err, 2e-2);
}

}  // namespace
}  // namespace ditstream::testing
