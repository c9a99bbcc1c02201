// CPU frame path: RGB → I420 with bilinear scaling, and the step label drawn into a preview. This
// is the fallback of the Vulkan compositor and the reference its tests compare against.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/engine/events.h"
#include "stream/vulkan/frame_format.h"

namespace ditstream::stream {


// Scales `rgb` to width × height (even sizes) bilinearly and converts it to I420 (BT.601, limited
// range, what x264 and browsers assume for untagged streams).
I420Frame to_i420(const engine::RgbFrame& rgb, int width, int height);

// Draws `text` (digits and '/') in white on a dark box in the top-left corner.
void draw_label(I420Frame& frame, std::string_view text);

// Reads back what draw_label drew from a luma plane (also after lossy encoding: each glyph cell
// is judged by its centre), or nullopt when the corner holds no such label.
std::optional<std::string> read_label(std::span<const uint8_t> luma, int width, int height);

}  // namespace ditstream::stream
