// Overlap in the engine and the queue: the denoising step time alone and with real-VAE previews
// decoding beside it (their own CUDA stream), how fresh those previews are when they come out, and
// jobs per hour for N queued jobs pipelined (the next job denoises while the previous one's final
// decode runs) against one after another, all through HunyuanEngine and JobQueue.
//   bench_overlap [--case 544x960x61] [--steps 12] [--preview-every 5|auto] [--preview-downscale 1]
//                 [--jobs 4] [--job-steps 8] [--stages steps,pipeline] [--json docs/benchmarks/overlap.json]
//                 [--device cuda] [--dtype bfloat16] [--model DIR] [--text-layers 3]
// Without --model: the released model's dimensions with random weights on the GPU (the transformer
// and the VAE full size; the LLaMA-shaped text encoder with --text-layers layers, since text
// encoding is about 25 ms of a job and is timed by bench_text). --model DIR loads a diffusers folder
// instead (the tiny model on the CPU for a dry run).
#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "core/engine/hunyuan_engine.h"
#include "core/engine/job_queue.h"
#include "core/engine/job_store.h"
#include "core/model/hunyuan_video/transformer.h"
#include "core/model/text/prompt_encoder.h"
#include "core/model/vae/autoencoder_kl_hunyuan_video.h"
#include "core/util/error.h"
#include "tests/bench/bench_util.h"

using namespace ditstream;
namespace bench = ditstream::bench;

namespace {

struct Flags {
  std::string video_case = "544x960x61";
  int steps = 12;          // per measured job of the step stage
  int preview_every = 5;   // real-VAE preview interval in the step stage (kPreviewVaeAuto: auto)
  int preview_downscale = 1;
  int jobs = 4;            // queued jobs of the pipeline stage
  int job_steps = 8;       // steps of each of them
  std::string stages = "steps,pipeline";
  std::string json_path;
  std::string device = "cuda";
  std::string dtype = "bfloat16";
  std::string model;
  int text_layers = 3;
};

Flags parse_flags(int argc, char** argv) {
  Flags f;
  for (int i = 1; i < argc; i += 2) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) throw_invalid("bench_overlap", flag, "needs a value");
    const std::string value = argv[i + 1];
    if (flag == "--case") f.video_case = value;
    else if (flag == "--steps") f.steps = std::stoi(value);
    else if (flag == "--preview-every") f.preview_every = value == "auto" ? engine::kPreviewVaeAuto : std::stoi(value);
    else if (flag == "--preview-downscale") f.preview_downscale = std::stoi(value);
    else if (flag == "--jobs") f.jobs = std::stoi(value);
    else if (flag == "--job-steps") f.job_steps = std::stoi(value);
    else if (flag == "--stages") f.stages = value;
    else if (flag == "--json") f.json_path = value;
    else if (flag == "--device") f.device = value;
    else if (flag == "--dtype") f.dtype = value;
    else if (flag == "--model") f.model = value;
    else if (flag == "--text-layers") f.text_layers = std::stoi(value);
    else throw_invalid("bench_overlap", flag, "is not a flag of bench_overlap");
  }
  require(f.steps >= 3, "bench_overlap", "--steps", "must be at least 3");
  require(f.preview_every == engine::kPreviewVaeAuto || (f.preview_every >= 1 && f.preview_every < f.steps), "bench_overlap",
          "--preview-every", "must be in 1..steps-1 or auto");
  require(f.jobs >= 2, "bench_overlap", "--jobs", "must be at least 2");
  require(f.job_steps >= 1, "bench_overlap", "--job-steps", "must be at least 1");
  return f;
}

engine::HunyuanEngineParts random_parts(const Flags& f) {
  const at::Device device(f.device);
  const auto dtype = f.dtype == "bfloat16" ? at::kBFloat16 : at::kFloat;
  engine::HunyuanEngineParts parts;
  parts.transformer = std::make_unique<model::hunyuan_video::HunyuanVideoTransformer3DModel>(
      model::hunyuan_video::HunyuanVideoTransformerConfig{});  // released dims
  parts.transformer->init_random(device, dtype, 0);
  parts.vae = std::make_unique<model::vae::AutoencoderKLHunyuanVideo>(model::vae::AutoencoderKLHunyuanVideoConfig{});
  parts.vae->init_random(device, dtype, 1);
  text::LlamaConfig llama;  // LLaMA-3-8B's shapes, fewer layers
  llama.num_hidden_layers = f.text_layers;
  auto text_encoder = std::make_unique<text::LlamaModel>(llama);
  text_encoder->init_random(device, dtype, 2);
  text::ClipTextConfig clip;  // CLIP-L
  clip.vocab_size = 49408, clip.hidden_size = 768, clip.intermediate_size = 3072, clip.num_hidden_layers = 12;
  clip.num_attention_heads = 12, clip.max_position_embeddings = 77, clip.eos_token_id = 2;
  auto text_encoder_2 = std::make_unique<text::ClipTextModel>(clip);
  text_encoder_2->init_random(device, dtype, 3);
  text::PromptEncoderOptions options;
  options.device = device;
  options.dtype = dtype;
  options.crop_start = text::kHunyuanVideoCropStart;
  const auto tiny = std::filesystem::path(DITSTREAM_SOURCE_DIR) / "models" / "tiny-hunyuan-video";
  parts.text_encoder = std::make_unique<text::PromptEncoder>(
      text::BpeTokenizer::from_file(tiny / "tokenizer"), text::ClipTokenizer::from_folder(tiny / "tokenizer_2"),
      std::move(text_encoder), std::move(text_encoder_2), options, "bench-random");
  return parts;
}

// Events of one job, kept without pixels, with the time each arrived.
struct Collected {
  std::mutex mutex;
  std::vector<engine::Progress> steps;
  std::vector<std::pair<engine::PreviewChunk, double>> previews;  // chunk, arrival (unix seconds)
  engine::PreviewPlan plan;

  engine::EventSink sink() {
    return [this](engine::Event e) {
      std::lock_guard lock(mutex);
      if (const auto* p = std::get_if<engine::Progress>(&e)) steps.push_back(*p);
      if (const auto* p = std::get_if<engine::PreviewPlan>(&e)) plan = *p;
      if (const auto* c = std::get_if<engine::PreviewChunk>(&e)) {
        previews.emplace_back(std::get<engine::PreviewChunk>(engine::without_pixels(*c)), engine::unix_seconds());
      }
    };
  }
};

double mean(const std::vector<double>& v) {
  return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}
double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Mean step time, the first step (allocator and kernel choices settling) left out.
double mean_step(const Collected& c) {
  std::vector<double> s;
  for (const auto& p : c.steps) {
    if (p.step > 1) s.push_back(p.step_seconds);
  }
  return mean(s);
}

engine::JobRequest make_request(const bench::VideoCase& c, int steps, int every, int64_t seed) {
  engine::JobRequest r;
  r.prompt = "A red panda climbs a snowy tree at dawn, cinematic lighting, 35mm film.";
  r.width = static_cast<int>(c.width);
  r.height = static_cast<int>(c.height);
  r.frames = static_cast<int>(c.frames);
  r.steps = steps;
  r.seed = seed;
  r.preview_vae_every = every;
  return r;
}

// Stage one of a job only: what the step and preview numbers need.
void denoise_only(engine::HunyuanEngine& e, const engine::JobRequest& r, Collected& c, engine::Timeline& timeline) {
  engine::CancelToken cancel;
  auto finisher = e.denoise(r, c.sink(), cancel, timeline);
  finisher.reset();  // waits for a preview chunk still decoding
}

// The time-weighted age of the newest real-VAE preview frame out, from the first one to the end of
// denoising: what a viewer watching the preview phase sees on average.
double mean_age_on_screen(const Collected& c, double denoise_end) {
  double area = 0, newest_ready = 0, since = 0;
  for (const auto& [chunk, at] : c.previews) {
    const double ready = at - chunk.age_seconds;
    if (since > 0 && at > since) area += (at - since) * (2 * since - 2 * newest_ready + (at - since)) / 2;
    newest_ready = std::max(newest_ready, ready);
    since = std::max(since, at);
  }
  if (since == 0 || denoise_end <= since) return 0;
  area += (denoise_end - since) * (2 * since - 2 * newest_ready + (denoise_end - since)) / 2;
  const double first = c.previews.front().second;
  return area / (denoise_end - first);
}

struct QueueRun {
  double wall_s = 0;
  double overlap_s = 0;  // job i+1 denoising while job i finished, summed
  std::vector<double> denoise_stage_s, finish_stage_s;
  int completed = 0;
};

QueueRun run_queue(engine::HunyuanEngine& e, const bench::VideoCase& c, const Flags& f, bool pipeline) {
  engine::JobStore store(":memory:");
  engine::JobQueue queue(e, store, {f.jobs, f.jobs, pipeline});
  queue.start();
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::string> ids;
  for (int i = 0; i < f.jobs; ++i) ids.push_back(queue.submit(make_request(c, f.job_steps, 0, 100 + i)).id);
  QueueRun out;
  std::vector<engine::JobRecord> records;
  for (const auto& id : ids) {
    while (!engine::is_terminal(queue.get(id).status)) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    records.push_back(queue.get(id));
  }
  out.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  queue.stop();
  for (size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    if (r.status != engine::JobStatus::completed) {
      std::fprintf(stderr, "job %zu %s: %s\n", i, std::string(engine::to_string(r.status)).c_str(), r.error.c_str());
      continue;
    }
    ++out.completed;
    out.denoise_stage_s.push_back(r.timings.at("denoise_stage"));
    out.finish_stage_s.push_back(r.timings.at("finish_stage"));
    if (i + 1 < records.size()) {
      std::vector<engine::Span> finishing, denoising;
      for (const auto& s : r.timeline) {
        if (s.what.rfind("decode", 0) == 0) finishing.push_back(s);
      }
      for (const auto& s : records[i + 1].timeline) {
        if (s.what.rfind("step", 0) == 0 || s.what == "text") denoising.push_back(s);
      }
      out.overlap_s += engine::overlap_seconds(finishing, denoising);
    }
  }
  return out;
}

bool has_stage(const Flags& f, const std::string& stage) {
  for (const auto& s : bench::split_list(f.stages)) {
    if (s == stage) return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Flags f = parse_flags(argc, argv);
    const auto c = bench::parse_video_cases(f.video_case, "--case").at(0);
    c10::InferenceMode guard;
    engine::HunyuanEngineOptions options;
    options.model = f.model;
    options.device = f.device;
    options.dtype = f.dtype;
    options.preview_vae_downscale = f.preview_downscale;
    const auto load_start = std::chrono::steady_clock::now();
    std::unique_ptr<engine::HunyuanEngine> made;
    if (f.model.empty()) {
      require(at::Device(f.device).is_cuda(), "bench_overlap", "--device", "random full-size weights need a CUDA device");
      made = std::make_unique<engine::HunyuanEngine>(options, random_parts(f));
    } else {
      made = std::make_unique<engine::HunyuanEngine>(options);
    }
    engine::HunyuanEngine& e = *made;
    const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
    const auto probe = make_request(c, f.steps, f.preview_every, 0);
    const std::string every = f.preview_every == engine::kPreviewVaeAuto ? "auto" : std::to_string(f.preview_every);
    const nlohmann::json every_json = f.preview_every == engine::kPreviewVaeAuto ? nlohmann::json("auto") : nlohmann::json(f.preview_every);
    const auto memory = e.stage_memory(probe);
    std::printf(
        "bench_overlap on %s, %s %s: %s, %s weights (%.0f s to make)\n"
        "  assumptions: step stage %d steps per job (alone, with a real-VAE preview every %s steps, alone again; "
        "downscale %d); pipeline stage %d queued jobs of %d steps each, without real-VAE previews, one after "
        "another then pipelined; the first step of a job is left out of step means; text encoding is in the jobs but "
        "not timed here; encoding to H.264 is not part of these jobs (no stream is attached)\n"
        "  memory: budget %.2f GiB; estimated denoise %.2f GiB (with its previews), final decode %.2f GiB\n",
        bench::device_name().c_str(), f.device.c_str(), f.dtype.c_str(), c.name.c_str(),
        f.model.empty() ? "random full-size" : f.model.c_str(), load_s, f.steps, every.c_str(), f.preview_downscale,
        f.jobs, f.job_steps, static_cast<double>(e.memory_budget()) / (1 << 30),
        static_cast<double>(memory.denoise) / (1 << 30), static_cast<double>(memory.finish) / (1 << 30));
    std::fflush(stdout);

    // Warm-up: a short whole job, so kernels, cuDNN choices and the allocator are settled for both
    // the transformer and the VAE.
    {
      engine::CancelToken cancel;
      Collected warm;
      bench::reset_peak_memory();
      e.run(make_request(c, 2, 0, 1), warm.sink(), cancel);
      std::printf("  warm-up job done, peak %.2f GiB\n", bench::peak_memory_gib());
    }

    bench::Record record("overlap", "scripts/device/bench-overlap.sh");
    if (has_stage(f, "steps")) {
      // Alone before and after the run with previews, so a drift of the device's clocks does not
      // count as the previews' cost.
      engine::Timeline before_timeline, with_timeline, after_timeline;
      Collected before, with, after;
      denoise_only(e, make_request(c, f.steps, 0, 7), before, before_timeline);
      bench::reset_peak_memory();
      denoise_only(e, make_request(c, f.steps, f.preview_every, 7), with, with_timeline);
      const double peak = bench::peak_memory_gib();
      denoise_only(e, make_request(c, f.steps, 0, 7), after, after_timeline);
      const double step_alone = (mean_step(before) + mean_step(after)) / 2, step_with = mean_step(with);
      std::printf("  step alone %.3f s before, %.3f s after\n", mean_step(before), mean_step(after));
      std::vector<double> first_frame_ages, ages;
      std::vector<int> preview_steps;
      for (const auto& [chunk, at] : with.previews) {
        ages.push_back(chunk.age_seconds);
        if (chunk.first_frame == 0) {
          first_frame_ages.push_back(chunk.age_seconds);
          preview_steps.push_back(chunk.step);
        }
      }
      double denoise_end = 0;
      for (const auto& s : with_timeline.spans()) {
        if (s.what.rfind("step", 0) == 0) denoise_end = std::max(denoise_end, s.end);
      }
      const double on_screen = with.previews.empty() ? 0 : mean_age_on_screen(with, denoise_end);
      std::vector<engine::Span> preview_spans, step_spans;
      for (const auto& s : with_timeline.spans()) {
        if (s.what.rfind("preview", 0) == 0) preview_spans.push_back(s);
        if (s.what.rfind("step", 0) == 0) step_spans.push_back(s);
      }
      const double concurrent = engine::overlap_seconds(preview_spans, step_spans);
      std::string shown;
      for (const int s : preview_steps) shown += (shown.empty() ? "" : ",") + std::to_string(s);
      std::printf(
          "ditstream overlap %s: step %.3f s alone, %.3f s with real-VAE previews every %s (%.3fx); previews of steps "
          "[%s] (plan %s on %s); %zu chunks out; decoding beside steps %.1f s; age of a preview's first frame when out: "
          "median %.2f s, max %.2f s; mean age of the newest preview on screen %.2f s; peak %.2f GiB\n",
          c.name.c_str(), step_alone, step_with, every.c_str(), step_with / step_alone, shown.c_str(),
          with.plan.path.c_str(), with.plan.lane.c_str(), with.previews.size(), concurrent, median(first_frame_ages),
          ages.empty() ? 0.0 : *std::max_element(ages.begin(), ages.end()), on_screen, peak);
      if (!with.plan.note.empty()) std::printf("  note: %s\n", with.plan.note.c_str());
      record.add(c.name, "step-with-vae-previews", "step_s",
                 {{"ours", step_with}, {"reference", step_alone}, {"reference_name", "denoising alone, same run"},
                  {"ratio", step_with / step_alone}, {"steps", f.steps}, {"preview_every", every_json},
                  {"preview_downscale", f.preview_downscale}, {"preview_steps", preview_steps},
                  {"preview_chunks", with.previews.size()}, {"preview_decode_beside_steps_s", concurrent},
                  {"preview_path", with.plan.path}, {"peak_gib", peak}});
      record.add(c.name, "vae-preview-age", "seconds",
                 {{"ours_s", median(first_frame_ages)}, {"max_s", ages.empty() ? 0.0 : *std::max_element(ages.begin(), ages.end())},
                  {"on_screen_mean_s", on_screen}, {"preview_every", every_json},
                  {"what", "x0 of the step ready → the preview's first frame handed to the stream (median)"}});
      if (!f.json_path.empty()) record.write(f.json_path);  // kept if a later stage runs out of time
    }
    if (has_stage(f, "pipeline")) {
      bench::reset_peak_memory();
      const QueueRun sequential = run_queue(e, c, f, false);
      const double peak_sequential = bench::peak_memory_gib();
      bench::reset_peak_memory();
      const QueueRun pipelined = run_queue(e, c, f, true);
      const double peak_pipelined = bench::peak_memory_gib();
      const double jph = 3600.0 * pipelined.completed / pipelined.wall_s;
      const double jph_ref = 3600.0 * sequential.completed / sequential.wall_s;
      std::printf(
          "ditstream overlap %s: %d jobs of %d steps: pipelined %.1f s (%.1f jobs/h, denoise stages %.1f s, finish "
          "stages %.1f s on average, %.1f s overlapped, peak %.2f GiB), one after another %.1f s (%.1f jobs/h, denoise "
          "%.1f s, finish %.1f s, peak %.2f GiB): %.3fx\n",
          c.name.c_str(), f.jobs, f.job_steps, pipelined.wall_s, jph, mean(pipelined.denoise_stage_s),
          mean(pipelined.finish_stage_s), pipelined.overlap_s, peak_pipelined, sequential.wall_s, jph_ref,
          mean(sequential.denoise_stage_s), mean(sequential.finish_stage_s), peak_sequential, jph / jph_ref);
      record.add(c.name, "pipelined-" + std::to_string(f.jobs) + "-jobs", "jobs_per_hour",
                 {{"ours", jph}, {"reference", jph_ref}, {"reference_name", "the same jobs one after another, same run"},
                  {"ratio", jph / jph_ref}, {"higher_is_better", true}, {"jobs", f.jobs}, {"steps_per_job", f.job_steps},
                  {"wall_s", pipelined.wall_s}, {"reference_wall_s", sequential.wall_s},
                  {"denoise_stage_s", mean(pipelined.denoise_stage_s)}, {"finish_stage_s", mean(pipelined.finish_stage_s)},
                  {"reference_denoise_stage_s", mean(sequential.denoise_stage_s)},
                  {"reference_finish_stage_s", mean(sequential.finish_stage_s)}, {"overlap_s", pipelined.overlap_s},
                  {"peak_gib", peak_pipelined}, {"reference_peak_gib", peak_sequential},
                  {"completed", pipelined.completed}, {"reference_completed", sequential.completed}});
      if (!f.json_path.empty()) record.write(f.json_path);
      if (pipelined.completed != f.jobs || sequential.completed != f.jobs) return 1;
    }
    if (!f.json_path.empty()) record.write(f.json_path);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_overlap: %s\n", e.what());
    return 2;
  }
}
