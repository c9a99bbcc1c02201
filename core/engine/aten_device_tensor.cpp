#include "core/engine/aten_device_tensor.h"

#include <ATen/ATen.h>

#include "core/util/error.h"

namespace ditstream::engine {

AtenDeviceTensor::AtenDeviceTensor(at::Tensor tensor) : tensor_(std::move(tensor)) {
  require(tensor_.defined(), "device tensor", "tensor", "is undefined");
}

std::vector<int64_t> AtenDeviceTensor::sizes() const { return tensor_.sizes().vec(); }

std::vector<float> AtenDeviceTensor::to_host_float() const {
  const at::Tensor host = tensor_.to(at::kCPU, at::kFloat).contiguous();
  return {host.data_ptr<float>(), host.data_ptr<float>() + host.numel()};
}

const at::Tensor& aten_tensor(const DeviceTensor& device) {
  const auto* aten = dynamic_cast<const AtenDeviceTensor*>(&device);
  if (!aten) throw Error(ErrorKind::internal, "device tensor", "device", "is not an ATen tensor");
  return aten->tensor();
}

}  // namespace ditstream::engine
