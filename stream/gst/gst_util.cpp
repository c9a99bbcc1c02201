#include "stream/gst/gst_util.h"

#include <cstring>

#include <gst/sdp/sdp.h>
#define GST_USE_UNSTABLE_API
#include <gst/webrtc/webrtc.h>

#include "core/util/error.h"

namespace ditstream::stream {

GstElement* parse_pipeline(const std::string& description, const char* context) {
  GError* error = nullptr;
  GstElement* pipeline = gst_parse_launch(description.c_str(), &error);
  if (error) {
    const std::string message = error->message;
    g_error_free(error);
    if (pipeline) gst_object_unref(pipeline);
    throw Error(ErrorKind::unavailable, context, "pipeline", message);
  }
  return pipeline;
}

std::string pop_bus_error(GstElement* pipeline) {
  GstBus* bus = gst_element_get_bus(pipeline);
  std::string out;
  while (GstMessage* m = gst_bus_pop_filtered(bus, GST_MESSAGE_ERROR)) {
    GError* error = nullptr;
    gchar* debug = nullptr;
    gst_message_parse_error(m, &error, &debug);
    if (out.empty()) out = std::string(GST_OBJECT_NAME(GST_MESSAGE_SRC(m))) + ": " + (error ? error->message : "?");
    if (error) g_error_free(error);
    g_free(debug);
    gst_message_unref(m);
  }
  gst_object_unref(bus);
  return out;
}

void set_state(GstElement* pipeline, GstState state, const char* context) {
  if (gst_element_set_state(pipeline, state) == GST_STATE_CHANGE_FAILURE) {
    const auto error = pop_bus_error(pipeline);
    throw Error(ErrorKind::unavailable, context, "pipeline",
                std::string("cannot change state to ") + gst_element_state_get_name(state) +
                    (error.empty() ? "" : ": " + error));
  }
}

std::string local_sdp(GstElement* webrtcbin) {
  GstWebRTCSessionDescription* local = nullptr;
  g_object_get(webrtcbin, "local-description", &local, nullptr);
  if (!local) throw Error(ErrorKind::internal, "webrtc", "sdp", "no local description");
  gchar* text = gst_sdp_message_as_text(local->sdp);
  std::string sdp = text;
  g_free(text);
  gst_webrtc_session_description_free(local);
  return sdp;
}

GstBuffer* buffer_from(const uint8_t* data, size_t size) {
  GstBuffer* buffer = gst_buffer_new_allocate(nullptr, size, nullptr);
  gst_buffer_fill(buffer, 0, data, size);
  return buffer;
}

}  // namespace ditstream::stream
