#include "core/sampling/cache/first_block_cache.h"

#include <ATen/ATen.h>

#include <cmath>
#include <string>

#include "core/parallel/communicator.h"
#include "core/util/error.h"

namespace ditstream::sampling {

using model::hunyuan_video::HunyuanVideoTransformer3DModel;

FirstBlockCache::FirstBlockCache(double threshold, parallel::Communicator* communicator)
    : threshold_(threshold), communicator_(communicator) {
  require(std::isfinite(threshold) && threshold >= 0, "first_block_cache", "threshold",
          "is " + std::to_string(threshold) + ", must be a finite number >= 0 (0 turns the cache off)");
}

void FirstBlockCache::reset() {
  first_residual_ = video_residual_ = text_residual_ = at::Tensor();
  history_.clear();
}

double FirstBlockCache::relative_change(const at::Tensor& residual) const {
  const at::Tensor mean_diff = (residual - first_residual_).abs().mean();
  const at::Tensor mean_prev = first_residual_.abs().mean();
  if (communicator_ == nullptr || communicator_->world_size() == 1) {
    return (mean_diff / mean_prev).item<double>();  // the one host sync of a cached step
  }
  at::Tensor both = at::stack({mean_diff, mean_prev}).to(at::kFloat);  // [2]
  communicator_->all_reduce_sum(both);
  return (both[0] / both[1]).item<double>();
}

StepCacheDecision FirstBlockCache::run_blocks(HunyuanVideoTransformer3DModel& model,
                                              HunyuanVideoTransformer3DModel::State& state, int64_t /*step*/) {
  StepCacheDecision decision;
  if (threshold_ == 0) {
    model.run_first_block(state);
    model.run_remaining_blocks(state);
    history_.push_back(decision);
    return decision;
  }
  const at::Tensor video_in = state.video;
  model.run_first_block(state);
  const at::Tensor residual = state.video - video_in;  // [B, Lv, C]

  // A cache from another shape (a new job without reset) never matches.
  const bool comparable = first_residual_.defined() && first_residual_.sizes() == residual.sizes() &&
                          text_residual_.defined() && text_residual_.sizes() == state.text.sizes();
  if (comparable) {
    decision.metric = relative_change(residual);
    if (*decision.metric < threshold_) {
      decision.reused = true;
      state.video = state.video + video_residual_;
      state.text = state.text + text_residual_;
      history_.push_back(decision);
      return decision;
    }
  }
  first_residual_ = residual;
  const at::Tensor video_mid = state.video, text_mid = state.text;
  model.run_remaining_blocks(state);
  video_residual_ = state.video - video_mid;
  text_residual_ = state.text - text_mid;
  history_.push_back(decision);
  return decision;
}

}  // namespace ditstream::sampling
