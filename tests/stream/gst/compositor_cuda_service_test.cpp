// GPU machine: a job of the tiny model on a CUDA engine runs through the CUDA→Vulkan interop. Its
// previews (x0 latents) and final frames (VAE output) stay device tensors, CUDA writes them into the
// compositors' shared buffers and Vulkan converts them: no frame is copied to the host before
// conversion (the compositors' host-frame counter stays 0, every frame counts as a device frame).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <thread>

#include "core/engine/hunyuan_engine.h"
#include "stream/vulkan/cuda_frame_input.h"
#include "tests/stream/gst/mp4_samples.h"
#include "tests/web/service_fixture.h"

namespace ditstream::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// H.264 samples in an mp4 (demuxed, not decoded: the GPU machine carries no software decoder).
int mp4_frames(const std::filesystem::path& file) {
  int n = 0;
  for_each_mp4_sample(file, "", [&](GstSample*) { ++n; });
  return n;
}

TEST(CudaFramePath, TinyJobOnACudaEngineTakesNoHostCopyBeforeConversion) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device: the interop path runs on the GPU machine";
  const auto dir = fresh_temp_dir();
  engine::HunyuanEngine engine({tiny_model_dir(), "cuda", "float32"});
  stream::CompositorOptions vulkan;
  vulkan.backend = stream::BackendChoice::vulkan;
  const auto compositors =
      std::make_shared<stream::CompositorFactory>(vulkan, std::make_shared<stream::CudaInterop>(0));
  auto options = test_service_options(dir);
  options.compositors = compositors;
  web::Service service(std::move(options), engine);
  service.start();
  const auto port = service.port();

  const json health = json::parse(http_request(port, "GET", "/healthz").body);
  std::printf("compositor: %s\n", health["compositor"].dump().c_str());
  ASSERT_EQ(health["compositor"]["backend"], "vulkan") << health.dump();
  ASSERT_EQ(health["compositor"]["cuda_interop"], true) << health.dump();

  const int steps = 4, frames = 9;
  const auto posted =
      http_request(port, "POST", "/v1/videos",
                   R"({"prompt":"a tiny fox on the GPU","width":64,"height":48,"frames":9,"steps":4,"fps":8})",
                   {{"Content-Type", "application/json"}});
  ASSERT_EQ(posted.status, 202) << posted.body;
  const std::string id = json::parse(posted.body)["id"];
  json job;
  for (int i = 0; i < 1200; ++i) {
    job = json::parse(http_request(port, "GET", "/v1/videos/" + id).body);
    if (job["status"] == "completed" || job["status"] == "failed") break;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_EQ(job["status"], "completed") << job.dump();

  const auto& counters = compositors->counters();
  std::printf("frames from the host: %llu, written on the device: %llu\n",
              static_cast<unsigned long long>(counters.host_frames.load()),
              static_cast<unsigned long long>(counters.device_frames.load()));
  EXPECT_EQ(counters.host_frames, 0u) << "a frame was copied to the host before conversion";
  // Every preview once, every final frame twice (the live stream's with the overlay, the recording's).
  EXPECT_EQ(counters.device_frames, uint64_t(steps + 2 * frames));

  const auto content = http_request(port, "GET", "/v1/videos/" + id + "/content");
  ASSERT_EQ(content.status, 200);
  const auto file = dir / "cuda.mp4";
  std::ofstream(file, std::ios::binary) << content.body;
  EXPECT_EQ(mp4_frames(file), frames);
  service.stop();
}

}  // namespace
}  // namespace ditstream::testing
