#include "stream/frame_convert.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "core/util/error.h"

namespace ditstream::stream {
namespace {

uint8_t clamp8(float v) { return static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L)); }

// 3×5 glyphs, one row per entry, bit 2 is the left column.
constexpr std::array<std::array<uint8_t, 5>, 11> kGlyphs = {{
    {7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7}, {7, 1, 7, 1, 7}, {5, 5, 7, 1, 1}, {7, 4, 7, 1, 7},
    {7, 4, 7, 5, 7}, {7, 1, 1, 1, 1}, {7, 5, 7, 5, 7}, {7, 5, 7, 1, 7}, {1, 1, 2, 4, 4},  // '/'
}};

}  // namespace

I420Frame to_i420(const engine::RgbFrame& rgb, int width, int height) {
  require(width > 0 && height > 0 && width % 2 == 0 && height % 2 == 0, "to_i420", "size",
          "output size must be positive and even, got " + std::to_string(width) + "x" + std::to_string(height));
  require(rgb.width > 0 && rgb.height > 0 && rgb.rgb.size() == static_cast<size_t>(rgb.width * rgb.height * 3),
          "to_i420", "frame", "RGB frame size does not match its data");
  // Scaled RGB as floats, [height, width, 3].
  std::vector<float> scaled(static_cast<size_t>(width * height * 3));
  const float sx = static_cast<float>(rgb.width) / static_cast<float>(width);
  const float sy = static_cast<float>(rgb.height) / static_cast<float>(height);
  for (int y = 0; y < height; ++y) {
    const float fy = std::max(0.0f, (static_cast<float>(y) + 0.5f) * sy - 0.5f);
    const int y0 = std::min(static_cast<int>(fy), rgb.height - 1);
    const int y1 = std::min(y0 + 1, rgb.height - 1);
    const float wy = fy - static_cast<float>(y0);
    for (int x = 0; x < width; ++x) {
      const float fx = std::max(0.0f, (static_cast<float>(x) + 0.5f) * sx - 0.5f);
      const int x0 = std::min(static_cast<int>(fx), rgb.width - 1);
      const int x1 = std::min(x0 + 1, rgb.width - 1);
      const float wx = fx - static_cast<float>(x0);
      for (int c = 0; c < 3; ++c) {
        auto at = [&](int yy, int xx) { return static_cast<float>(rgb.rgb[static_cast<size_t>((yy * rgb.width + xx) * 3 + c)]); };
        const float top = at(y0, x0) * (1 - wx) + at(y0, x1) * wx;
        const float bottom = at(y1, x0) * (1 - wx) + at(y1, x1) * wx;
        scaled[static_cast<size_t>((y * width + x) * 3 + c)] = top * (1 - wy) + bottom * wy;
      }
    }
  }
  I420Frame out = I420Frame::black(width, height);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const float* p = &scaled[static_cast<size_t>((y * width + x) * 3)];
      out.y()[y * width + x] = clamp8(16 + 0.257f * p[0] + 0.504f * p[1] + 0.098f * p[2]);
    }
  }
  const int cw = width / 2;
  for (int y = 0; y < height / 2; ++y) {
    for (int x = 0; x < cw; ++x) {
      float r = 0, g = 0, b = 0;
      for (int dy = 0; dy < 2; ++dy) {
        for (int dx = 0; dx < 2; ++dx) {
          const float* p = &scaled[static_cast<size_t>(((2 * y + dy) * width + 2 * x + dx) * 3)];
          r += p[0] / 4;
          g += p[1] / 4;
          b += p[2] / 4;
        }
      }
      out.u()[y * cw + x] = clamp8(128 - 0.148f * r - 0.291f * g + 0.439f * b);
      out.v()[y * cw + x] = clamp8(128 + 0.439f * r - 0.368f * g - 0.071f * b);
    }
  }
  return out;
}

namespace {
int label_scale(int height) { return std::max(1, height / 48); }
}  // namespace

void draw_label(I420Frame& frame, std::string_view text) {
  const int scale = label_scale(frame.height);
  const int margin = scale;
  const int box_w = static_cast<int>(text.size()) * 4 * scale + margin;
  const int box_h = 5 * scale + 2 * margin;
  for (int y = 0; y < std::min(box_h, frame.height); ++y) {
    for (int x = 0; x < std::min(box_w + margin, frame.width); ++x) frame.y()[y * frame.width + x] = 16;
  }
  int pen = margin;
  for (char ch : text) {
    const int g = ch == '/' ? 10 : (ch >= '0' && ch <= '9') ? ch - '0' : -1;
    if (g >= 0) {
      for (int row = 0; row < 5; ++row) {
        for (int col = 0; col < 3; ++col) {
          if (!(kGlyphs[static_cast<size_t>(g)][static_cast<size_t>(row)] & (4 >> col))) continue;
          for (int dy = 0; dy < scale; ++dy) {
            for (int dx = 0; dx < scale; ++dx) {
              const int y = margin + row * scale + dy;
              const int x = pen + col * scale + dx;
              if (y < frame.height && x < frame.width) frame.y()[y * frame.width + x] = 235;
            }
          }
        }
      }
    }
    pen += 4 * scale;
  }
}

std::optional<std::string> read_label(std::span<const uint8_t> luma, int width, int height) {
  if (width <= 0 || height <= 0 || luma.size() < static_cast<size_t>(width) * static_cast<size_t>(height)) return std::nullopt;
  const int scale = label_scale(height);
  const int margin = scale;
  // Mean of the middle third of the cell whose top-left pixel is (x, y): glyph cells are 16 or 235
  // when drawn, and their middle keeps that after encoding.
  auto lit = [&](int x, int y) -> std::optional<bool> {
    const int inset = scale / 3, size = std::max(1, scale - 2 * inset);
    if (x + inset + size > width || y + inset + size > height) return std::nullopt;
    int sum = 0;
    for (int dy = 0; dy < size; ++dy) {
      for (int dx = 0; dx < size; ++dx) sum += luma[static_cast<size_t>((y + inset + dy) * width + x + inset + dx)];
    }
    return sum / (size * size) > 126;
  };
  std::string text;
  int pen = margin;
  while (true) {
    // Every glyph lights its left column somewhere; an all-dark left column is the box's end.
    bool left_lit = false;
    for (int row = 0; row < 5; ++row) {
      const auto l = lit(pen, margin + row * scale);
      if (!l) return std::nullopt;
      left_lit = left_lit || *l;
    }
    if (!left_lit) break;
    std::array<uint8_t, 5> rows{};
    for (int row = 0; row < 5; ++row) {
      for (int col = 0; col < 4; ++col) {
        const auto l = lit(pen + col * scale, margin + row * scale);
        if (!l) return std::nullopt;
        if (col == 3 && *l) return std::nullopt;  // the gap between glyphs is dark
        if (col < 3 && *l) rows[static_cast<size_t>(row)] |= static_cast<uint8_t>(4 >> col);
      }
    }
    const auto g = std::find(kGlyphs.begin(), kGlyphs.end(), rows);
    if (g == kGlyphs.end()) return std::nullopt;
    const auto index = g - kGlyphs.begin();
    text += index == 10 ? '/' : static_cast<char>('0' + index);
    pen += 4 * scale;
  }
  if (text.empty()) return std::nullopt;
  // The box's margins above and below the glyphs are dark along the whole text.
  for (int x = 0; x + scale <= pen; x += scale) {
    for (int y : {0, margin + 5 * scale}) {
      const auto l = lit(x, y);
      if (!l || *l) return std::nullopt;
    }
  }
  return text;
}

}  // namespace ditstream::stream
