#include <ATen/ATen.h>

#include "core/kernels/fused_ops.h"
#include "core/util/error.h"

#ifdef DITSTREAM_WITH_CUDA
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "core/kernels/fp8_quantize.h"
#include "core/kernels/gated_residual.h"
#include "core/kernels/modulated_layer_norm.h"
#include "core/kernels/rms_norm_rope.h"
#endif

namespace ditstream::kernels {
namespace {

void check_dims(const at::Tensor& t, int64_t dims, const char* op, const char* name) {
  require(t.defined() && t.dim() == dims, op, name,
          "expected a " + std::to_string(dims) + "-D tensor, got " +
              (t.defined() ? std::to_string(t.dim()) + "-D" : std::string("none")));
}

#ifdef DITSTREAM_WITH_CUDA
ElementType element_type(const at::Tensor& t, const char* op) {
  switch (t.scalar_type()) {
    case at::kFloat: return ElementType::f32;
    case at::kHalf: return ElementType::f16;
    case at::kBFloat16: return ElementType::bf16;
    default: break;
  }
  throw_invalid(op, "dtype", std::string("float32, float16 or bfloat16 expected, got ") + c10::toString(t.scalar_type()));
}

// [B, L, C] tensors whose channels are contiguous go to the kernels as they are (token and batch
// strides passed along); anything else is copied first.
at::Tensor channels_contiguous(const at::Tensor& t) { return t.stride(-1) == 1 ? t : t.contiguous(); }

void check_launch(cudaError_t err, const char* op) {
  if (err != cudaSuccess) throw Error(ErrorKind::internal, op, "", std::string("kernel launch failed: ") + cudaGetErrorString(err));
}
#endif

bool use_kernel(const at::Tensor& t) {
#ifdef DITSTREAM_WITH_CUDA
  return t.is_cuda();
#else
  return false;
#endif
}

}  // namespace

at::Tensor modulated_layer_norm_reference(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale,
                                          double eps) {
  const int64_t c = x.size(-1);
  const at::Tensor n = at::layer_norm(x, {c}, {}, {}, eps);
  return n * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1);
}

at::Tensor modulated_layer_norm(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale, double eps) {
  constexpr const char* op = "modulated_layer_norm";
  check_dims(x, 3, op, "x");
  check_dims(shift, 2, op, "shift");
  check_dims(scale, 2, op, "scale");
  require(shift.sizes() == scale.sizes() && shift.size(0) == x.size(0) && shift.size(1) == x.size(2), op, "shift",
          "shift and scale must be [batch, channels] matching x");
  if (!use_kernel(x)) return modulated_layer_norm_reference(x, shift, scale, eps);
#ifdef DITSTREAM_WITH_CUDA
  const at::Tensor xc = channels_contiguous(x);
  at::Tensor sh = shift, sc = scale;
  if (sh.stride(1) != 1 || sc.stride(1) != 1 || sh.stride(0) != sc.stride(0)) {
    sh = shift.contiguous();  // the kernel takes one batch stride for both
    sc = scale.contiguous();
  }
  at::Tensor y = at::empty(x.sizes(), x.options());
  const c10::cuda::CUDAGuard guard(x.device());
  ModulatedLayerNormArgs args{xc.const_data_ptr(), sh.const_data_ptr(), sc.const_data_ptr(), y.mutable_data_ptr(),
                              x.size(0), x.size(1), x.size(2), xc.stride(1), xc.stride(0), sc.stride(0),
                              static_cast<float>(eps), element_type(x, op)};
  check_launch(launch_modulated_layer_norm(args, at::cuda::getCurrentCUDAStream()), op);
  return y;
#endif
}

at::Tensor gated_residual_reference(const at::Tensor& x, const at::Tensor& y, const at::Tensor& gate) {
  return x + gate.unsqueeze(1) * y;
}

namespace {

void check_gated_residual(const at::Tensor& x, const at::Tensor& y, const at::Tensor& gate) {
  constexpr const char* op = "gated_residual";
  check_dims(x, 3, op, "x");
  check_dims(gate, 2, op, "gate");
  require(y.sizes() == x.sizes(), op, "y", "must have x's shape");
  require(gate.size(0) == x.size(0) && gate.size(1) == x.size(2), op, "gate", "must be [batch, channels] matching x");
}

void gated_residual_into(const at::Tensor& x, const at::Tensor& y, const at::Tensor& gate, at::Tensor& out) {
#ifdef DITSTREAM_WITH_CUDA
  const at::Tensor xc = channels_contiguous(x), yc = channels_contiguous(y), g = channels_contiguous(gate);
  const c10::cuda::CUDAGuard guard(x.device());
  constexpr const char* op = "gated_residual";
  GatedResidualArgs args{xc.const_data_ptr(), yc.const_data_ptr(), g.const_data_ptr(), out.mutable_data_ptr(),
                         x.size(0), x.size(1), x.size(2), xc.stride(1), xc.stride(0), yc.stride(1), yc.stride(0),
                         g.stride(0), element_type(x, op)};
  check_launch(launch_gated_residual(args, at::cuda::getCurrentCUDAStream()), op);
#endif
}

}  // namespace

at::Tensor gated_residual(const at::Tensor& x, const at::Tensor& y, const at::Tensor& gate) {
  check_gated_residual(x, y, gate);
  if (!use_kernel(x)) return gated_residual_reference(x, y, gate);
  at::Tensor out = at::empty(x.sizes(), x.options());
  gated_residual_into(x, y, gate, out);
  return out;
}

void gated_residual_(at::Tensor& x, const at::Tensor& y, const at::Tensor& gate) {
  check_gated_residual(x, y, gate);
  if (!use_kernel(x)) {
    x.addcmul_(gate.unsqueeze(1), y);
    return;
  }
  require(x.is_contiguous(), "gated_residual", "x", "must be contiguous (it is updated in place)");
  gated_residual_into(x, y, gate, x);
}

at::Tensor rms_norm_rope_reference(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& cos,
                                   const at::Tensor& sin, double eps) {
  const at::Tensor xf = x.to(at::kFloat);
  at::Tensor n = xf * at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  n = weight.defined() ? n.to(weight.scalar_type()) * weight : n.to(x.scalar_type());
  if (!cos.defined()) return n.to(x.scalar_type());
  // [B, L, H, D]: pairs (2j, 2j+1) rotate as complex numbers.
  const auto pairs = n.reshape({n.size(0), n.size(1), n.size(2), -1, 2}).unbind(-1);
  const at::Tensor rotated = at::stack({-pairs[1], pairs[0]}, -1).flatten(3);
  const at::Tensor c = cos.unsqueeze(0).unsqueeze(2), s = sin.unsqueeze(0).unsqueeze(2);
  return (n.to(at::kFloat) * c + rotated.to(at::kFloat) * s).to(x.scalar_type());
}

void rms_norm_rope_into(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& cos, const at::Tensor& sin,
                        double eps, at::Tensor& out, int64_t offset) {
  constexpr const char* op = "rms_norm_rope";
  check_dims(x, 4, op, "x");
  check_dims(out, 4, op, "out");
  const int64_t b = x.size(0), l = x.size(1), h = x.size(2), d = x.size(3);
  require(out.size(0) == b && out.size(2) == h && out.size(3) == d && offset >= 0 && offset + l <= out.size(1), op,
          "out", "must be [batch, >= offset + tokens, heads, head_dim] matching x");
  require(d % 2 == 0, op, "head_dim", "must be even for rotary embedding, got " + std::to_string(d));
  require(!weight.defined() || (weight.dim() == 1 && weight.size(0) == d), op, "weight", "must be [head_dim]");
  require(!cos.defined() || (cos.sizes() == at::IntArrayRef{l, d} && sin.sizes() == cos.sizes()), op, "cos",
          "cos and sin must be [tokens, head_dim]");
  require(out.scalar_type() == x.scalar_type() && out.is_contiguous(), op, "out", "must be contiguous with x's dtype");
  if (!use_kernel(x)) {
    out.narrow(1, offset, l).copy_(rms_norm_rope_reference(x, weight, cos, sin, eps));
    return;
  }
#ifdef DITSTREAM_WITH_CUDA
  const at::Tensor xc = x.stride(3) == 1 && x.stride(2) == d ? x : x.contiguous();
  const at::Tensor w = weight.defined() ? weight.to(x.scalar_type()).contiguous() : at::Tensor();
  const at::Tensor cf = cos.defined() ? cos.to(at::kFloat).contiguous() : at::Tensor();
  const at::Tensor sf = sin.defined() ? sin.to(at::kFloat).contiguous() : at::Tensor();
  const c10::cuda::CUDAGuard guard(x.device());
  RmsNormRopeArgs args{xc.const_data_ptr(), w.defined() ? w.const_data_ptr() : nullptr,
                       cf.defined() ? cf.const_data_ptr<float>() : nullptr,
                       sf.defined() ? sf.const_data_ptr<float>() : nullptr, out.mutable_data_ptr(), b, l, h, d,
                       xc.stride(1), xc.stride(0), out.size(1), offset, static_cast<float>(eps), element_type(x, op)};
  check_launch(launch_rms_norm_rope(args, at::cuda::getCurrentCUDAStream()), op);
#endif
}

std::pair<at::Tensor, at::Tensor> rowwise_fp8_quantize_reference(const at::Tensor& x) {
  const at::Tensor xf = x.to(at::kFloat);
  const at::Tensor scale = (xf.abs().amax(-1, /*keepdim=*/true) / 448.0).clamp_min(1.17549435e-38);
  return {(xf / scale).to(at::kFloat8_e4m3fn), scale};
}

std::pair<at::Tensor, at::Tensor> rowwise_fp8_quantize(const at::Tensor& x) {
  constexpr const char* op = "rowwise_fp8_quantize";
  check_dims(x, 2, op, "x");
  if (!use_kernel(x)) return rowwise_fp8_quantize_reference(x);
#ifdef DITSTREAM_WITH_CUDA
  const at::Tensor xc = x.stride(1) == 1 ? x : x.contiguous();
  at::Tensor q = at::empty(x.sizes(), x.options().dtype(at::kFloat8_e4m3fn));
  at::Tensor scale = at::empty({x.size(0), 1}, x.options().dtype(at::kFloat));
  const c10::cuda::CUDAGuard guard(x.device());
  RowwiseFp8QuantizeArgs args{xc.const_data_ptr(), q.mutable_data_ptr(), scale.mutable_data_ptr<float>(), x.size(0),
                              x.size(1), xc.stride(0), element_type(x, op)};
  check_launch(launch_rowwise_fp8_quantize(args, at::cuda::getCurrentCUDAStream()), op);
  return {q, scale};
#endif
}

}  // namespace ditstream::kernels
