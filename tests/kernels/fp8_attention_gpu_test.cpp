// FP8 attention against bf16 attention on the same inputs, in the layouts the transformer hands
// over ([B, L, H, D] storage seen as [B, H, L, D], keys cut short of the queries); per-tensor e4m3
// operands and probabilities keep the output within a few percent (relative L2).
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "core/kernels/fp8_attention.h"
#include "tests/support/test_support.h"

namespace ditstream {
namespace {

TEST(Fp8AttentionGpu, CloseToBf16Attention) {
  if (!testing::cuda_available()) GTEST_SKIP() << "no CUDA device: FP8 attention runs only on the GPU machine";
  std::string why;
  ASSERT_TRUE(kernels::fp8_attention_available(at::Device(at::kCUDA, 0), &why)) << why;
  const auto opts = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
  struct Case { int64_t b, h, lq, lk; };
  for (const auto& c : std::vector<Case>{{1, 24, 4096 + 77, 4096 + 77}, {2, 24, 1000, 1000}, {1, 24, 2048, 1500}}) {
    const auto joint = [&](int64_t length) { return at::randn({c.b, length, c.h, 128}, opts).transpose(1, 2); };
    const auto q = joint(c.lq), k = joint(c.lk);
    const auto v = joint(c.lk) * 3.0;  // a scale away from 1 checks the output's descale
    const auto out = kernels::fp8_attention(q, k, v);
    const auto ref = at::scaled_dot_product_attention(q.to(at::kFloat), k.to(at::kFloat), v.to(at::kFloat));
    EXPECT_EQ(out.sizes(), ref.sizes());
    EXPECT_EQ(out.scalar_type(), at::kBFloat16);
    const double rel = testing::relative_l2(out, ref);
    std::printf("fp8 attention B%ld H%ld Lq%ld Lk%ld: relative L2 %.4f\n", static_cast<long>(c.b), static_cast<long>(c.h),
                static_cast<long>(c.lq), static_cast<long>(c.lk), rel);
    EXPECT_LE(rel, 8e-2);
  }
}

}  // namespace
}  // namespace ditstream
