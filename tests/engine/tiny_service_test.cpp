// The service with the real HunyuanVideo engine on the tiny model: a job submitted over HTTP runs
// to completed, SSE carries every step, the recording has the requested frames, size and fps; two
// queued jobs with real-VAE previews overlap (the second denoises before the first's encoding
// ended) and both recordings are whole.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <set>

#include "core/engine/hunyuan_engine.h"
#include "tests/web/service_fixture.h"
#include "tests/web/service_helpers.h"

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

  const auto stream = probe_recording(port, id, dir);
  EXPECT_EQ(stream["width"], 48);
  EXPECT_EQ(stream["height"], 32);
  EXPECT_EQ(stream["r_frame_rate"], "6/1");
  EXPECT_EQ(stream["nb_read_frames"], "9");
  service.stop();
}

TEST(TinyModelService, QueuedJobsOverlapWithRealVaePreviewsAndBothRecordingsAreWhole) {
  const auto dir = fresh_temp_dir();
  engine::HunyuanEngine engine({tiny_model_dir(), "cpu", "float32"});
  web::Service service(test_service_options(dir), engine);
  service.start();
  const auto port = service.port();
  const json first = {{"prompt", "a tiny fox"}, {"width", 64}, {"height", 64}, {"frames", 33}, {"steps", 4}, {"fps", 8},
                      {"preview_vae_every", 2}};
  json second = first;
  second["prompt"] = "a tiny owl";
  second["frames"] = 9;
  second["steps"] = 12;
  const std::string a = submit_job(port, first)["id"];
  const std::string b = submit_job(port, second)["id"];
  const auto events = read_events(port, "/v1/videos/" + b + "/events",
                                  [](const SseEvent& e) { return e.name == "completed" || e.name == "failed"; }, 120s);
  ASSERT_FALSE(events.empty());
  ASSERT_EQ(events.back().name, "completed") << events.back().data;
  std::set<int> preview_steps;
  for (const auto& e : events) {
    if (e.name == "preview_chunk") preview_steps.insert(json::parse(e.data)["step"].get<int>());
  }
  // Every second step before the last: 2, 4, ..., 10. A newer preview supersedes an unfinished
  // one after its current chunk, which is still shown; only the last may be cut by the final decode.
  ASSERT_FALSE(preview_steps.empty());
  for (const int s : preview_steps) EXPECT_TRUE(s % 2 == 0 && s < 12) << s;

  const json ja = wait_for_status(port, a, "completed");
  const json jb = get_job(port, b);
  EXPECT_EQ(jb["preview_path"], "latent-rgb+vae");
  // b's text encoding and denoising started before a's final frames were all decoded and encoded.
  double a_end = 0, b_start = 1e300;
  for (const auto& s : ja["timeline"]) {
    if (s["lane"] == "host/stream" || s["lane"] == "cpu/finish") a_end = std::max(a_end, s["end"].get<double>());
  }
  for (const auto& s : jb["timeline"]) {
    if (s["lane"] == "cpu/denoise") b_start = std::min(b_start, s["start"].get<double>());
  }
  a_end += ja["created_at"].get<double>();
  b_start += jb["created_at"].get<double>();
  EXPECT_LT(b_start, a_end) << ja["timeline"].dump() << "\n" << jb["timeline"].dump();
  for (const auto& [id, frames] : {std::pair{a, 33}, std::pair{b, 9}}) {
    const auto stream = probe_recording(port, id, dir);
    EXPECT_EQ(stream["width"], 64) << id;
    EXPECT_EQ(stream["nb_read_frames"], std::to_string(frames)) << id;
  }
  service.stop();
}

}  // namespace
}  // namespace ditstream::testing
