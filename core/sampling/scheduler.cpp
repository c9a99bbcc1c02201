#include "core/sampling/scheduler.h"

#include <ATen/ATen.h>

#include <cmath>
#include <string>

#include "core/io/config_reader.h"
#include "core/util/error.h"

namespace ditstream::sampling {
namespace {

constexpr std::string_view kContext = "FlowMatchEulerDiscreteScheduler";

}  // namespace

FlowMatchEulerDiscreteSchedulerConfig FlowMatchEulerDiscreteSchedulerConfig::from_config(const io::ConfigReader& r) {
  FlowMatchEulerDiscreteSchedulerConfig c;
  c.num_train_timesteps = r.get_int("num_train_timesteps", c.num_train_timesteps);
  c.shift = r.get_double("shift", c.shift);
  for (const char* flag : {"use_dynamic_shifting", "use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas",
                           "invert_sigmas", "stochastic_sampling"}) {
    if (r.get_bool(flag, false)) r.fail(flag, "is true; only the plain shifted schedule HunyuanVideo uses is supported");
  }
  if (r.has("shift_terminal")) r.fail("shift_terminal", "is set; stretching to a terminal sigma is not supported");
  try {
    c.validate();
  } catch (const Error& e) {
    r.fail(e.field(), e.detail());
  }
  return c;
}

void FlowMatchEulerDiscreteSchedulerConfig::validate() const {
  require(num_train_timesteps >= 1, kContext, "num_train_timesteps",
          "is " + std::to_string(num_train_timesteps) + ", must be >= 1");
  require(std::isfinite(shift) && shift > 0, kContext, "shift", "is " + std::to_string(shift) + ", must be a finite number > 0");
}

FlowMatchEulerDiscreteScheduler::FlowMatchEulerDiscreteScheduler(FlowMatchEulerDiscreteSchedulerConfig config)
    : config_(config) {
  config_.validate();
}

void FlowMatchEulerDiscreteScheduler::set_timesteps(int64_t steps, double shift) {
  require(steps >= 1, kContext, "steps", "is " + std::to_string(steps) + ", must be >= 1");
  require(std::isfinite(shift) && shift > 0, kContext, "shift", "is " + std::to_string(shift) + ", must be a finite number > 0");
  // As the pipeline builds them: float64 linspace, cast to float32, shifted in float32.
  const at::Tensor base = at::linspace(1.0, 0.0, steps + 1, at::kDouble).narrow(0, 0, steps).to(at::kFloat);  // [steps]
  const at::Tensor shifted = shift * base / (1 + (shift - 1) * base);
  const at::Tensor timesteps = shifted * static_cast<double>(config_.num_train_timesteps);
  const float* s = shifted.const_data_ptr<float>();
  const float* t = timesteps.const_data_ptr<float>();
  sigmas_.assign(s, s + steps);
  sigmas_.push_back(0.0f);
  timesteps_.assign(t, t + steps);
}

at::Tensor FlowMatchEulerDiscreteScheduler::step(const at::Tensor& velocity, int64_t step, const at::Tensor& sample) const {
  require(step >= 0 && step < num_steps(), kContext, "step",
          "is " + std::to_string(step) + ", must be in [0, " + std::to_string(num_steps()) + ")");
  // dt as a 0-dim float32 tensor, as diffusers computes σ_next − σ: it takes velocity's dtype in
  // the product, and the sum is done in float32.
  const float dt = sigmas_[static_cast<size_t>(step) + 1] - sigmas_[static_cast<size_t>(step)];
  const at::Tensor dt_t = at::scalar_tensor(dt, at::TensorOptions().dtype(at::kFloat).device(velocity.device()));
  return (sample.to(at::kFloat) + dt_t * velocity).to(velocity.scalar_type());
}

}  // namespace ditstream::sampling
