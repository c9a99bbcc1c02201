#include "stream/job_compositor.h"

#include <algorithm>
#include <deque>
#include <utility>

#include "core/util/error.h"

namespace ditstream::stream {
namespace {

constexpr std::string_view kContext = "stream";
// How engines hand over pictures: [H, W, 3] bytes in host memory, [3, H, W] floats in [-1, 1]
// (the VAE's output) on the device or copied from it.
constexpr RgbFormat kHostRgb{SampleType::u8, PixelLayout::interleaved, FloatRange::unit};
constexpr RgbFormat kDeviceRgb{SampleType::f32, PixelLayout::planar, FloatRange::signed_unit};

std::string size_text(int width, int height) { return std::to_string(width) + "x" + std::to_string(height); }

}  // namespace

JobCompositor::JobCompositor(std::unique_ptr<Compositor> compositor, std::unique_ptr<DeviceFrameInput> device_input)
    : compositor_(std::move(compositor)), device_input_(std::move(device_input)) {}

I420Frame JobCompositor::preview(const engine::PreviewFrame& preview) {
  const Overlay overlay{preview.step, preview.steps, "denoising"};
  FrameTicket ticket = 0;
  if (preview.frame) {
    ticket = submit(*preview.frame, &overlay);
  } else if (preview.latent) {
    ticket = submit(*preview.latent, &overlay);
  } else {
    throw_invalid(std::string(kContext), "preview", "carries neither a latent frame nor a picture");
  }
  I420Frame out;
  compositor_->collect(ticket, out);
  return out;
}

JobCompositor::FinalFrames JobCompositor::final_frames(const engine::FrameChunk& chunk, int steps) {
  const size_t n = chunk.frames.size();
  FinalFrames out;
  out.shown.resize(n);
  out.recorded.resize(n);
  const bool last = chunk.first_frame + static_cast<int>(n) >= chunk.frames_total;
  // Up to `slots` frames in flight: while the compositor converts one, the previous is read back.
  std::deque<std::pair<FrameTicket, I420Frame*>> in_flight;
  auto collect_oldest = [&] {
    compositor_->collect(in_flight.front().first, *in_flight.front().second);
    in_flight.pop_front();
  };
  for (size_t i = 0; i < n; ++i) {
    require(chunk.frames[i] != nullptr, kContext, "frames",
            "frame " + std::to_string(i) + " of the chunk has no pixels");
    const float done = float(chunk.first_frame + int(i) + 1) / float(std::max(1, chunk.frames_total));
    const Overlay overlay{steps, steps, last ? "done" : "decoding", std::min(1.0f, done)};
    for (auto [layer, target] :
         {std::pair{&overlay, &out.shown[i]}, std::pair{static_cast<const Overlay*>(nullptr), &out.recorded[i]}}) {
      if (in_flight.size() == static_cast<size_t>(compositor_->slots())) collect_oldest();
      in_flight.emplace_back(submit(*chunk.frames[i], layer), target);
    }
  }
  while (!in_flight.empty()) collect_oldest();
  return out;
}

FrameTicket JobCompositor::submit(const engine::RgbFrame& frame, const Overlay* overlay) {
  const int w = compositor_->width(), h = compositor_->height();
  require(frame.width == w && frame.height == h, kContext, "frame",
          "is " + size_text(frame.width, frame.height) + "; the job streams " + size_text(w, h));
  const size_t samples = size_t(3) * w * h;
  if (frame.device) {
    if (device_input_) return device_input_->submit_rgb(*frame.device, overlay);
    const std::vector<float> host = frame.device->to_host_float();
    require(host.size() == samples, kContext, "frame",
            "the device tensor holds " + std::to_string(host.size()) + " values; [3, H, W] at " + size_text(w, h) +
                " are " + std::to_string(samples));
    return compositor_->submit_rgb(host.data(), kDeviceRgb, overlay);
  }
  require(frame.rgb.size() == samples, kContext, "frame",
          "holds " + std::to_string(frame.rgb.size()) + " bytes; RGB at " + size_text(w, h) + " needs " +
              std::to_string(samples));
  return compositor_->submit_rgb(frame.rgb.data(), kHostRgb, overlay);
}

FrameTicket JobCompositor::submit(const engine::LatentFrame& latent, const Overlay* overlay) {
  require(latent.channels == kLatentChannels, kContext, "latent.channels",
          "is " + std::to_string(latent.channels) + "; the preview factors are for " + std::to_string(kLatentChannels) +
              " latent channels");
  if (latent.device && device_input_) return device_input_->submit_latent(*latent.device, overlay);
  const LatentFrameDesc desc{latent.height, latent.width, 0, 0};
  const std::vector<float> copied = latent.device ? latent.device->to_host_float() : std::vector<float>{};
  const std::vector<float>& host = latent.device ? copied : latent.host;
  const size_t samples = size_t(kLatentChannels) * std::max(0, latent.height) * std::max(0, latent.width);
  require(host.size() == samples, kContext, "latent",
          "holds " + std::to_string(host.size()) + " values; [16, " + std::to_string(latent.height) + ", " +
              std::to_string(latent.width) + "] are " + std::to_string(samples));
  return compositor_->submit_latent(host.data(), desc, overlay);
}

}  // namespace ditstream::stream
