#include "core/kernels/fp8_attention.h"

#include <ATen/ATen.h>

#include "core/util/error.h"

#if DITSTREAM_WITH_FP8_ATTENTION
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cudnn/Handle.h>
// libtorch_cuda carries its own, different version of this header-only library. Under its own
// namespace name nothing this file instantiates (the library's enum-keyed hash tables, say) can
// be exported by our executables and bound in place of torch's copies.
#define cudnn_frontend ditstream_cudnn_frontend
#include <cudnn_frontend.h>

#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>
#endif

namespace ditstream::kernels {
namespace {

constexpr const char* kContext = "fp8 attention";
constexpr double kE4m3Max = 448.0;

#if DITSTREAM_WITH_FP8_ATTENTION
namespace fe = cudnn_frontend;
using TensorNode = std::shared_ptr<fe::graph::Tensor_attributes>;

void check(fe::error_object status, const char* stage) {
  if (!status.is_good()) throw Error(ErrorKind::unavailable, kContext, stage, "cuDNN: " + status.get_message());
}

// One planned graph per shape and layout (and cuDNN handle); building takes milliseconds, running
// it the whole attention.
struct Fp8Graph {
  fe::graph::Graph graph;
  TensorNode q, k, v, o;
  TensorNode descale_q, descale_k, descale_v, descale_s, scale_s, scale_o;
  TensorNode amax_s, amax_o;
  int64_t workspace_bytes = 0;
};

std::vector<int64_t> graph_key(const at::Tensor& q8, const at::Tensor& k8, const at::Tensor& v8, const at::Tensor& o8,
                               cudnnHandle_t handle) {
  std::vector<int64_t> key{q8.get_device(), static_cast<int64_t>(reinterpret_cast<intptr_t>(handle))};
  for (const auto* t : {&q8, &k8, &v8, &o8}) {
    key.insert(key.end(), t->sizes().begin(), t->sizes().end());
    key.insert(key.end(), t->strides().begin(), t->strides().end());
  }
  return key;
}

std::unique_ptr<Fp8Graph> build_graph(const at::Tensor& q8, const at::Tensor& k8, const at::Tensor& v8,
                                      const at::Tensor& o8, cudnnHandle_t handle) {
  auto g = std::make_unique<Fp8Graph>();
  auto& graph = g->graph;
  graph.set_io_data_type(fe::DataType_t::FP8_E4M3)
      .set_intermediate_data_type(fe::DataType_t::FLOAT)
      .set_compute_data_type(fe::DataType_t::FLOAT);
  const auto operand = [&](const char* name, const at::Tensor& t) {
    return graph.tensor(fe::graph::Tensor_attributes().set_name(name).set_dim(t.sizes().vec()).set_stride(t.strides().vec()));
  };
  const auto scalar = [&](const char* name) {
    return graph.tensor(fe::graph::Tensor_attributes()
                            .set_name(name)
                            .set_dim({1, 1, 1, 1})
                            .set_stride({1, 1, 1, 1})
                            .set_data_type(fe::DataType_t::FLOAT));
  };
  g->q = operand("Q", q8);
  g->k = operand("K", k8);
  g->v = operand("V", v8);
  g->descale_q = scalar("Descale_Q");
  g->descale_k = scalar("Descale_K");
  g->descale_v = scalar("Descale_V");
  g->descale_s = scalar("Descale_S");
  g->scale_s = scalar("Scale_S");
  g->scale_o = scalar("Scale_O");
  const auto options = fe::graph::SDPA_fp8_attributes()
                           .set_name("sdpa_fp8")
                           .set_generate_stats(false)
                           .set_causal_mask(false)
                           .set_attn_scale(static_cast<float>(1.0 / std::sqrt(static_cast<double>(q8.size(3)))));
  auto [o, stats, amax_s, amax_o] = graph.sdpa_fp8(g->q, g->k, g->v, g->descale_q, g->descale_k, g->descale_v,
                                                   g->descale_s, g->scale_s, g->scale_o, options);
  (void)stats;
  g->o = o;
  g->amax_s = amax_s;
  g->amax_o = amax_o;
  o->set_output(true).set_dim(o8.sizes().vec()).set_stride(o8.strides().vec());
  for (const auto& amax : {amax_s, amax_o}) {
    amax->set_output(true).set_dim({1, 1, 1, 1}).set_stride({1, 1, 1, 1}).set_data_type(fe::DataType_t::FLOAT);
  }
  check(graph.validate(), "validate");
  check(graph.build_operation_graph(handle), "build_operation_graph");
  check(graph.create_execution_plans({fe::HeurMode_t::A}), "create_execution_plans");
  check(graph.check_support(handle), "check_support");
  check(graph.build_plans(handle), "build_plans");
  check(graph.get_workspace_size(g->workspace_bytes), "get_workspace_size");
  return g;
}

Fp8Graph& planned_graph(const at::Tensor& q8, const at::Tensor& k8, const at::Tensor& v8, const at::Tensor& o8,
                        cudnnHandle_t handle) {
  static std::mutex mutex;
  static std::map<std::vector<int64_t>, std::unique_ptr<Fp8Graph>> graphs;
  const auto key = graph_key(q8, k8, v8, o8, handle);
  std::lock_guard lock(mutex);
  auto& slot = graphs[key];
  if (!slot) slot = build_graph(q8, k8, v8, o8, handle);
  return *slot;
}
#endif

}  // namespace

bool fp8_attention_available(const at::Device& device, std::string* why) {
  const auto fail = [&](std::string reason) {
    if (why != nullptr) *why = std::move(reason);
    return false;
  };
#if DITSTREAM_WITH_FP8_ATTENTION
  if (!device.is_cuda()) return fail("FP8 attention runs on CUDA devices only, not " + device.str());
  const auto* properties = at::cuda::getDeviceProperties(device.index() < 0 ? at::cuda::current_device() : device.index());
  if (properties->major < 9) {
    return fail("FP8 attention needs a Hopper or newer GPU (compute capability 9.0+), " + std::string(properties->name) +
                " has " + std::to_string(properties->major) + "." + std::to_string(properties->minor));
  }
  if (cudnnGetVersion() < 90100) {
    return fail("FP8 attention needs cuDNN 9.1 or newer, the process loaded " + std::to_string(cudnnGetVersion()));
  }
  return true;
#else
  (void)device;
  return fail("this build has no FP8 attention (it needs a CUDA build with the cuDNN frontend headers)");
#endif
}

at::Tensor fp8_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  std::string why;
  if (!fp8_attention_available(q.device(), &why)) throw Error(ErrorKind::unavailable, kContext, "device", why);
  for (const auto* t : {&q, &k, &v}) {
    require(t->dim() == 4 && t->scalar_type() == at::kBFloat16 && t->device() == q.device(), kContext, "q/k/v",
            "must be bf16 [B, H, L, D] tensors on one device");
    require(t->stride(3) == 1, kContext, "q/k/v", "must have the head dimension contiguous");
  }
  const int64_t head_dim = q.size(3);
  require(head_dim % 16 == 0 && head_dim <= 256, kContext, "head_dim",
          "is " + std::to_string(head_dim) + ", must be a multiple of 16 up to 256");
  require(k.sizes() == v.sizes() && k.size(0) == q.size(0) && k.size(1) == q.size(1) && k.size(3) == head_dim, kContext,
          "k/v", "must be [B, H, Lk, D] with q's B, H and D");
#if DITSTREAM_WITH_FP8_ATTENTION
  // Per-tensor scales from each operand's largest magnitude, kept on the device (no host sync).
  const auto amax = [](const at::Tensor& t) {
    const auto [lo, hi] = at::aminmax(t);
    return at::maximum(lo.neg(), hi).to(at::kFloat).clamp_min(1e-12);  // 0-dim
  };
  const at::Tensor amax_q = amax(q), amax_k = amax(k), amax_v = amax(v);
  // 0-dim float scales keep the products in bf16 (and in the operands' layout).
  const auto quantize = [](const at::Tensor& t, const at::Tensor& amax_t) {
    return (t * (kE4m3Max / amax_t)).to(at::kFloat8_e4m3fn);
  };
  const at::Tensor q8 = quantize(q, amax_q), k8 = quantize(k, amax_k), v8 = quantize(v, amax_v);
  const at::Tensor descale_q = (amax_q / kE4m3Max).reshape({1});
  const at::Tensor descale_k = (amax_k / kE4m3Max).reshape({1});
  const at::Tensor descale_v = (amax_v / kE4m3Max).reshape({1});
  // Probabilities lie in [0, 1]: a fixed scale uses the whole e4m3 range.
  const auto f32 = q.options().dtype(at::kFloat);
  const at::Tensor scale_s = at::full({1}, kE4m3Max, f32);
  const at::Tensor descale_s = at::full({1}, 1.0 / kE4m3Max, f32);
  // |o| ≤ amax(v): v's scale keeps the output in range.
  const at::Tensor scale_o = (kE4m3Max / amax_v).reshape({1});
  const at::Tensor amax_s_out = at::empty({1}, f32), amax_o_out = at::empty({1}, f32);
  // [B, Lq, H, D] storage seen as [B, H, Lq, D]: what the output projection reads next.
  const at::Tensor o8 = at::empty({q.size(0), q.size(2), q.size(1), head_dim}, q.options().dtype(at::kFloat8_e4m3fn))
                            .transpose(1, 2);

  cudnnHandle_t handle = at::native::getCudnnHandle();
  check(cudnnSetStream(handle, at::cuda::getCurrentCUDAStream()) == CUDNN_STATUS_SUCCESS
            ? fe::error_object()
            : fe::error_object(fe::error_code_t::HANDLE_ERROR, "cudnnSetStream failed"),
        "stream");
  Fp8Graph& g = planned_graph(q8, k8, v8, o8, handle);
  const at::Tensor workspace = at::empty({std::max<int64_t>(g.workspace_bytes, 1)}, q.options().dtype(at::kByte));
  std::unordered_map<TensorNode, void*> pack = {
      {g.q, q8.data_ptr()},          {g.k, k8.data_ptr()},          {g.v, v8.data_ptr()},
      {g.o, o8.data_ptr()},          {g.descale_q, descale_q.data_ptr()}, {g.descale_k, descale_k.data_ptr()},
      {g.descale_v, descale_v.data_ptr()}, {g.descale_s, descale_s.data_ptr()}, {g.scale_s, scale_s.data_ptr()},
      {g.scale_o, scale_o.data_ptr()}, {g.amax_s, amax_s_out.data_ptr()}, {g.amax_o, amax_o_out.data_ptr()}};
  check(g.graph.execute(handle, pack, workspace.data_ptr()), "execute");
  return o8.to(at::kBFloat16).mul_(descale_v);
#else
  throw Error(ErrorKind::unavailable, kContext, "device", why);
#endif
}

}  // namespace ditstream::kernels
