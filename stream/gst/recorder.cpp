#include "stream/gst/recorder.h"

#include <gst/app/gstappsrc.h>
#include <gst/gst.h>

#include <fmt/format.h>

#include "core/util/error.h"
#include "stream/gst/gst_util.h"

namespace ditstream::stream {

Recorder::Recorder(std::filesystem::path file, int width, int height, int fps)
    : file_(std::move(file)), width_(width), height_(height), fps_(fps) {
  const int gop = std::max(1, fps);
  pipeline_ = parse_pipeline(
      fmt::format("appsrc name=src format=time block=true max-bytes=0 "
                  "caps=video/x-raw,format=I420,width={},height={},framerate={}/1,{} ! "
                  "x264enc tune=zerolatency speed-preset=ultrafast key-int-max={} ! "
                  "video/x-h264,profile=constrained-baseline ! h264parse ! "
                  "mp4mux fragment-duration=500 trak-timescale={} ! filesink name=sink",
                  width, height, fps, kI420Colorimetry, gop, 1000 * fps),
      "recorder");
  src_ = gst_bin_get_by_name(GST_BIN(pipeline_), "src");
  GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline_), "sink");
  g_object_set(sink, "location", file_.c_str(), nullptr);
  gst_object_unref(sink);
  set_state(pipeline_, GST_STATE_PLAYING, "recorder");
}

Recorder::~Recorder() {
  gst_element_set_state(pipeline_, GST_STATE_NULL);
  gst_object_unref(src_);
  gst_object_unref(pipeline_);
}

void Recorder::push(const I420Frame& frame) {
  require(frame.width == width_ && frame.height == height_, "recorder", "frame",
          fmt::format("frame is {}x{}, the recording {}x{}", frame.width, frame.height, width_, height_));
  GstBuffer* buffer = buffer_from(frame.bytes.data(), frame.bytes.size());
  // Rounded (not floored) nanoseconds, so the muxer's 1/(1000·fps) ticks come out exact.
  const auto at = [&](int n) { return gst_util_uint64_scale_round(static_cast<guint64>(n), GST_SECOND, static_cast<guint64>(fps_)); };
  GST_BUFFER_PTS(buffer) = at(frames_);
  GST_BUFFER_DURATION(buffer) = at(frames_ + 1) - at(frames_);
  ++frames_;
  if (gst_app_src_push_buffer(GST_APP_SRC(src_), buffer) != GST_FLOW_OK) {
    const auto error = pop_bus_error(pipeline_);
    throw Error(ErrorKind::internal, "recorder", "", "cannot push a frame" + (error.empty() ? "" : ": " + error));
  }
}

void Recorder::finish() {
  if (finished_) return;
  finished_ = true;
  gst_app_src_end_of_stream(GST_APP_SRC(src_));
  GstBus* bus = gst_element_get_bus(pipeline_);
  GstMessage* m = gst_bus_timed_pop_filtered(bus, 60 * GST_SECOND,
                                             static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  gst_object_unref(bus);
  std::string error;
  if (!m) {
    error = "timed out waiting for the file to be written";
  } else if (GST_MESSAGE_TYPE(m) == GST_MESSAGE_ERROR) {
    GError* e = nullptr;
    gst_message_parse_error(m, &e, nullptr);
    error = e ? e->message : "unknown error";
    if (e) g_error_free(e);
  }
  if (m) gst_message_unref(m);
  gst_element_set_state(pipeline_, GST_STATE_NULL);
  if (!error.empty()) throw Error(ErrorKind::internal, "recorder", "", error);
}

}  // namespace ditstream::stream
