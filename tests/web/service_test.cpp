// The service end to end over HTTP on loopback: a job runs to completed, SSE delivers every step,
// the mp4 has the requested frames/size/fps, Range works, cancel works queued and running, a full
// queue answers 429, and a restart keeps the history.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

#include "tests/web/service_fixture.h"
#include "tests/web/service_helpers.h"

namespace ditstream::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

const std::map<std::string, std::string> kJson = {{"Content-Type", "application/json"}};

json submit(uint16_t port, const json& body, int expected = 202) { return submit_job(port, body, expected); }

TEST(Service, JobRunsToCompletedWithEveryStepOverSseAndAnMp4OfTheRequestedShape) {
  const auto dir = fresh_temp_dir();
  RunningService s(test_service_options(dir));
  const json job = submit(s.port(), {{"prompt", "a red fox"}, {"width", 64}, {"height", 48}, {"frames", 9}, {"steps", 5}, {"fps", 10}});
  EXPECT_EQ(job["status"], "queued");
  EXPECT_EQ(job["queue_position"], 0);
  const std::string id = job["id"];

  const auto events = read_events(s.port(), "/v1/videos/" + id + "/events",
                                  [](const SseEvent& e) { return e.name == "completed" || e.name == "failed"; }, 30s);
  std::vector<int> steps;
  int previews = 0, chunk_frames = 0;
  for (const auto& e : events) {
    if (e.name == "step") steps.push_back(json::parse(e.data)["step"]);
    if (e.name == "preview") ++previews;
    if (e.name == "chunk") chunk_frames += json::parse(e.data)["frames"].get<int>();
  }
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().name, "queued");
  EXPECT_EQ(events.back().name, "completed") << events.back().data;
  EXPECT_EQ(steps, (std::vector<int>{1, 2, 3, 4, 5}));
  EXPECT_EQ(previews, 5);
  EXPECT_EQ(chunk_frames, 9);

  const json done = get_job(s.port(), id);
  EXPECT_EQ(done["status"], "completed");
  EXPECT_EQ(done["progress"], 100);
  EXPECT_EQ(done["step"], 5);
  EXPECT_EQ(done["frames_done"], 9);
  EXPECT_EQ(done["text_path"], "synthetic");
  for (const char* t : {"queue_wait", "prepare", "first_preview", "first_final_frame", "end_to_end"}) {
    EXPECT_TRUE(done["timings"].contains(t)) << t << " missing in " << done.dump();
  }

  const auto content = http_request(s.port(), "GET", "/v1/videos/" + id + "/content");
  ASSERT_EQ(content.status, 200);
  EXPECT_EQ(content.header("content-type"), "video/mp4");
  const auto file = dir / "download.mp4";
  std::ofstream(file, std::ios::binary) << content.body;
  const json probe = json::parse(run_command(
      "ffprobe -v error -count_frames -select_streams v:0 -show_entries "
      "stream=width,height,r_frame_rate,nb_read_frames,codec_name -of json '" + file.string() + "'"));
  const auto& stream = probe["streams"][0];
  EXPECT_EQ(stream["codec_name"], "h264");
  EXPECT_EQ(stream["width"], 64);
  EXPECT_EQ(stream["height"], 48);
  EXPECT_EQ(stream["r_frame_rate"], "10/1");
  EXPECT_EQ(stream["nb_read_frames"], "9");

  const auto part = http_request(s.port(), "GET", "/v1/videos/" + id + "/content", "", {{"Range", "bytes=4-11"}});
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.body, content.body.substr(4, 8));
  EXPECT_EQ(part.header("content-range"), "bytes 4-11/" + std::to_string(content.body.size()));
  const auto tail = http_request(s.port(), "GET", "/v1/videos/" + id + "/content", "", {{"Range", "bytes=-5"}});
  EXPECT_EQ(tail.status, 206);
  EXPECT_EQ(tail.body, content.body.substr(content.body.size() - 5));
  const auto bad = http_request(s.port(), "GET", "/v1/videos/" + id + "/content", "", {{"Range", "bytes=999999-"}});
  EXPECT_EQ(bad.status, 416);

  const auto metrics = http_request(s.port(), "GET", "/metrics");
  EXPECT_NE(metrics.body.find("ditstream_step_seconds_count 5"), std::string::npos) << metrics.body;
  EXPECT_NE(metrics.body.find("ditstream_jobs_completed_total 1"), std::string::npos);

  const auto list = json::parse(http_request(s.port(), "GET", "/v1/videos?limit=10").body);
  EXPECT_EQ(list["total"], 1);
  EXPECT_EQ(list["data"][0]["id"], id);

  // Deleting a finished job removes it and its recording.
  EXPECT_EQ(http_request(s.port(), "DELETE", "/v1/videos/" + id).status, 200);
  EXPECT_EQ(http_request(s.port(), "GET", "/v1/videos/" + id).status, 404);
  EXPECT_FALSE(std::filesystem::exists(dir / "recordings" / (id + ".mp4")));
}

TEST(Service, CancelWhileQueuedAndWhileRunning) {
  const auto dir = fresh_temp_dir();
  RunningService s(test_service_options(dir), {std::chrono::milliseconds(200), std::chrono::milliseconds(20)});
  const std::string running = submit(s.port(), {{"prompt", "first"}, {"steps", 50}})["id"];
  wait_for_status(s.port(), running, "in_progress");
  const json queued_job = submit(s.port(), {{"prompt", "second"}, {"steps", 2}});
  const std::string queued = queued_job["id"];
  EXPECT_EQ(queued_job["queue_position"], 0);  // next to run

  const auto c1 = http_request(s.port(), "DELETE", "/v1/videos/" + queued);
  EXPECT_EQ(c1.status, 200);
  EXPECT_EQ(json::parse(c1.body)["status"], "canceled");

  EXPECT_EQ(http_request(s.port(), "DELETE", "/v1/videos/" + running).status, 200);
  const json canceled = wait_for_status(s.port(), running, "canceled", 10s);
  EXPECT_LT(canceled["step"].get<int>(), 50);
  EXPECT_FALSE(canceled.contains("content_url"));
  EXPECT_EQ(http_request(s.port(), "GET", "/v1/videos/" + running + "/content").status, 409);
}

TEST(Service, FullQueueAnswers429WithRetryAfter) {
  const auto dir = fresh_temp_dir();
  auto options = test_service_options(dir);
  options.queue_length = 2;
  RunningService s(options, {std::chrono::milliseconds(300), std::chrono::milliseconds(20)});
  const std::string first = submit(s.port(), {{"prompt", "runs"}, {"steps", 20}})["id"];
  wait_for_status(s.port(), first, "in_progress");
  submit(s.port(), {{"prompt", "waits 1"}});
  submit(s.port(), {{"prompt", "waits 2"}});
  const auto r = http_request(s.port(), "POST", "/v1/videos", R"({"prompt":"one too many"})", kJson);
  EXPECT_EQ(r.status, 429);
  EXPECT_FALSE(r.header("retry-after").empty());
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "too_many_requests");
}

TEST(Service, RestartKeepsHistoryAndFailsTheInterruptedJob) {
  const auto dir = fresh_temp_dir();
  std::string finished, interrupted;
  {
    RunningService s(test_service_options(dir), {std::chrono::milliseconds(100), std::chrono::milliseconds(10)});
    finished = submit(s.port(), {{"prompt", "kept"}, {"steps", 2}})["id"];
    wait_for_status(s.port(), finished, "completed");
    interrupted = submit(s.port(), {{"prompt", "interrupted"}, {"steps", 100}})["id"];
    wait_for_status(s.port(), interrupted, "in_progress");
  }  // the service stops with a job running
  RunningService again(test_service_options(dir));
  const auto list = json::parse(http_request(again.port(), "GET", "/v1/videos").body);
  ASSERT_EQ(list["total"], 2);
  EXPECT_EQ(list["data"][0]["id"], interrupted);
  EXPECT_EQ(list["data"][0]["status"], "failed");
  EXPECT_NE(list["data"][0]["error"]["message"].get<std::string>().find("interrupted"), std::string::npos);
  EXPECT_EQ(list["data"][1]["id"], finished);
  EXPECT_EQ(list["data"][1]["status"], "completed");
  EXPECT_EQ(http_request(again.port(), "GET", "/v1/videos/" + finished + "/content").status, 200);
  // Events of an old job: its outcome, then the stream ends.
  const auto events = read_events(again.port(), "/v1/videos/" + finished + "/events", [](const SseEvent&) { return false; }, 3s);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].name, "completed");
}

TEST(Service, ApiKeyGuardsMutatingRoutes) {
  const auto dir = fresh_temp_dir();
  auto options = test_service_options(dir);
  options.api_key = "s3cret-key";
  RunningService s(options);
  const std::string body = R"({"prompt":"guarded"})";
  EXPECT_EQ(http_request(s.port(), "POST", "/v1/videos", body, kJson).status, 401);
  EXPECT_EQ(http_request(s.port(), "POST", "/v1/videos", body, {{"Content-Type", "application/json"}, {"Authorization", "Bearer wrong"}}).status, 401);
  EXPECT_EQ(http_request(s.port(), "POST", "/v1/videos", body, {{"Content-Type", "application/json"}, {"Authorization", "Bearer s3cret-key"}}).status, 202);
  EXPECT_EQ(http_request(s.port(), "GET", "/v1/videos").status, 200);
}

TEST(Service, ServesTheUiWithoutTraversal) {
  const auto dir = fresh_temp_dir();
  RunningService s(test_service_options(dir));
  const auto index = http_request(s.port(), "GET", "/");
  EXPECT_EQ(index.status, 200);
  EXPECT_NE(index.header("content-type").find("text/html"), std::string::npos);
  EXPECT_EQ(http_request(s.port(), "GET", "/ui/chart.js").status, 200);
  EXPECT_EQ(http_request(s.port(), "GET", "/ui/..%2f..%2fCMakeCache.txt").status, 404);
  EXPECT_EQ(http_request(s.port(), "GET", "/ui/../../CMakeCache.txt").status, 404);
}

}  // namespace
}  // namespace ditstream::testing
