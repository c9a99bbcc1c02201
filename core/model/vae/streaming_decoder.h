// Streaming decode: latent frames go in by temporal chunks and the video frames of each chunk come
// out at once. Every causal convolution keeps its last input frames and the mid-block attention
// keeps the keys and values of earlier frames (StreamState), one state per spatial tile, so memory
// grows with the chunk and tile size, not with the clip. Tiles can be spread over ranks.
#pragma once

#include <ATen/Tensor.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <utility>
#include <vector>

#include "core/model/vae/autoencoder_kl_hunyuan_video.h"
#include "core/model/vae/stream_state.h"
#include "core/model/vae/tiling.h"
#include "core/parallel/communicator.h"

namespace ditstream::model::vae {

// How a clip of latent frames is cut: the first chunk holds latent frame 0 (which decodes to one
// video frame) and first_chunk_frames − 1 more; every later chunk holds chunk_frames (4 video
// frames each).
struct ChunkPlan {
  int64_t first_chunk_frames = 1;
  int64_t chunk_frames = 4;

  void validate() const;
  // (first latent frame, count) of every chunk of a clip of `latent_frames`.
  std::vector<std::pair<int64_t, int64_t>> split(int64_t latent_frames) const;
};

struct StreamingOptions {
  NormStatistics statistics = NormStatistics::per_chunk;
  // Spatial tiles as diffusers' tiled_decode cuts them; none: the whole frame is one region.
  std::optional<TileSettings> tiling;
  // True: the input is the denoiser's latents and is divided by scaling_factor first (what the
  // pipeline does); false: the input is what diffusers' decode takes.
  bool unscale_latents = false;
  // CUDA only: the convolution caches wait in pinned host memory between chunks and come back a
  // few layers before their use (CacheOffload), so the GPU holds only those around the running
  // layer; the copies run beside the decode.
  bool offload_caches = false;
};

class StreamingDecoder {
 public:
  // `comm` (may be null: one rank) spreads the tiles over ranks; every rank then makes the same
  // calls with the same latents, and frames come back on rank 0 only.
  StreamingDecoder(const AutoencoderKLHunyuanVideo& vae, StreamingOptions options,
                   parallel::Communicator* comm = nullptr);

  // For NormStatistics::whole_clip, before the first push: runs the statistics passes over the
  // whole clip `z`, fed by `plan`'s chunks (each pass stops at the first norm not yet known; one
  // pass per group norm, so this costs several decodes). Later pushes may chunk the clip any way.
  void collect_statistics(const at::Tensor& z, const ChunkPlan& plan);

  // z_chunk [B, latent_channels, n, h, w], the next n latent frames. Returns their frames
  // [B, out_channels, 1 + 4(n − 1) for the first chunk else 4n, 8h, 8w] on rank 0, an undefined
  // tensor on other ranks.
  at::Tensor push(const at::Tensor& z_chunk);
  // Ends the clip and frees every cache; the decoder can start a new clip (statistics are kept
  // only for whole_clip after collect_statistics, and dropped here too).
  void finish();

  int64_t frames_pushed() const { return latent_frames_; }
  // Bytes held in caches and statistics by this rank.
  int64_t cache_bytes() const;

 private:
  at::Tensor prepare(const at::Tensor& z, const char* field) const;
  void ensure_grid(const at::Tensor& z);

  const AutoencoderKLHunyuanVideo& vae_;
  StreamingOptions options_;
  parallel::Communicator* comm_;
  std::optional<TileGrid> grid_;
  std::vector<size_t> owned_;
  std::vector<StreamState> states_;  // one per owned tile
  bool statistics_ready_ = false;
  int64_t latent_frames_ = 0;
  int64_t batch_ = 0, height_ = 0, width_ = 0;
};

// Decodes `z` chunk by chunk, calling on_frames(frames, index of its first video frame) on rank 0
// after each chunk. `cancelled` is asked before every chunk: when it returns true the decode stops
// there, frees its caches and returns false. Returns true when every chunk was decoded.
bool decode_streaming(const AutoencoderKLHunyuanVideo& vae, const at::Tensor& z, const ChunkPlan& plan,
                      const StreamingOptions& options,
                      const std::function<void(const at::Tensor& frames, int64_t first_frame)>& on_frames,
                      const std::function<bool()>& cancelled = {}, parallel::Communicator* comm = nullptr);

}  // namespace ditstream::model::vae
