// The fp8 linear layer against the bf16 product on the same weights: fp8 e4m3 keeps 3 mantissa
// bits, so a dot product over K terms lands within a few percent (relative L2).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/model/fp8_linear.h"
#include "tests/support/test_support.h"

namespace ditstream {
namespace {

TEST(Fp8LinearGpu, CloseToBf16) {
  if (!testing::cuda_available()) GTEST_SKIP() << "no CUDA device: fp8 GEMMs run only on the GPU machine";
  const auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  for (auto [m, k, n] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{{1, 16, 16}, {77, 3072, 9216}, {4096, 3072, 12288}}) {
    const auto x = at::randn({1, m, k}, opts);
    const auto w = at::randn({n, k}, opts) / std::sqrt(static_cast<double>(k));
    const auto bias = at::randn({n}, opts);
    const auto q = model::quantize_weight_fp8(w);
    const auto y = model::fp8_linear(x, q, bias);
    const auto ref = at::linear(x.to(at::kFloat), w.to(at::kFloat), bias.to(at::kFloat));
    EXPECT_EQ(y.sizes(), (at::IntArrayRef{1, m, n}));
    EXPECT_LE(testing::relative_l2(y, ref), 6e-2) << m << "x" << k << "x" << n;
  }
}

}  // namespace
}  // namespace ditstream
