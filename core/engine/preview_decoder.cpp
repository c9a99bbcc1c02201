#include "core/engine/preview_decoder.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <c10/util/Exception.h>

#include <chrono>
#include <cmath>

#include "core/engine/aten_device_tensor.h"
#include "core/util/log.h"

namespace ditstream::engine {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string frame_range(int64_t first, int64_t count) {
  return std::to_string(first) + "-" + std::to_string(first + count - 1);
}

}  // namespace

std::vector<FramePtr> decoded_frames(const at::Tensor& frames) {
  const at::Tensor video = frames.select(0, 0);  // [3, n, H, W]
  std::vector<FramePtr> out;
  if (!video.is_cpu()) {
    for (int64_t i = 0; i < video.size(1); ++i) {
      auto f = std::make_shared<RgbFrame>();
      f->height = static_cast<int>(video.size(2));
      f->width = static_cast<int>(video.size(3));
      f->device = std::make_shared<AtenDeviceTensor>(video.select(1, i));  // [3, H, W]
      out.push_back(std::move(f));
    }
    return out;
  }
  const at::Tensor rgb = ((video.to(at::kFloat) + 1.0) * 127.5)
                             .clamp(0, 255).round().to(at::kByte).permute({1, 2, 3, 0}).contiguous();  // [n, H, W, 3]
  for (int64_t i = 0; i < rgb.size(0); ++i) {
    auto f = std::make_shared<RgbFrame>();
    f->height = static_cast<int>(rgb.size(1));
    f->width = static_cast<int>(rgb.size(2));
    const at::Tensor one = rgb.select(0, i);
    f->rgb.assign(one.data_ptr<uint8_t>(), one.data_ptr<uint8_t>() + one.numel());
    out.push_back(std::move(f));
  }
  return out;
}

bool PreviewSchedule::due(int step, double step_seconds, double decode_seconds) {
  if (step >= steps_ || every_ == 0) return false;
  if (every_ > 0) {
    interval_ = every_;
  } else if (decode_seconds <= 0 || step_seconds <= 0) {
    if (last_ > 0) return false;  // the first preview is measuring the decode
    last_ = step;
    return true;
  } else {
    interval_ = std::max(1, static_cast<int>(std::ceil(decode_seconds / step_seconds)));
  }
  if (last_ > 0 ? step - last_ < interval_ : step % interval_ != 0) return false;
  last_ = step;
  return true;
}

PreviewDecoder::PreviewDecoder(const model::vae::AutoencoderKLHunyuanVideo& vae, const ComputeLane& lane,
                               at::Device source, PreviewDecodeSettings settings, int steps, int frames_total,
                               EventSink emit, Timeline& timeline)
    : vae_(vae),
      lane_(lane),
      settings_(std::move(settings)),
      steps_(steps),
      frames_total_(frames_total),
      emit_(std::move(emit)),
      timeline_(timeline) {
  if (source.is_cuda() && source != lane.device()) transfer_.emplace(source, "preview-transfer", ComputeLane::Priority::low);
  thread_ = std::thread([this] { work(); });
}

PreviewDecoder::~PreviewDecoder() { stop(); }

void PreviewDecoder::submit(int step, const at::Tensor& x0, LaneMark ready) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || !stats_.failure.empty()) return;
    ++stats_.submitted;
    if (waiting_) ++stats_.superseded;  // never started
    waiting_ = Request{step, x0, std::move(ready), unix_seconds()};
  }
  wake_.notify_all();
}

void PreviewDecoder::supersede() {
  std::lock_guard emitting(emit_mutex_);
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    if (waiting_) {
      ++stats_.superseded;
      waiting_.reset();
    }
  }
  wake_.notify_all();
}

void PreviewDecoder::stop() {
  supersede();
  if (thread_.joinable()) thread_.join();
}

PreviewDecoder::Stats PreviewDecoder::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

bool PreviewDecoder::superseded() const {
  std::lock_guard lock(mutex_);
  return stopping_ || waiting_.has_value();
}

bool PreviewDecoder::stopping() const {
  std::lock_guard lock(mutex_);
  return stopping_;
}

void PreviewDecoder::work() {
  c10::InferenceMode guard;
  while (true) {
    Request request;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || waiting_.has_value(); });
      if (!waiting_) return;
      request = std::move(*waiting_);
      waiting_.reset();
      ++stats_.started;
    }
    try {
      decode(std::move(request));
    } catch (const std::exception& e) {
      // A preview that does not fit is not worth the job: previews stop, denoising goes on.
      const bool oom = dynamic_cast<const c10::OutOfMemoryError*>(&e) != nullptr ||
                       dynamic_cast<const std::bad_alloc*>(&e) != nullptr;
      release_cached_memory(lane_.device());
      const std::string why = (oom ? "out of memory: " : "") + std::string(e.what()).substr(0, 300);
      log::warn("real-VAE previews stop: {}", why);
      {
        std::lock_guard lock(mutex_);
        stats_.failure = why;
        waiting_.reset();
      }
      std::lock_guard emitting(emit_mutex_);
      if (!stopping()) {
        emit_(PreviewPlan{"latent-rgb", 0, "", "Real-VAE previews stopped after a failed preview decode (" + why + ")."});
      }
      return;
    }
  }
}

void PreviewDecoder::decode(Request request) {
  const auto decode_start = Clock::now();
  at::Tensor z;
  {
    // x0 was made on the transformer's lane: wait for it there, then bring it over.
    std::optional<ComputeLane::Use> on_source;
    if (transfer_) {
      on_source.emplace(*transfer_);
      transfer_->wait(request.ready, request.x0);
    }
    ComputeLane::Use on_lane(lane_);
    if (!transfer_) lane_.wait(request.ready, request.x0);
    z = request.x0.to(vae_.device(), vae_.dtype());  // [B, C, T', H', W']
    request.x0 = at::Tensor();
  }
  ComputeLane::Use on_lane(lane_);
  const int64_t d = settings_.downscale;
  const int64_t ratio = vae_.config().spatial_compression_ratio;
  const int64_t out_height = z.size(3) * ratio, out_width = z.size(4) * ratio;
  if (d > 1) z = at::avg_pool3d(z, {1, d, d}, {1, d, d});  // [B, C, T', H'/d, W'/d]
  auto chunk_start = Clock::now();
  double chunk_unix = unix_seconds();
  const bool finished = model::vae::decode_streaming(
      vae_, z, settings_.plan, settings_.streaming,
      [&](const at::Tensor& frames, int64_t first_frame) {
        at::Tensor pictures = frames;  // [B, 3, n, h, w]
        if (d > 1) {
          // [B, 3, n, h, w] → [B·n, 3, h, w] → the output size → [B, 3, n, H, W]
          const int64_t b = frames.size(0), n = frames.size(2);
          pictures = at::upsample_bilinear2d(frames.permute({0, 2, 1, 3, 4}).reshape({b * n, 3, frames.size(3), frames.size(4)}),
                                             {out_height, out_width}, false)
                         .reshape({b, n, 3, out_height, out_width})
                         .permute({0, 2, 1, 3, 4});
        }
        PreviewChunk chunk{request.step, steps_, static_cast<int>(first_frame), frames_total_, 0, 0, decoded_frames(pictures)};
        lane_.synchronize();  // the pictures may stay on the device: the span and age are the device's
        chunk.decode_seconds = seconds_since(chunk_start);
        chunk.age_seconds = unix_seconds() - request.ready_at;
        std::lock_guard emitting(emit_mutex_);
        const bool dropped = stopping();
        timeline_.add_until_now("preview step " + std::to_string(request.step) + " frames " +
                                    frame_range(first_frame, static_cast<int64_t>(chunk.frames.size())) +
                                    (dropped ? " (superseded)" : ""),
                                lane_.name(), chunk_unix);
        if (!dropped) emit_(std::move(chunk));
        chunk_start = Clock::now();
        chunk_unix = unix_seconds();
      },
      [&] { return superseded(); });
  std::lock_guard lock(mutex_);
  if (finished) {
    ++stats_.completed;
    stats_.last_decode_seconds = seconds_since(decode_start);
  } else {
    ++stats_.superseded;
  }
}

}  // namespace ditstream::engine
