// Real-VAE previews of one job: the x0 prediction of a step, decoded chunk by chunk by the streaming
// VAE on a lane of its own (its own CUDA stream, another GPU, or on the CPU its own thread) while
// the next steps run; each chunk is emitted as a PreviewChunk as soon as it is decoded. One decode
// at a time: a newer step supersedes the decode in progress (it stops after the chunk it is
// decoding) and replaces one that has not started, so previews never queue up behind denoising.
#pragma once

#include <ATen/Tensor.h>

#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/engine/compute_lane.h"
#include "core/engine/engine.h"
#include "core/model/vae/autoencoder_kl_hunyuan_video.h"
#include "core/model/vae/streaming_decoder.h"

namespace ditstream::engine {

// Decoded frames [B, 3, n, H, W] in [-1, 1] (batch entry 0 is shown) → n frames: [3, H, W] views
// left on the device, or [H, W, 3] uint8 on the host.
std::vector<FramePtr> decoded_frames(const at::Tensor& frames);

// Which steps get a real-VAE preview (steps are 1-based; never the last, whose x0 the final decode
// shows). A fixed interval k: steps k, 2k, .... Auto: k = ceil(decode time / step time) from
// measured times, so a preview finishes about when the next one is due; with no decode time known
// yet, the first preview comes after step 1 and measures it.
class PreviewSchedule {
 public:
  // `every`: k ≥ 1 or kPreviewVaeAuto.
  PreviewSchedule(int every, int steps) : every_(every), steps_(steps) {}
  // Whether `step` just finished gets a preview; `step_seconds` is the mean step time so far and
  // `decode_seconds` a whole preview decode's expected time (0: not known yet).
  bool due(int step, double step_seconds, double decode_seconds);
  // The interval in force: k, or for auto the last one chosen (0 before the first choice).
  int interval() const { return interval_; }

 private:
  int every_;
  int steps_;
  int interval_ = 0;
  int last_ = 0;  // the last step that got a preview
};

struct PreviewDecodeSettings {
  model::vae::ChunkPlan plan;
  model::vae::StreamingOptions streaming;  // unscale_latents: x0 is in the denoiser's scale
  // x0 is average-pooled by this spatially first (1/downscale² of the work); the pictures are
  // scaled back up to the output size.
  int downscale = 1;
};

class PreviewDecoder {
 public:
  // Decodes with `vae` on `lane` (the VAE's device); x0 comes from `source` (the transformer's
  // device). `timeline` must outlive the decoder.
  PreviewDecoder(const model::vae::AutoencoderKLHunyuanVideo& vae, const ComputeLane& lane, at::Device source,
                 PreviewDecodeSettings settings, int steps, int frames_total, EventSink emit, Timeline& timeline);
  ~PreviewDecoder();
  PreviewDecoder(const PreviewDecoder&) = delete;
  PreviewDecoder& operator=(const PreviewDecoder&) = delete;

  // x0 [B, C, T', H', W'] of `step`, queued on the producer's lane up to `ready` (called on the
  // producer's thread right after the step).
  void submit(int step, const at::Tensor& x0, LaneMark ready);
  // The final frames take over (called before the first is emitted), without waiting: a waiting
  // preview is dropped, and the chunk in progress is finished on the lane but not emitted (its span
  // says "superseded"). Until then, previews go on after denoising ended: while a job waits for
  // its final decode, its newest preview is the best picture there is.
  void supersede();
  // supersede(), then waits for the thread to end. Called by the destructor too.
  void stop();

  struct Stats {
    int submitted = 0;
    int started = 0;
    int completed = 0;   // every chunk emitted
    int superseded = 0;  // stopped early or dropped before starting
    double last_decode_seconds = 0;  // the last completed decode
    std::string failure;             // why previews stopped early (out of memory), or ""
  };
  Stats stats() const;

 private:
  struct Request {
    int step = 0;
    at::Tensor x0;
    LaneMark ready;
    double ready_at = 0;  // unix seconds
  };
  void work();
  void decode(Request request);
  bool superseded() const;  // a newer step waits, or the final frames took over
  bool stopping() const;    // the final frames took over

  const model::vae::AutoencoderKLHunyuanVideo& vae_;
  const ComputeLane& lane_;
  std::optional<ComputeLane> transfer_;  // on the source device when the VAE is on another one
  PreviewDecodeSettings settings_;
  int steps_;
  int frames_total_;
  EventSink emit_;
  Timeline& timeline_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::optional<Request> waiting_;
  bool stopping_ = false;
  Stats stats_;
  std::mutex emit_mutex_;  // held while a chunk is emitted, so none is emitted after supersede()
  std::thread thread_;
};

}  // namespace ditstream::engine
