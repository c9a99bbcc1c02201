// The transformer's precision flags through the real binary: `--fp8-linears` serves the tiny model
// with e4m3 weights (emulated on the CPU) and /healthz says so; `--fp8-attention`, which needs a
// Hopper GPU, is refused at start-up naming the option.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/test_support.h"
#include "tests/web/http_client.h"
#include "tests/web/serve_process.h"
#include "tests/web/service_helpers.h"

namespace ditstream::testing {
namespace {

using nlohmann::json;

TEST(ServePrecision, Fp8LinearsServeAndHealthzSaysSo) {
  const auto dir = fresh_temp_dir();
  ServeProcess serve(DITSTREAM_BINARY, dir, {"--compositor", "cpu", "--fp8-linears"});
  ASSERT_NE(serve.port(), 0) << serve.log();
  const json health = json::parse(http_request(serve.port(), "GET", "/healthz").body);
  EXPECT_EQ(health["precision"], "float32, fp8 linears") << health.dump();
  EXPECT_NE(serve.log().find("(float32, fp8 linears)"), std::string::npos) << serve.log();
  const json job = submit_job(serve.port(), {{"prompt", "fp8"}, {"width", 32}, {"height", 32}, {"steps", 2}});
  const json done = wait_for_status(serve.port(), job["id"], "completed", std::chrono::seconds(60));
  EXPECT_EQ(done["frames_done"], 5) << done.dump();
}

TEST(ServePrecision, Fp8AttentionWithoutAGpuIsAStartUpError) {
  ServeProcess serve(DITSTREAM_BINARY, fresh_temp_dir(), {"--compositor", "cpu", "--fp8-attention"});
  EXPECT_EQ(serve.port(), 0);
  EXPECT_EQ(serve.exit_code(), 2) << serve.log();
  EXPECT_NE(serve.log().find("fp8_attention: runs on a CUDA device in bfloat16; asked for on cpu in float32"),
            std::string::npos)
      << serve.log();
}

}  // namespace
}  // namespace ditstream::testing
