#include "stream/vulkan/cpu_conversions.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace ditstream::stream::cpu {
namespace {

// BT.709 luma weights and the limited-range spans (Y 16..235, Cb/Cr 16..240).
constexpr float kKr = 0.2126f, kKg = 0.7152f, kKb = 0.0722f;

float clamp01(float v) { return std::min(1.0f, std::max(0.0f, v)); }

uint8_t round_u8(float v) { return static_cast<uint8_t>(std::floor(std::min(255.0f, std::max(0.0f, v)) + 0.5f)); }

float luma(const std::array<float, 3>& rgb) { return kKr * rgb[0] + kKg * rgb[1] + kKb * rgb[2]; }

std::array<float, 3> project(const float* latent, const LatentFrameDesc& desc, int64_t channel_stride,
                             const LatentRgbFactors& f, int x, int y) {
  std::array<float, 3> rgb = f.bias;
  const float* p = latent + desc.offset + int64_t(y) * desc.width + x;
  for (int c = 0; c < kLatentChannels; ++c) {
    const float v = p[c * channel_stride];
    for (int k = 0; k < 3; ++k) rgb[k] += f.factors[c][k] * v;
  }
  return rgb;
}

}  // namespace

std::array<float, 3> load_rgb(const void* frame, const RgbFormat& format, int width, int height, int x, int y) {
  const size_t pixel = size_t(y) * width + x, plane = size_t(width) * height;
  std::array<float, 3> rgb{};
  if (format.layout == PixelLayout::rgba8) {
    uint32_t word;
    std::memcpy(&word, static_cast<const uint8_t*>(frame) + pixel * 4, 4);
    for (int k = 0; k < 3; ++k) rgb[k] = float((word >> (8 * k)) & 0xFFu) / 255.0f;
    return rgb;
  }
  for (int k = 0; k < 3; ++k) {
    const size_t index = format.layout == PixelLayout::planar ? k * plane + pixel : pixel * 3 + k;
    if (format.type == SampleType::u8) {
      rgb[k] = float(static_cast<const uint8_t*>(frame)[index]) / 255.0f;
    } else {
      const auto [scale, offset] = float_scale_offset(format.range);
      rgb[k] = clamp01(static_cast<const float*>(frame)[index] * scale + offset);
    }
  }
  return rgb;
}

uint32_t pack_rgba8(const std::array<float, 3>& rgb) {
  uint32_t word = 0xFF000000u;
  for (int k = 0; k < 3; ++k) word |= uint32_t(round_u8(clamp01(rgb[k]) * 255.0f)) << (8 * k);
  return word;
}

void latent_preview(const float* latent, const LatentFrameDesc& desc, const LatentRgbFactors& factors, int width,
                    int height, uint32_t* rgba_out) {
  const int64_t channel_stride = desc.channel_stride ? desc.channel_stride : int64_t(desc.height) * desc.width;
  const float sx_ratio = float(desc.width) / float(width), sy_ratio = float(desc.height) / float(height);
  for (int y = 0; y < height; ++y) {
    const float sy = std::max((float(y) + 0.5f) * sy_ratio - 0.5f, 0.0f);
    const int y0 = std::min(int(sy), desc.height - 1), y1 = std::min(y0 + 1, desc.height - 1);
    const float fy = sy - float(y0);
    for (int x = 0; x < width; ++x) {
      const float sx = std::max((float(x) + 0.5f) * sx_ratio - 0.5f, 0.0f);
      const int x0 = std::min(int(sx), desc.width - 1), x1 = std::min(x0 + 1, desc.width - 1);
      const float fx = sx - float(x0);
      const auto p00 = project(latent, desc, channel_stride, factors, x0, y0);
      const auto p01 = project(latent, desc, channel_stride, factors, x1, y0);
      const auto p10 = project(latent, desc, channel_stride, factors, x0, y1);
      const auto p11 = project(latent, desc, channel_stride, factors, x1, y1);
      std::array<float, 3> rgb;
      for (int k = 0; k < 3; ++k) {
        const float top = p00[k] + (p01[k] - p00[k]) * fx;
        const float bottom = p10[k] + (p11[k] - p10[k]) * fx;
        rgb[k] = clamp01(((top + (bottom - top) * fy) + 1.0f) * 0.5f);
      }
      rgba_out[size_t(y) * width + x] = pack_rgba8(rgb);
    }
  }
}

void overlay(const void* frame, const RgbFormat& format, int width, int height, const OverlayLayout& layout,
             uint32_t* rgba_out) {
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const auto rgb = blend_overlay(layout, x, y, load_rgb(frame, format, width, height, x, y));
      rgba_out[size_t(y) * width + x] = pack_rgba8(rgb);
    }
  }
}

void rgb_to_i420(const void* frame, const RgbFormat& format, int width, int height, uint8_t* i420_out) {
  uint8_t* y_plane = i420_out;
  uint8_t* u_plane = y_plane + size_t(width) * height;
  uint8_t* v_plane = u_plane + size_t(width / 2) * (height / 2);
  // Every pixel once as [0, 1] floats; luma and the chroma filters read from here.
  std::vector<std::array<float, 3>> rgb(size_t(width) * height);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const size_t i = size_t(y) * width + x;
      rgb[i] = load_rgb(frame, format, width, height, x, y);
      y_plane[i] = round_u8(16.0f + 219.0f * luma(rgb[i]));
    }
  }
  // MPEG-2 siting: chroma sample (i, j) sits on luma column 2i and between rows 2j and 2j+1, so it
  // filters columns 2i-1, 2i, 2i+1 with [1, 2, 1] / 4 (edge clamped) and averages the two rows.
  for (int j = 0; j < height / 2; ++j) {
    for (int i = 0; i < width / 2; ++i) {
      std::array<float, 3> sum{};
      const int xs[3] = {std::max(2 * i - 1, 0), 2 * i, 2 * i + 1};
      const float ws[3] = {0.125f, 0.25f, 0.125f};
      for (int r = 0; r < 2; ++r) {
        for (int t = 0; t < 3; ++t) {
          const auto& p = rgb[size_t(2 * j + r) * width + xs[t]];
          for (int k = 0; k < 3; ++k) sum[k] += ws[t] * p[k];
        }
      }
      const float yn = luma(sum);
      u_plane[size_t(j) * (width / 2) + i] = round_u8(128.0f + 224.0f * (sum[2] - yn) / 1.8556f);
      v_plane[size_t(j) * (width / 2) + i] = round_u8(128.0f + 224.0f * (sum[0] - yn) / 1.5748f);
    }
  }
}

void compose_i420(const void* frame, const RgbFormat& format, int width, int height, const OverlayLayout* overlay,
                  std::vector<uint32_t>& scratch, uint8_t* i420_out) {
  if (!overlay) {
    rgb_to_i420(frame, format, width, height, i420_out);
    return;
  }
  scratch.resize(size_t(width) * height);
  cpu::overlay(frame, format, width, height, *overlay, scratch.data());
  rgb_to_i420(scratch.data(), {SampleType::u8, PixelLayout::rgba8}, width, height, i420_out);
}

}  // namespace ditstream::stream::cpu
