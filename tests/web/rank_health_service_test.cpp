// Rank 0's view of its ranks through the service, with the synthetic engine standing in for the
// engine over several ranks and the test playing the launcher and the recovery: a rank failure
// fails the running job with the failure's words while the next job stays queued, /healthz goes
// degraded (restarting) and back to ok with the restart counted in /metrics, and once the ranks
// are not restarted any more /healthz answers 503 and new jobs are refused with 503 while the
// history stays readable.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/engine/rank_health.h"
#include "tests/web/service_fixture.h"
#include "tests/web/service_helpers.h"

namespace ditstream::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

struct RankService {
  explicit RankService(const std::filesystem::path& dir) : health(2, true) {
    auto options = test_service_options(dir);
    options.health_update = web::rank_group_health(health);
    SyntheticEngineOptions engine_options;
    engine_options.overlaps_stages = false;
    engine_options.rank_health = &health;
    service = std::make_unique<RunningService>(std::move(options), engine_options);
    engine::add_rank_health_metrics(service->service->metrics(), health);
  }
  uint16_t port() const { return service->port(); }
  engine::RankHealth health;
  std::unique_ptr<RunningService> service;
};

json healthz(uint16_t port, int expected_status) {
  const auto r = http_request(port, "GET", "/healthz");
  EXPECT_EQ(r.status, expected_status) << r.body;
  return json::parse(r.body);
}

TEST(RankHealthService, AFailedRankFailsTheRunningJobQueuedJobsWaitAndRunAfterTheRestart) {
  const auto dir = fresh_temp_dir();
  RankService s(dir);
  json health = healthz(s.port(), 200);
  EXPECT_EQ(health["status"], "ok");
  EXPECT_EQ(health["rank_group"]["state"], "ok");
  EXPECT_EQ(health["rank_group"]["world"], 2);
  EXPECT_EQ(health["rank_group"]["restarts"], 0);
  EXPECT_TRUE(health.contains("compositor"));  // the rest of the document is still there

  const std::string running = submit_job(s.port(), {{"prompt", "long"}, {"steps", 100}})["id"];
  wait_for_status(s.port(), running, "in_progress");
  const std::string queued = submit_job(s.port(), {{"prompt", "next"}, {"steps", 3}, {"frames", 9}})["id"];

  EXPECT_TRUE(s.health.report_failure("rank 1 (pid 4242) was killed by signal 9 (Killed)"));
  const json failed = wait_for_status(s.port(), running, "failed", 5s);
  const std::string message = failed["error"]["message"];
  EXPECT_NE(message.find("rank 1 (pid 4242) was killed by signal 9 (Killed); the ranks are being restarted"),
            std::string::npos)
      << message;
  health = healthz(s.port(), 200);
  EXPECT_EQ(health["status"], "degraded");
  EXPECT_EQ(health["rank_group"]["state"], "restarting");
  EXPECT_EQ(health["rank_group"]["last_failure"], "rank 1 (pid 4242) was killed by signal 9 (Killed)");

  // Queued jobs wait (and say why); new ones are still taken.
  std::this_thread::sleep_for(300ms);
  json waiting = get_job(s.port(), queued);
  EXPECT_EQ(waiting["status"], "queued");
  EXPECT_NE(waiting.dump().find("the ranks are being restarted"), std::string::npos) << waiting.dump();
  const std::string later = submit_job(s.port(), {{"prompt", "later"}, {"steps", 2}})["id"];

  s.health.restarting(1);
  EXPECT_EQ(healthz(s.port(), 200)["rank_group"]["restarts"], 1);
  EXPECT_EQ(get_job(s.port(), queued)["status"], "queued");
  s.health.recovered();
  EXPECT_EQ(wait_for_status(s.port(), queued, "completed")["frames_done"], 9);
  EXPECT_EQ(wait_for_status(s.port(), later, "completed")["status"], "completed");
  health = healthz(s.port(), 200);
  EXPECT_EQ(health["status"], "ok");
  EXPECT_EQ(health["rank_group"]["state"], "ok");
  EXPECT_EQ(health["rank_group"]["generation"], 1);
  const auto metrics = http_request(s.port(), "GET", "/metrics").body;
  EXPECT_NE(metrics.find("ditstream_rank_restarts_total 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("ditstream_rank_group_state 0"), std::string::npos) << metrics;
}

TEST(RankHealthService, RanksThatAreNotRestartedAgainRefuseNewJobsWith503AndKeepTheHistory) {
  const auto dir = fresh_temp_dir();
  RankService s(dir);
  const std::string done = submit_job(s.port(), {{"prompt", "before"}, {"steps", 2}})["id"];
  wait_for_status(s.port(), done, "completed");

  s.health.report_failure("rank 1 (pid 7) exited with code 3");
  s.health.give_up("rank 1 (pid 9) exited with code 3; 4 failures within 600 s (at most 3 restarts)");
  const json health = healthz(s.port(), 503);
  EXPECT_EQ(health["status"], "failed");
  EXPECT_EQ(health["rank_group"]["state"], "failed");
  const auto refused = http_request(s.port(), "POST", "/v1/videos", json{{"prompt", "after"}}.dump(),
                                    {{"Content-Type", "application/json"}});
  EXPECT_EQ(refused.status, 503);
  EXPECT_NE(refused.body.find("4 failures within 600 s"), std::string::npos) << refused.body;
  EXPECT_NE(refused.body.find("the ranks were not restarted again"), std::string::npos) << refused.body;
  EXPECT_EQ(get_job(s.port(), done)["status"], "completed");
  EXPECT_EQ(http_request(s.port(), "GET", "/v1/videos/" + done + "/content").status, 200);
  EXPECT_NE(http_request(s.port(), "GET", "/metrics").body.find("ditstream_rank_group_state 2"), std::string::npos);
}

}  // namespace
}  // namespace ditstream::testing
