// Each CUDA kernel against its ATen reference, over odd sizes and every dtype, outputs poisoned
// first so an unwritten element fails.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "core/kernels/fused_ops.h"
#include "tests/support/test_support.h"

namespace ditstream {
namespace {

class FusedOpsGpu : public ::testing::TestWithParam<at::ScalarType> {
 protected:
  void SetUp() override {
    if (!testing::cuda_available()) GTEST_SKIP() << "no CUDA device: the kernels run only on the GPU machine";
  }
  static double tolerance(at::ScalarType t) { return t == at::kFloat ? 1e-5 : t == at::kHalf ? 2e-3 : 1.6e-2; }
  static at::TensorOptions opts(at::ScalarType t) { return at::TensorOptions().device(at::kCUDA).dtype(t); }
};

TEST_P(FusedOpsGpu, ModulatedLayerNorm) {
  const auto type = GetParam();
  for (auto [b, l, c] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{{1, 1, 1}, {2, 37, 300}, {1, 129, 3072}, {3, 5, 4097}}) {
    const auto x = at::randn({b, l, c}, opts(type)) * 3 + 1;
    const auto mod = at::randn({b, 6 * c}, opts(type));
    const auto shift = mod.narrow(1, 0, c), scale = mod.narrow(1, c, c);
    const auto y = kernels::modulated_layer_norm(x, shift, scale, 1e-6);
    const auto ref = kernels::modulated_layer_norm_reference(x.to(at::kFloat), shift.to(at::kFloat), scale.to(at::kFloat), 1e-6);
    EXPECT_LE(testing::relative_l2(y, ref), tolerance(type)) << b << "x" << l << "x" << c;
  }
}

TEST_P(FusedOpsGpu, GatedResidual) {
  const auto type = GetParam();
  for (auto [b, l, c] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{{1, 1, 3}, {2, 41, 3072}, {1, 7, 12289}}) {
    at::Tensor x = at::randn({b, l, c}, opts(type));
    const auto y_wide = at::randn({b, l, 2 * c}, opts(type));
    const auto y = y_wide.narrow(2, c, c);  // strided rows, like a slice of a fused projection
    const auto gate = at::randn({b, 3 * c}, opts(type)).narrow(1, c, c);
    const auto ref = kernels::gated_residual_reference(x.to(at::kFloat), y.to(at::kFloat), gate.to(at::kFloat));
    kernels::gated_residual_(x, y, gate);
    EXPECT_LE(testing::relative_l2(x, ref), tolerance(type));
  }
}

TEST_P(FusedOpsGpu, RmsNormRopeIntoJointBuffer) {
  const auto type = GetParam();
  for (auto [l, h, d] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{{1, 1, 2}, {33, 3, 16}, {257, 24, 128}}) {
    const int64_t b = 2, text = 5;
    const auto packed = at::randn({b, l, 3, h, d}, opts(type));  // q of a fused QKV projection
    const auto x = packed.select(2, 0);
    const auto w = at::randn({d}, opts(type));
    const auto angle = at::randn({l, d / 2}, at::kFloat).repeat_interleave(2, 1).to(at::kCUDA);
    at::Tensor out = at::full({b, l + text, h, d}, std::nan(""), opts(type));
    kernels::rms_norm_rope_into(x, w, angle.cos(), angle.sin(), 1e-6, out, 0);
    const auto ref = kernels::rms_norm_rope_reference(x, w, angle.cos(), angle.sin(), 1e-6);
    EXPECT_LE(testing::relative_l2(out.narrow(1, 0, l), ref), tolerance(type)) << l << "x" << h << "x" << d;
    EXPECT_TRUE(out.narrow(1, l, text).isnan().all().item<bool>());
    const auto t = at::randn({b, text, h, d}, opts(type));
    kernels::rms_norm_rope_into(t, w, {}, {}, 1e-6, out, l);
    EXPECT_FALSE(out.isnan().any().item<bool>()) << "every element written";
  }
}

TEST_P(FusedOpsGpu, RowwiseFp8Quantize) {
  const auto type = GetParam();
  for (auto [m, k] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {3, 77}, {1000, 3072}}) {
    const auto x = at::randn({m, k}, opts(type)) * 10;
    const auto [q, s] = kernels::rowwise_fp8_quantize(x);
    const auto [rq, rs] = kernels::rowwise_fp8_quantize_reference(x);
    EXPECT_TRUE(at::allclose(s, rs, 1e-6, 0));
    // Equal but where float rounding of x/scale lands on a tie between two e4m3 values; every
    // value dequantizes to within half an e4m3 step (2^-4 of the row's max at most).
    EXPECT_LE((q.to(at::kFloat) != rq.to(at::kFloat)).to(at::kFloat).mean().item<float>(), 1e-3f);
    const auto err = (q.to(at::kFloat) * s - x.to(at::kFloat)).abs().amax(1);
    EXPECT_TRUE((err <= x.to(at::kFloat).abs().amax(1) / 16).all().item<bool>());
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, FusedOpsGpu, ::testing::Values(at::kFloat, at::kHalf, at::kBFloat16),
                         [](const auto& info) { return std::string(c10::toString(info.param)); });

}  // namespace
}  // namespace ditstream
