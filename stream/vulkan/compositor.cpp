#include "stream/vulkan/compositor.h"

#include <vector>

#include "core/util/error.h"
#include "stream/vulkan/compositor_factory.h"
#include "stream/vulkan/cpu_conversions.h"

namespace ditstream::stream {
namespace {

constexpr std::string_view kContext = "compositor";
constexpr int kMaxSlots = 8;

// Does the work at submit time; collect hands the result over.
class CpuCompositor final : public Compositor {
 public:
  CpuCompositor(const CompositorOptions& options, CompositorInfo info, std::shared_ptr<CompositorCounters> counters)
      : Compositor(options, std::move(info), std::move(counters)), done_(slots_) {}

  FrameTicket submit_rgb(const void* frame, const RgbFormat& format, const Overlay* overlay) override {
    check_rgb(frame, format);
    std::optional<OverlayLayout> layout;
    if (overlay) layout = OverlayLayout::place(*overlay, width_, height_);
    Slot& slot = acquire();
    cpu::compose_i420(frame, format, width_, height_, layout ? &*layout : nullptr, frame_, slot.i420.data());
    return slot.ticket;
  }

  FrameTicket submit_latent(const float* latent, const LatentFrameDesc& desc, const Overlay* overlay) override {
    check_latent(latent, desc);
    std::optional<OverlayLayout> layout;
    if (overlay) layout = OverlayLayout::place(*overlay, width_, height_);
    Slot& slot = acquire();
    const RgbFormat rgba{SampleType::u8, PixelLayout::rgba8};
    preview_.resize(size_t(width_) * height_);
    cpu::latent_preview(latent, desc, factors_, width_, height_, preview_.data());
    cpu::compose_i420(preview_.data(), rgba, width_, height_, layout ? &*layout : nullptr, frame_, slot.i420.data());
    return slot.ticket;
  }

  void collect(FrameTicket ticket, I420Frame& out) override {
    require(ticket >= 1 && ticket <= next_ticket_ - 1, kContext, "ticket",
            std::to_string(ticket) + " was never submitted");
    Slot& slot = done_[(ticket - 1) % slots_];
    if (slot.ticket != ticket || slot.collected) {
      throw Error(ErrorKind::conflict, std::string(kContext), "ticket", std::to_string(ticket) + " was already collected");
    }
    out.width = width_;
    out.height = height_;
    out.bytes.swap(slot.i420);
    slot.i420.clear();
    slot.collected = true;
  }

 private:
  struct Slot {
    FrameTicket ticket = 0;
    bool collected = true;
    std::vector<uint8_t> i420;
  };

  Slot& acquire() {
    Slot& slot = done_[(next_ticket_ - 1) % slots_];
    if (!slot.collected) {
      throw Error(ErrorKind::conflict, std::string(kContext), "slots",
                  "all " + std::to_string(slots_) + " slots hold frames not yet collected; collect ticket " +
                      std::to_string(slot.ticket) + " first");
    }
    slot.ticket = next_ticket_++;
    slot.collected = false;
    slot.i420.resize(I420Frame::size_bytes(width_, height_));
    return slot;
  }

  std::vector<Slot> done_;
  std::vector<uint32_t> frame_;    // rgba8 frame with the overlay
  std::vector<uint32_t> preview_;  // rgba8 latent preview
  FrameTicket next_ticket_ = 1;
};

}  // namespace

std::string_view to_string(CompositorBackend backend) {
  return backend == CompositorBackend::vulkan ? "vulkan" : "cpu";
}

BackendChoice parse_backend_choice(std::string_view text, std::string_view field) {
  if (text == "auto") return BackendChoice::automatic;
  if (text == "vulkan") return BackendChoice::vulkan;
  if (text == "cpu") return BackendChoice::cpu;
  throw_invalid(std::string(kContext), std::string(field),
                "is '" + std::string(text) + "'; must be one of auto, vulkan, cpu");
}

Compositor::Compositor(const CompositorOptions& options, CompositorInfo info,
                       std::shared_ptr<CompositorCounters> counters)
    : info_(std::move(info)),
      width_(options.width),
      height_(options.height),
      slots_(options.slots),
      input_capacity_(options.input_capacity_bytes ? options.input_capacity_bytes
                                                   : rgb_frame_bytes({SampleType::f32}, options.width, options.height)),
      factors_(options.preview_factors),
      counters_(counters ? std::move(counters) : std::make_shared<CompositorCounters>()) {
  validate_i420_size(options.width, options.height, kContext);
  require(options.slots >= 1 && options.slots <= kMaxSlots, kContext, "slots",
          "is " + std::to_string(options.slots) + "; must be in 1.." + std::to_string(kMaxSlots));
}

void Compositor::check_rgb(const void* frame, const RgbFormat& format) {
  require(frame != nullptr, kContext, "frame", "is null");
  validate_rgb_format(format, kContext);
  require(rgb_frame_bytes(format, width_, height_) <= input_capacity_, kContext, "format",
          to_string(format) + " at " + std::to_string(width_) + "x" + std::to_string(height_) + " needs " +
              std::to_string(rgb_frame_bytes(format, width_, height_)) + " bytes; input slots hold " +
              std::to_string(input_capacity_));
  ++counters_->host_frames;
}

void Compositor::check_latent(const float* latent, const LatentFrameDesc& desc) {
  require(latent != nullptr, kContext, "latent", "is null");
  validate_latent(desc, kContext);
  require(latent_frame_bytes(desc) <= input_capacity_, kContext, "latent",
          std::to_string(desc.height) + "x" + std::to_string(desc.width) + " latent spans " +
              std::to_string(latent_frame_bytes(desc)) + " bytes; input slots hold " + std::to_string(input_capacity_));
  ++counters_->host_frames;
}

I420Frame Compositor::compose_rgb(const void* frame, const RgbFormat& format, const Overlay* overlay) {
  I420Frame out;
  collect(submit_rgb(frame, format, overlay), out);
  return out;
}

I420Frame Compositor::compose_latent(const float* latent, const LatentFrameDesc& desc, const Overlay* overlay) {
  I420Frame out;
  collect(submit_latent(latent, desc, overlay), out);
  return out;
}

std::unique_ptr<Compositor> make_cpu_compositor(const CompositorOptions& options, CompositorInfo info,
                                                std::shared_ptr<CompositorCounters> counters) {
  return std::make_unique<CpuCompositor>(options, std::move(info), std::move(counters));
}

std::unique_ptr<Compositor> Compositor::create(const CompositorOptions& options) {
  validate_i420_size(options.width, options.height, kContext);
  require(options.slots >= 1 && options.slots <= kMaxSlots, kContext, "slots",
          "is " + std::to_string(options.slots) + "; must be in 1.." + std::to_string(kMaxSlots));
  return CompositorFactory(options).make(options.width, options.height);
}

}  // namespace ditstream::stream
