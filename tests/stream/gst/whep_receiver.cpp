#include "tests/stream/gst/whep_receiver.h"

#include <gst/app/gstappsink.h>
#include <gst/gst.h>
#include <gst/sdp/sdp.h>
#define GST_USE_UNSTABLE_API
#include <gst/webrtc/webrtc.h>

#include <algorithm>
#include <stdexcept>
#include <thread>

#include "stream/vulkan/overlay_reader.h"
#include "stream/gst/gst_util.h"
#include "stream/gst/ice_config.h"
#include "stream/stream_info.h"

namespace ditstream::testing {
namespace {

GstStructure* wait_reply(GstPromise* p) {
  gst_promise_wait(p);
  return const_cast<GstStructure*>(gst_promise_get_reply(p));
}

}  // namespace

WhepReceiver::WhepReceiver(const std::string& decoder) {
  stream::init_streaming();
  for (const std::string& name : {decoder, std::string("avdec_h264"), std::string("openh264dec")}) {
    if (name.empty()) continue;
    if (GstElementFactory* f = gst_element_factory_find(name.c_str())) {
      gst_object_unref(f);
      decoder_ = name;
      break;
    }
    if (name == decoder) throw std::runtime_error("no GStreamer element " + decoder);
  }
  if (decoder_.empty()) throw std::runtime_error("no H.264 decoder: neither avdec_h264 (gst-libav) nor openh264dec");
  pipeline_ = gst_pipeline_new("whep-receiver");
  webrtc_ = gst_element_factory_make("webrtcbin", "recv");
  g_object_set(webrtc_, "bundle-policy", GST_WEBRTC_BUNDLE_POLICY_MAX_BUNDLE, "latency", 0, nullptr);
  gst_bin_add(GST_BIN(pipeline_), webrtc_);
  stream::IceConfig ice;
  ice.local_addresses = {"127.0.0.1"};
  stream::apply_ice_config(webrtc_, ice);
  g_signal_connect(webrtc_, "pad-added", G_CALLBACK(&WhepReceiver::on_pad_added), this);
  GstCaps* caps = gst_caps_from_string(
      "application/x-rtp,media=video,encoding-name=H264,payload=96,clock-rate=90000,"
      "packetization-mode=(string)1,profile-level-id=(string)42e01f");
  GstWebRTCRTPTransceiver* transceiver = nullptr;
  g_signal_emit_by_name(webrtc_, "add-transceiver", GST_WEBRTC_RTP_TRANSCEIVER_DIRECTION_RECVONLY, caps, &transceiver);
  gst_caps_unref(caps);
  if (transceiver) gst_object_unref(transceiver);
  gst_element_set_state(pipeline_, GST_STATE_PLAYING);
}

WhepReceiver::~WhepReceiver() {
  gst_element_set_state(pipeline_, GST_STATE_NULL);
  gst_object_unref(pipeline_);
}

void WhepReceiver::on_pad_added(GstElement*, GstPad* pad, void* self_ptr) {
  auto* self = static_cast<WhepReceiver*>(self_ptr);
  if (GST_PAD_DIRECTION(pad) != GST_PAD_SRC) return;
  GError* error = nullptr;
  // OpenH264 accepts only caps that name the profile, which the parser knows from the first SPS
  // but WebRTC's SDP does not carry: the service sends constrained baseline, said here up front.
  const std::string decoder = self->decoder_ == "openh264dec"
                                  ? "video/x-h264,profile=constrained-baseline ! openh264dec"
                                  : self->decoder_;
  const std::string description = "rtph264depay ! h264parse ! " + decoder +
                                  " ! videoconvert ! video/x-raw,format=I420 ! appsink name=sink emit-signals=true sync=false";
  GstElement* bin = gst_parse_bin_from_description(description.c_str(), TRUE, &error);
  if (error) {
    g_error_free(error);
    return;
  }
  GstElement* sink = gst_bin_get_by_name(GST_BIN(bin), "sink");
  GstFlowReturn (*on_sample)(GstElement*, gpointer) = +[](GstElement* appsink, gpointer s) -> GstFlowReturn {
                     auto* me = static_cast<WhepReceiver*>(s);
                     GstSample* sample = gst_app_sink_pull_sample(GST_APP_SINK(appsink));
                     if (!sample) return GST_FLOW_OK;
                     DecodedFrame f;
                     f.at = std::chrono::steady_clock::now();
                     const GstStructure* st = gst_caps_get_structure(gst_sample_get_caps(sample), 0);
                     gst_structure_get_int(st, "width", &f.width);
                     gst_structure_get_int(st, "height", &f.height);
                     GstMapInfo map;
                     GstBuffer* buffer = gst_sample_get_buffer(sample);
                     if (gst_buffer_map(buffer, &map, GST_MAP_READ)) {
                       const size_t ys = static_cast<size_t>(f.width * f.height);
                       const size_t cs = static_cast<size_t>((f.width / 2) * (f.height / 2));
                       if (map.size >= ys + 2 * cs) {
                         double sy = 0, su = 0, sv = 0;
                         uint8_t lo = 255, hi = 0;
                         for (size_t i = 0; i < ys; ++i) {
                           sy += map.data[i];
                           lo = std::min(lo, map.data[i]);
                           hi = std::max(hi, map.data[i]);
                         }
                         f.y_spread = hi - lo;
                         for (size_t i = 0; i < cs; ++i) {
                           su += map.data[ys + i];
                           sv += map.data[ys + cs + i];
                         }
                         f.y = sy / static_cast<double>(ys);
                         f.u = su / static_cast<double>(cs);
                         f.v = sv / static_cast<double>(cs);
                         f.overlay = stream::read_overlay({map.data, ys}, f.width, f.height);
                       }
                       gst_buffer_unmap(buffer, &map);
                     }
                     gst_sample_unref(sample);
                     std::lock_guard lock(me->mutex_);
                     me->frames_.push_back(f);
                     me->changed_.notify_all();
                     return GST_FLOW_OK;
                   };
  g_signal_connect(sink, "new-sample", G_CALLBACK(on_sample), self);
  gst_object_unref(sink);
  gst_bin_add(GST_BIN(self->pipeline_), bin);
  gst_element_sync_state_with_parent(bin);
  GstPad* sink_pad = gst_element_get_static_pad(bin, "sink");
  gst_pad_link(pad, sink_pad);
  gst_object_unref(sink_pad);
}

std::string WhepReceiver::create_offer() {
  GstPromise* p = gst_promise_new();
  g_signal_emit_by_name(webrtc_, "create-offer", nullptr, p);
  GstWebRTCSessionDescription* offer = nullptr;
  gst_structure_get(wait_reply(p), "offer", GST_TYPE_WEBRTC_SESSION_DESCRIPTION, &offer, nullptr);
  gst_promise_unref(p);
  if (!offer) throw std::runtime_error("webrtcbin made no offer");
  p = gst_promise_new();
  g_signal_emit_by_name(webrtc_, "set-local-description", offer, p);
  gst_promise_wait(p);
  gst_promise_unref(p);
  gst_webrtc_session_description_free(offer);
  for (int i = 0; i < 200; ++i) {
    GstWebRTCICEGatheringState state;
    g_object_get(webrtc_, "ice-gathering-state", &state, nullptr);
    if (state == GST_WEBRTC_ICE_GATHERING_STATE_COMPLETE) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return stream::local_sdp(webrtc_);
}

void WhepReceiver::accept_answer(const std::string& text) {
  GstSDPMessage* sdp = nullptr;
  gst_sdp_message_new_from_text(text.c_str(), &sdp);
  if (!sdp) throw std::runtime_error("answer is not SDP");
  GstWebRTCSessionDescription* answer = gst_webrtc_session_description_new(GST_WEBRTC_SDP_TYPE_ANSWER, sdp);
  GstPromise* p = gst_promise_new();
  g_signal_emit_by_name(webrtc_, "set-remote-description", answer, p);
  gst_promise_wait(p);
  gst_promise_unref(p);
  gst_webrtc_session_description_free(answer);
}

std::vector<DecodedFrame> WhepReceiver::frames() const {
  std::lock_guard lock(mutex_);
  return frames_;
}

}  // namespace ditstream::testing
