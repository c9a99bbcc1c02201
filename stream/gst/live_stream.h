// The live stream of one job: appsrc (live, I420) → x264 (zerolatency, constrained baseline, short
// GOP) → tee → one webrtcbin per viewer. A pacer thread feeds the encoder: the newest preview
// while denoising, then the final frames at the job's fps as they are decoded (with the decode
// overlay), then the finished clip on a loop (clean, as recorded). Frames are I420 BT.709 limited
// range, tagged so in the caps and the H.264 VUI. Viewers join over WHEP at any time and start at a forced keyframe; a viewer that
// leaves takes only its own branch down.
#pragma once

#include <cstdint>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/engine/metrics.h"
#include "stream/vulkan/frame_format.h"
#include "stream/gst/ice_config.h"

typedef struct _GstElement GstElement;

namespace ditstream::stream {

struct WhepAnswer {
  std::string session_id;
  std::string sdp;
};

class LiveStream {
 public:
  LiveStream(int width, int height, int fps, IceConfig ice, engine::ServiceMetrics* metrics);
  ~LiveStream();
  LiveStream(const LiveStream&) = delete;
  LiveStream& operator=(const LiveStream&) = delete;

  // Preview phase: shows `frame` until the next preview or the first final frame; pushed at once.
  void show_preview(I420Frame frame);
  // Final phase: appends decoded frames, played at the job's fps: `shown` (with the overlay) on the
  // first pass, `clean` (the same frames without it) on the loop. Equal counts.
  void add_final_frames(std::vector<I420Frame> shown, std::vector<I420Frame> clean);
  // The job ended: the clip loops from now on (or the last picture stays, if there are no frames).
  void end();

  // WHEP: takes an SDP offer that receives video, returns the answer with every local candidate.
  // Throws Error(invalid_argument, field "sdp") for an offer that cannot be answered.
  WhepAnswer add_viewer(const std::string& offer);
  // Throws Error(not_found) for an unknown session.
  void remove_viewer(const std::string& session_id);
  int viewers() const;
  bool ended() const;
  std::chrono::steady_clock::time_point last_activity() const;

 private:
  struct Viewer;
  void pace();
  bool next_frame(I420Frame& out, bool& fresh);
  const I420Frame& first_pass_or_clean(size_t i) const;
  void push(const I420Frame& frame);
  void force_keyframe();

  int width_, height_, fps_;
  IceConfig ice_;
  engine::ServiceMetrics* metrics_;
  GstElement* pipeline_ = nullptr;
  GstElement* src_ = nullptr;
  GstElement* encoder_ = nullptr;
  GstElement* tee_ = nullptr;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  enum class Phase { waiting, preview, final_frames, loop } phase_ = Phase::waiting;
  I420Frame preview_;
  bool preview_fresh_ = false;
  std::vector<I420Frame> finals_;  // clean, for the loop
  std::vector<I420Frame> shown_;   // with the overlay, for the first pass; emptied as played
  size_t play_index_ = 0;
  bool ended_ = false;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point last_activity_ = std::chrono::steady_clock::now();

  std::mutex viewers_mutex_;  // serializes joins and leaves
  std::map<std::string, std::unique_ptr<Viewer>> viewers_;
  int viewer_count_ = 0;  // guarded by mutex_
  uint64_t next_viewer_ = 0;

  std::mutex encode_mutex_;
  std::deque<std::chrono::steady_clock::time_point> in_flight_;  // push times of frames in the encoder
  std::thread pacer_;
};

}  // namespace ditstream::stream
