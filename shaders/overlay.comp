#version 450
// Blends the overlay (text box + progress bar, laid out on the host by OverlayLayout::place) over
// a frame in any RGB layout and writes an rgba8 frame; source and destination may be one buffer.
// CPU twin: blend_overlay in stream/vulkan/overlay.cpp.
#extension GL_GOOGLE_include_directive : require

layout(local_size_x = 8, local_size_y = 8) in;

layout(std430, binding = 0) readonly buffer Source { uint src[]; };
layout(std430, binding = 1) writeonly buffer Destination { uint dst[]; };
layout(std430, binding = 2) readonly buffer Params {
  vec4 box_color;
  vec4 text_color;
  vec4 bar_color;
  vec4 fill_color;
  ivec4 box;
  ivec4 bar;
  ivec4 text;  // origin x, origin y, pixel scale, character count
  int fill_x1;
  int pad0;
  int pad1;
  int pad2;
  uint glyphs[96];
  uint font[448];  // 64 glyphs × 7 rows of 5 bits, bit 4 leftmost
} ov;

layout(push_constant) uniform Push {
  uint width;
  uint height;
  uint code;
  uint unused;
  float scale;
  float offset;
} pc;

#include "rgb_source.glsl"

bool inside(ivec4 r, ivec2 p) {
  return p.x >= r.x && p.y >= r.y && p.x < r.z && p.y < r.w;
}

vec3 blend(vec3 rgb, vec4 color) {
  return rgb + (color.rgb - rgb) * color.a;
}

void main() {
  uvec2 id = gl_GlobalInvocationID.xy;
  if (id.x >= pc.width || id.y >= pc.height) return;
  ivec2 p = ivec2(id);
  vec3 rgb = load_rgb(pc.code, pc.width, pc.height, id.x, id.y, pc.scale, pc.offset);
  if (inside(ov.box, p)) {
    rgb = blend(rgb, ov.box_color);
    int scale = ov.text.z;
    ivec2 d = p - ov.text.xy;
    if (d.x >= 0 && d.y >= 0) {
      int col = d.x / scale, row = d.y / scale;
      int ch = col / 6, cx = col % 6;
      if (ch < ov.text.w && cx < 5 && row < 7) {
        uint bits = ov.font[ov.glyphs[ch] * 7u + uint(row)];
        if (((bits >> uint(4 - cx)) & 1u) != 0u) rgb = blend(rgb, ov.text_color);
      }
    }
  }
  if (inside(ov.bar, p)) rgb = blend(rgb, p.x < ov.fill_x1 ? ov.fill_color : ov.bar_color);
  dst[id.y * pc.width + id.x] = pack_rgba8(rgb);
}
