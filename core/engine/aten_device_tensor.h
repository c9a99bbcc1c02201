// The ATen side of engine::DeviceTensor: an event's pixels left on the GPU as the tensor the
// engine computed. The engine wraps its tensors here; the stream's CUDA interop unwraps them.
#pragma once

#include <ATen/Tensor.h>

#include "core/engine/events.h"

namespace ditstream::engine {

class AtenDeviceTensor final : public DeviceTensor {
 public:
  explicit AtenDeviceTensor(at::Tensor tensor);
  const at::Tensor& tensor() const { return tensor_; }
  std::vector<int64_t> sizes() const override;
  std::vector<float> to_host_float() const override;

 private:
  at::Tensor tensor_;
};

// The tensor inside `device`; throws Error(internal) when it was not made by AtenDeviceTensor.
const at::Tensor& aten_tensor(const DeviceTensor& device);

}  // namespace ditstream::engine
