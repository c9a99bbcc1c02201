// The pure-ATen references of the fused operations (the kernels' oracle, and the CPU path)
// against element-by-element loops in double precision.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cmath>

#include "core/kernels/fused_ops.h"
#include "core/util/error.h"

namespace ditstream {
namespace {

TEST(FusedOpsReference, ModulatedLayerNormMatchesLoops) {
  const int64_t b = 2, l = 5, c = 7;
  const auto x = at::randn({b, l, c}, at::kDouble);
  const auto mod = at::randn({b, 2 * c}, at::kDouble);
  const auto shift = mod.narrow(1, 0, c), scale = mod.narrow(1, c, c);  // strided views, as in the model
  const auto y = kernels::modulated_layer_norm(x, shift, scale, 1e-6);
  auto xa = x.accessor<double, 3>();
  for (int64_t i = 0; i < b; ++i) {
    for (int64_t t = 0; t < l; ++t) {
      double mean = 0, var = 0;
      for (int64_t k = 0; k < c; ++k) mean += xa[i][t][k];
      mean /= c;
      for (int64_t k = 0; k < c; ++k) var += (xa[i][t][k] - mean) * (xa[i][t][k] - mean);
      var /= c;
      for (int64_t k = 0; k < c; ++k) {
        const double n = (xa[i][t][k] - mean) / std::sqrt(var + 1e-6);
        const double expect = n * (1 + scale[i][k].item<double>()) + shift[i][k].item<double>();
        EXPECT_NEAR(y[i][t][k].item<double>(), expect, 1e-12);
      }
    }
  }
}

TEST(FusedOpsReference, GatedResidualInPlace) {
  auto x = at::randn({2, 3, 4}, at::kDouble);
  const auto y = at::randn({2, 3, 4}, at::kDouble), gate = at::randn({2, 4}, at::kDouble);
  const auto expect = x + gate.unsqueeze(1) * y;
  kernels::gated_residual_(x, y, gate);
  EXPECT_TRUE(at::allclose(x, expect, 0, 1e-14));
}

TEST(FusedOpsReference, RmsNormRopeRotatesPairs) {
  const int64_t b = 1, l = 3, h = 2, d = 6;
  const auto x = at::randn({b, l, h, d}, at::kDouble);
  const auto w = at::randn({d}, at::kDouble);
  const auto angle = at::randn({l, d / 2}, at::kDouble).repeat_interleave(2, 1);
  const auto cos = angle.cos(), sin = angle.sin();
  at::Tensor out = at::full({b, l + 2, h, d}, std::nan(""), at::kDouble);
  kernels::rms_norm_rope_into(x, w, cos, sin, 1e-6, out, 2);
  EXPECT_TRUE(out.narrow(1, 0, 2).isnan().all().item<bool>()) << "rows before the offset stay untouched";
  for (int64_t t = 0; t < l; ++t) {
    for (int64_t k = 0; k < h; ++k) {
      const auto v = x[0][t][k];
      const auto n = v / (v.pow(2).mean() + 1e-6).sqrt() * w;
      for (int64_t j = 0; j < d / 2; ++j) {
        const double re = n[2 * j].item<double>(), im = n[2 * j + 1].item<double>();
        const double a = angle[t][2 * j].item<double>();
        EXPECT_NEAR(out[0][2 + t][k][2 * j].item<double>(), re * std::cos(a) - im * std::sin(a), 1e-6);
        EXPECT_NEAR(out[0][2 + t][k][2 * j + 1].item<double>(), im * std::cos(a) + re * std::sin(a), 1e-6);
      }
    }
  }
}

TEST(FusedOpsReference, RowwiseFp8RoundTrips) {
  const auto x = at::randn({4, 33}) * at::tensor({1e-3, 1.0, 50.0, 0.0}).unsqueeze(1);
  const auto [q, scale] = kernels::rowwise_fp8_quantize(x);
  EXPECT_EQ(q.scalar_type(), at::kFloat8_e4m3fn);
  EXPECT_EQ(scale.sizes(), (at::IntArrayRef{4, 1}));
  const auto back = q.to(at::kFloat) * scale;
  EXPECT_TRUE(back.isfinite().all().item<bool>());
  // e4m3 keeps 3 mantissa bits: relative error per element at most 2^-4 of the row's max.
  const auto err = (back - x).abs().amax(1);
  const auto amax = x.abs().amax(1);
  for (int r = 0; r < 4; ++r) EXPECT_LE(err[r].item<float>(), amax[r].item<float>() / 16 + 1e-30f);
  EXPECT_EQ(back[3].abs().max().item<float>(), 0.0f);
}

TEST(FusedOpsReference, ShapeErrorsNameTheArgument) {
  try {
    kernels::modulated_layer_norm(at::zeros({2, 3}), at::zeros({2, 3}), at::zeros({2, 3}), 1e-6);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "[modulated_layer_norm] x: expected a 3-D tensor, got 2-D");
  }
  at::Tensor out = at::zeros({1, 2, 1, 4});
  EXPECT_THROW(kernels::rms_norm_rope_into(at::zeros({1, 3, 1, 4}), {}, {}, {}, 1e-6, out, 0), Error);
}

}  // namespace
}  // namespace ditstream
