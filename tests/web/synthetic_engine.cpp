#include "tests/web/synthetic_engine.h"

#include <algorithm>
#include <array>
#include <condition_variable>
#include <mutex>
#include <new>
#include <optional>
#include <thread>

#include "core/util/error.h"
#include "stream/vulkan/frame_format.h"

namespace ditstream::testing {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// The causal VAE rhythm: the first chunk is 1 frame, each later one up to 4.
int chunk_length(int done, int total) { return done == 0 ? 1 : std::min(4, total - done); }

// Real-VAE previews on a thread of their own: a newer step supersedes the one in progress (which
// stops after its current chunk) and replaces one that has not started; the job's first final
// frames supersede them all.
class PreviewThread {
 public:
  PreviewThread(const engine::JobRequest& request, const SyntheticEngineOptions& options, const engine::EventSink& emit,
                engine::Timeline& timeline)
      : request_(request), options_(options), emit_(emit), timeline_(timeline), thread_([this] { work(); }) {}
  ~PreviewThread() {
    supersede();
    thread_.join();
  }
  void supersede() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      wanted_.reset();
    }
    wake_.notify_all();
  }
  void submit(int step) {
    {
      std::lock_guard lock(mutex_);
      wanted_ = std::pair{step, Clock::now()};
    }
    wake_.notify_all();
  }

 private:
  void work() {
    while (true) {
      std::pair<int, Clock::time_point> job;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || wanted_; });
        if (!wanted_) return;
        job = *wanted_;
        wanted_.reset();
      }
      for (int done = 0; done < request_.frames;) {
        {
          std::lock_guard lock(mutex_);
          if (wanted_ || stopping_) break;  // superseded
        }
        const double start = engine::unix_seconds();
        const auto t0 = Clock::now();
        std::this_thread::sleep_for(options_.preview_chunk_time);
        const int n = chunk_length(done, request_.frames);
        engine::PreviewChunk chunk{job.first, request_.steps, done, request_.frames, seconds_since(t0),
                                   seconds_since(job.second), {}};
        for (int i = 0; i < n; ++i) chunk.frames.push_back(SyntheticEngine::solid(request_.width, request_.height, 0, 200, 0));
        timeline_.add_until_now("preview step " + std::to_string(job.first) + " frames " + std::to_string(done) + "-" +
                                    std::to_string(done + n - 1),
                                "synthetic/preview-vae", start);
        {
          std::lock_guard lock(mutex_);
          if (stopping_) break;  // the final frames came first
          emit_(std::move(chunk));
        }
        done += n;
      }
    }
  }

  engine::JobRequest request_;
  SyntheticEngineOptions options_;
  engine::EventSink emit_;
  engine::Timeline& timeline_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::optional<std::pair<int, Clock::time_point>> wanted_;
  bool stopping_ = false;
  std::thread thread_;
};

class SyntheticFinisher : public engine::Finisher {
 public:
  SyntheticFinisher(engine::JobRequest request, SyntheticEngineOptions options, std::unique_ptr<PreviewThread> previews)
      : request_(std::move(request)), options_(options), previews_(std::move(previews)) {}

  void finish(const engine::EventSink& emit, const engine::CancelToken& cancel, engine::Timeline& timeline) override {
    int done = 0;
    while (done < request_.frames) {
      const double start = engine::unix_seconds();
      const auto t0 = Clock::now();
      std::this_thread::sleep_for(options_.chunk_time);
      cancel.throw_if_canceled();
      if (request_.prompt.find(kOutOfMemoryWhileFinishing) != std::string::npos) throw std::bad_alloc();
      const int n = chunk_length(done, request_.frames);
      engine::FrameChunk chunk{done, request_.frames, 0, {}};
      for (int i = 0; i < n; ++i) chunk.frames.push_back(SyntheticEngine::solid(request_.width, request_.height, 200, 0, 0));
      chunk.decode_seconds = seconds_since(t0);
      timeline.add_until_now("decode frames " + std::to_string(done) + "-" + std::to_string(done + n - 1),
                             "synthetic/finish", start);
      if (previews_) previews_->supersede();
      emit(std::move(chunk));
      done += n;
    }
  }

 private:
  engine::JobRequest request_;
  SyntheticEngineOptions options_;
  std::unique_ptr<PreviewThread> previews_;
};

}  // namespace

engine::FramePtr SyntheticEngine::solid(int width, int height, uint8_t r, uint8_t g, uint8_t b) {
  auto f = std::make_shared<engine::RgbFrame>();
  f->width = width;
  f->height = height;
  f->rgb.resize(static_cast<size_t>(width * height * 3));
  for (size_t i = 0; i < f->rgb.size(); i += 3) {
    f->rgb[i] = r;
    f->rgb[i + 1] = g;
    f->rgb[i + 2] = b;
  }
  return f;
}

engine::LatentPtr SyntheticEngine::solid_latent(int width, int height, uint8_t r, uint8_t g, uint8_t b) {
  // The projection is rgb = bias + Fᵀ l with F the [16, 3] factors, and the picture (rgb + 1) / 2;
  // the least-norm l for a target t is F (FᵀF)⁻¹ (t - bias).
  const auto f = stream::LatentRgbFactors::hunyuan_video();
  const std::array<double, 3> colour{r / 255.0, g / 255.0, b / 255.0};
  std::array<double, 3> t{};
  for (int k = 0; k < 3; ++k) t[k] = 2 * colour[k] - 1 - f.bias[k];
  double m[3][3] = {};
  for (const auto& row : f.factors)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 3; ++j) m[i][j] += double(row[i]) * row[j];
  const double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
                     m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                     m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
  double inv[3][3];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      const int a = (j + 1) % 3, bb = (j + 2) % 3, c = (i + 1) % 3, d = (i + 2) % 3;
      inv[i][j] = (m[a][c] * m[bb][d] - m[a][d] * m[bb][c]) / det;  // the adjugate's cyclic cofactors
    }
  std::array<double, 3> y{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) y[i] += inv[i][j] * t[j];
  auto latent = std::make_shared<engine::LatentFrame>();
  latent->channels = stream::kLatentChannels;
  latent->height = height;
  latent->width = width;
  latent->host.resize(size_t(stream::kLatentChannels) * width * height);
  for (int c = 0; c < stream::kLatentChannels; ++c) {
    double v = 0;
    for (int k = 0; k < 3; ++k) v += f.factors[c][k] * y[k];
    std::fill_n(latent->host.begin() + ptrdiff_t(c) * width * height, size_t(width) * height, float(v));
  }
  return latent;
}

std::unique_ptr<engine::Finisher> SyntheticEngine::denoise(const engine::JobRequest& request, const engine::EventSink& emit,
                                                           const engine::CancelToken& cancel, engine::Timeline& timeline) {
  // Synthetic "auto": every second step.
  const int every = request.preview_vae_every == engine::kPreviewVaeAuto ? 2 : request.preview_vae_every;
  const bool vae_previews = every > 0;
  emit(engine::PreviewPlan{vae_previews ? "latent-rgb+vae" : "latent-rgb", request.preview_vae_every,
                           vae_previews ? "synthetic/preview-vae" : "", ""});
  std::unique_ptr<PreviewThread> previews;
  if (vae_previews) previews = std::make_unique<PreviewThread>(request, options_, emit, timeline);
  for (int step = 1; step <= request.steps; ++step) {
    const double start = engine::unix_seconds();
    const auto t0 = Clock::now();
    std::this_thread::sleep_for(options_.step_time);
    cancel.throw_if_canceled();
    if (options_.rank_health && options_.rank_health->status().state != engine::RankGroupState::ok) {
      throw Error(ErrorKind::unavailable, "ranks", "", options_.rank_health->job_error());
    }
    if (step == 2 && request.prompt.find(kOutOfMemoryWhileDenoising) != std::string::npos) throw std::bad_alloc();
    timeline.add_until_now("step " + std::to_string(step), "synthetic/denoise", start);
    const bool reused = request.cache_threshold > 0 && step % 2 == 0;
    emit(engine::Progress{step, request.steps, reused, seconds_since(t0)});
    if (vae_previews && step % every == 0 && step < request.steps) previews->submit(step);
    const int lw = std::max(1, request.width / 8), lh = std::max(1, request.height / 8);
    emit(engine::PreviewFrame{step, request.steps, nullptr, solid_latent(lw, lh, 0, 0, 200)});
  }
  return std::make_unique<SyntheticFinisher>(request, options_, std::move(previews));
}

}  // namespace ditstream::testing
