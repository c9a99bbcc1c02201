#include "tests/web/synthetic_engine.h"

#include <algorithm>
#include <thread>

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

void SyntheticEngine::run(const engine::JobRequest& request, const engine::EventSink& emit,
                          const engine::CancelToken& cancel) {
  using Clock = std::chrono::steady_clock;
  for (int step = 1; step <= request.steps; ++step) {
    const auto t0 = Clock::now();
    std::this_thread::sleep_for(options_.step_time);
    cancel.throw_if_canceled();
    const bool reused = request.cache_threshold > 0 && step % 2 == 0;
    emit(engine::Progress{step, request.steps, reused, std::chrono::duration<double>(Clock::now() - t0).count()});
    emit(engine::PreviewFrame{step, request.steps,
                              solid(std::max(1, request.width / 8), std::max(1, request.height / 8), 0, 0, 200)});
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
