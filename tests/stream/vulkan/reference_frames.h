// What the compositor tests compare against: the CPU path's I420 for a frame and an overlay.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "stream/vulkan/cpu_conversions.h"

namespace ditstream::stream {

inline std::vector<uint8_t> cpu_i420(const void* frame, const RgbFormat& format, int width, int height,
                                     const Overlay* overlay) {
  std::vector<uint8_t> out(I420Frame::size_bytes(width, height));
  std::vector<uint32_t> scratch;
  std::optional<OverlayLayout> layout;
  if (overlay) layout = OverlayLayout::place(*overlay, width, height);
  cpu::compose_i420(frame, format, width, height, layout ? &*layout : nullptr, scratch, out.data());
  return out;
}

}  // namespace ditstream::stream
