// Request parsing, limits, auth comparison and the job store, without a server.
#include <gtest/gtest.h>

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
