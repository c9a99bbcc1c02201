// What the compositor takes in and gives out: RGB frame layouts, latent preview frames, the
// latent→RGB projection, the overlay description and I420 output frames. Shared by the Vulkan
// path, the CPU path (which is also the test oracle) and the CUDA interop.
#pragma once

#include <algorithm>

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace ditstream::stream {

// Sample type of an RGB frame. Float frames come from the VAE; 8-bit ones from anything already
// quantised. fp16/bf16 are not taken here: the producer converts them (ATen `.to(kFloat)` on the
// GPU while writing into the shared buffer, see cuda_frame_bridge.h; the caller before a host
// submit).
enum class SampleType : uint32_t { f32 = 0, u8 = 1 };

// Channel order in memory: planar [3, H, W] (the VAE's NCHW/NCTHW slices) or interleaved
// [H, W, 3] (images). `rgba8` is [H, W] packed 0xAABBGGRR words, the compositor's own working
// frame; callers may pass it too.
enum class PixelLayout : uint32_t { planar = 0, interleaved = 1, rgba8 = 2 };

// Value range of float samples: [0, 1], or [-1, 1] as the VAE decodes (mapped by (x + 1) / 2).
enum class FloatRange : uint32_t { unit = 0, signed_unit = 1 };

struct RgbFormat {
  SampleType type = SampleType::f32;
  PixelLayout layout = PixelLayout::planar;
  FloatRange range = FloatRange::signed_unit;
};

// Bytes one frame of `format` takes at width × height.
size_t rgb_frame_bytes(const RgbFormat& format, int width, int height);
// Throws ditstream::Error when `format` is not a combination the compositor reads
// (rgba8 is 8-bit only).
void validate_rgb_format(const RgbFormat& format, std::string_view context);
std::string to_string(const RgbFormat& format);

// The shader and CPU code index pixel sources by one number.
uint32_t source_code(const RgbFormat& format);
// Float sample → [0, 1] is `x * scale + offset`, then clamped.
std::array<float, 2> float_scale_offset(FloatRange range);

// A 16-channel latent frame as the transformer sees it, fp32, [16, height, width] with the
// channel stride given (height*width for one frame; T*height*width for frame t of [16, T, H, W]).
struct LatentFrameDesc {
  int height = 0;
  int width = 0;
  int64_t channel_stride = 0;  // 0: height * width
  int64_t offset = 0;          // elements before channel 0 of this frame
};
inline constexpr int kLatentChannels = 16;

size_t latent_frame_bytes(const LatentFrameDesc& desc);  // the span [offset, last element] in bytes
void validate_latent(const LatentFrameDesc& desc, std::string_view context);

// rgb = bias + Σ_c latent[c] · factors[c]; maps to [0, 1] by (rgb + 1) / 2.
struct LatentRgbFactors {
  std::array<std::array<float, 3>, kLatentChannels> factors{};
  std::array<float, 3> bias{};

  // Parses a document shaped like models/hunyuan_video_latent_rgb.json; errors name `origin` and
  // the field.
  static LatentRgbFactors from_json_text(std::string_view text, std::string_view origin);
  static LatentRgbFactors from_json_file(const std::filesystem::path& file);
  // models/hunyuan_video_latent_rgb.json as it was at build time (embedded in the binary).
  static LatentRgbFactors hunyuan_video();
};

// I420 (YUV 4:2:0, three planes Y, U, V), BT.709 limited range, MPEG-2 chroma siting (chroma
// co-sited with the left luma sample horizontally, between the two rows vertically).
struct I420Frame {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> bytes;  // Y (w*h) then U (w/2*h/2) then V (w/2*h/2)

  static size_t size_bytes(int width, int height) {
    return size_t(width) * height + 2 * (size_t(width / 2) * (height / 2));
  }
  // A black frame (Y 16, U and V 128: limited range).
  static I420Frame black(int width, int height) {
    I420Frame f{width, height, std::vector<uint8_t>(size_bytes(width, height), 128)};
    std::fill(f.bytes.begin(), f.bytes.begin() + size_t(width) * height, uint8_t{16});
    return f;
  }
  std::span<uint8_t> y() { return {bytes.data(), size_t(width) * height}; }
  std::span<uint8_t> u() { return {bytes.data() + size_t(width) * height, chroma_size()}; }
  std::span<uint8_t> v() { return {bytes.data() + size_t(width) * height + chroma_size(), chroma_size()}; }
  std::span<const uint8_t> y() const { return {bytes.data(), size_t(width) * height}; }
  std::span<const uint8_t> u() const { return {bytes.data() + size_t(width) * height, chroma_size()}; }
  std::span<const uint8_t> v() const {
    return {bytes.data() + size_t(width) * height + chroma_size(), chroma_size()};
  }
  size_t chroma_size() const { return size_t(width / 2) * (height / 2); }
};

// Throws ditstream::Error (invalid_argument) for sizes I420 cannot hold: odd, zero or too large.
void validate_i420_size(int width, int height, std::string_view context);

}  // namespace ditstream::stream
