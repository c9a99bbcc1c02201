#include "stream/vulkan/overlay_reader.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cstdio>

#include "stream/vulkan/overlay.h"

namespace ditstream::stream {
namespace {

// Text is drawn at full white over a box that darkens the picture to at most 45%: a centre sample
// brighter than this is a lit font pixel.
constexpr int kLitLuma = 160;
// A cell may differ from its glyph in this many of its 35 pixels and still count as that glyph.
constexpr int kMaxWrongPixels = 3;

char nearest_glyph(const std::array<uint32_t, kGlyphRows>& cell) {
  const auto& font = font_rows();
  int best = kGlyphRows * kGlyphColumns + 1;
  char found = 0;
  for (int g = 0; g < kGlyphCount; ++g) {
    int wrong = 0;
    for (int row = 0; row < kGlyphRows; ++row) {
      wrong += std::popcount(font[static_cast<size_t>(g * kGlyphRows + row)] ^ cell[static_cast<size_t>(row)]);
    }
    if (wrong < best) {
      best = wrong;
      found = static_cast<char>(32 + g);
    }
  }
  return best <= kMaxWrongPixels ? found : 0;
}

}  // namespace

std::optional<OverlayReading> read_overlay(std::span<const uint8_t> luma, int width, int height) {
  if (width < 2 || height < 2 || luma.size() < static_cast<size_t>(width) * static_cast<size_t>(height)) {
    return std::nullopt;
  }
  // Where place() puts the text for this frame size (the text itself does not move it).
  const OverlayLayout layout = OverlayLayout::place(Overlay{0, 1, "", std::nullopt}, width, height);
  const int x0 = layout.text[0], y0 = layout.text[1], scale = layout.text[2];
  const int cell_width = (kGlyphColumns + 1) * scale;
  const int cells = std::min(kOverlayMaxChars, (width - x0) / cell_width);
  const auto lit = [&](int x, int y) {
    return luma[static_cast<size_t>(y) * static_cast<size_t>(width) + static_cast<size_t>(x)] > kLitLuma;
  };
  if (y0 + kGlyphRows * scale > height) return std::nullopt;
  std::string text;
  for (int c = 0; c < cells; ++c) {
    std::array<uint32_t, kGlyphRows> cell{};
    for (int row = 0; row < kGlyphRows; ++row) {
      for (int col = 0; col < kGlyphColumns; ++col) {
        const int x = x0 + c * cell_width + col * scale + scale / 2;
        const int y = y0 + row * scale + scale / 2;
        if (lit(x, y)) cell[static_cast<size_t>(row)] |= 1u << (kGlyphColumns - 1 - col);
      }
    }
    const char glyph = nearest_glyph(cell);
    if (glyph == 0) break;  // past the box, or unreadable
    text += static_cast<char>(std::tolower(static_cast<unsigned char>(glyph)));
  }
  OverlayReading reading;
  char phase[32] = {0};
  int consumed = 0;
  if (std::sscanf(text.c_str(), "step %d/%d%n", &reading.step, &reading.total_steps, &consumed) != 2) return std::nullopt;
  if (reading.total_steps < 1 || reading.step < 0 || reading.step > reading.total_steps) return std::nullopt;
  if (std::sscanf(text.c_str() + consumed, " %31[a-z]", phase) == 1) reading.phase = phase;
  for (const char* known : {"denoising", "decoding", "done"}) {
    // The picture behind the box may add letters after the phase; keep the known word.
    if (reading.phase.rfind(known, 0) == 0) reading.phase = known;
  }
  return reading;
}

}  // namespace ditstream::stream
