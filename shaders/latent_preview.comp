#version 450
// Latent preview: a 16-channel fp32 latent frame → RGB through the latent→RGB projection
// (models/hunyuan_video_latent_rgb.json), bilinear upscale to the output size with half-pixel
// centres (torch's interpolate, align_corners=False), (rgb + 1) / 2 → rgba8.
// CPU twin: cpu::latent_preview in stream/vulkan/cpu_conversions.cpp.

layout(local_size_x = 8, local_size_y = 8) in;

layout(std430, binding = 0) readonly buffer Latent { float latent[]; };
layout(std430, binding = 1) writeonly buffer Destination { uint dst[]; };
layout(std430, binding = 2) readonly buffer Factors { float factors[51]; };  // 16×3 rows, then bias

layout(push_constant) uniform Push {
  uint width;
  uint height;
  uint latent_width;
  uint latent_height;
  uint offset;          // elements before channel 0
  uint channel_stride;  // elements between channels
} pc;

vec3 project(uint x, uint y) {
  vec3 rgb = vec3(factors[48], factors[49], factors[50]);
  uint base = pc.offset + y * pc.latent_width + x;
  for (uint c = 0u; c < 16u; ++c) {
    float v = latent[base + c * pc.channel_stride];
    rgb += vec3(factors[3u * c], factors[3u * c + 1u], factors[3u * c + 2u]) * v;
  }
  return rgb;
}

uint round_u8(float v) {
  return uint(floor(clamp(v, 0.0, 255.0) + 0.5));
}

void main() {
  uvec2 id = gl_GlobalInvocationID.xy;
  if (id.x >= pc.width || id.y >= pc.height) return;
  float sx = max((float(id.x) + 0.5) * (float(pc.latent_width) / float(pc.width)) - 0.5, 0.0);
  float sy = max((float(id.y) + 0.5) * (float(pc.latent_height) / float(pc.height)) - 0.5, 0.0);
  uint x0 = min(uint(sx), pc.latent_width - 1u), x1 = min(x0 + 1u, pc.latent_width - 1u);
  uint y0 = min(uint(sy), pc.latent_height - 1u), y1 = min(y0 + 1u, pc.latent_height - 1u);
  float fx = sx - float(x0), fy = sy - float(y0);
  vec3 top = mix(project(x0, y0), project(x1, y0), fx);
  vec3 bottom = mix(project(x0, y1), project(x1, y1), fx);
  vec3 rgb = clamp((mix(top, bottom, fy) + 1.0) * 0.5, 0.0, 1.0);
  uvec3 q = uvec3(round_u8(rgb.r * 255.0), round_u8(rgb.g * 255.0), round_u8(rgb.b * 255.0));
  dst[id.y * pc.width + id.x] = q.r | (q.g << 8) | (q.b << 16) | 0xFF000000u;
}
