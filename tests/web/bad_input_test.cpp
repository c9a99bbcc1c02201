// Malformed and hostile requests, table-driven: each gets the right status and a JSON error naming
// the field, and the server keeps serving afterwards.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <thread>

#include "tests/web/service_fixture.h"

namespace ditstream::testing {
namespace {

using nlohmann::json;

struct BadRequest {
  std::string name;
  std::string method;
  std::string target;  // "{job}" becomes a running job's id
  std::string body;
  std::string content_type;  // "" sends none
  std::string authorization = "Bearer test-key";
  int status;
  std::string field;
};

const std::string kSdpHead = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
const std::string kVp8Only = kSdpHead +
                             "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=recvonly\r\n"
                             "a=rtpmap:96 VP8/90000\r\na=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
                             "a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\n"
                             "a=setup:actpass\r\na=rtcp-mux\r\n";
const std::string kH264Sendonly = kSdpHead +
                                  "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=sendonly\r\n"
                                  "a=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;profile-level-id=42e01f\r\n";

std::vector<BadRequest> table() {
  const std::string json_ct = "application/json";
  const std::string sdp_ct = "application/sdp";
  auto post = [&](std::string name, std::string body, int status, std::string field) {
    return BadRequest{std::move(name), "POST", "/v1/videos", std::move(body), json_ct, "Bearer test-key", status, std::move(field)};
  };
  auto get = [](std::string name, std::string target, int status, std::string field) {
    return BadRequest{std::move(name), "GET", std::move(target), "", "", "Bearer test-key", status, std::move(field)};
  };
  auto whep = [&](std::string name, std::string target, std::string body, int status, std::string field) {
    return BadRequest{std::move(name), "POST", std::move(target), std::move(body), sdp_ct, "Bearer test-key", status, std::move(field)};
  };
  return {
      post("truncated json", "{", 400, "body"),
      post("array body", "[]", 400, "body"),
      post("null body", "null", 400, "body"),
      post("string body", "\"make a video\"", 400, "body"),
      post("empty body", "", 400, "body"),
      post("missing prompt", "{}", 400, "prompt"),
      post("prompt number", R"({"prompt":5})", 400, "prompt"),
      post("prompt empty", R"({"prompt":""})", 400, "prompt"),
      post("prompt blank", R"({"prompt":"   \n "})", 400, "prompt"),
      post("prompt null", R"({"prompt":null})", 400, "prompt"),
      post("prompt with NUL", R"({"prompt":"a\u0000b"})", 400, "prompt"),
      post("prompt too long", json{{"prompt", std::string(3000, 'a')}}.dump(), 413, "prompt"),
      post("width string", R"({"prompt":"x","width":"64"})", 400, "width"),
      post("width not multiple", R"({"prompt":"x","width":100})", 400, "width"),
      post("width zero", R"({"prompt":"x","width":0})", 400, "width"),
      post("width negative", R"({"prompt":"x","width":-16})", 400, "width"),
      post("width huge", R"({"prompt":"x","width":99999})", 400, "width"),
      post("width fractional", R"({"prompt":"x","width":64.5})", 400, "width"),
      post("width boolean", R"({"prompt":"x","width":true})", 400, "width"),
      post("height too small", R"({"prompt":"x","height":8})", 400, "height"),
      post("height too big", R"({"prompt":"x","height":2048})", 400, "height"),
      post("frames not 4k+1", R"({"prompt":"x","frames":4})", 400, "frames"),
      post("frames zero", R"({"prompt":"x","frames":0})", 400, "frames"),
      post("frames huge", R"({"prompt":"x","frames":1001})", 400, "frames"),
      post("steps zero", R"({"prompt":"x","steps":0})", 400, "steps"),
      post("steps huge", R"({"prompt":"x","steps":1000})", 400, "steps"),
      post("steps string", R"({"prompt":"x","steps":"many"})", 400, "steps"),
      post("seed negative", R"({"prompt":"x","seed":-1})", 400, "seed"),
      post("seed float", R"({"prompt":"x","seed":1e30})", 400, "seed"),
      post("seed beyond int64", R"({"prompt":"x","seed":18446744073709551615})", 400, "seed"),
      post("shift zero", R"({"prompt":"x","shift":0})", 400, "shift"),
      post("shift string", R"({"prompt":"x","shift":"high"})", 400, "shift"),
      post("guidance too high", R"({"prompt":"x","guidance":100})", 400, "guidance"),
      post("cache threshold above 1", R"({"prompt":"x","cache_threshold":2})", 400, "cache_threshold"),
      post("fps zero", R"({"prompt":"x","fps":0})", 400, "fps"),
      post("fps huge", R"({"prompt":"x","fps":1000})", 400, "fps"),
      post("unknown field", R"({"prompt":"x","evil":"rm -rf /"})", 400, "evil"),
      post("model not a string", R"({"prompt":"x","model":[1]})", 400, "model"),
      post("body over the limit", json{{"prompt", "x"}, {"pad", std::string(100 * 1024, 'p')}}.dump(), 413, "body"),
      {"text content type", "POST", "/v1/videos", R"({"prompt":"x"})", "text/plain", "Bearer test-key", 415, "content-type"},
      {"no content type", "POST", "/v1/videos", R"({"prompt":"x"})", "", "Bearer test-key", 415, "content-type"},
      {"no api key", "POST", "/v1/videos", R"({"prompt":"x"})", json_ct, "", 401, "authorization"},
      {"wrong api key", "POST", "/v1/videos", R"({"prompt":"x"})", json_ct, "Bearer test-kez", 401, "authorization"},
      {"basic auth", "POST", "/v1/videos", R"({"prompt":"x"})", json_ct, "Basic dGVzdDp0ZXN0", 401, "authorization"},
      {"delete without key", "DELETE", "/v1/videos/{job}", "", "", "", 401, "authorization"},
      get("malformed id", "/v1/videos/unknown", 404, "id"),
      get("well-formed unknown id", "/v1/videos/video_0123456789abcdef", 404, "id"),
      {"delete unknown id", "DELETE", "/v1/videos/video_0123456789abcdef", "", "", "Bearer test-key", 404, "id"},
      get("dot-dot segments", "/v1/videos/../../etc/passwd", 404, "path"),
      get("encoded traversal id", "/v1/videos/%2e%2e%2fetc%2fpasswd/content", 404, "id"),
      get("ui traversal", "/ui/../CMakeCache.txt", 404, "path"),
      get("ui encoded traversal", "/ui/..%2fCMakeCache.txt", 404, "path"),
      get("ui unknown file", "/ui/passwd", 404, "path"),
      get("unknown route", "/admin", 404, "path"),
      get("list limit zero", "/v1/videos?limit=0", 400, "limit"),
      get("list limit text", "/v1/videos?limit=abc", 400, "limit"),
      get("list limit huge", "/v1/videos?limit=100000", 400, "limit"),
      get("list unknown parameter", "/v1/videos?sort=desc", 400, "sort"),
      get("content of a running job", "/v1/videos/{job}/content", 409, "id"),
      {"put on videos", "PUT", "/v1/videos", "", "", "Bearer test-key", 405, "method"},
      {"post on content", "POST", "/v1/videos/{job}/content", "", "", "Bearer test-key", 405, "method"},
      whep("whep unknown job", "/v1/videos/video_0123456789abcdef/whep", kVp8Only, 404, "id"),
      whep("whep not sdp", "/v1/videos/{job}/whep", "hello", 400, "sdp"),
      whep("whep binary", "/v1/videos/{job}/whep", "v=0\r\n\x01\x02\xff", 400, "sdp"),
      whep("whep no video", "/v1/videos/{job}/whep", kSdpHead + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n", 400, "sdp"),
      whep("whep vp8 only", "/v1/videos/{job}/whep", kVp8Only, 400, "sdp"),
      whep("whep sendonly offer", "/v1/videos/{job}/whep", kH264Sendonly, 400, "sdp"),
      whep("whep sdp too large", "/v1/videos/{job}/whep", kSdpHead + "m=video 9 RTP/AVP 96\r\n" + std::string(40000, 'a'), 413, "sdp"),
      {"whep json content type", "POST", "/v1/videos/{job}/whep", kVp8Only, json_ct, "Bearer test-key", 415, "content-type"},
      {"whep without key", "POST", "/v1/videos/{job}/whep", kVp8Only, sdp_ct, "", 401, "authorization"},
      {"whep unknown session", "DELETE", "/v1/videos/{job}/whep/00000000000000ff", "", "", "Bearer test-key", 404, "session"},
      {"whep malformed session", "DELETE", "/v1/videos/{job}/whep/..", "", "", "Bearer test-key", 404, "session"},
      {"whep trickle patch", "PATCH", "/v1/videos/{job}/whep/00000000000000ff", "a=candidate", "application/trickle-ice-sdpfrag",
       "Bearer test-key", 405, "method"},
  };
}

TEST(BadInput, EveryHostileRequestGetsItsStatusAndAJsonErrorNamingTheField) {
  const auto dir = fresh_temp_dir();
  auto options = test_service_options(dir);
  options.api_key = "test-key";
  RunningService s(options, {std::chrono::milliseconds(200), std::chrono::milliseconds(20)});
  const auto submitted = http_request(s.port(), "POST", "/v1/videos", R"({"prompt":"target","steps":100})",
                                      {{"Content-Type", "application/json"}, {"Authorization", "Bearer test-key"}});
  ASSERT_EQ(submitted.status, 202) << submitted.body;
  const std::string job = json::parse(submitted.body)["id"];

  const auto cases = table();
  ASSERT_GE(cases.size(), 40u);
  for (auto c : cases) {
    SCOPED_TRACE(c.name);
    for (auto* s_ : {&c.target}) {
      const auto at = s_->find("{job}");
      if (at != std::string::npos) s_->replace(at, 5, job);
    }
    std::map<std::string, std::string> headers;
    if (!c.content_type.empty()) headers["Content-Type"] = c.content_type;
    if (!c.authorization.empty()) headers["Authorization"] = c.authorization;
    const auto r = http_request(s.port(), c.method, c.target, c.body, headers);
    EXPECT_EQ(r.status, c.status) << r.body;
    const json body = json::parse(r.body, nullptr, false);
    ASSERT_FALSE(body.is_discarded()) << "not JSON: " << r.body;
    ASSERT_TRUE(body.contains("error")) << r.body;
    EXPECT_TRUE(body["error"].contains("code")) << r.body;
    EXPECT_TRUE(body["error"].contains("message")) << r.body;
    EXPECT_EQ(body["error"].value("field", ""), c.field) << r.body;
    EXPECT_NE(body["error"].value("message", "").find(c.field), std::string::npos) << r.body;
  }

  // Malformed HTTP itself: the connection is dropped or answered, never a crash.
  raw_request(s.port(), "GARBAGE\r\n\r\n");
  raw_request(s.port(), "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n");
  raw_request(s.port(), "GET /" + std::string(100000, 'a') + " HTTP/1.1\r\n\r\n");

  EXPECT_EQ(http_request(s.port(), "GET", "/healthz").status, 200);
  const auto again = http_request(s.port(), "POST", "/v1/videos", R"({"prompt":"still serving"})",
                                  {{"Content-Type", "application/json"}, {"Authorization", "Bearer test-key"}});
  EXPECT_EQ(again.status, 202) << again.body;
}

}  // namespace
}  // namespace ditstream::testing
