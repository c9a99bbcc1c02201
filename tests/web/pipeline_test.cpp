// Jobs pipelined by the queue and real-VAE previews, over HTTP with the synthetic engine: the second
// job denoises while the first finishes (read from the jobs' timelines) and both recordings are
// whole; cancelling either job during the overlap cancels that one alone; a memory budget too small
// for the overlap runs them one after the other and says so; an out-of-memory failure fails its
// job alone; real-VAE previews come at the requested interval in the SSE events; timelines survive
// a restart.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>

#include "tests/web/service_fixture.h"
#include "tests/web/service_helpers.h"

namespace ditstream::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// A job's timeline spans whose `what` starts with `prefix`, in unix seconds.
std::vector<engine::Span> spans(const json& job, const std::string& prefix = "") {
  std::vector<engine::Span> out;
  const double created = job["created_at"];
  for (const auto& s : job["timeline"]) {
    const std::string what = s["what"];
    if (what.rfind(prefix, 0) != 0) continue;
    out.push_back({what, s["lane"], created + s["start"].get<double>(), created + s["end"].get<double>()});
  }
  return out;
}

double first_start(const std::vector<engine::Span>& s) {
  double t = std::numeric_limits<double>::infinity();
  for (const auto& x : s) t = std::min(t, x.start);
  return t;
}

double last_end(const std::vector<engine::Span>& s) {
  double t = -std::numeric_limits<double>::infinity();
  for (const auto& x : s) t = std::max(t, x.end);
  return t;
}

// Slow final chunks, quick steps: a job finishes far longer than the next one needs to start.
SyntheticEngineOptions slow_finish() {
  SyntheticEngineOptions o;
  o.step_time = 20ms;
  o.chunk_time = 150ms;
  return o;
}

void expect_whole_recording(uint16_t port, const std::string& id, const std::filesystem::path& dir, int frames) {
  const json stream = probe_recording(port, id, dir);
  EXPECT_EQ(stream["width"], 64) << id;
  EXPECT_EQ(stream["height"], 48) << id;
  EXPECT_EQ(stream["nb_read_frames"], std::to_string(frames)) << id;
}

TEST(Pipeline, SecondJobDenoisesWhileTheFirstFinishesAndBothRecordingsAreWhole) {
  const auto dir = fresh_temp_dir();
  RunningService s(test_service_options(dir), slow_finish());
  const json request = {{"prompt", "first"}, {"width", 64}, {"height", 48}, {"frames", 9}, {"steps", 4}};
  const std::string a = submit_job(s.port(), request)["id"];
  json second = request;
  second["prompt"] = "second";
  const json queued = submit_job(s.port(), second);
  const std::string b = queued["id"];
  EXPECT_EQ(queued["queue_position"], 0);  // next to run: positions still count waiting jobs only

  const json ja = wait_for_status(s.port(), a, "completed");
  const json jb = wait_for_status(s.port(), b, "completed");
  // b's denoising started before a's final decode and encoding ended: the stages overlapped.
  const auto a_finish = spans(ja, "encode");
  ASSERT_FALSE(a_finish.empty()) << ja.dump();
  const auto b_steps = spans(jb, "step");
  ASSERT_EQ(b_steps.size(), 4u) << jb.dump();
  EXPECT_LT(first_start(b_steps), last_end(a_finish));
  EXPECT_LT(first_start(b_steps), last_end(spans(ja, "decode")));
  EXPECT_GT(engine::overlap_seconds(spans(ja, "decode"), b_steps), 0.0);
  // Lanes name where each part ran; the stream side's work is on the host.
  EXPECT_EQ(spans(ja, "decode").front().lane, "synthetic/finish");
  EXPECT_EQ(b_steps.front().lane, "synthetic/denoise");
  EXPECT_EQ(a_finish.front().lane, "host/stream");
  EXPECT_EQ(spans(ja, "finalize").size(), 1u);
  for (const auto& [id, job] : {std::pair{a, ja}, std::pair{b, jb}}) {
    EXPECT_EQ(job["frames_done"], 9) << id;
    EXPECT_TRUE(job["timings"].contains("denoise_stage")) << job.dump();
    EXPECT_TRUE(job["timings"].contains("finish_stage")) << job.dump();
    expect_whole_recording(s.port(), id, dir, 9);
  }

  // The store keeps the timeline: a restarted service shows the same spans.
  s.service.reset();
  RunningService again(test_service_options(dir));
  const json stored = get_job(again.port(), a);
  EXPECT_EQ(stored["timeline"].size(), ja["timeline"].size());
  EXPECT_EQ(stored["timeline"], ja["timeline"]);
}

// Both jobs are in flight: `finishing` emits final frames while `denoising` runs its steps.
void wait_for_overlap(uint16_t port, const std::string& finishing, const std::string& denoising) {
  wait_for_job(port, finishing, [](const json& j) { return j["frames_done"].get<int>() >= 1; }, "its first final frame");
  wait_for_job(port, denoising, [](const json& j) { return j["step"].get<int>() >= 1; }, "its first step");
  ASSERT_EQ(get_job(port, finishing)["status"], "in_progress");
}

TEST(Pipeline, CancellingTheFinishingJobDuringTheOverlapLeavesTheOtherWhole) {
  const auto dir = fresh_temp_dir();
  auto options = slow_finish();
  options.step_time = 60ms;
  RunningService s(test_service_options(dir), options);
  const std::string a = submit_job(s.port(), {{"prompt", "finishing"}, {"width", 64}, {"height", 48}, {"frames", 17}, {"steps", 2}})["id"];
  const std::string b = submit_job(s.port(), {{"prompt", "denoising"}, {"width", 64}, {"height", 48}, {"frames", 9}, {"steps", 12}})["id"];
  wait_for_overlap(s.port(), a, b);
  const auto r = http_request(s.port(), "DELETE", "/v1/videos/" + a);
  EXPECT_EQ(r.status, 200) << r.body;
  const json ja = wait_for_status(s.port(), a, "canceled");
  EXPECT_LT(ja["frames_done"].get<int>(), 17);
  EXPECT_FALSE(ja.contains("content_url"));
  const json jb = wait_for_status(s.port(), b, "completed");
  EXPECT_EQ(jb["step"], 12);
  expect_whole_recording(s.port(), b, dir, 9);
}

TEST(Pipeline, CancellingTheDenoisingJobDuringTheOverlapLeavesTheOtherWhole) {
  const auto dir = fresh_temp_dir();
  auto options = slow_finish();
  options.step_time = 60ms;
  RunningService s(test_service_options(dir), options);
  const std::string a = submit_job(s.port(), {{"prompt", "finishing"}, {"width", 64}, {"height", 48}, {"frames", 13}, {"steps", 2}})["id"];
  const std::string b = submit_job(s.port(), {{"prompt", "denoising"}, {"width", 64}, {"height", 48}, {"frames", 9}, {"steps", 40}})["id"];
  const std::string c = submit_job(s.port(), {{"prompt", "after"}, {"width", 64}, {"height", 48}, {"frames", 5}, {"steps", 2}})["id"];
  wait_for_overlap(s.port(), a, b);
  EXPECT_EQ(get_job(s.port(), c)["queue_position"], 0);
  EXPECT_EQ(http_request(s.port(), "DELETE", "/v1/videos/" + b).status, 200);
  const json jb = wait_for_status(s.port(), b, "canceled");
  EXPECT_LT(jb["step"].get<int>(), 40);
  const json ja = wait_for_status(s.port(), a, "completed");
  EXPECT_EQ(ja["frames_done"], 13);
  expect_whole_recording(s.port(), a, dir, 13);
  // The queue goes on in order.
  wait_for_status(s.port(), c, "completed");
  expect_whole_recording(s.port(), c, dir, 5);
}

TEST(Pipeline, ABudgetTooSmallForBothStagesRunsJobsOneAfterTheOtherAndSaysSo) {
  const auto dir = fresh_temp_dir();
  auto options = slow_finish();
  options.stage_memory = {3LL << 30, 3LL << 30};
  options.memory_budget = 5LL << 30;
  RunningService s(test_service_options(dir), options);
  const json request = {{"prompt", "one"}, {"width", 64}, {"height", 48}, {"frames", 9}, {"steps", 3}};
  const std::string a = submit_job(s.port(), request)["id"];
  const std::string b = submit_job(s.port(), request)["id"];
  const json ja = wait_for_status(s.port(), a, "completed");
  const json jb = wait_for_status(s.port(), b, "completed");
  EXPECT_GE(first_start(spans(jb, "step")), last_end(spans(ja, "finalize")));
  ASSERT_TRUE(jb.contains("notes")) << jb.dump();
  const std::string notes = jb["notes"];
  EXPECT_NE(notes.find("memory budget is 5.00 GiB"), std::string::npos) << notes;
  EXPECT_NE(notes.find(a), std::string::npos) << notes;
  EXPECT_FALSE(ja.contains("notes")) << ja.dump();
  expect_whole_recording(s.port(), b, dir, 9);
}

TEST(Pipeline, WithoutPipeliningAJobStartsOnlyWhenThePreviousFinished) {
  // Turned off in the service, or an engine whose stages cannot interleave (several ranks).
  for (const bool engine_overlaps : {true, false}) {
    const auto dir = fresh_temp_dir();
    auto service_options = test_service_options(dir);
    service_options.pipeline_jobs = !engine_overlaps;
    auto engine_options = slow_finish();
    engine_options.overlaps_stages = engine_overlaps;
    RunningService s(service_options, engine_options);
    const json request = {{"prompt", "one"}, {"width", 64}, {"height", 48}, {"frames", 5}, {"steps", 2}};
    const std::string a = submit_job(s.port(), request)["id"];
    const std::string b = submit_job(s.port(), request)["id"];
    const json ja = wait_for_status(s.port(), a, "completed");
    const json jb = wait_for_status(s.port(), b, "completed");
    EXPECT_GE(first_start(spans(jb, "step")), last_end(spans(ja, "finalize"))) << engine_overlaps;
  }
}

TEST(Pipeline, AnOutOfMemoryFailureFailsThatJobAlone) {
  const auto dir = fresh_temp_dir();
  RunningService s(test_service_options(dir), slow_finish());
  const json small = {{"width", 64}, {"height", 48}, {"frames", 9}, {"steps", 4}};
  auto with_prompt = [&](const std::string& prompt) {
    json j = small;
    j["prompt"] = prompt;
    return j;
  };
  // While finishing, with the next job denoising beside it; then while denoising.
  const std::string a = submit_job(s.port(), with_prompt(std::string("fails late ") + kOutOfMemoryWhileFinishing))["id"];
  const std::string b = submit_job(s.port(), with_prompt("goes on"))["id"];
  const std::string c = submit_job(s.port(), with_prompt(std::string("fails early ") + kOutOfMemoryWhileDenoising))["id"];
  const std::string d = submit_job(s.port(), with_prompt("goes on too"))["id"];
  for (const auto& id : {a, c}) {
    const json failed = wait_for_status(s.port(), id, "failed");
    EXPECT_NE(failed["error"]["message"].get<std::string>().find("out of memory"), std::string::npos) << failed.dump();
  }
  for (const auto& id : {b, d}) {
    wait_for_status(s.port(), id, "completed");
    expect_whole_recording(s.port(), id, dir, 9);
  }
  EXPECT_EQ(http_request(s.port(), "GET", "/v1/videos/" + a + "/content").status, 409);
}

TEST(Pipeline, RealVaePreviewsComeAtTheRequestedIntervalInTheEvents) {
  const auto dir = fresh_temp_dir();
  RunningService s(test_service_options(dir));
  const std::string id =
      submit_job(s.port(), {{"prompt", "previews"}, {"width", 64}, {"height", 48}, {"frames", 9}, {"steps", 7}, {"preview_vae_every", 3}})["id"];
  const auto events = read_events(s.port(), "/v1/videos/" + id + "/events",
                                  [](const SseEvent& e) { return e.name == "completed" || e.name == "failed"; }, 30s);
  ASSERT_FALSE(events.empty());
  ASSERT_EQ(events.back().name, "completed") << events.back().data;
  std::map<int, int> frames_per_step;  // real-VAE preview step → frames shown
  int last_step = 0, plans = 0;
  for (const auto& e : events) {
    const json d = json::parse(e.data);
    if (e.name == "step") last_step = d["step"];
    if (e.name == "preview_plan") {
      ++plans;
      EXPECT_EQ(d["path"], "latent-rgb+vae");
      EXPECT_EQ(d["vae_every"], 3);
    }
    if (e.name != "preview_chunk") continue;
    const int step = d["step"];
    EXPECT_EQ(d["steps"], 7);
    EXPECT_GE(last_step, step) << "a preview of step " << step << " before that step ended";
    EXPECT_EQ(d["first_frame"], frames_per_step[step]) << "chunks of one preview come in order";
    EXPECT_GE(d["age_seconds"].get<double>(), 0.0);
    frames_per_step[step] += d["frames"].get<int>();
  }
  EXPECT_EQ(plans, 1);
  // Steps 3 and 6 (never the last, 7), each decoded whole: nothing superseded them.
  EXPECT_EQ(frames_per_step, (std::map<int, int>{{3, 9}, {6, 9}}));
  const json job = get_job(s.port(), id);
  EXPECT_EQ(job["preview_path"], "latent-rgb+vae");
  EXPECT_EQ(job["preview_vae_every"], 3);
  EXPECT_TRUE(job["timings"].contains("first_vae_preview")) << job.dump();
  const auto previews = spans(job, "preview step");
  ASSERT_EQ(previews.size(), 6u);  // 3 chunks each
  EXPECT_EQ(previews.front().lane, "synthetic/preview-vae");
}

TEST(Pipeline, PreviewIntervalsOutOfRangeAreRejectedNamingTheField) {
  const auto dir = fresh_temp_dir();
  RunningService s(test_service_options(dir));
  for (const json& bad : {json(4), json(-2), json("sometimes"), json(1.5)}) {
    const auto r = http_request(s.port(), "POST", "/v1/videos", json{{"prompt", "x"}, {"steps", 4}, {"preview_vae_every", bad}}.dump(),
                                {{"Content-Type", "application/json"}});
    EXPECT_EQ(r.status, 400) << bad.dump() << ": " << r.body;
    EXPECT_NE(r.body.find("preview_vae_every"), std::string::npos) << r.body;
  }
  const json off = submit_job(s.port(), {{"prompt", "x"}, {"steps", 4}, {"preview_vae_every", 0}});
  EXPECT_EQ(off["preview_vae_every"], 0);
  const json automatic = submit_job(s.port(), {{"prompt", "x"}, {"steps", 4}, {"preview_vae_every", "auto"}});
  EXPECT_EQ(automatic["preview_vae_every"], "auto");
}

}  // namespace
}  // namespace ditstream::testing
