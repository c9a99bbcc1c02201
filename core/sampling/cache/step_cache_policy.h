// A step cache decides, at each denoising step, how much of the transformer to run: it takes over
// between HunyuanVideoTransformer3DModel::begin() and finish() and may reuse what earlier steps
// computed. The sampling loop only sees this interface, so other policies (timestep-embedding
// distance as in TeaCache, extrapolation as in TaylorSeer) sit beside First Block Cache without
// touching the loop.
#pragma once

#include <optional>
#include <string_view>

#include "core/model/hunyuan_video/transformer.h"

namespace ditstream::sampling {

struct StepCacheDecision {
  bool reused = false;            // the remaining blocks were skipped
  std::optional<double> metric;   // the policy's comparison value, when it computed one
};

class StepCachePolicy {
 public:
  virtual ~StepCachePolicy() = default;
  virtual std::string_view name() const = 0;
  // Forgets everything cached; called before the first step of every job.
  virtual void reset() = 0;
  // Brings `state` from begin() to where finish() can take it, for step `step` of the job.
  virtual StepCacheDecision run_blocks(model::hunyuan_video::HunyuanVideoTransformer3DModel& model,
                                       model::hunyuan_video::HunyuanVideoTransformer3DModel::State& state,
                                       int64_t step) = 0;
};

}  // namespace ditstream::sampling
