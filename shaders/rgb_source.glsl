// Reading one pixel of an RGB frame in any of the compositor's layouts from a word buffer.
// The including shader declares `uint src[]` (binding 0). Codes match source_code() in
// stream/vulkan/frame_format.cpp: 0 f32 planar, 1 f32 interleaved, 2 u8 planar, 3 u8 interleaved,
// 4 rgba8 packed words.

uint src_byte(uint index) {
  return (src[index >> 2] >> ((index & 3u) * 8u)) & 0xFFu;
}

vec3 load_rgb(uint code, uint width, uint height, uint x, uint y, float scale, float offset) {
  uint pixel = y * width + x;
  uint plane = width * height;
  if (code == 4u) {
    uint word = src[pixel];
    return vec3(float(word & 0xFFu), float((word >> 8) & 0xFFu), float((word >> 16) & 0xFFu)) / 255.0;
  }
  uvec3 index = (code & 1u) == 0u ? uvec3(pixel, plane + pixel, 2u * plane + pixel)
                                  : uvec3(3u * pixel, 3u * pixel + 1u, 3u * pixel + 2u);
  if (code >= 2u) {
    return vec3(float(src_byte(index.x)), float(src_byte(index.y)), float(src_byte(index.z))) / 255.0;
  }
  vec3 v = vec3(uintBitsToFloat(src[index.x]), uintBitsToFloat(src[index.y]), uintBitsToFloat(src[index.z]));
  return clamp(v * scale + offset, 0.0, 1.0);
}

uint round_u8(float v) {
  return uint(floor(clamp(v, 0.0, 255.0) + 0.5));
}

uint pack_rgba8(vec3 rgb) {
  uvec3 q = uvec3(round_u8(clamp(rgb.r, 0.0, 1.0) * 255.0), round_u8(clamp(rgb.g, 0.0, 1.0) * 255.0),
                  round_u8(clamp(rgb.b, 0.0, 1.0) * 255.0));
  return q.r | (q.g << 8) | (q.b << 16) | 0xFF000000u;
}
