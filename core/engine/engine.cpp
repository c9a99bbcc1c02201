#include "core/engine/engine.h"

namespace ditstream::engine {

void Engine::run(const JobRequest& request, const EventSink& emit, const CancelToken& cancel) {
  Timeline timeline;
  run(request, emit, cancel, timeline);
}

void Engine::run(const JobRequest& request, const EventSink& emit, const CancelToken& cancel, Timeline& timeline) {
  denoise(request, emit, cancel, timeline)->finish(emit, cancel, timeline);
}

}  // namespace ditstream::engine
