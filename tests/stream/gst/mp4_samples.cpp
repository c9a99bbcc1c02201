#include "tests/stream/gst/mp4_samples.h"

#include <gst/app/gstappsink.h>
#include <gst/gst.h>

#include <stdexcept>

#include "stream/stream_info.h"

namespace ditstream::testing {

void for_each_mp4_sample(const std::filesystem::path& file, const std::string& tail,
                         const std::function<void(GstSample*)>& on_sample) {
  stream::init_streaming();
  GError* error = nullptr;
  const std::string description =
      "filesrc name=src ! qtdemux ! h264parse ! " + (tail.empty() ? "" : tail + " ! ") + "appsink name=sink sync=false";
  GstElement* pipeline = gst_parse_launch(description.c_str(), &error);
  if (error) {
    const std::string message = error->message;
    g_error_free(error);
    if (pipeline) gst_object_unref(pipeline);
    throw std::runtime_error("cannot read mp4 samples: " + message);
  }
  GstElement* src = gst_bin_get_by_name(GST_BIN(pipeline), "src");
  g_object_set(src, "location", file.c_str(), nullptr);
  gst_object_unref(src);
  GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
  gst_element_set_state(pipeline, GST_STATE_PLAYING);
  while (GstSample* sample = gst_app_sink_pull_sample(GST_APP_SINK(sink))) {
    on_sample(sample);
    gst_sample_unref(sample);
  }
  gst_element_set_state(pipeline, GST_STATE_NULL);
  gst_object_unref(sink);
  gst_object_unref(pipeline);
}

}  // namespace ditstream::testing
