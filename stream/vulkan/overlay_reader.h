// Reads the overlay's text line ("step 12/30 denoising") back from a decoded frame, for viewers
// that timestamp what they see (the end-to-end benchmark, tests). The layout is the one
// OverlayLayout::place computes for the frame size, so only the glyph cells are sampled: each
// font pixel is judged by the centre of its scale × scale block, which survives lossy encoding,
// and each cell is matched to the nearest glyph of the font.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace ditstream::stream {

struct OverlayReading {
  int step = 0;
  int total_steps = 0;
  std::string phase;  // lower case: "denoising", "decoding", "done", or "" when none was drawn
};

// nullopt when the frame carries no readable overlay (a clean frame, or too damaged to read).
std::optional<OverlayReading> read_overlay(std::span<const uint8_t> luma, int width, int height);

}  // namespace ditstream::stream
