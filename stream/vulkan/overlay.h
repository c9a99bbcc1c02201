// The stream overlay: a text line ("step 12/30 denoise") in a translucent box at the top left and
// a progress bar along the bottom. The layout is computed here once, on the host; the shader and
// the CPU path only evaluate it per pixel, so both draw exactly the same thing.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

namespace ditstream::stream {

struct Overlay {
  int step = 0;         // steps done, 0..total_steps
  int total_steps = 1;  // ≥ 1
  std::string phase;    // "denoising", "decoding", "done"; printable ASCII
  // How much of the bar is filled, in [0, 1]; unset: step / total_steps. Decoding fills it with
  // the frames decoded so far.
  std::optional<float> progress;

  // The text line drawn: "step <step>/<total_steps> <phase>".
  std::string text() const;
};

// 5x7 bitmap font covering ASCII 32..95 (space, punctuation, digits, upper case); lower case
// draws as upper case, anything else as '?'. Rows top to bottom, bit 4 is the leftmost column.
inline constexpr int kGlyphColumns = 5;
inline constexpr int kGlyphRows = 7;
inline constexpr int kGlyphCount = 64;
const std::array<uint32_t, kGlyphCount * kGlyphRows>& font_rows();
uint32_t glyph_index(char c);

inline constexpr int kOverlayMaxChars = 96;

// Mirrors `OverlayParams` in shaders/overlay.comp (std430): vec4s first, then ivec4s, then
// scalars and the glyph array, so the C++ and GLSL layouts agree without padding rules.
struct OverlayLayout {
  std::array<float, 4> box_color{};   // rgb + alpha
  std::array<float, 4> text_color{};
  std::array<float, 4> bar_color{};   // unfilled part of the bar
  std::array<float, 4> fill_color{};  // filled part
  std::array<int32_t, 4> box{};       // x0, y0, x1, y1 (half-open), clipped to the frame
  std::array<int32_t, 4> bar{};       // x0, y0, x1, y1
  std::array<int32_t, 4> text{};      // origin x, origin y, pixel scale, character count
  int32_t fill_x1 = 0;                // bar pixels with x < fill_x1 are filled
  int32_t pad0 = 0, pad1 = 0, pad2 = 0;
  std::array<uint32_t, kOverlayMaxChars> glyphs{};

  // Validates `overlay` (step range, printable text) and places it in a width × height frame.
  static OverlayLayout place(const Overlay& overlay, int width, int height);
};
static_assert(sizeof(OverlayLayout) == 4 * 16 + 3 * 16 + 16 + kOverlayMaxChars * 4);

// The overlay colour at (x, y) blended over `rgb` (each in [0, 1]); what overlay.comp computes.
std::array<float, 3> blend_overlay(const OverlayLayout& layout, int x, int y, std::array<float, 3> rgb);

}  // namespace ditstream::stream
