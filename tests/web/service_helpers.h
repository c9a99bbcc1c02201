// What the service tests do over HTTP again and again: submit a job, read its status, wait for a
// status, and probe a downloaded recording with ffprobe.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "tests/web/http_client.h"

namespace ditstream::testing {

inline nlohmann::json submit_job(uint16_t port, const nlohmann::json& body, int expected = 202) {
  const auto r = http_request(port, "POST", "/v1/videos", body.dump(), {{"Content-Type", "application/json"}});
  EXPECT_EQ(r.status, expected) << r.body;
  return nlohmann::json::parse(r.body);
}

inline nlohmann::json get_job(uint16_t port, const std::string& id) {
  const auto r = http_request(port, "GET", "/v1/videos/" + id);
  EXPECT_EQ(r.status, 200) << r.body;
  return nlohmann::json::parse(r.body);
}

// Polls until `done(job)` holds; fails the test (and returns the last status) after `timeout`.
template <class Pred>
nlohmann::json wait_for_job(uint16_t port, const std::string& id, Pred done, const std::string& what,
                            std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  nlohmann::json j;
  while (std::chrono::steady_clock::now() < deadline) {
    j = get_job(port, id);
    if (done(j)) return j;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ADD_FAILURE() << "video " << id << " did not reach " << what << ": " << j.dump();
  return j;
}

inline nlohmann::json wait_for_status(uint16_t port, const std::string& id, const std::string& status,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  return wait_for_job(port, id, [&](const nlohmann::json& j) { return j["status"] == status; }, status, timeout);
}

inline std::string run_command(const std::string& command) {
  std::string out;
  FILE* p = popen(command.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  pclose(p);
  return out;
}

// Downloads a completed job's recording into `dir` and returns ffprobe's view of its video stream
// (codec_name, width, height, r_frame_rate, nb_read_frames).
inline nlohmann::json probe_recording(uint16_t port, const std::string& id, const std::filesystem::path& dir) {
  const auto content = http_request(port, "GET", "/v1/videos/" + id + "/content");
  EXPECT_EQ(content.status, 200) << content.body.substr(0, 200);
  const auto file = dir / (id + ".mp4");
  std::ofstream(file, std::ios::binary) << content.body;
  const auto out = run_command(
      "ffprobe -v error -count_frames -select_streams v:0 -show_entries "
      "stream=width,height,r_frame_rate,nb_read_frames,codec_name -of json '" + file.string() + "'");
  const auto probe = nlohmann::json::parse(out, nullptr, false);
  if (probe.is_discarded() || !probe.contains("streams") || probe["streams"].empty()) return nlohmann::json::object();
  return probe["streams"][0];
}

}  // namespace ditstream::testing
