// End-to-end client of a running `ditstream serve` on 127.0.0.1: what a viewer gets from one job.
// It submits the job over REST, joins a WHEP viewer right after the POST (GStreamer webrtcbin, ICE on
// 127.0.0.1 only), timestamps every frame the viewer decodes, follows the job's Server-Sent Events,
// downloads the recording and reads /metrics. Preview frames are told apart from final frames by
// the "step k/n denoising" overlay each preview carries (stream::read_overlay); final frames carry
// "decoding"/"done" or nothing.
//
// It prints the job's timeline (queue wait, text encoding, every step, first preview at the viewer,
// preview cadence, first final frame at the viewer, decode chunks, encode, end-to-end, GPU memory)
// and writes the e2e benchmark record (docs/benchmarks/*.json format) with the diffusers numbers
// of the same run (diffusers_e2e.py --json) as the reference.
//
//   bench_e2e --port 18080 --case 544x960x61 --steps 30 --gpus 1 --reference diffusers.json
//             --json e2e-1gpu.json --report e2e-1gpu.txt --timeline e2e-1gpu-timeline.json
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include "tests/bench/bench_util.h"
#include "tests/stream/gst/whep_receiver.h"
#include "tests/web/http_client.h"

namespace {

using namespace ditstream;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct Options {
  uint16_t port = 0;
  std::string video_case = "544x960x61";
  int steps = 30;
  int fps = 24;
  int64_t seed = 42;
  std::string prompt = "A cat walks on the grass, realistic.";
  int warmup_steps = 0;
  int gpus = 1;
  std::string precision;  // the service's, from /healthz: "bfloat16", "bfloat16, fp8 linears, fp8 attention"
  std::string reference;
  std::string json_path;
  std::string report_path;
  std::string timeline_path;
  std::string recording_path;
  std::string command = "scripts/device/e2e.sh";
  int timeout_s = 1800;
};

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5)];
}

json job_body(const Options& o, const bench::VideoCase& c, int steps, int64_t seed) {
  return {{"prompt", o.prompt}, {"width", c.width}, {"height", c.height}, {"frames", c.frames},
          {"steps", steps},     {"seed", seed},     {"fps", o.fps}};
}

std::string submit(const Options& o, const json& body) {
  const auto r = testing::http_request(o.port, "POST", "/v1/videos", body.dump(), {{"Content-Type", "application/json"}});
  if (r.status != 202) throw std::runtime_error("POST /v1/videos answered " + std::to_string(r.status) + ": " + r.body);
  return json::parse(r.body).at("id").get<std::string>();
}

json get_job(const Options& o, const std::string& id) {
  const auto r = testing::http_request(o.port, "GET", "/v1/videos/" + id);
  if (r.status != 200) throw std::runtime_error("GET /v1/videos/" + id + " answered " + std::to_string(r.status));
  return json::parse(r.body);
}

json wait_until_done(const Options& o, const std::string& id) {
  const auto deadline = Clock::now() + std::chrono::seconds(o.timeout_s);
  while (Clock::now() < deadline) {
    json job = get_job(o, id);
    const std::string status = job["status"];
    if (status != "queued" && status != "in_progress") return job;
    std::this_thread::sleep_for(250ms);
  }
  throw std::runtime_error("job " + id + " did not finish within " + std::to_string(o.timeout_s) + " s");
}

// Prometheus text → name → value, for the lines without labels (gauges, counters, _sum, _count).
std::map<std::string, double> parse_metrics(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#' || line.find('{') != std::string::npos) continue;
    const auto space = line.find(' ');
    if (space == std::string::npos) continue;
    try {
      out[line.substr(0, space)] = std::stod(line.substr(space + 1));
    } catch (const std::exception&) {
    }
  }
  return out;
}

// The step a preview frame shows ("step k/n denoising" with n the job's step count).
std::optional<int> label_step(const testing::DecodedFrame& frame, int steps) {
  const auto& o = frame.overlay;
  if (!o || o->phase != "denoising" || o->total_steps != steps || o->step < 1) return std::nullopt;
  return o->step;
}

// A final frame: drawn with the decoding/done overlay, or clean (the recording's loop).
bool is_final_frame(const testing::DecodedFrame& frame) {
  return !frame.overlay || frame.overlay->phase == "decoding" || frame.overlay->phase == "done";
}

struct Measured {
  json job;                                   // GET /v1/videos/{id} after the end
  std::vector<testing::SseEvent> events;      // as the client read them
  std::vector<testing::DecodedFrame> frames;  // as the viewer decoded them
  std::string decoder;
  Clock::time_point t0, whep_answered, downloaded;
  size_t recording_bytes = 0;
  std::map<std::string, double> metrics;
};

Measured run_job(const Options& o, const bench::VideoCase& c) {
  Measured m;
  testing::WhepReceiver viewer;
  m.decoder = viewer.decoder();
  const std::string offer = viewer.create_offer();  // ready before the clock starts, as a page would be
  m.t0 = Clock::now();
  const std::string id = submit(o, job_body(o, c, o.steps, o.seed));
  std::thread sse([&] {
    m.events = testing::read_events(
        o.port, "/v1/videos/" + id + "/events",
        [](const testing::SseEvent& e) { return e.name == "completed" || e.name == "failed" || e.name == "canceled"; },
        std::chrono::seconds(o.timeout_s));
  });
  const auto answer =
      testing::http_request(o.port, "POST", "/v1/videos/" + id + "/whep", offer, {{"Content-Type", "application/sdp"}});
  if (answer.status != 201) {
    sse.join();
    throw std::runtime_error("WHEP answered " + std::to_string(answer.status) + ": " + answer.body);
  }
  viewer.accept_answer(answer.body);
  m.whep_answered = Clock::now();
  sse.join();
  if (m.events.empty() || m.events.back().name != "completed") {
    throw std::runtime_error("job " + id + " did not complete: " + (m.events.empty() ? "no events" : m.events.back().data));
  }
  // The first final frame normally reaches the viewer long before the end; give it a moment if not.
  viewer.wait_until(
      [&](const std::vector<testing::DecodedFrame>& f) {
        bool seen_preview = false;
        for (const auto& d : f) {
          if (label_step(d, o.steps)) seen_preview = true;
          else if (seen_preview && is_final_frame(d)) return true;
        }
        return false;
      },
      5s);
  m.frames = viewer.frames();
  m.job = get_job(o, id);
  const auto content = testing::http_request(o.port, "GET", "/v1/videos/" + id + "/content");
  m.downloaded = Clock::now();
  if (content.status != 200) throw std::runtime_error("GET content answered " + std::to_string(content.status));
  m.recording_bytes = content.body.size();
  if (!o.recording_path.empty()) std::ofstream(o.recording_path, std::ios::binary) << content.body;
  m.metrics = parse_metrics(testing::http_request(o.port, "GET", "/metrics").body);
  return m;
}

// The diffusers numbers for this case and step count, from diffusers_e2e.py --json.
json reference_for(const Options& o, const bench::VideoCase& c) {
  const json doc = bench::read_reference(o.reference);
  const auto it = doc.find(c.name);
  if (it == doc.end() || it->value("steps", -1) != o.steps) return json::object();
  return *it;
}

struct Timeline {
  json fields = json::object();
  std::string text;
};

Timeline analyse(const Options& o, const bench::VideoCase& c, const Measured& m, const json& ref) {
  auto since_t0 = [&](Clock::time_point t) { return seconds(t - m.t0); };
  const json& timings = m.job["timings"];
  auto timing = [&](const char* k) { return timings.contains(k) ? timings[k].get<double>() : -1.0; };

  // Steps and chunks as the events told them.
  std::vector<double> step_seconds;
  int computed = 0, reused = 0;
  std::vector<json> chunks;
  double completed_at = -1, last_chunk_at = -1;
  for (const auto& e : m.events) {
    const json data = e.data.empty() ? json::object() : json::parse(e.data);
    if (e.name == "step") {
      step_seconds.push_back(data["step_seconds"].get<double>());
      (data["reused"].get<bool>() ? reused : computed) += 1;
    } else if (e.name == "chunk") {
      last_chunk_at = since_t0(e.at);
      chunks.push_back({{"first_frame", data["first_frame"]}, {"frames", data["frames"]},
                        {"decode_s", data["decode_seconds"]}, {"at_s", last_chunk_at}});
    } else if (e.name == "completed") {
      completed_at = since_t0(e.at);
    }
  }

  // Previews at the viewer: the first arrival of every step's overlay; the first final frame is the
  // first decoding/done (or clean) frame after the last preview (before any preview, the stream is
  // black).
  std::map<int, double> preview_at;
  size_t last_labelled = m.frames.size();
  for (size_t i = 0; i < m.frames.size(); ++i) {
    if (const auto k = label_step(m.frames[i], o.steps)) {
      preview_at.emplace(*k, since_t0(m.frames[i].at));
      last_labelled = i;
    }
  }
  double first_preview = -1, first_final = -1;
  if (!preview_at.empty()) {
    first_preview = std::min_element(preview_at.begin(), preview_at.end(),
                                     [](const auto& a, const auto& b) { return a.second < b.second; })->second;
    for (size_t i = last_labelled + 1; i < m.frames.size(); ++i) {
      if (is_final_frame(m.frames[i])) {
        first_final = since_t0(m.frames[i].at);
        break;
      }
    }
  }
  std::vector<double> cadence;
  for (auto it = preview_at.begin(); it != preview_at.end() && std::next(it) != preview_at.end(); ++it) {
    cadence.push_back(std::next(it)->second - it->second);
  }
  int unreadable_between = 0;  // frames during the preview phase whose label did not read (a check on the reader)
  if (!preview_at.empty()) {
    bool started = false;
    for (size_t i = 0; i <= last_labelled && i < m.frames.size(); ++i) {
      if (label_step(m.frames[i], o.steps)) started = true;
      else if (started) ++unreadable_between;
    }
  }

  const double step_median = percentile(step_seconds, 0.5);
  const double gib = 1024.0 * 1024.0 * 1024.0;
  auto metric = [&](const char* k) { return m.metrics.count(k) ? m.metrics.at(k) : -1.0; };
  const double encode_count = metric("ditstream_encode_frame_seconds_count");
  const double encode_mean = encode_count > 0 ? metric("ditstream_encode_frame_seconds_sum") / encode_count : -1;
  const double reference_mp4 = ref.value("time_to_mp4_s", -1.0);

  Timeline t;
  t.fields = {
      {"gpus", o.gpus},
      {"precision", o.precision},
      {"steps", o.steps},
      {"prompt", o.prompt},
      {"queue_wait_s", timing("queue_wait")},
      {"text_encode_and_setup_s", timing("prepare")},
      {"steps_computed", computed},
      {"steps_reused", reused},
      {"step_s", step_seconds},
      {"step_median_s", step_median},
      {"denoise_s", timing("denoise")},
      {"first_preview_at_viewer_s", first_preview},
      {"first_preview_server_s", timing("first_preview")},
      {"whep_answered_s", since_t0(m.whep_answered)},
      {"previews_seen", preview_at.size()},
      {"preview_interval_median_s", percentile(cadence, 0.5)},
      {"preview_interval_p90_s", percentile(cadence, 0.9)},
      {"preview_interval_max_s", cadence.empty() ? 0.0 : *std::max_element(cadence.begin(), cadence.end())},
      {"unlabelled_frames_among_previews", unreadable_between},
      {"first_final_frame_at_viewer_s", first_final},
      {"first_final_frame_server_s", timing("first_final_frame")},
      {"decode_chunks", chunks},
      {"decode_s", timing("decode")},
      {"decode_chunk_max_s", timing("decode_chunk_max")},
      {"encode_frame_mean_s", encode_mean},
      {"frames_encoded_live", encode_count},
      {"recording_finish_after_last_chunk_s", completed_at >= 0 && last_chunk_at >= 0 ? completed_at - last_chunk_at : -1},
      {"end_to_end_s", completed_at},
      {"end_to_end_server_s", timing("end_to_end")},
      {"recording_downloaded_s", since_t0(m.downloaded)},
      {"recording_bytes", m.recording_bytes},
      {"frames_at_viewer", m.frames.size()},
      {"viewer_decoder", m.decoder},
      {"gpu_memory_allocated_peak_gib", m.metrics.count("ditstream_gpu_memory_allocated_peak_bytes")
                                            ? json(metric("ditstream_gpu_memory_allocated_peak_bytes") / gib) : json(nullptr)},
      {"gpu_memory_reserved_peak_gib", m.metrics.count("ditstream_gpu_memory_reserved_peak_bytes")
                                           ? json(metric("ditstream_gpu_memory_reserved_peak_bytes") / gib) : json(nullptr)},
      {"text_path", m.job.value("text_path", "")},
      {"decode_path", m.job.value("decode_path", "")},
  };

  std::ostringstream s;
  auto line = [&](const std::string& what, const std::string& value) { s << fmt::format("  {:<40} {}\n", what, value); };
  auto secs = [](double v) { return v < 0 ? std::string("n/a") : fmt::format("{:.3f} s", v); };
  s << fmt::format("ditstream end to end: {} ({}x{}, {} frames), {} steps, {} GPU(s), {}, {}\n", c.name, c.width,
                   c.height, c.frames, o.steps, o.gpus, o.precision, bench::device_name());
  line("queue wait", secs(timing("queue_wait")));
  line("text encoding (+ noise, schedule)", secs(timing("prepare")));
  line("steps", fmt::format("{} computed, {} reused; median {:.3f} s, first {:.3f} s, min {:.3f} s, max {:.3f} s", computed,
                            reused, step_median, step_seconds.empty() ? 0.0 : step_seconds.front(),
                            step_seconds.empty() ? 0.0 : *std::min_element(step_seconds.begin(), step_seconds.end()),
                            step_seconds.empty() ? 0.0 : *std::max_element(step_seconds.begin(), step_seconds.end())));
  for (size_t i = 0; i < step_seconds.size(); ++i) {
    s << fmt::format("{}{:.3f}", i % 10 == 0 ? (i ? "\n      " : "      ") : " ", step_seconds[i]);
  }
  s << "\n";
  line("WHEP answered", secs(since_t0(m.whep_answered)));
  line("first preview frame at the viewer", fmt::format("{} (service emitted it at {})", secs(first_preview),
                                                        secs(timing("first_preview"))));
  line("preview cadence at the viewer", fmt::format("median {}, p90 {}, max {} ({} of {} previews seen)",
                                                    secs(percentile(cadence, 0.5)), secs(percentile(cadence, 0.9)),
                                                    secs(cadence.empty() ? 0.0 : *std::max_element(cadence.begin(), cadence.end())),
                                                    preview_at.size(), o.steps));
  line("denoise (sum of steps)", secs(timing("denoise")));
  line("first final frame at the viewer", fmt::format("{} (service emitted it at {})", secs(first_final),
                                                      secs(timing("first_final_frame"))));
  line("decode", fmt::format("{} chunks, {} in all, longest {}", chunks.size(), secs(timing("decode")),
                             secs(timing("decode_chunk_max"))));
  line("encode (live stream, per frame)", encode_mean < 0 ? "n/a" : fmt::format("{:.2f} ms mean over {:.0f} frames",
                                                                                 1000 * encode_mean, encode_count));
  line("recording finished after the last chunk", secs(completed_at >= 0 && last_chunk_at >= 0 ? completed_at - last_chunk_at : -1));
  line("end to end (submit → mp4 on the server)", secs(completed_at));
  line("recording downloaded", fmt::format("{} ({:.1f} MB)", secs(since_t0(m.downloaded)), m.recording_bytes / 1e6));
  const double allocated_peak = metric("ditstream_gpu_memory_allocated_peak_bytes");
  line("GPU memory peak (rank 0, since start)",
       allocated_peak < 0 ? "n/a (the service runs on the CPU)"
                          : fmt::format("{:.2f} GiB allocated, {:.2f} GiB reserved", allocated_peak / gib,
                                        metric("ditstream_gpu_memory_reserved_peak_bytes") / gib));
  line("viewer", fmt::format("{} frames decoded ({}), {} unlabelled among the previews", m.frames.size(), m.decoder,
                             unreadable_between));
  if (reference_mp4 > 0) {
    line("diffusers: call → finished mp4", fmt::format("{} (same steps, same run)", secs(reference_mp4)));
    line("ratios to diffusers", fmt::format("first preview {:.3f}, first final frame {:.3f}, end to end {:.3f}",
                                            first_preview / reference_mp4, first_final / reference_mp4,
                                            completed_at / reference_mp4));
  }
  t.text = s.str();
  return t;
}

void add_rows(bench::Record& record, const Options& o, const bench::VideoCase& c, const Timeline& t, const json& ref) {
  // "1gpu-end-to-end", "1gpu-fp8-end-to-end": a service computing in fp8 is labelled as such.
  const bool fp8 = o.precision.find("fp8") != std::string::npos;
  const std::string prefix = std::to_string(o.gpus) + "gpu-" + (fp8 ? "fp8-" : "");
  const double reference = ref.value("time_to_mp4_s", -1.0);
  auto row = [&](const std::string& variant, const std::string& metric, double ours, json extra) {
    json fields = {{"ours_s", ours}};
    if (reference > 0) {
      fields["reference"] = reference;
      fields["reference_name"] = "diffusers " + ref.value("diffusers", std::string("")) + " HunyuanVideoPipeline, call → mp4, same run";
      fields["ratio"] = ours / reference;
    }
    for (auto& [k, v] : extra.items()) fields[k] = v;
    record.add(c.name, prefix + variant, metric, fields);
  };
  const double step = t.fields["step_median_s"].get<double>();
  const double first_preview = t.fields["first_preview_at_viewer_s"].get<double>();
  const double first_final = t.fields["first_final_frame_at_viewer_s"].get<double>();
  const double end_to_end = t.fields["end_to_end_s"].get<double>();
  row("first-preview", "submit_to_first_preview_at_viewer_s", first_preview,
      {{"target_s", step + 0.5}, {"target", "one step + 0.5 s"}, {"met", first_preview > 0 && first_preview <= step + 0.5}});
  json final_extra = {{"target", "0.25x diffusers end to end"}};
  if (reference > 0) final_extra["met"] = first_final > 0 && first_final <= 0.25 * reference;
  row("first-final-frame", "submit_to_first_final_frame_at_viewer_s", first_final, final_extra);
  json e2e_extra = {{"recording_downloaded_s", t.fields["recording_downloaded_s"]}};
  if (o.gpus == 1) {
    e2e_extra["target"] = "0.6x diffusers";
    if (reference > 0) e2e_extra["met"] = end_to_end > 0 && end_to_end <= 0.6 * reference;
  }
  row("end-to-end", "submit_to_mp4_s", end_to_end, e2e_extra);
  json timeline = t.fields;
  if (!ref.empty()) timeline["diffusers"] = ref;
  record.add(c.name, prefix + "timeline", "stages_s", timeline);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"End-to-end client of a running ditstream service (REST, WHEP viewer, SSE, recording)"};
  app.add_option("--port", o.port, "port of the service on 127.0.0.1")->required();
  app.add_option("--case", o.video_case, "HxWxF");
  app.add_option("--steps", o.steps, "denoising steps")->check(CLI::Range(1, 1000));
  app.add_option("--fps", o.fps, "frames per second of the clip")->check(CLI::Range(1, 60));
  app.add_option("--seed", o.seed, "noise seed");
  app.add_option("--prompt", o.prompt, "prompt");
  app.add_option("--warmup-steps", o.warmup_steps, "first run a job of this many steps at the same size (0: none)")
      ->check(CLI::Range(0, 1000));
  app.add_option("--gpus", o.gpus, "GPUs the service runs on (labels the record)")->check(CLI::Range(1, 64));
  app.add_option("--reference", o.reference, "diffusers_e2e.py --json output of the same run");
  app.add_option("--json", o.json_path, "benchmark record to write");
  app.add_option("--report", o.report_path, "text report to write");
  app.add_option("--timeline", o.timeline_path, "raw events and frame arrivals to write (JSON)");
  app.add_option("--recording", o.recording_path, "where to save the downloaded mp4");
  app.add_option("--command", o.command, "the command recorded in the record");
  app.add_option("--timeout", o.timeout_s, "seconds a job may take")->check(CLI::Range(1, 86400));
  CLI11_PARSE(app, argc, argv);
  try {
    const auto cases = bench::parse_video_cases(o.video_case, "--case");
    if (cases.size() != 1) throw std::runtime_error("--case takes one HxWxF");
    const auto& c = cases.front();
    const auto health = testing::http_request(o.port, "GET", "/healthz");
    if (health.status != 200) throw std::runtime_error("the service is not healthy: " + health.body);
    std::cout << "service: " << health.body << std::endl;
    o.precision = json::parse(health.body).value("precision", std::string("bfloat16"));
    if (o.warmup_steps > 0) {
      const auto t = Clock::now();
      const json w = wait_until_done(o, submit(o, job_body(o, c, o.warmup_steps, o.seed + 1)));
      std::cout << fmt::format("warm-up job: {} steps, {} in {:.1f} s", o.warmup_steps, w["status"].get<std::string>(),
                               seconds(Clock::now() - t))
                << std::endl;
    }
    const Measured m = run_job(o, c);
    const json ref = reference_for(o, c);
    const Timeline t = analyse(o, c, m, ref);
    std::cout << t.text << std::flush;
    if (!o.report_path.empty()) std::ofstream(o.report_path) << t.text;
    if (!o.timeline_path.empty()) {
      json events = json::array(), frames = json::array();
      for (const auto& e : m.events) events.push_back({{"at_s", seconds(e.at - m.t0)}, {"event", e.name}, {"data", e.data}});
      for (const auto& f : m.frames) {
        frames.push_back({{"at_s", seconds(f.at - m.t0)}, {"overlay", f.overlay ? json(fmt::format("step {}/{} {}", f.overlay->step, f.overlay->total_steps, f.overlay->phase)) : json(nullptr)},
                          {"y", f.y}, {"size", std::to_string(f.width) + "x" + std::to_string(f.height)}});
      }
      std::ofstream(o.timeline_path) << json{{"case", c.name}, {"gpus", o.gpus}, {"job", m.job}, {"events", events},
                                              {"frames", frames}}
                                            .dump(1);
    }
    if (!o.json_path.empty()) {
      bench::Record record("e2e", o.command);
      add_rows(record, o, c, t, ref);
      record.write(o.json_path);
    }
    return t.fields["first_final_frame_at_viewer_s"].get<double>() > 0 ? 0 : 3;
  } catch (const std::exception& e) {
    std::cerr << "bench_e2e: " << e.what() << std::endl;
    return 1;
  }
}
