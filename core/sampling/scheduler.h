// FlowMatchEulerDiscreteScheduler as HunyuanVideoPipeline drives it (diffusers
// scheduling_flow_match_euler_discrete.py): sigmas from linspace(1, 0, steps + 1)[:-1], shifted
// by shift·σ / (1 + (shift − 1)·σ), timesteps σ·num_train_timesteps, Euler steps
// x ← x + (σ_next − σ)·v with a terminal σ of 0.
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>
#include <vector>

namespace ditstream::io {
class ConfigReader;
}

namespace ditstream::sampling {

struct FlowMatchEulerDiscreteSchedulerConfig {
  int64_t num_train_timesteps = 1000;
  double shift = 1.0;  // the file's default; a request's shift replaces it

  // Reads scheduler_config.json. The variants HunyuanVideo does not use (dynamic shifting,
  // Karras/exponential/beta sigmas, terminal stretch, inverted sigmas, stochastic sampling) are
  // rejected by name rather than silently ignored.
  static FlowMatchEulerDiscreteSchedulerConfig from_config(const io::ConfigReader& reader);
  void validate() const;
};

class FlowMatchEulerDiscreteScheduler {
 public:
  explicit FlowMatchEulerDiscreteScheduler(FlowMatchEulerDiscreteSchedulerConfig config);

  // Throws ditstream::Error when steps < 1 or shift is not a positive finite number.
  void set_timesteps(int64_t steps, double shift);

  int64_t num_steps() const { return static_cast<int64_t>(timesteps_.size()); }
  // Host values (float32 as diffusers keeps them), so the loop reads them without device syncs.
  float sigma(int64_t step) const { return sigmas_.at(static_cast<size_t>(step)); }
  float timestep(int64_t step) const { return timesteps_.at(static_cast<size_t>(step)); }
  const std::vector<float>& sigmas() const { return sigmas_; }  // steps + 1 entries, last 0
  const std::vector<float>& timesteps() const { return timesteps_; }

  // One Euler step in float32: returns sample + (σ_{step+1} − σ_step)·velocity in velocity's dtype.
  at::Tensor step(const at::Tensor& velocity, int64_t step, const at::Tensor& sample) const;

 private:
  FlowMatchEulerDiscreteSchedulerConfig config_;
  std::vector<float> sigmas_;
  std::vector<float> timesteps_;
};

}  // namespace ditstream::sampling
