// The recording of one job: the final frames at the requested fps, H.264 in fragmented mp4 (playable
// while it grows), written to a temp file that the caller renames when the job completes. A pipeline
// of its own, because the recording holds only the final frames with exact timestamps while the live
// stream also carries previews and repeats. The frames are clean (no overlay), I420 BT.709 limited
// range, tagged so in the caps and the H.264 VUI.
#pragma once

#include <filesystem>

#include "stream/vulkan/frame_format.h"

typedef struct _GstElement GstElement;

namespace ditstream::stream {

class Recorder {
 public:
  Recorder(std::filesystem::path file, int width, int height, int fps);
  ~Recorder();
  Recorder(const Recorder&) = delete;
  Recorder& operator=(const Recorder&) = delete;

  // Frame n gets the timestamp n/fps.
  void push(const I420Frame& frame);
  // Ends the stream and waits until the file is complete; throws Error on a pipeline failure.
  void finish();
  int frames() const { return frames_; }
  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_;
  int width_, height_, fps_;
  int frames_ = 0;
  GstElement* pipeline_ = nullptr;
  GstElement* src_ = nullptr;
  bool finished_ = false;
};

}  // namespace ditstream::stream
