// First Block Cache (ParaAttention's rule; diffusers' FirstBlockCache hook implements the same):
// every step runs the first dual-stream block and compares its residual (output − input, video
// tokens) with the residual of the last step that ran in full, by
//   mean|residual − previous| / mean|previous|.
// Under the threshold the remaining blocks are skipped and their cached residuals (video and text
// streams) are added to the first block's output; otherwise they run and the cache (first-block
// residual included) is refreshed. A threshold of 0 turns the cache off.
//
// With a communicator the two means are summed over the ranks before the division (each rank
// holds an equal share of the tokens), so every rank takes the same decision.
#pragma once

#include <ATen/Tensor.h>

#include <vector>

#include "core/sampling/cache/step_cache_policy.h"

namespace ditstream::parallel {
class Communicator;
}

namespace ditstream::sampling {

class FirstBlockCache : public StepCachePolicy {
 public:
  // Throws ditstream::Error when threshold is negative or not finite.
  explicit FirstBlockCache(double threshold, parallel::Communicator* communicator = nullptr);

  std::string_view name() const override { return "first_block_cache"; }
  void reset() override;
  StepCacheDecision run_blocks(model::hunyuan_video::HunyuanVideoTransformer3DModel& model,
                               model::hunyuan_video::HunyuanVideoTransformer3DModel::State& state,
                               int64_t step) override;

  double threshold() const { return threshold_; }
  // What each step of the current job did, in order.
  const std::vector<StepCacheDecision>& history() const { return history_; }

 private:
  double relative_change(const at::Tensor& residual) const;

  double threshold_;
  parallel::Communicator* communicator_;
  at::Tensor first_residual_;  // [B, Lv, C] first-block video residual of the last full step
  at::Tensor video_residual_;  // [B, Lv, C] remaining blocks' residual, video stream
  at::Tensor text_residual_;   // [B, Lt, C] remaining blocks' residual, text stream
  std::vector<StepCacheDecision> history_;
};

}  // namespace ditstream::sampling
