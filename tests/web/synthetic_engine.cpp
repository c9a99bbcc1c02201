#include "tests/web/synthetic_engine.h"

#include <algorithm>
#include <array>
#include <thread>

#include "stream/vulkan/frame_format.h"

namespace ditstream::testing {

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

void SyntheticEngine::run(const engine::JobRequest& request, const engine::EventSink& emit,
                          const engine::CancelToken& cancel) {
  using Clock = std::chrono::steady_clock;
  for (int step = 1; step <= request.steps; ++step) {
    const auto t0 = Clock::now();
    std::this_thread::sleep_for(options_.step_time);
    cancel.throw_if_canceled();
    const bool reused = request.cache_threshold > 0 && step % 2 == 0;
    emit(engine::Progress{step, request.steps, reused, std::chrono::duration<double>(Clock::now() - t0).count()});
    const int lw = std::max(1, request.width / 8), lh = std::max(1, request.height / 8);
    emit(engine::PreviewFrame{step, request.steps, nullptr, solid_latent(lw, lh, 0, 0, 200)});
  }
  // Causal VAE rhythm: the first latent frame decodes to 1 frame, each later one to 4.
  int done = 0;
  while (done < request.frames) {
    const auto t0 = Clock::now();
    std::this_thread::sleep_for(options_.chunk_time);
    cancel.throw_if_canceled();
    const int n = done == 0 ? 1 : std::min(4, request.frames - done);
    engine::FrameChunk chunk{done, request.frames, 0, {}};
    for (int i = 0; i < n; ++i) {
      chunk.frames.push_back(solid(request.width, request.height, 200, 0, 0));
    }
    chunk.decode_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    emit(std::move(chunk));
    done += n;
  }
}

}  // namespace ditstream::testing
