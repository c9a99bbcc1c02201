// Typed events a job emits while it runs. The queue emits Queued/Started/Finished/Failed/Canceled,
// the engine emits Progress/PreviewFrame/FrameChunk, and PreviewPlan/PreviewChunk for previews
// decoded by the real VAE. Frames are shared, so fanning an event out to several observers copies
// no pixels; an engine on a GPU leaves them in device memory, where the stream's compositor reads
// them without a round trip through the host.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ditstream::engine {

// A tensor in device memory (CUDA), made by the engine. Torch-free code passes it along or copies
// it to the host; the stream's CUDA interop reads the tensor itself (core/engine/aten_device_tensor.h).
// Readers use it inside the observer call that delivered it, on the emitting thread, whose current
// CUDA stream is the one the engine wrote it on.
class DeviceTensor {
 public:
  virtual ~DeviceTensor() = default;
  virtual std::vector<int64_t> sizes() const = 0;
  // The values as contiguous float32 in host memory, for readers that cannot use the device.
  virtual std::vector<float> to_host_float() const = 0;
};
using DeviceTensorPtr = std::shared_ptr<const DeviceTensor>;

// One picture at the output resolution: in host memory (`rgb`) or on the device (`device`).
struct RgbFrame {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // [height, width, 3] row-major; empty when the frame is on the device
  DeviceTensorPtr device;    // [3, height, width], any float dtype, in [-1, 1] as the VAE decodes
};
using FramePtr = std::shared_ptr<const RgbFrame>;

// One frame of latents [channels, height, width] (latent resolution), in host memory or on the
// device; the stream turns it into a picture (latent→RGB factors, upscaling).
struct LatentFrame {
  int channels = 0;
  int height = 0;
  int width = 0;
  std::vector<float> host;  // [channels, height, width] float32; empty when on the device
  DeviceTensorPtr device;   // [channels, height, width], any float dtype
};
using LatentPtr = std::shared_ptr<const LatentFrame>;

struct Queued {
  int position = 0;  // 0: next to run
};
struct Started {
  std::string text_path;
  std::string decode_path;
};
struct Progress {
  int step = 0;  // 1-based: steps done
  int steps = 0;
  bool reused = false;  // the cache policy skipped the transformer for this step
  double step_seconds = 0;
};
// The x0 prediction of one step: its first latent frame, or a picture already decoded from it.
struct PreviewFrame {
  int step = 0;
  int steps = 0;
  FramePtr frame;      // a decoded picture at the output resolution, or null
  LatentPtr latent;    // the latent frame, or null
};
// Final frames from one decode chunk, at the output resolution.
struct FrameChunk {
  int first_frame = 0;
  int frames_total = 0;
  double decode_seconds = 0;
  std::vector<FramePtr> frames;
};
// How this job previews, announced once when denoising starts: the cheap latent→RGB preview of
// every step, plus real-VAE previews every `vae_every` steps when they run.
struct PreviewPlan {
  std::string path;   // "latent-rgb" or "latent-rgb+vae"
  int vae_every = 0;  // as asked: 0 none, kPreviewVaeAuto (job.h) chosen from measured times
  std::string lane;   // where real-VAE previews decode ("cuda:0/preview-vae"), empty when they do not
  std::string note;   // why real-VAE previews do not run although asked for (memory budget), or ""
};
// One decode chunk of a real-VAE preview: the x0 prediction of step `step` decoded by the
// streaming VAE, pictures at the output resolution (in host or device memory, as FrameChunk's),
// while later steps run. A newer
// step's preview supersedes an unfinished older one, so a preview may end before its last frame.
struct PreviewChunk {
  int step = 0;
  int steps = 0;
  int first_frame = 0;
  int frames_total = 0;
  double decode_seconds = 0;  // this chunk
  double age_seconds = 0;     // from the end of step `step` to this chunk's emission
  std::vector<FramePtr> frames;
};
struct Finished {
  int frames = 0;
};
struct Failed {
  std::string reason;
};
struct Canceled {};

using Event = std::variant<Queued, Started, Progress, PreviewFrame, FrameChunk, Finished, Failed, Canceled, PreviewPlan,
                           PreviewChunk>;

// std::visit over an Event with one lambda per type.
template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

// The SSE event name of each type: queued, started, step, preview, chunk, completed, failed, canceled,
// preview_plan, preview_chunk.
std::string_view event_name(const Event& event);
bool is_terminal(const Event& event);
// A copy without pixels, for histories and readers that only need the facts.
Event without_pixels(const Event& event);

}  // namespace ditstream::engine
