#version 450
// RGB (f32 or u8, planar, interleaved or rgba8) → I420, BT.709 limited range, MPEG-2 chroma
// siting. One invocation writes one 32-bit word of the I420 buffer (Y plane, then U, then V,
// packed without padding), so planes whose sizes are not multiples of 4 need no special case.
// CPU twin: cpu::rgb_to_i420 in stream/vulkan/cpu_conversions.cpp.
#extension GL_GOOGLE_include_directive : require

layout(local_size_x = 64) in;

layout(std430, binding = 0) readonly buffer Source { uint src[]; };
layout(std430, binding = 1) writeonly buffer Destination { uint dst[]; };

layout(push_constant) uniform Push {
  uint width;
  uint height;
  uint code;
  uint words;
  float scale;
  float offset;
} pc;

#include "rgb_source.glsl"

const vec3 kLuma = vec3(0.2126, 0.7152, 0.0722);

vec3 pixel(uint x, uint y) {
  return load_rgb(pc.code, pc.width, pc.height, x, y, pc.scale, pc.offset);
}

uint sample_at(uint index) {
  uint luma_size = pc.width * pc.height;
  uint cw = pc.width / 2u, chroma_size = cw * (pc.height / 2u);
  if (index < luma_size) {
    vec3 rgb = pixel(index % pc.width, index / pc.width);
    return round_u8(16.0 + 219.0 * dot(kLuma, rgb));
  }
  if (index >= luma_size + 2u * chroma_size) return 0u;
  bool is_v = index >= luma_size + chroma_size;
  uint c = index - luma_size - (is_v ? chroma_size : 0u);
  uint i = c % cw, j = c / cw;
  // Chroma (i, j) sits on luma column 2i, between rows 2j and 2j+1: [1, 2, 1] / 4 across columns
  // 2i-1..2i+1 (edge clamped), mean of the two rows.
  uint xl = i == 0u ? 0u : 2u * i - 1u;
  vec3 sum = vec3(0.0);
  for (uint r = 0u; r < 2u; ++r) {
    uint y = 2u * j + r;
    sum += 0.125 * pixel(xl, y);
    sum += 0.25 * pixel(2u * i, y);
    sum += 0.125 * pixel(2u * i + 1u, y);
  }
  float yn = dot(kLuma, sum);
  return is_v ? round_u8(128.0 + 224.0 * (sum.r - yn) / 1.5748) : round_u8(128.0 + 224.0 * (sum.b - yn) / 1.8556);
}

void main() {
  uint word = gl_GlobalInvocationID.y * (gl_NumWorkGroups.x * 64u) + gl_GlobalInvocationID.x;
  if (word >= pc.words) return;
  uint base = word * 4u;
  dst[word] = sample_at(base) | (sample_at(base + 1u) << 8) | (sample_at(base + 2u) << 16) |
              (sample_at(base + 3u) << 24);
}
