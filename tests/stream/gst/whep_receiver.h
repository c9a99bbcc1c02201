// A real WebRTC viewer for tests: GStreamer webrtcbin (receive only, ICE on 127.0.0.1 only) →
// H.264 depay → decoder (libav's, or OpenH264 where libav is absent) → appsink, recording every
// decoded frame's arrival time, size, mean colour, luma spread and overlay text, so a test can
// tell preview frames (blue, or "step i/N denoising"), real-VAE preview frames (green) and final
// frames (red, or "decoding"/"done" or no overlay) apart, and frames with the overlay from clean
// ones.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "stream/vulkan/overlay_reader.h"

typedef struct _GstElement GstElement;
typedef struct _GstPad GstPad;

namespace ditstream::testing {

struct DecodedFrame {
  std::chrono::steady_clock::time_point at;
  int width = 0;
  int height = 0;
  double y = 0, u = 0, v = 0;  // plane means
  int y_spread = 0;            // brightest minus darkest luma sample
  std::optional<stream::OverlayReading> overlay;  // the overlay's text line read back (read_overlay)
  bool is_preview() const { return u > 170; }
  bool is_final() const { return v > 170; }
  bool is_vae_preview() const { return u < 100 && v < 100; }  // green
  // Solid test colours stay within a few levels; the overlay's text and box span far more.
  bool has_overlay() const { return y_spread > 60; }
};

class WhepReceiver {
 public:
  // `decoder`: the H.264 decoder element; empty picks avdec_h264, else openh264dec.
  explicit WhepReceiver(const std::string& decoder = "");
  ~WhepReceiver();
  // The offer with every local candidate (non-trickle, as WHEP clients without trickle send it).
  std::string create_offer();
  void accept_answer(const std::string& sdp);
  std::vector<DecodedFrame> frames() const;
  // The H.264 decoder element in use.
  const std::string& decoder() const { return decoder_; }
  // Waits until `pred(frames)` holds or the timeout passes; returns whether it held.
  template <class Pred>
  bool wait_until(Pred pred, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return pred(frames_); });
  }

 private:
  static void on_pad_added(GstElement* webrtc, GstPad* pad, void* self);
  GstElement* pipeline_ = nullptr;
  GstElement* webrtc_ = nullptr;
  std::string decoder_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<DecodedFrame> frames_;
};

}  // namespace ditstream::testing
