// Real WebRTC viewers over WHEP against the running service (loopback only): frames decode in the
// preview phase and the final phase, two viewers at once, one leaving does not disturb the other,
// a late joiner after completion gets the looping clip from a keyframe, real-VAE preview frames
// replace the cheap previews once they come.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <regex>
#include <sstream>
#include <thread>

#include "tests/stream/gst/whep_receiver.h"
#include "tests/web/service_fixture.h"

namespace ditstream::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

struct Viewer {
  std::unique_ptr<WhepReceiver> receiver = std::make_unique<WhepReceiver>();
  std::string location;
};

Viewer join(uint16_t port, const std::string& id) {
  Viewer v;
  const auto offer = v.receiver->create_offer();
  const auto r = http_request(port, "POST", "/v1/videos/" + id + "/whep", offer, {{"Content-Type", "application/sdp"}});
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.header("content-type"), "application/sdp");
  v.location = r.header("location");
  EXPECT_EQ(v.location.rfind("/v1/videos/" + id + "/whep/", 0), 0u) << v.location;
  // Every candidate in the answer is a loopback host candidate.
  std::istringstream lines(r.body);
  std::string line;
  int candidates = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("a=candidate:", 0) != 0) continue;
    ++candidates;
    EXPECT_NE(line.find(" 127.0.0.1 "), std::string::npos) << line;
    EXPECT_NE(line.find(" typ host"), std::string::npos) << line;
  }
  EXPECT_GT(candidates, 0) << r.body;
  v.receiver->accept_answer(r.body);
  return v;
}

json job_status(uint16_t port, const std::string& id) { return json::parse(http_request(port, "GET", "/v1/videos/" + id).body); }

size_t count_if(const std::vector<DecodedFrame>& frames, bool (DecodedFrame::*pred)() const) {
  size_t n = 0;
  for (const auto& f : frames) n += (f.*pred)() ? 1 : 0;
  return n;
}

// OpenH264 (Firefox's WebRTC decoder) rejects parameter sets between the slices of one picture;
// x264's sliced threads give several slices per picture on any multi-core machine.
TEST(Whep, OpenH264ViewerDecodesTheMultiSliceStream) {
  const auto dir = fresh_temp_dir();
  RunningService s(test_service_options(dir), {std::chrono::milliseconds(250), std::chrono::milliseconds(150)});
  const auto submitted = http_request(s.port(), "POST", "/v1/videos",
                                      R"({"prompt":"openh264","width":256,"height":256,"steps":40,"frames":9,"fps":10})",
                                      {{"Content-Type", "application/json"}});
  ASSERT_EQ(submitted.status, 202);
  const std::string id = json::parse(submitted.body)["id"];
  Viewer v;
  v.receiver = std::make_unique<WhepReceiver>("openh264dec");
  const auto r = http_request(s.port(), "POST", "/v1/videos/" + id + "/whep", v.receiver->create_offer(),
                              {{"Content-Type", "application/sdp"}});
  ASSERT_EQ(r.status, 201) << r.body;
  v.receiver->accept_answer(r.body);
  EXPECT_TRUE(v.receiver->wait_until([](const auto& f) { return count_if(f, &DecodedFrame::is_preview) >= 3; }, 15s))
      << v.receiver->frames().size() << " frames decoded";
}

TEST(Whep, ViewersDecodePreviewAndFinalFramesAndOneLeavingDoesNotDisturbTheOther) {
  const auto dir = fresh_temp_dir();
  RunningService s(test_service_options(dir), {std::chrono::milliseconds(250), std::chrono::milliseconds(150)});
  const auto submitted = http_request(s.port(), "POST", "/v1/videos",
                                      R"({"prompt":"two viewers","width":64,"height":64,"steps":48,"frames":21,"fps":10})",
                                      {{"Content-Type", "application/json"}});
  ASSERT_EQ(submitted.status, 202);
  const std::string id = json::parse(submitted.body)["id"];

  Viewer a = join(s.port(), id);
  Viewer b = join(s.port(), id);
  // Both decode preview frames (blue, with the step label) while the job denoises.
  ASSERT_TRUE(a.receiver->wait_until([](const auto& f) { return count_if(f, &DecodedFrame::is_preview) >= 3; }, 15s))
      << a.receiver->frames().size() << " frames at A";
  ASSERT_TRUE(b.receiver->wait_until([](const auto& f) { return count_if(f, &DecodedFrame::is_preview) >= 3; }, 15s))
      << b.receiver->frames().size() << " frames at B";
  EXPECT_EQ(job_status(s.port(), id)["status"], "in_progress");
  const auto metrics = http_request(s.port(), "GET", "/metrics").body;
  EXPECT_NE(metrics.find("ditstream_viewers 2"), std::string::npos);

  // B leaves mid-stream; A keeps receiving, through the final phase.
  EXPECT_EQ(http_request(s.port(), "DELETE", b.location).status, 200);
  EXPECT_EQ(http_request(s.port(), "DELETE", b.location).status, 404);
  const size_t a_at_leave = a.receiver->frames().size();
  const size_t b_at_leave = b.receiver->frames().size();
  ASSERT_TRUE(a.receiver->wait_until([](const auto& f) { return count_if(f, &DecodedFrame::is_final) >= 5; }, 30s))
      << "A stopped receiving after B left: " << a.receiver->frames().size() << " frames";
  EXPECT_GT(a.receiver->frames().size(), a_at_leave + 5);
  EXPECT_LE(b.receiver->frames().size(), b_at_leave + 3);  // what was in flight, nothing more
  for (const auto& f : a.receiver->frames()) {
    EXPECT_EQ(f.width, 64);
    EXPECT_EQ(f.height, 64);
  }
  // Preview frames come before final frames.
  const auto frames = a.receiver->frames();
  size_t last_preview = 0, first_final = frames.size();
  for (size_t i = 0; i < frames.size(); ++i) {
    if (frames[i].is_preview()) last_preview = i;
    if (frames[i].is_final() && first_final == frames.size()) first_final = i;
  }
  EXPECT_LT(last_preview, first_final);
  const auto encode = http_request(s.port(), "GET", "/metrics").body;
  const auto at = encode.find("ditstream_encode_frame_seconds_count ");
  ASSERT_NE(at, std::string::npos);
  EXPECT_GT(std::stoi(encode.substr(at + 37)), 10) << "frames encoded for viewers are timed";

  // A viewer joining after completion gets the clip on a loop, decodable from its first frame.
  for (int i = 0; i < 200 && job_status(s.port(), id)["status"] != "completed"; ++i) std::this_thread::sleep_for(50ms);
  ASSERT_EQ(job_status(s.port(), id)["status"], "completed");
  Viewer late = join(s.port(), id);
  ASSERT_TRUE(late.receiver->wait_until([](const auto& f) { return count_if(f, &DecodedFrame::is_final) >= 25; }, 20s))
      << late.receiver->frames().size() << " frames at the late viewer";
  EXPECT_EQ(count_if(late.receiver->frames(), &DecodedFrame::is_preview), 0u);
  EXPECT_EQ(http_request(s.port(), "DELETE", late.location).status, 200);
  EXPECT_EQ(http_request(s.port(), "DELETE", a.location).status, 200);
}

TEST(Whep, RealVaePreviewFramesReplaceTheCheapPreviewsInTheStream) {
  const auto dir = fresh_temp_dir();
  SyntheticEngineOptions options;
  options.step_time = std::chrono::milliseconds(200);
  options.chunk_time = std::chrono::milliseconds(100);
  options.preview_chunk_time = std::chrono::milliseconds(30);
  RunningService s(test_service_options(dir), options);
  const auto submitted = http_request(s.port(), "POST", "/v1/videos",
                                      R"({"prompt":"vae previews","width":64,"height":64,"steps":16,"frames":9,"fps":10,"preview_vae_every":4})",
                                      {{"Content-Type", "application/json"}});
  ASSERT_EQ(submitted.status, 202) << submitted.body;
  const std::string id = json::parse(submitted.body)["id"];
  Viewer v = join(s.port(), id);
  // Cheap previews (blue) first, then from step 4 on the real-VAE previews (green), then the
  // final frames (red).
  ASSERT_TRUE(v.receiver->wait_until([](const auto& f) { return count_if(f, &DecodedFrame::is_final) >= 5; }, 30s))
      << v.receiver->frames().size() << " frames";
  const auto frames = v.receiver->frames();
  size_t first_vae = frames.size(), last_vae = 0, first_final = frames.size(), blue_after_vae = 0;
  for (size_t i = 0; i < frames.size(); ++i) {
    if (frames[i].is_vae_preview()) {
      first_vae = std::min(first_vae, i);
      last_vae = i;
    }
    if (frames[i].is_final() && first_final == frames.size()) first_final = i;
    if (frames[i].is_preview() && i > first_vae) ++blue_after_vae;
  }
  ASSERT_LT(first_vae, frames.size()) << "no real-VAE preview frame reached the viewer";
  EXPECT_GE(count_if(frames, &DecodedFrame::is_vae_preview), 5u);
  EXPECT_LT(last_vae, first_final);
  // Only a cheap preview converted while the first real-VAE one arrived may still follow it.
  EXPECT_LE(blue_after_vae, 2u);
  EXPECT_EQ(http_request(s.port(), "DELETE", v.location).status, 200);
}

TEST(Whep, CorsPreflightAnswersAsTheDraftAsks) {
  const auto dir = fresh_temp_dir();
  RunningService s(test_service_options(dir));
  const auto r = http_request(s.port(), "OPTIONS", "/v1/videos/video_0123456789abcdef/whep");
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.header("accept-post"), "application/sdp");
  EXPECT_EQ(r.header("access-control-allow-origin"), "*");
  EXPECT_NE(r.header("access-control-allow-methods").find("POST"), std::string::npos);
  EXPECT_NE(r.header("access-control-expose-headers").find("Location"), std::string::npos);
}

}  // namespace
}  // namespace ditstream::testing
