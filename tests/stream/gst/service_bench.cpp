// Service latency on the CPU, measured at a real WebRTC peer on loopback:
//  - first-preview: POST /v1/videos → the first preview frame decoded by a WHEP viewer that joins
//    right after the POST (what a browser user sees), tiny model on the CPU, median of several jobs;
//  - per-frame-encode: a frame handed to the live stream → decoded at the peer (I420 → x264 → RTP →
//    webrtcbin → depay → decode), median and p90 over many frames.
// Writes the service_cpu benchmark record (the docs/benchmarks/*.json format) to the path given.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <thread>

#include "core/engine/hunyuan_engine.h"
#include "stream/gst/live_stream.h"
#include "tests/bench/bench_util.h"
#include "tests/stream/gst/whep_receiver.h"
#include "tests/web/service_fixture.h"

namespace {

using namespace ditstream;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const size_t i = static_cast<size_t>(std::lround(p * static_cast<double>(v.size() - 1)));
  return v[i];
}

std::vector<double> first_preview_latencies(const std::filesystem::path& dir, int jobs) {
  engine::HunyuanEngine engine({testing::tiny_model_dir(), "cpu", "float32"});
  web::Service s(testing::test_service_options(dir), engine);
  s.start();
  std::vector<double> out;
  for (int i = 0; i < jobs; ++i) {
    testing::WhepReceiver receiver;
    const std::string offer = receiver.create_offer();  // prepared before the clock starts, as a page would
    const auto t0 = Clock::now();
    const auto posted = testing::http_request(s.port(), "POST", "/v1/videos",
                                              R"({"prompt":"bench","width":64,"height":64,"steps":100,"frames":5,"fps":8})",
                                              {{"Content-Type", "application/json"}});
    const std::string id = nlohmann::json::parse(posted.body)["id"];
    const auto answer = testing::http_request(s.port(), "POST", "/v1/videos/" + id + "/whep", offer,
                                              {{"Content-Type", "application/sdp"}});
    if (answer.status != 201) throw std::runtime_error("WHEP failed: " + answer.body);
    receiver.accept_answer(answer.body);
    // The stream shows black until the first preview: the first frame that is not black is it.
    auto not_black = [](const testing::DecodedFrame& d) { return d.y > 24; };
    if (!receiver.wait_until([&](const auto& f) { return std::any_of(f.begin(), f.end(), not_black); }, 30s)) {
      throw std::runtime_error("no preview frame arrived");
    }
    const auto frames = receiver.frames();
    const auto first = std::find_if(frames.begin(), frames.end(), not_black);
    const double latency = std::chrono::duration<double>(first->at - t0).count();
    nlohmann::json job;
    for (int k = 0; k < 1000; ++k) {
      job = nlohmann::json::parse(testing::http_request(s.port(), "GET", "/v1/videos/" + id).body);
      if (job["status"] == "completed") break;
      std::this_thread::sleep_for(20ms);
    }
    // It was a preview only if it arrived before the job's first final frame.
    if (job["status"] != "completed" || latency >= job["timings"]["first_final_frame"].get<double>()) {
      throw std::runtime_error("the first frame at the viewer was not a preview: " + job.dump());
    }
    out.push_back(latency);
  }
  return out;
}

std::vector<double> per_frame_latencies(int frames, int width, int height) {
  stream::IceConfig ice;
  ice.local_addresses = {"127.0.0.1"};
  stream::LiveStream live(width, height, 30, ice, nullptr);
  testing::WhepReceiver receiver;
  const auto answer = live.add_viewer(receiver.create_offer());
  receiver.accept_answer(answer.sdp);
  auto solid = [&](uint8_t y) {
    auto f = stream::I420Frame::black(width, height);
    std::fill(f.bytes.begin(), f.bytes.begin() + width * height, y);
    return f;
  };
  live.show_preview(solid(30));
  receiver.wait_until([](const auto& f) { return !f.empty(); }, 10s);
  std::vector<double> out;
  for (int i = 0; i < frames; ++i) {
    const uint8_t level = static_cast<uint8_t>(60 + 40 * (i % 4));  // 60, 100, 140, 180: neighbours differ
    const size_t before = receiver.frames().size();
    const auto t0 = Clock::now();
    live.show_preview(solid(level));
    auto arrived = [&](const std::vector<testing::DecodedFrame>& f) {
      for (size_t k = before; k < f.size(); ++k) {
        if (std::abs(f[k].y - level) < 8) return true;
      }
      return false;
    };
    if (!receiver.wait_until(arrived, 5s)) throw std::runtime_error("a frame did not arrive");
    const auto got = receiver.frames();
    for (size_t k = before; k < got.size(); ++k) {
      if (std::abs(got[k].y - level) < 8) {
        out.push_back(std::chrono::duration<double>(got[k].at - t0).count());
        break;
      }
    }
    std::this_thread::sleep_for(40ms);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string out_path = argc > 1 ? argv[1] : "docs/benchmarks/service_cpu.json";
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("ditstream-bench-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto first = first_preview_latencies(dir, 5);
  const auto per_frame_64 = per_frame_latencies(60, 64, 64);
  const auto per_frame_720 = per_frame_latencies(30, 1280, 720);
  std::filesystem::remove_all(dir);

  bench::Record record("service_cpu", "ctest -L bench -R service_bench (build/tests/stream/gst/bench_service)");
  record.add("tiny", "first-preview", "post_to_first_preview_s",
             {{"ours_s", percentile(first, 0.5)}, {"p90_s", percentile(first, 0.9)}, {"samples", first.size()},
              {"engine", "HunyuanVideo tiny model, CPU fp32, 64x64x5, 30 steps"}});
  record.add("tiny", "per-frame-encode", "frame_to_peer_decode_s",
             {{"ours_s", percentile(per_frame_64, 0.5)}, {"p90_s", percentile(per_frame_64, 0.9)},
              {"samples", per_frame_64.size()}, {"size", "64x64"}});
  record.add("720p", "per-frame-encode", "frame_to_peer_decode_s",
             {{"ours_s", percentile(per_frame_720, 0.5)}, {"p90_s", percentile(per_frame_720, 0.9)},
              {"samples", per_frame_720.size()}, {"size", "1280x720"}});
  record.write(out_path);
  std::cout << record.json().dump(2) << std::endl;
  return 0;
}
