// Small RAII and error helpers around the GStreamer C API, shared by the pipelines here.
#pragma once

#include <cstdint>
#include <gst/gst.h>

#include <string>

namespace ditstream::stream {

// Caps fields of the compositor's I420 frames: BT.709 limited range with MPEG-2 (left-sited)
// chroma. x264enc writes them into the H.264 VUI, so players convert back with the same matrix.
inline constexpr const char* kI420Colorimetry = "colorimetry=bt709,chroma-site=mpeg2";

struct GstUnref {
  void operator()(gpointer p) const {
    if (p) gst_object_unref(p);
  }
};

// gst_parse_launch that throws Error(unavailable) naming the missing element or syntax problem.
GstElement* parse_pipeline(const std::string& description, const char* context);
// The first error on the bus, if any, as text ("" when none); does not block.
std::string pop_bus_error(GstElement* pipeline);
// Sets a state and waits for it; throws Error(unavailable) when it fails.
void set_state(GstElement* pipeline, GstState state, const char* context);
// The text of a webrtcbin's current local description.
std::string local_sdp(GstElement* webrtcbin);
// Wraps a copy of `size` bytes in a buffer.
GstBuffer* buffer_from(const uint8_t* data, size_t size);

}  // namespace ditstream::stream
