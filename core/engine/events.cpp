#include "core/engine/events.h"

namespace ditstream::engine {
std::string_view event_name(const Event& event) {
  return std::visit(Overloaded{
                        [](const Queued&) { return std::string_view("queued"); },
                        [](const Started&) { return std::string_view("started"); },
                        [](const Progress&) { return std::string_view("step"); },
                        [](const PreviewFrame&) { return std::string_view("preview"); },
                        [](const FrameChunk&) { return std::string_view("chunk"); },
                        [](const Finished&) { return std::string_view("completed"); },
                        [](const Failed&) { return std::string_view("failed"); },
                        [](const Canceled&) { return std::string_view("canceled"); },
                        [](const PreviewPlan&) { return std::string_view("preview_plan"); },
                        [](const PreviewChunk&) { return std::string_view("preview_chunk"); },
                    },
                    event);
}

bool is_terminal(const Event& event) {
  return std::holds_alternative<Finished>(event) || std::holds_alternative<Failed>(event) ||
         std::holds_alternative<Canceled>(event);
}

Event without_pixels(const Event& event) {
  if (const auto* p = std::get_if<PreviewFrame>(&event)) return PreviewFrame{p->step, p->steps, nullptr, nullptr};
  if (const auto* c = std::get_if<FrameChunk>(&event)) {
    FrameChunk stripped{c->first_frame, c->frames_total, c->decode_seconds, {}};
    stripped.frames.resize(c->frames.size());  // keeps the count, drops the pixels
    return stripped;
  }
  if (const auto* c = std::get_if<PreviewChunk>(&event)) {
    PreviewChunk stripped{c->step, c->steps, c->first_frame, c->frames_total, c->decode_seconds, c->age_seconds, {}};
    stripped.frames.resize(c->frames.size());
    return stripped;
  }
  return event;
}

}  // namespace ditstream::engine
