#include "stream/gst/live_stream.h"

#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gst/sdp/sdp.h>
#include <gst/video/video.h>
#define GST_USE_UNSTABLE_API
#include <gst/webrtc/webrtc.h>

#include <fmt/format.h>

#include <random>
#include <sstream>

#include "core/util/error.h"
#include "core/util/log.h"
#include "stream/gst/gst_util.h"

namespace ditstream::stream {
namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kContext = "WHEP";

// The H.264 payload type of the offer we will send with: packetization-mode 1, constrained
// baseline preferred (what the encoder produces), then any baseline, then any H.264.
int choose_h264_payload(const GstSDPMessage* sdp, std::string& profile_level_id) {
  int best = -1, best_rank = 0;
  for (guint m = 0; m < gst_sdp_message_medias_len(sdp); ++m) {
    const GstSDPMedia* media = gst_sdp_message_get_media(sdp, m);
    if (std::string(gst_sdp_media_get_media(media)) != "video") continue;
    if (gst_sdp_media_get_attribute_val(media, "sendonly") || gst_sdp_media_get_attribute_val(media, "inactive")) {
      throw_invalid(kContext, "sdp", "the video section must receive (recvonly or sendrecv)");
    }
    for (guint f = 0; f < gst_sdp_media_formats_len(media); ++f) {
      const int pt = std::atoi(gst_sdp_media_get_format(media, f));
      GstCaps* caps = gst_sdp_media_get_caps_from_media(media, pt);
      if (!caps) continue;
      const GstStructure* s = gst_caps_get_structure(caps, 0);
      const char* name = gst_structure_get_string(s, "encoding-name");
      const char* mode = gst_structure_get_string(s, "packetization-mode");
      const char* plid = gst_structure_get_string(s, "profile-level-id");
      if (name && std::string(name) == "H264" && mode && std::string(mode) == "1") {
        const std::string id = plid ? plid : "42e01f";
        const int rank = id.rfind("42e0", 0) == 0 ? 3 : id.rfind("42", 0) == 0 ? 2 : 1;
        if (rank > best_rank) {
          best_rank = rank;
          best = pt;
          profile_level_id = id;
        }
      }
      gst_caps_unref(caps);
    }
    break;  // one video section is enough
  }
  if (best < 0) throw_invalid(kContext, "sdp", "the offer has no H.264 payload with packetization-mode=1");
  return best;
}

GstWebRTCSessionDescription* promise_description(GstPromise* promise, const char* field) {
  const GstStructure* reply = gst_promise_get_reply(promise);
  GstWebRTCSessionDescription* desc = nullptr;
  if (reply) gst_structure_get(reply, field, GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &desc, nullptr);
  if (!desc) {
    GError* error = nullptr;
    if (reply) gst_structure_get(reply, "error", G_TYPE_ERROR, &error, nullptr);
    const std::string message = error ? error->message : "no answer";
    if (error) g_error_free(error);
    throw_invalid(kContext, "sdp", "cannot answer the offer: " + message);
  }
  return desc;
}

void check_promise_error(GstPromise* promise, const char* what) {
  const GstStructure* reply = gst_promise_get_reply(promise);
  if (!reply) return;
  GError* error = nullptr;
  if (gst_structure_get(reply, "error", G_TYPE_ERROR, &error, nullptr) && error) {
    const std::string message = error->message;
    g_error_free(error);
    throw_invalid(kContext, "sdp", std::string(what) + ": " + message);
  }
}

std::string new_session_id() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:016x}", rng());
}

}  // namespace

struct LiveStream::Viewer {
  GstElement* bin = nullptr;     // queue → rtph264pay → webrtcbin
  GstElement* webrtc = nullptr;  // owned by bin
  GstPad* tee_pad = nullptr;
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::pair<guint, std::string>> candidates;  // mline, candidate line
  bool waiting_for_keyframe = true;
};

LiveStream::LiveStream(int width, int height, int fps, IceConfig ice, engine::ServiceMetrics* metrics)
    : width_(width), height_(height), fps_(fps), ice_(std::move(ice)), metrics_(metrics) {
  pipeline_ = parse_pipeline(
      fmt::format("appsrc name=src is-live=true format=time do-timestamp=true "
                  "caps=video/x-raw,format=I420,width={},height={},framerate={}/1,{} ! "
                  "x264enc name=enc tune=zerolatency speed-preset=ultrafast key-int-max={} ! "
                  "video/x-h264,profile=constrained-baseline,stream-format=byte-stream ! "
                  "tee name=tee allow-not-linked=true",
                  width, height, fps, kI420Colorimetry, std::max(2, fps)),
      "live stream");
  src_ = gst_bin_get_by_name(GST_BIN(pipeline_), "src");
  encoder_ = gst_bin_get_by_name(GST_BIN(pipeline_), "enc");
  tee_ = gst_bin_get_by_name(GST_BIN(pipeline_), "tee");
  preview_ = I420Frame::black(width, height);

  // Encode time per frame: x264 in zerolatency mode emits one frame per input, in order (with its
  // own timestamp offset), so push times are matched first in, first out.
  auto on_source = [](GstPad*, GstPadProbeInfo*, gpointer self) -> GstPadProbeReturn {
    auto* s = static_cast<LiveStream*>(self);
    std::lock_guard lock(s->encode_mutex_);
    if (s->in_flight_.size() > 256) s->in_flight_.clear();
    s->in_flight_.push_back(Clock::now());
    return GST_PAD_PROBE_OK;
  };
  auto on_encoded = [](GstPad*, GstPadProbeInfo*, gpointer self) -> GstPadProbeReturn {
    auto* s = static_cast<LiveStream*>(self);
    std::lock_guard lock(s->encode_mutex_);
    if (s->in_flight_.empty()) return GST_PAD_PROBE_OK;
    if (s->metrics_) s->metrics_->encode_frame.observe(std::chrono::duration<double>(Clock::now() - s->in_flight_.front()).count());
    s->in_flight_.pop_front();
    return GST_PAD_PROBE_OK;
  };
  GstPad* src_pad = gst_element_get_static_pad(src_, "src");
  gst_pad_add_probe(src_pad, GST_PAD_PROBE_TYPE_BUFFER, on_source, this, nullptr);
  gst_object_unref(src_pad);
  GstPad* enc_pad = gst_element_get_static_pad(encoder_, "src");
  gst_pad_add_probe(enc_pad, GST_PAD_PROBE_TYPE_BUFFER, on_encoded, this, nullptr);
  gst_object_unref(enc_pad);

  set_state(pipeline_, GST_STATE_PLAYING, "live stream");
  pacer_ = std::thread([this] { pace(); });
}

LiveStream::~LiveStream() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  pacer_.join();
  gst_element_set_state(pipeline_, GST_STATE_NULL);
  std::lock_guard lock(viewers_mutex_);
  if (metrics_) metrics_->viewers.add(-static_cast<double>(viewers_.size()));
  for (auto& [id, v] : viewers_) gst_object_unref(v->tee_pad);
  viewers_.clear();
  gst_object_unref(tee_);
  gst_object_unref(encoder_);
  gst_object_unref(src_);
  gst_object_unref(pipeline_);
}

void LiveStream::show_preview(I420Frame frame) {
  {
    std::lock_guard lock(mutex_);
    if (phase_ != Phase::waiting && phase_ != Phase::preview) return;
    phase_ = Phase::preview;
    preview_ = std::move(frame);
    preview_fresh_ = true;
    last_activity_ = Clock::now();
  }
  wake_.notify_all();
}

void LiveStream::add_final_frames(std::vector<I420Frame> shown, std::vector<I420Frame> clean) {
  require(shown.size() == clean.size(), "live stream", "frames",
          std::to_string(shown.size()) + " shown and " + std::to_string(clean.size()) + " clean frames differ in number");
  {
    std::lock_guard lock(mutex_);
    if (phase_ == Phase::waiting || phase_ == Phase::preview) {
      phase_ = Phase::final_frames;
      play_index_ = 0;
    }
    for (auto& f : clean) finals_.push_back(std::move(f));
    for (auto& f : shown) shown_.push_back(std::move(f));
    last_activity_ = Clock::now();
  }
  wake_.notify_all();
}

void LiveStream::end() {
  {
    std::lock_guard lock(mutex_);
    ended_ = true;
    if (!finals_.empty()) phase_ = Phase::loop;
    last_activity_ = Clock::now();
  }
  wake_.notify_all();
}

bool LiveStream::ended() const {
  std::lock_guard lock(mutex_);
  return ended_;
}

int LiveStream::viewers() const {
  std::lock_guard lock(mutex_);
  return viewer_count_;
}

Clock::time_point LiveStream::last_activity() const {
  std::lock_guard lock(mutex_);
  return last_activity_;
}

// Final frame `i` as the first pass shows it (with the overlay) while it is kept, clean otherwise.
const I420Frame& LiveStream::first_pass_or_clean(size_t i) const {
  return i < shown_.size() && !shown_[i].bytes.empty() ? shown_[i] : finals_[i];
}

// Picks what the stream shows now; called by the pacer with mutex_ held.
bool LiveStream::next_frame(I420Frame& out, bool& fresh) {
  fresh = false;
  switch (phase_) {
    case Phase::waiting:
    case Phase::preview:
      out = preview_;
      fresh = preview_fresh_;
      preview_fresh_ = false;
      return true;
    case Phase::final_frames:
    case Phase::loop:
      if (play_index_ >= finals_.size() && phase_ == Phase::loop) {
        play_index_ = 0;
        shown_.clear();  // the first pass is over: the clip loops as recorded
        shown_.shrink_to_fit();
      }
      if (play_index_ < finals_.size()) {
        out = first_pass_or_clean(play_index_);
        if (play_index_ > 0 && play_index_ - 1 < shown_.size()) shown_[play_index_ - 1] = I420Frame{};  // played
        ++play_index_;
      } else {
        out = first_pass_or_clean(finals_.size() - 1);  // the next chunk is still decoding: hold the last frame
      }
      return true;
  }
  return false;
}

void LiveStream::pace() {
  const auto period = std::chrono::microseconds(1000000 / std::max(1, fps_));
  auto next_tick = Clock::now();
  while (true) {
    I420Frame frame;
    bool fresh = false;
    {
      std::unique_lock lock(mutex_);
      // Sleep until the next tick, or until a new preview arrives (shown at once, not at the tick).
      wake_.wait_until(lock, next_tick, [&] { return stopping_ || preview_fresh_; });
      if (stopping_) return;
      if (viewer_count_ == 0) {  // nobody watches: encode nothing
        next_tick = Clock::now() + period;
        preview_fresh_ = false;
        continue;
      }
      next_frame(frame, fresh);
    }
    push(frame);
    next_tick = std::max(next_tick + period, Clock::now() - period);
    if (fresh) next_tick = Clock::now() + period;
    const auto error = pop_bus_error(pipeline_);
    if (!error.empty()) log::warn("live stream: {}", error);
  }
}

void LiveStream::push(const I420Frame& frame) {
  GstBuffer* buffer = buffer_from(frame.bytes.data(), frame.bytes.size());
  gst_app_src_push_buffer(GST_APP_SRC(src_), buffer);
}

void LiveStream::force_keyframe() {
  GstPad* pad = gst_element_get_static_pad(encoder_, "src");
  gst_pad_send_event(pad, gst_video_event_new_upstream_force_key_unit(GST_CLOCK_TIME_NONE, TRUE, 0));
  gst_object_unref(pad);
}

WhepAnswer LiveStream::add_viewer(const std::string& offer_text) {
  GstSDPMessage* offer_sdp = nullptr;
  gst_sdp_message_new_from_text(offer_text.c_str(), &offer_sdp);
  if (!offer_sdp || gst_sdp_message_medias_len(offer_sdp) == 0) {
    if (offer_sdp) gst_sdp_message_free(offer_sdp);
    throw_invalid(kContext, "sdp", "the offer is not a parsable SDP with media sections");
  }
  std::string profile_level_id;
  int pt = 0;
  try {
    pt = choose_h264_payload(offer_sdp, profile_level_id);
  } catch (...) {
    gst_sdp_message_free(offer_sdp);
    throw;
  }

  std::lock_guard join_lock(viewers_mutex_);
  auto viewer = std::make_unique<Viewer>();
  const std::string session_id = new_session_id();
  // config-interval=0: x264 repeats SPS/PPS in front of every IDR picture itself. The payloader's
  // own -1 would add them again before each IDR slice, between the slices of one picture, which
  // OpenH264 (Firefox's decoder) takes for a broken picture.
  GstElement* bin = parse_pipeline(
      fmt::format("queue name=q leaky=downstream max-size-buffers=60 max-size-time=0 max-size-bytes=0 ! "
                  "rtph264pay name=pay pt={} config-interval=0 aggregate-mode=zero-latency ! "
                  "webrtcbin name=webrtc bundle-policy=max-bundle",
                  pt),
      "WHEP viewer");
  // gst_parse_launch gives a pipeline for several elements: make it a plain bin with a ghost pad.
  GstElement* branch = gst_bin_new(("viewer-" + session_id).c_str());
  GstElement* queue = gst_bin_get_by_name(GST_BIN(bin), "q");
  GstElement* pay = gst_bin_get_by_name(GST_BIN(bin), "pay");
  GstElement* webrtc = gst_bin_get_by_name(GST_BIN(bin), "webrtc");
  for (GstElement* e : {queue, pay, webrtc}) {
    gst_object_ref(e);
    gst_bin_remove(GST_BIN(bin), e);
    gst_bin_add(GST_BIN(branch), e);
  }
  gst_object_unref(bin);
  gst_element_link(queue, pay);
  gst_element_link(pay, webrtc);
  GstPad* queue_sink = gst_element_get_static_pad(queue, "sink");
  gst_element_add_pad(branch, gst_ghost_pad_new("sink", queue_sink));
  // A late joiner starts at a keyframe: drop delta frames until the first one that is not.
  gst_pad_add_probe(
      queue_sink, GST_PAD_PROBE_TYPE_BUFFER,
      [](GstPad*, GstPadProbeInfo* info, gpointer v) -> GstPadProbeReturn {
        auto* viewer = static_cast<Viewer*>(v);
        if (!viewer->waiting_for_keyframe) return GST_PAD_PROBE_REMOVE;
        if (GST_BUFFER_FLAG_IS_SET(GST_PAD_PROBE_INFO_BUFFER(info), GST_BUFFER_FLAG_DELTA_UNIT)) {
          return GST_PAD_PROBE_DROP;
        }
        viewer->waiting_for_keyframe = false;
        return GST_PAD_PROBE_REMOVE;
      },
      viewer.get(), nullptr);
  gst_object_unref(queue_sink);
  gst_object_unref(queue);
  gst_object_unref(pay);

  viewer->bin = branch;
  viewer->webrtc = webrtc;
  apply_ice_config(webrtc, ice_);
  g_signal_connect(webrtc, "on-ice-candidate",
                   G_CALLBACK(+[](GstElement*, guint mline, gchar* candidate, gpointer v) {
                     auto* viewer = static_cast<Viewer*>(v);
                     std::lock_guard lock(viewer->mutex);
                     viewer->candidates.emplace_back(mline, candidate);
                   }),
                   viewer.get());
  g_signal_connect(webrtc, "notify::ice-gathering-state",
                   G_CALLBACK(+[](GstElement*, GParamSpec*, gpointer v) {
                     auto* viewer = static_cast<Viewer*>(v);
                     std::lock_guard lock(viewer->mutex);
                     viewer->changed.notify_all();
                   }),
                   viewer.get());

  // The transceiver the pay → webrtc link created sends only, with the offer's payload type.
  GstPad* webrtc_sink = gst_element_get_static_pad(webrtc, "sink_0");
  GstWebRTCRTPTransceiver* transceiver = nullptr;
  g_object_get(webrtc_sink, "transceiver", &transceiver, nullptr);
  gst_object_unref(webrtc_sink);
  GstCaps* codec = gst_caps_from_string(
      fmt::format("application/x-rtp,media=video,encoding-name=H264,clock-rate=90000,payload={},"
                  "packetization-mode=(string)1,profile-level-id=(string){}",
                  pt, profile_level_id)
          .c_str());
  g_object_set(transceiver, "direction", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_SENDONLY, "codec-preferences", codec,
               nullptr);
  gst_caps_unref(codec);
  gst_object_unref(transceiver);

  // The branch runs before it is linked: a buffer reaching a pad that is not active yet returns
  // FLUSHING, which the tee hands back to the source, whose task then pauses for every viewer.
  gst_bin_add(GST_BIN(pipeline_), branch);
  gst_element_sync_state_with_parent(branch);
  viewer->tee_pad = gst_element_request_pad_simple(tee_, "src_%u");
  GstPad* branch_sink = gst_element_get_static_pad(branch, "sink");
  gst_pad_link(viewer->tee_pad, branch_sink);
  gst_object_unref(branch_sink);

  auto fail = [&](const std::string& why) {
    if (GstPad* peer = gst_pad_get_peer(viewer->tee_pad)) {
      gst_pad_unlink(viewer->tee_pad, peer);
      gst_object_unref(peer);
    }
    gst_element_set_state(branch, GST_STATE_NULL);
    gst_bin_remove(GST_BIN(pipeline_), branch);
    gst_element_release_request_pad(tee_, viewer->tee_pad);
    gst_object_unref(viewer->tee_pad);
    throw_invalid(kContext, "sdp", why);
  };
  try {
    GstWebRTCSessionDescription* offer = gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_OFFER, offer_sdp);
    GstPromise* p = gst_promise_new();
    g_signal_emit_by_name(webrtc, "set-remote-description", offer, p);
    gst_promise_wait(p);
    check_promise_error(p, "cannot use the offer");
    gst_promise_unref(p);
    gst_webrtc_session_description_free(offer);

    p = gst_promise_new();
    g_signal_emit_by_name(webrtc, "create-answer", nullptr, p);
    gst_promise_wait(p);
    GstWebRTCSessionDescription* answer = promise_description(p, "answer");
    gst_promise_unref(p);
    p = gst_promise_new();
    g_signal_emit_by_name(webrtc, "set-local-description", answer, p);
    gst_promise_wait(p);
    gst_promise_unref(p);
    gst_webrtc_session_description_free(answer);
  } catch (const Error& e) {
    fail(e.detail());
  }

  // Non-trickle WHEP: the answer carries every host candidate, so wait for gathering to end.
  {
    std::unique_lock lock(viewer->mutex);
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (true) {
      GstWebRTCICEGatheringState state = GST_WEBRTC_ICE_GATHERING_STATE_NEW;
      g_object_get(webrtc, "ice-gathering-state", &state, nullptr);
      if (state == GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE) break;
      if (viewer->changed.wait_until(lock, std::min(deadline, Clock::now() + std::chrono::milliseconds(50))) ==
              std::cv_status::timeout &&
          Clock::now() >= deadline) {
        lock.unlock();
        fail("ICE gathering did not complete");
      }
    }
  }
  std::string sdp = local_sdp(webrtc);
  if (sdp.find("a=candidate:") == std::string::npos) {
    // Older webrtcbin keeps candidates out of the description: add them to the video section.
    std::string lines;
    {
      std::lock_guard lock(viewer->mutex);
      for (const auto& [mline, c] : viewer->candidates) lines += "a=" + c + "\r\n";
    }
    lines += "a=end-of-candidates\r\n";
    sdp += lines;
  }

  WhepAnswer result{session_id, sdp};
  viewers_[session_id] = std::move(viewer);
  {
    std::lock_guard lock(mutex_);
    ++viewer_count_;
    last_activity_ = Clock::now();
  }
  if (metrics_) metrics_->viewers.add(1);
  force_keyframe();
  wake_.notify_all();
  return result;
}

void LiveStream::remove_viewer(const std::string& session_id) {
  std::unique_ptr<Viewer> viewer;
  {
    std::lock_guard join_lock(viewers_mutex_);
    const auto it = viewers_.find(session_id);
    if (it == viewers_.end()) {
      throw Error(ErrorKind::not_found, kContext, "session", "no WHEP session '" + session_id + "' on this video");
    }
    viewer = std::move(it->second);
    viewers_.erase(it);
  }
  {
    std::lock_guard lock(mutex_);
    --viewer_count_;
    last_activity_ = Clock::now();
  }
  if (metrics_) metrics_->viewers.add(-1);
  // Unlink the branch when no buffer is passing, then take it down; the other branches go on.
  struct Unlink {
    std::mutex mutex;
    std::condition_variable done_cv;
    bool done = false;
  } unlink;
  gst_pad_add_probe(
      viewer->tee_pad, GST_PAD_PROBE_TYPE_IDLE,
      [](GstPad* pad, GstPadProbeInfo*, gpointer u) -> GstPadProbeReturn {
        auto* state = static_cast<Unlink*>(u);
        GstPad* peer = gst_pad_get_peer(pad);
        if (peer) {
          gst_pad_unlink(pad, peer);
          gst_object_unref(peer);
        }
        std::lock_guard lock(state->mutex);
        state->done = true;
        state->done_cv.notify_all();
        return GST_PAD_PROBE_REMOVE;
      },
      &unlink, nullptr);
  {
    std::unique_lock lock(unlink.mutex);
    unlink.done_cv.wait_for(lock, std::chrono::seconds(5), [&] { return unlink.done; });
    if (!unlink.done) log::warn("WHEP: session {} did not go idle; removing it anyway", session_id);
  }
  gst_element_set_state(viewer->bin, GST_STATE_NULL);
  gst_bin_remove(GST_BIN(pipeline_), viewer->bin);
  gst_element_release_request_pad(tee_, viewer->tee_pad);
  gst_object_unref(viewer->tee_pad);
}

}  // namespace ditstream::stream
