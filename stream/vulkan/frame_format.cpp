#include "stream/vulkan/frame_format.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "core/util/error.h"

namespace ditstream::stream {
namespace {

// Generated at build time from models/hunyuan_video_latent_rgb.json (stream/vulkan/CMakeLists.txt).
constexpr std::string_view kHunyuanVideoFactorsJson =
#include "hunyuan_video_latent_rgb.json.inc"
    ;

// Largest frame side: 8K, far beyond anything the model makes, small enough for 32-bit indexing.
constexpr int kMaxSide = 8192;

}  // namespace

size_t rgb_frame_bytes(const RgbFormat& format, int width, int height) {
  const size_t pixels = size_t(width) * size_t(height);
  if (format.layout == PixelLayout::rgba8) return pixels * 4;
  return pixels * 3 * (format.type == SampleType::f32 ? 4 : 1);
}

void validate_rgb_format(const RgbFormat& format, std::string_view context) {
  require(format.type == SampleType::f32 || format.type == SampleType::u8, context, "format.type",
          "must be f32 or u8");
  require(format.layout == PixelLayout::planar || format.layout == PixelLayout::interleaved ||
              format.layout == PixelLayout::rgba8,
          context, "format.layout", "must be planar, interleaved or rgba8");
  require(format.layout != PixelLayout::rgba8 || format.type == SampleType::u8, context, "format",
          "rgba8 frames hold 8-bit samples; f32 rgba8 is not a format");
  require(format.range == FloatRange::unit || format.range == FloatRange::signed_unit, context,
          "format.range", "must be unit ([0, 1]) or signed_unit ([-1, 1])");
}

std::string to_string(const RgbFormat& format) {
  std::string out = format.type == SampleType::f32 ? "f32" : "u8";
  out += format.layout == PixelLayout::planar        ? " planar"
         : format.layout == PixelLayout::interleaved ? " interleaved"
                                                     : " rgba8";
  if (format.type == SampleType::f32) out += format.range == FloatRange::unit ? " [0,1]" : " [-1,1]";
  return out;
}

uint32_t source_code(const RgbFormat& format) {
  if (format.layout == PixelLayout::rgba8) return 4;
  return (format.type == SampleType::u8 ? 2u : 0u) + (format.layout == PixelLayout::interleaved ? 1u : 0u);
}

std::array<float, 2> float_scale_offset(FloatRange range) {
  return range == FloatRange::unit ? std::array<float, 2>{1.0f, 0.0f} : std::array<float, 2>{0.5f, 0.5f};
}

size_t latent_frame_bytes(const LatentFrameDesc& desc) {
  const int64_t channel_stride = desc.channel_stride ? desc.channel_stride : int64_t(desc.height) * desc.width;
  const int64_t last = desc.offset + (kLatentChannels - 1) * channel_stride + int64_t(desc.height) * desc.width;
  return size_t(last) * sizeof(float);
}

void validate_latent(const LatentFrameDesc& desc, std::string_view context) {
  require(desc.height >= 1 && desc.height <= kMaxSide, context, "latent.height",
          "is " + std::to_string(desc.height) + "; must be in 1.." + std::to_string(kMaxSide));
  require(desc.width >= 1 && desc.width <= kMaxSide, context, "latent.width",
          "is " + std::to_string(desc.width) + "; must be in 1.." + std::to_string(kMaxSide));
  require(desc.channel_stride == 0 || desc.channel_stride >= int64_t(desc.height) * desc.width, context,
          "latent.channel_stride",
          "is " + std::to_string(desc.channel_stride) + "; must be 0 or at least height*width");
  require(desc.offset >= 0, context, "latent.offset", "is " + std::to_string(desc.offset) + "; must be ≥ 0");
  require(latent_frame_bytes(desc) / sizeof(float) < (size_t(1) << 31), context, "latent",
          "spans more than 2^31 elements");
}

LatentRgbFactors LatentRgbFactors::from_json_text(std::string_view text, std::string_view origin) {
  const std::string context = "latent rgb factors: " + std::string(origin);
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw_bad_file(context, "", std::string("not valid JSON: ") + e.what());
  }
  LatentRgbFactors out;
  const auto& factors = doc.contains("factors") ? doc["factors"] : nlohmann::json();
  if (!factors.is_array() || factors.size() != kLatentChannels) {
    throw_bad_file(context, "factors", "must be an array of 16 rows (latent channels)");
  }
  for (int c = 0; c < kLatentChannels; ++c) {
    const auto& row = factors[c];
    if (!row.is_array() || row.size() != 3 || !row[0].is_number() || !row[1].is_number() || !row[2].is_number()) {
      throw_bad_file(context, "factors[" + std::to_string(c) + "]", "must be three numbers (R, G, B)");
    }
    for (int k = 0; k < 3; ++k) out.factors[c][k] = row[k].get<float>();
  }
  const auto& bias = doc.contains("bias") ? doc["bias"] : nlohmann::json();
  if (!bias.is_array() || bias.size() != 3 || !bias[0].is_number() || !bias[1].is_number() || !bias[2].is_number()) {
    throw_bad_file(context, "bias", "must be three numbers (R, G, B)");
  }
  for (int k = 0; k < 3; ++k) out.bias[k] = bias[k].get<float>();
  return out;
}

LatentRgbFactors LatentRgbFactors::from_json_file(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw_bad_file("latent rgb factors: " + file.string(), "", "cannot be opened");
  std::stringstream text;
  text << in.rdbuf();
  return from_json_text(text.str(), file.string());
}

LatentRgbFactors LatentRgbFactors::hunyuan_video() {
  return from_json_text(kHunyuanVideoFactorsJson, "models/hunyuan_video_latent_rgb.json");
}

void validate_i420_size(int width, int height, std::string_view context) {
  require(width >= 2 && width <= kMaxSide, context, "width",
          "is " + std::to_string(width) + "; must be in 2.." + std::to_string(kMaxSide));
  require(height >= 2 && height <= kMaxSide, context, "height",
          "is " + std::to_string(height) + "; must be in 2.." + std::to_string(kMaxSide));
  require(width % 2 == 0, context, "width",
          "is " + std::to_string(width) + "; I420 needs an even width (chroma is subsampled 2x2)");
  require(height % 2 == 0, context, "height",
          "is " + std::to_string(height) + "; I420 needs an even height (chroma is subsampled 2x2)");
}

}  // namespace ditstream::stream
