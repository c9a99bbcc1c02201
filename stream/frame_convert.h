// CPU frame path: RGB → I420 with bilinear scaling, and the step label drawn into a preview. This
// is the fallback of the Vulkan compositor and the reference its tests compare against.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "core/engine/events.h"

namespace ditstream::stream {

struct I420Frame {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> data;  // Y [h, w], then U and V [h/2, w/2] each

  static I420Frame black(int width, int height);
  uint8_t* y() { return data.data(); }
  uint8_t* u() { return data.data() + width * height; }
  uint8_t* v() { return data.data() + width * height + (width / 2) * (height / 2); }
  const uint8_t* y() const { return data.data(); }
  const uint8_t* u() const { return data.data() + width * height; }
  const uint8_t* v() const { return data.data() + width * height + (width / 2) * (height / 2); }
};

// Scales `rgb` to width × height (even sizes) bilinearly and converts it to I420 (BT.601, limited
// range, what x264 and browsers assume for untagged streams).
I420Frame to_i420(const engine::RgbFrame& rgb, int width, int height);

// Draws `text` (digits and '/') in white on a dark box in the top-left corner.
void draw_label(I420Frame& frame, std::string_view text);

}  // namespace ditstream::stream
