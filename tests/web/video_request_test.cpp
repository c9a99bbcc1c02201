// Request parsing, limits, auth comparison and the job store, without a server.
#include <gtest/gtest.h>

#include <sqlite3.h>

#include "core/engine/job_store.h"
#include "core/engine/metrics.h"
#include "core/util/error.h"
#include "tests/support/test_support.h"
#include "web/api/auth.h"
#include "web/api/video_request.h"

namespace ditstream {
namespace {

TEST(VideoRequest, ParsesAllFieldsAndAppliesDefaults) {
  web::ServiceLimits limits;
  const auto r = web::parse_video_request(
      R"({"prompt":"a cat","width":96,"height":32,"frames":9,"steps":3,"seed":7,"shift":5.5,"guidance":3,"cache_threshold":0.1,"fps":12})",
      limits);
  EXPECT_EQ(r.prompt, "a cat");
  EXPECT_EQ(r.width, 96);
  EXPECT_EQ(r.height, 32);
  EXPECT_EQ(r.frames, 9);
  EXPECT_EQ(r.steps, 3);
  EXPECT_EQ(r.seed, 7);
  EXPECT_DOUBLE_EQ(r.shift, 5.5);
  EXPECT_DOUBLE_EQ(r.guidance, 3.0);
  EXPECT_DOUBLE_EQ(r.cache_threshold, 0.1);
  EXPECT_EQ(r.fps, 12);
  const auto d = web::parse_video_request(R"({"prompt":"x"})", limits);
  EXPECT_EQ(d.width, limits.defaults.width);
  EXPECT_EQ(d.steps, limits.defaults.steps);
}

TEST(VideoRequest, ErrorsNameTheField) {
  web::ServiceLimits limits;
  try {
    web::parse_video_request(R"({"prompt":"x","width":100})", limits);
    FAIL() << "accepted a width that is not a multiple of 16";
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), "width");
    EXPECT_NE(std::string(e.what()).find("multiple of 16"), std::string::npos);
  }
}

TEST(VideoRequest, PreviewIntervalIsOffAStepIntervalBelowStepsOrAuto) {
  web::ServiceLimits limits;
  const auto parse = [&](const std::string& every) {
    return web::parse_video_request(R"({"prompt":"x","steps":5,"preview_vae_every":)" + every + "}", limits).preview_vae_every;
  };
  EXPECT_EQ(parse("0"), 0);
  EXPECT_EQ(parse("1"), 1);
  EXPECT_EQ(parse("4"), 4);
  EXPECT_EQ(parse("\"auto\""), engine::kPreviewVaeAuto);
  EXPECT_EQ(parse("null"), 0);
  for (const std::string bad : {"5", "6", "-1", "2.5", "\"often\"", "true", "99999999999999999999"}) {
    try {
      parse(bad);
      FAIL() << "accepted preview_vae_every " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.field(), "preview_vae_every") << bad;
      EXPECT_EQ(e.kind(), ErrorKind::invalid_argument) << bad;
    }
  }
  try {
    parse("5");
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not below steps (5)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("1..4"), std::string::npos) << e.what();
  }
  // A service default beyond a request's steps turns previews off for that request.
  limits.defaults.preview_vae_every = 8;
  EXPECT_EQ(web::parse_video_request(R"({"prompt":"x","steps":5})", limits).preview_vae_every, 0);
  EXPECT_EQ(web::parse_video_request(R"({"prompt":"x","steps":20})", limits).preview_vae_every, 8);
  limits.defaults.preview_vae_every = -5;
  EXPECT_THROW(limits.validate(), Error);
}

TEST(Auth, ConstantTimeCompare) {
  EXPECT_TRUE(web::constant_time_equal("secret", "secret"));
  EXPECT_FALSE(web::constant_time_equal("secreT", "secret"));
  EXPECT_FALSE(web::constant_time_equal("secret1", "secret"));
  EXPECT_FALSE(web::constant_time_equal("", "secret"));
}

TEST(ListQuery, ParsesAndRejects) {
  web::ServiceLimits limits;
  const auto q = web::parse_list_query("limit=5&offset=10", limits);
  EXPECT_EQ(q.limit, 5);
  EXPECT_EQ(q.offset, 10);
  EXPECT_THROW(web::parse_list_query("limit=0", limits), Error);
  EXPECT_THROW(web::parse_list_query("limit=abc", limits), Error);
  EXPECT_THROW(web::parse_list_query("page=2", limits), Error);
}

TEST(JobStore, KeepsRecordsAndFailsInterruptedJobsOnReopen) {
  const auto dir = testing::fresh_temp_dir();
  engine::JobRecord done;
  done.id = "video_0000000000000001";
  done.request.prompt = "done";
  done.status = engine::JobStatus::completed;
  done.created_at = 1;
  done.recording = "video_0000000000000001.mp4";
  done.timings["end_to_end"] = 1.5;
  engine::JobRecord running = done;
  running.id = "video_0000000000000002";
  running.status = engine::JobStatus::in_progress;
  running.created_at = 2;
  running.recording.clear();
  {
    engine::JobStore store(dir / "jobs.db");
    store.put(done);
    store.put(running);
    EXPECT_EQ(store.count(), 2);
  }
  engine::JobStore reopened(dir / "jobs.db");
  EXPECT_EQ(reopened.interrupted_on_open(), 1);
  const auto list = reopened.list(0, 10);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].id, running.id);  // newest first
  EXPECT_EQ(list[0].status, engine::JobStatus::failed);
  EXPECT_NE(list[0].error.find("interrupted"), std::string::npos);
  EXPECT_EQ(list[1].status, engine::JobStatus::completed);
  EXPECT_DOUBLE_EQ(list[1].timings.at("end_to_end"), 1.5);
}

TEST(JobStore, KeepsTimelinesNotesAndPreviewSettings) {
  const auto dir = testing::fresh_temp_dir();
  engine::JobRecord r;
  r.id = "video_0000000000000003";
  r.request.prompt = "spans";
  r.request.preview_vae_every = engine::kPreviewVaeAuto;
  r.status = engine::JobStatus::completed;
  r.preview_path = "latent-rgb+vae";
  r.notes = "Denoising waited.";
  r.timeline = {{"step 1", "cpu/denoise", 10.0, 10.5}, {"decode frames 0-0", "cpu/finish", 10.5, 10.75}};
  {
    engine::JobStore store(dir / "jobs.db");
    store.put(r);
    r.timeline.push_back({"finalize recording", "host/stream", 11.0, 11.25});
    store.put(r);  // rewritten whole
  }
  const auto back = engine::JobStore(dir / "jobs.db").get(r.id);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->request.preview_vae_every, engine::kPreviewVaeAuto);
  EXPECT_EQ(back->preview_path, "latent-rgb+vae");
  EXPECT_EQ(back->notes, "Denoising waited.");
  ASSERT_EQ(back->timeline.size(), 3u);
  EXPECT_EQ(back->timeline[1].what, "decode frames 0-0");
  EXPECT_EQ(back->timeline[1].lane, "cpu/finish");
  EXPECT_DOUBLE_EQ(back->timeline[1].start, 10.5);
  EXPECT_DOUBLE_EQ(back->timeline[2].end, 11.25);
}

TEST(JobStore, OpensADatabaseWrittenBeforeThePreviewColumnsExisted) {
  const auto dir = testing::fresh_temp_dir();
  const auto file = dir / "old.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &db), SQLITE_OK);
  const char* old_schema =
      "CREATE TABLE jobs (id TEXT PRIMARY KEY, prompt TEXT NOT NULL, width INTEGER NOT NULL, height INTEGER NOT NULL, "
      "frames INTEGER NOT NULL, steps INTEGER NOT NULL, seed INTEGER NOT NULL, shift REAL NOT NULL, guidance REAL NOT NULL, "
      "cache_threshold REAL NOT NULL, fps INTEGER NOT NULL, status TEXT NOT NULL, created_at REAL NOT NULL, "
      "started_at REAL NOT NULL, finished_at REAL NOT NULL, step INTEGER NOT NULL, computed_steps INTEGER NOT NULL, "
      "reused_steps INTEGER NOT NULL, frames_done INTEGER NOT NULL, error TEXT NOT NULL, text_path TEXT NOT NULL, "
      "decode_path TEXT NOT NULL, recording TEXT NOT NULL);"
      "INSERT INTO jobs VALUES ('video_0000000000000004', 'old', 64, 64, 5, 4, 0, 7, 6, 0, 8, 'completed', 1, 2, 3, 4, 4, 0, "
      "5, '', 'llama+clip', 'vae-streaming', 'video_0000000000000004.mp4');";
  ASSERT_EQ(sqlite3_exec(db, old_schema, nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  engine::JobStore store(file);
  const auto old = store.get("video_0000000000000004");
  ASSERT_TRUE(old);
  EXPECT_EQ(old->request.prompt, "old");
  EXPECT_EQ(old->request.preview_vae_every, 0);
  EXPECT_TRUE(old->timeline.empty());
  engine::JobRecord fresh = *old;
  fresh.id = "video_0000000000000005";
  fresh.timeline = {{"step 1", "cpu/denoise", 1, 2}};
  store.put(fresh);
  EXPECT_EQ(store.get(fresh.id)->timeline.size(), 1u);
}

TEST(Timeline, OverlapIsTheIntersectionOfTheUnions) {
  using engine::Span;
  const std::vector<Span> a = {{"x", "l", 0, 2}, {"x", "l", 1, 3}, {"x", "l", 5, 6}};
  const std::vector<Span> b = {{"y", "m", 2.5, 5.5}};
  EXPECT_DOUBLE_EQ(engine::overlap_seconds(a, b), 1.0);  // [2.5, 3] and [5, 5.5]
  EXPECT_DOUBLE_EQ(engine::overlap_seconds(a, {}), 0.0);
  engine::Timeline t(2);
  t.add({"a", "l", 0, 1});
  t.add({"b", "l", 1, 2});
  t.add({"c", "l", 2, 3});
  EXPECT_EQ(t.spans().size(), 2u);
  EXPECT_EQ(t.dropped(), 1u);
}

TEST(Metrics, RendersPrometheusText) {
  engine::MetricsRegistry registry;
  engine::ServiceMetrics m(registry);
  m.step.observe(0.02);
  m.steps.add(3);
  const auto text = registry.render();
  EXPECT_NE(text.find("# TYPE ditstream_step_seconds histogram"), std::string::npos);
  EXPECT_NE(text.find("ditstream_step_seconds_bucket{le=\"0.025\"} 1"), std::string::npos);
  EXPECT_NE(text.find("ditstream_step_seconds_count 1"), std::string::npos);
  EXPECT_NE(text.find("ditstream_steps_total 3"), std::string::npos);
}

TEST(Metrics, CollectorsRefreshGaugesAtEveryRender) {
  engine::MetricsRegistry registry;
  engine::Gauge& g = registry.gauge("ditstream_test_bytes", "a value kept elsewhere");
  double source = 5;
  registry.add_collector([&] { g.set(source); });
  EXPECT_NE(registry.render().find("ditstream_test_bytes 5\n"), std::string::npos);
  source = 7;
  EXPECT_NE(registry.render().find("ditstream_test_bytes 7\n"), std::string::npos);
}

}  // namespace
}  // namespace ditstream
