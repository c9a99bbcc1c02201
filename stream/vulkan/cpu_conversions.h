// The compositor's conversions in plain C++: the fallback when no Vulkan device is usable and the
// oracle the shaders are tested against. Each function is the per-pixel formula of its shader
// (shaders/<name>.comp), written the same way so the two agree to rounding.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "stream/vulkan/frame_format.h"
#include "stream/vulkan/overlay.h"

namespace ditstream::stream::cpu {

// Pixel (x, y) of an RGB frame in `format` as [0, 1] floats.
std::array<float, 3> load_rgb(const void* frame, const RgbFormat& format, int width, int height, int x, int y);
// [0, 1] → 0xAABBGGRR with alpha 255, rounding to nearest.
uint32_t pack_rgba8(const std::array<float, 3>& rgb);

// shaders/latent_preview.comp: latent [16, h, w] → projection → bilinear (half-pixel centres,
// as torch's interpolate with align_corners=False) → rgba8 [height, width].
void latent_preview(const float* latent, const LatentFrameDesc& desc, const LatentRgbFactors& factors, int width,
                    int height, uint32_t* rgba_out);

// shaders/overlay.comp: `frame` (any format) with the overlay blended in → rgba8 [height, width].
// `frame` may alias `rgba_out` when it is an rgba8 frame.
void overlay(const void* frame, const RgbFormat& format, int width, int height, const OverlayLayout& layout,
             uint32_t* rgba_out);

// shaders/rgb_to_i420.comp: RGB → I420 BT.709 limited range, MPEG-2 chroma siting.
// `i420_out` holds I420Frame::size_bytes(width, height) bytes.
void rgb_to_i420(const void* frame, const RgbFormat& format, int width, int height, uint8_t* i420_out);

// The compositor's whole RGB path: the overlay (when given) into `scratch` as rgba8, then I420.
void compose_i420(const void* frame, const RgbFormat& format, int width, int height, const OverlayLayout* overlay,
                  std::vector<uint32_t>& scratch, uint8_t* i420_out);

}  // namespace ditstream::stream::cpu
