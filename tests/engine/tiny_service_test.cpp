// The service with the real HunyuanVideo engine on the tiny model: a job submitted over HTTP runs
// to completed, SSE carries every step, the recording has the requested frames, size and fps.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "core/engine/hunyuan_engine.h"
#include "tests/web/service_fixture.h"

namespace ditstream::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

TEST(TinyModelService, JobOverHttpRunsToCompletedWithEveryStepAndTheRequestedMp4) {
  const auto dir = fresh_temp_dir();
  engine::HunyuanEngine engine({tiny_model_dir(), "cpu", "float32"});
  web::Service service(test_service_options(dir), engine);
  service.start();
  const auto port = service.port();
  const auto posted = http_request(port, "POST", "/v1/videos",
                                   R"({"prompt":"a tiny fox","width":48,"height":32,"frames":9,"steps":4,"fps":6,"cache_threshold":0.05})",
                                   {{"Content-Type", "application/json"}});
  ASSERT_EQ(posted.status, 202) << posted.body;
  const std::string id = json::parse(posted.body)["id"];
  const auto events = read_events(port, "/v1/videos/" + id + "/events",
                                  [](const SseEvent& e) { return e.name == "completed" || e.name == "failed"; }, 60s);
  ASSERT_FALSE(events.empty());
  ASSERT_EQ(events.back().name, "completed") << events.back().data;
  int steps = 0, previews = 0;
  for (const auto& e : events) {
    steps += e.name == "step";
    previews += e.name == "preview";
  }
  EXPECT_EQ(steps, 4);
  EXPECT_EQ(previews, 4);
  const auto job = json::parse(http_request(port, "GET", "/v1/videos/" + id).body);
  EXPECT_EQ(job["status"], "completed");
  EXPECT_EQ(job["text_path"], engine.paths().text_path);
  EXPECT_EQ(job["decode_path"], engine.paths().decode_path);
  EXPECT_EQ(job["computed_steps"].get<int>() + job["reused_steps"].get<int>(), 4);

  const auto content = http_request(port, "GET", "/v1/videos/" + id + "/content");
  ASSERT_EQ(content.status, 200);
  const auto file = dir / "tiny.mp4";
  std::ofstream(file, std::ios::binary) << content.body;
  FILE* p = popen(("ffprobe -v error -count_frames -select_streams v:0 -show_entries "
                   "stream=width,height,r_frame_rate,nb_read_frames -of json '" + file.string() + "'").c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  const auto stream = json::parse(out)["streams"][0];
  EXPECT_EQ(stream["width"], 48);
  EXPECT_EQ(stream["height"], 32);
  EXPECT_EQ(stream["r_frame_rate"], "6/1");
  EXPECT_EQ(stream["nb_read_frames"], "9");
  service.stop();
}

}  // namespace
}  // namespace ditstream::testing
