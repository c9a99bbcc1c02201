#include "core/model/vae/streaming_decoder.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>
#include <fmt/format.h>

#include "core/model/vae/parallel_decode.h"
#include "core/util/error.h"

namespace ditstream::model::vae {

namespace {
constexpr const char* kContext = "[vae streaming decode]";
}

void ChunkPlan::validate() const {
  require(first_chunk_frames > 0, kContext, "first_chunk_frames",
          fmt::format("is {}; must be ≥ 1 (latent frame 0 plus any more)", first_chunk_frames));
  require(chunk_frames > 0, kContext, "chunk_frames", fmt::format("is {}; must be ≥ 1", chunk_frames));
}

std::vector<std::pair<int64_t, int64_t>> ChunkPlan::split(int64_t latent_frames) const {
  validate();
  std::vector<std::pair<int64_t, int64_t>> chunks;
  int64_t start = 0;
  while (start < latent_frames) {
    const int64_t want = start == 0 ? first_chunk_frames : chunk_frames;
    const int64_t n = std::min(want, latent_frames - start);
    chunks.emplace_back(start, n);
    start += n;
  }
  return chunks;
}

StreamingDecoder::StreamingDecoder(const AutoencoderKLHunyuanVideo& vae, StreamingOptions options,
                                   parallel::Communicator* comm)
    : vae_(vae), options_(std::move(options)), comm_(comm) {
  if (options_.tiling) options_.tiling->validate(vae_.config().spatial_compression_ratio);
  require(!options_.offload_caches || vae_.device().is_cuda(), kContext, "offload_caches",
          fmt::format("needs the VAE on a CUDA device; it is on {}", vae_.device().str()));
}

at::Tensor StreamingDecoder::prepare(const at::Tensor& z, const char* field) const {
  vae_.check_latents(z, field);
  return options_.unscale_latents ? z / vae_.config().scaling_factor : z;
}

void StreamingDecoder::ensure_grid(const at::Tensor& z) {
  if (grid_) {
    require(z.size(0) == batch_ && z.size(3) == height_ && z.size(4) == width_, kContext, "z_chunk",
            fmt::format("is batch {} of {}x{} latent pixels; earlier chunks of this clip were batch {} of {}x{}",
                        z.size(0), z.size(3), z.size(4), batch_, height_, width_));
    return;
  }
  batch_ = z.size(0);
  height_ = z.size(3);
  width_ = z.size(4);
  grid_.emplace(height_, width_, options_.tiling, vae_.config().spatial_compression_ratio);
  const int rank = comm_ ? comm_->rank() : 0;
  const int world = comm_ ? comm_->world_size() : 1;
  owned_ = owned_tiles(*grid_, rank, world);
  states_.clear();
  for (size_t i = 0; i < owned_.size(); ++i) {
    states_.emplace_back(options_.statistics);
    if (options_.offload_caches) states_.back().offload_caches();
  }
}

void StreamingDecoder::collect_statistics(const at::Tensor& z_in, const ChunkPlan& plan) {
  c10::InferenceMode guard;
  require(options_.statistics == NormStatistics::whole_clip, kContext, "statistics",
          "collect_statistics is for NormStatistics::whole_clip");
  require(latent_frames_ == 0, kContext, "collect_statistics", "must come before the first push");
  const at::Tensor z = prepare(z_in, "z");
  ensure_grid(z);
  const auto chunks = plan.split(z.size(2));
  for (size_t s = 0; s < owned_.size(); ++s) {
    const Tile& t = grid_->tiles()[owned_[s]];
    const at::Tensor window = vae_.post_quant(z.narrow(3, t.y, t.height).narrow(4, t.x, t.width));
    StreamState& state = states_[s];
    // Each pass runs every chunk up to the first norm whose statistics are unknown, adds up that
    // norm's input, then freezes them; a first chunk that gets through means all are known.
    while (true) {
      state.begin_pass();
      bool complete = false;
      for (size_t c = 0; c < chunks.size() && !complete; ++c) {
        try {
          vae_.decoder().forward(window.narrow(2, chunks[c].first, chunks[c].second), state);
          complete = c == 0;
        } catch (const StatisticsPassStop&) {
        }
        state.end_chunk();
      }
      state.reset_stream();
      if (complete) break;
      state.freeze_collected();
    }
  }
  statistics_ready_ = true;
}

at::Tensor StreamingDecoder::push(const at::Tensor& z_chunk) {
  c10::InferenceMode guard;
  const at::Tensor z = prepare(z_chunk, "z_chunk");
  require(options_.statistics != NormStatistics::whole_clip || statistics_ready_, kContext, "statistics",
          "whole_clip statistics need collect_statistics(z, plan) before the first push");
  ensure_grid(z);
  std::vector<at::Tensor> mine;
  mine.reserve(owned_.size());
  for (size_t s = 0; s < owned_.size(); ++s) {
    const Tile& t = grid_->tiles()[owned_[s]];
    // [B, C, n, h, w] → the tile's window
    const at::Tensor window = z.narrow(3, t.y, t.height).narrow(4, t.x, t.width);
    mine.push_back(vae_.decoder().forward(vae_.post_quant(window), states_[s]));
    states_[s].end_chunk();
  }
  latent_frames_ += z.size(2);
  auto all = gather_tiles(*grid_, std::move(mine), comm_);
  const bool root = comm_ == nullptr || comm_->rank() == 0;
  if (!root) return {};
  return grid_->assemble(all);
}

void StreamingDecoder::finish() {
  states_.clear();
  owned_.clear();
  grid_.reset();
  statistics_ready_ = false;
  latent_frames_ = 0;
}

int64_t StreamingDecoder::cache_bytes() const {
  int64_t total = 0;
  for (const auto& s : states_) total += s.cache_bytes();
  return total;
}

bool decode_streaming(const AutoencoderKLHunyuanVideo& vae, const at::Tensor& z, const ChunkPlan& plan,
                      const StreamingOptions& options,
                      const std::function<void(const at::Tensor& frames, int64_t first_frame)>& on_frames,
                      const std::function<bool()>& cancelled, parallel::Communicator* comm) {
  plan.validate();
  vae.check_latents(z, "z");
  StreamingDecoder decoder(vae, options, comm);
  if (options.statistics == NormStatistics::whole_clip) decoder.collect_statistics(z, plan);
  int64_t next_frame = 0;
  for (const auto& [start, count] : plan.split(z.size(2))) {
    if (cancelled && cancelled()) {
      decoder.finish();
      return false;
    }
    const at::Tensor frames = decoder.push(z.narrow(2, start, count));
    if (frames.defined() && on_frames) on_frames(frames, next_frame);
    next_frame += start == 0 ? 1 + (count - 1) * vae.config().temporal_compression_ratio
                             : count * vae.config().temporal_compression_ratio;
  }
  decoder.finish();
  return true;
}

}  // namespace ditstream::model::vae
