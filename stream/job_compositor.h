// One job's frames through its compositor. A preview (the x0 latent, drawn by the latent-preview
// pass and upscaled, or a picture already decoded) gets the overlay "step i/N denoising" and its
// progress bar; every final frame is composed twice: for the live stream with the decode overlay
// ("step N/N decoding", the bar filled with the frames decoded so far, "done" on the last chunk)
// and clean for the recording. Frames on the device go through the compositor's device input
// when it has one, otherwise they are copied to the host first. Frames of a chunk are pipelined
// through the compositor's slots. Used by one thread at a time (the job's).
#pragma once

#include <memory>
#include <vector>

#include "core/engine/events.h"
#include "stream/vulkan/compositor.h"
#include "stream/vulkan/device_frame_input.h"

namespace ditstream::stream {

class JobCompositor {
 public:
  // `device_input` may be null (frames on the device are then copied to the host).
  JobCompositor(std::unique_ptr<Compositor> compositor, std::unique_ptr<DeviceFrameInput> device_input);

  // Throws ditstream::Error naming the field for a frame the compositor cannot take (wrong size,
  // channel count or no pixels).
  I420Frame preview(const engine::PreviewFrame& preview);

  struct FinalFrames {
    std::vector<I420Frame> shown;     // with the overlay, for the live stream
    std::vector<I420Frame> recorded;  // clean, for the recording
  };
  // `steps`: the job's denoising steps, for the overlay's text.
  FinalFrames final_frames(const engine::FrameChunk& chunk, int steps);

  const Compositor& compositor() const { return *compositor_; }

 private:
  FrameTicket submit(const engine::RgbFrame& frame, const Overlay* overlay);
  FrameTicket submit(const engine::LatentFrame& latent, const Overlay* overlay);

  std::unique_ptr<Compositor> compositor_;
  std::unique_ptr<DeviceFrameInput> device_input_;  // declared after the compositor: destroyed first
};

}  // namespace ditstream::stream
