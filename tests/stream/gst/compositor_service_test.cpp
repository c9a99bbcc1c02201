// The service's frame path runs through the compositor: with Vulkan (lavapipe here) /healthz names
// the back-end and device, the live stream's previews and final frames carry the overlay while the
// loop and the recording do not, and the recording decodes (GStreamer) to the colours of the CPU
// reference, tagged BT.709 so a player converts them back right. The real binary, as a subprocess,
// falls back to the CPU path when asked or when no Vulkan driver is found, says why in /healthz and
// its log, and refuses to start when Vulkan was required but is missing.
#include <fcntl.h>
#include <gst/gst.h>
#include <gst/video/video.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <thread>

#include "stream/vulkan/cpu_conversions.h"
#include "tests/stream/gst/mp4_samples.h"
#include "tests/stream/gst/whep_receiver.h"
#include "tests/web/serve_process.h"
#include "tests/web/service_fixture.h"

namespace ditstream::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Decoded frames of an mp4, each plane packed without row padding.
struct DecodedVideo {
  int width = 0;
  int height = 0;
  std::vector<std::vector<uint8_t>> frames;
};

// The recording decoded and converted by GStreamer (videoconvert reads the stream's colorimetry).
DecodedVideo decode_mp4(const std::filesystem::path& file, const std::string& format) {
  DecodedVideo out;
  for_each_mp4_sample(file, "avdec_h264 ! videoconvert ! video/x-raw,format=" + format, [&](GstSample* sample) {
    GstVideoInfo info;
    gst_video_info_from_caps(&info, gst_sample_get_caps(sample));
    out.width = GST_VIDEO_INFO_WIDTH(&info);
    out.height = GST_VIDEO_INFO_HEIGHT(&info);
    GstVideoFrame frame;
    if (!gst_video_frame_map(&frame, &info, gst_sample_get_buffer(sample), GST_MAP_READ)) return;
    std::vector<uint8_t> packed;
    for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES(&frame); ++p) {
      const auto* data = static_cast<const uint8_t*>(GST_VIDEO_FRAME_PLANE_DATA(&frame, p));
      const int stride = GST_VIDEO_FRAME_PLANE_STRIDE(&frame, p);
      const int row = GST_VIDEO_FRAME_COMP_WIDTH(&frame, p) * GST_VIDEO_FRAME_COMP_PSTRIDE(&frame, p);
      for (int y = 0; y < GST_VIDEO_FRAME_COMP_HEIGHT(&frame, p); ++y) {
        packed.insert(packed.end(), data + y * stride, data + y * stride + row);
      }
    }
    out.frames.push_back(std::move(packed));
    gst_video_frame_unmap(&frame);
  });
  return out;
}

std::string ffprobe_colour(const std::filesystem::path& file) {
  FILE* p = popen(("ffprobe -v error -select_streams v:0 -show_entries stream=color_space,color_range,chroma_location "
                   "-of json '" +
                   file.string() + "'")
                      .c_str(),
                  "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

json get_json(uint16_t port, const std::string& target) { return json::parse(http_request(port, "GET", target).body); }

std::string submit(uint16_t port, const std::string& body) {
  const auto r = http_request(port, "POST", "/v1/videos", body, {{"Content-Type", "application/json"}});
  EXPECT_EQ(r.status, 202) << r.body;
  return json::parse(r.body)["id"];
}

bool wait_for_status(uint16_t port, const std::string& id, const std::string& status, std::chrono::seconds timeout) {
  const auto until = Clock::now() + timeout;
  while (Clock::now() < until) {
    if (get_json(port, "/v1/videos/" + id)["status"] == status) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

WhepReceiver* join(uint16_t port, const std::string& id, std::unique_ptr<WhepReceiver>& receiver) {
  receiver = std::make_unique<WhepReceiver>();
  const auto r = http_request(port, "POST", "/v1/videos/" + id + "/whep", receiver->create_offer(),
                              {{"Content-Type", "application/sdp"}});
  EXPECT_EQ(r.status, 201) << r.body;
  receiver->accept_answer(r.body);
  return receiver.get();
}

TEST(CompositorService, FramesGoThroughVulkanAndTheRecordingHasTheReferenceColours) {
  const auto dir = fresh_temp_dir();
  auto options = test_service_options(dir);
  stream::CompositorOptions vulkan;
  vulkan.backend = stream::BackendChoice::vulkan;
  const auto compositors = std::make_shared<stream::CompositorFactory>(vulkan);
  options.compositors = compositors;
  RunningService s(std::move(options), {std::chrono::milliseconds(150), std::chrono::milliseconds(100)});

  const json health = get_json(s.port(), "/healthz");
  EXPECT_EQ(health["status"], "ok");
  EXPECT_EQ(health["compositor"]["backend"], "vulkan") << health.dump();
  EXPECT_NE(health["compositor"]["device"].get<std::string>().find("llvmpipe"), std::string::npos) << health.dump();
  EXPECT_EQ(health["compositor"]["reason"].get<std::string>().rfind("requested", 0), 0u) << health.dump();
  EXPECT_EQ(health["compositor"]["cuda_interop"], false);
  // Sizes the encoder cannot take never reach the compositor.
  const auto odd = http_request(s.port(), "POST", "/v1/videos", R"({"prompt":"odd","width":65,"height":48})",
                                {{"Content-Type", "application/json"}});
  EXPECT_EQ(odd.status, 400);
  EXPECT_NE(odd.body.find("width: 65 is not a multiple of 16"), std::string::npos) << odd.body;

  const int steps = 6, frames = 9;
  const std::string id =
      submit(s.port(), R"({"prompt":"vulkan frames","width":64,"height":48,"steps":6,"frames":9,"fps":8})");
  std::unique_ptr<WhepReceiver> viewer;
  join(s.port(), id, viewer);
  // Previews (blue) and the first pass of the final frames (red) carry the overlay.
  ASSERT_TRUE(viewer->wait_until(
      [](const auto& f) {
        return std::count_if(f.begin(), f.end(), [](const DecodedFrame& d) { return d.is_final(); }) >= 3;
      },
      30s))
      << viewer->frames().size() << " frames";
  size_t previews = 0;
  for (const auto& f : viewer->frames()) {
    if (f.is_preview()) {
      ++previews;
      EXPECT_TRUE(f.has_overlay()) << "preview without the overlay, luma spread " << f.y_spread;
    }
  }
  EXPECT_GT(previews, 0u);
  size_t finals_with_overlay = 0;
  for (const auto& f : viewer->frames()) finals_with_overlay += f.is_final() && f.has_overlay();
  EXPECT_GT(finals_with_overlay, 0u) << "the decode overlay is missing from the live final frames";
  ASSERT_TRUE(wait_for_status(s.port(), id, "completed", 30s));

  // Every frame went through the Vulkan compositors, from host memory (the synthetic engine's).
  EXPECT_EQ(compositors->counters().host_frames, uint64_t(steps + 2 * frames));
  EXPECT_EQ(compositors->counters().device_frames, 0u);

  // After the first pass the clip loops as recorded: clean.
  std::this_thread::sleep_for(std::chrono::milliseconds(1000 * frames / 8 + 500));
  std::unique_ptr<WhepReceiver> late;
  join(s.port(), id, late);
  ASSERT_TRUE(late->wait_until([](const auto& f) { return f.size() >= 12; }, 20s));
  for (const auto& f : late->frames()) {
    EXPECT_TRUE(f.is_final());
    EXPECT_FALSE(f.has_overlay()) << "loop frame with the overlay, luma spread " << f.y_spread;
  }

  // The recording: clean frames of the CPU reference's colours, BT.709 limited range in the VUI.
  const auto content = http_request(s.port(), "GET", "/v1/videos/" + id + "/content");
  ASSERT_EQ(content.status, 200);
  const auto file = dir / "vulkan.mp4";
  std::ofstream(file, std::ios::binary) << content.body;
  const json colour = json::parse(ffprobe_colour(file))["streams"][0];
  EXPECT_EQ(colour["color_space"], "bt709") << colour.dump();
  EXPECT_EQ(colour["color_range"], "tv") << colour.dump();
  EXPECT_EQ(colour["chroma_location"], "left") << colour.dump();

  const auto red = SyntheticEngine::solid(64, 48, 200, 0, 0);
  std::vector<uint8_t> reference(stream::I420Frame::size_bytes(64, 48));
  stream::cpu::rgb_to_i420(red->rgb.data(), {stream::SampleType::u8, stream::PixelLayout::interleaved}, 64, 48,
                           reference.data());
  const auto i420 = decode_mp4(file, "I420");
  ASSERT_EQ(i420.frames.size(), size_t(frames));
  ASSERT_EQ(i420.width, 64);
  for (const auto& f : i420.frames) {
    ASSERT_EQ(f.size(), reference.size());
    int worst = 0;
    for (size_t i = 0; i < f.size(); ++i) worst = std::max(worst, std::abs(int(f[i]) - int(reference[i])));
    EXPECT_LE(worst, 3) << "a recorded frame differs from the CPU reference (an overlay would differ by >50)";
  }
  // Converted back to RGB by GStreamer from what the stream says it is: the engine's colour again.
  const auto rgb = decode_mp4(file, "RGB");
  ASSERT_EQ(rgb.frames.size(), size_t(frames));
  for (const auto& f : rgb.frames) {
    int worst = 0;
    for (size_t i = 0; i < f.size(); ++i) worst = std::max(worst, std::abs(int(f[i]) - int(red->rgb[i])));
    EXPECT_LE(worst, 6) << "decoded RGB is off: the colour matrix in the stream does not match the conversion";
  }
}


TEST(CompositorService, CpuChoiceAndMissingVulkanFallBackAndSaySo) {
  const auto dir = fresh_temp_dir();
  {
    ServeProcess serve(DITSTREAM_BINARY, dir / "cpu", {"--compositor", "cpu"}, false);
    ASSERT_NE(serve.port(), 0) << serve.log();
    const json c = get_json(serve.port(), "/healthz")["compositor"];
    EXPECT_EQ(c["backend"], "cpu") << c.dump();
    EXPECT_EQ(c["device"], "host");
    EXPECT_EQ(c["reason"], "requested");
    EXPECT_NE(serve.log().find("compositor: CPU back-end (requested)"), std::string::npos) << serve.log();
  }
  {
    // No Vulkan driver and the automatic choice: the CPU path, and the reason in /healthz and the log.
    ServeProcess serve(DITSTREAM_BINARY, dir / "auto", {}, true);
    ASSERT_NE(serve.port(), 0) << serve.log();
    const json c = get_json(serve.port(), "/healthz")["compositor"];
    EXPECT_EQ(c["backend"], "cpu") << c.dump();
    EXPECT_NE(c["reason"].get<std::string>().find("Vulkan is not usable"), std::string::npos) << c.dump();
    EXPECT_NE(c["reason"].get<std::string>().find("VK_DRIVER_FILES"), std::string::npos) << c.dump();
    EXPECT_NE(serve.log().find("converting frames on the CPU"), std::string::npos) << serve.log();
    // A job still streams and records, through the CPU back-end.
    const std::string id =
        submit(serve.port(), R"({"prompt":"cpu path","width":32,"height":32,"steps":2,"frames":5,"fps":8})");
    ASSERT_TRUE(wait_for_status(serve.port(), id, "completed", 60s)) << serve.log();
    EXPECT_EQ(http_request(serve.port(), "GET", "/v1/videos/" + id + "/content").status, 200);
  }
  {
    // Vulkan required and missing: no service, a clear start-up error.
    ServeProcess serve(DITSTREAM_BINARY, dir / "required", {"--compositor", "vulkan"}, true);
    EXPECT_EQ(serve.port(), 0);
    EXPECT_EQ(serve.exit_code(), 2) << serve.log();
    EXPECT_NE(serve.log().find("Vulkan was required but is not usable"), std::string::npos) << serve.log();
  }
  {
    ServeProcess serve(DITSTREAM_BINARY, dir / "bad", {"--compositor", "gpu"}, false);
    EXPECT_EQ(serve.port(), 0);
    EXPECT_EQ(serve.exit_code(), 2) << serve.log();
    EXPECT_NE(serve.log().find("--compositor: is 'gpu'; must be one of auto, vulkan, cpu"), std::string::npos)
        << serve.log();
  }
}

}  // namespace
}  // namespace ditstream::testing
