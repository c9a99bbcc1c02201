#include "stream/stream_info.h"

#include <gst/gst.h>

namespace ditstream::stream {

StreamInfo init_streaming() {
  if (!gst_is_initialized()) gst_init(nullptr, nullptr);
  gchar* version = gst_version_string();
  StreamInfo info{version};
  g_free(version);
  return info;
}

}  // namespace ditstream::stream
