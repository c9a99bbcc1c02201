// Overlap in the HunyuanVideo engine on the tiny model: real-VAE previews are the streaming decode
// of their step's x0, come every k steps (or as auto chooses), decode on their own lane while the
// next steps run, are superseded rather than queued, and give way to cheap previews when the
// memory budget has no room; a job's final decode can run while the next job denoises, with the
// same frames as one after the other.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

#include "core/engine/hunyuan_engine.h"
#include "core/engine/preview_decoder.h"
#include "core/io/config_reader.h"
#include "core/io/diffusers_folder.h"
#include "core/model/hunyuan_video/transformer.h"
#include "core/model/text/prompt_encoder.h"
#include "core/model/vae/autoencoder_kl_hunyuan_video.h"
#include "core/sampling/pipeline.h"
#include "core/util/error.h"
#include "tests/support/test_support.h"

namespace ditstream {
namespace {

using namespace std::chrono_literals;

engine::HunyuanEngineOptions tiny_options() {
  return {testing::tiny_model_dir(), "cpu", "float32"};
}

engine::JobRequest request(int steps, int every, int frames = 9, int size = 32) {
  engine::JobRequest r;
  r.prompt = "a fox in the snow";
  r.width = size;
  r.height = size;
  r.frames = frames;
  r.steps = steps;
  r.seed = 5;
  r.preview_vae_every = every;
  return r;
}

// A thread-safe sink (previews are emitted by their decode thread) that keeps every event.
struct Recorder {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<engine::Event> events;

  engine::EventSink sink(std::function<void(const engine::Event&)> before = {}) {
    return [this, before](engine::Event e) {
      if (before) before(e);
      std::lock_guard lock(mutex);
      events.push_back(std::move(e));
      changed.notify_all();
    };
  }
  template <class T>
  std::vector<T> all() {
    std::lock_guard lock(mutex);
    std::vector<T> out;
    for (const auto& e : events) {
      if (const auto* x = std::get_if<T>(&e)) out.push_back(*x);
    }
    return out;
  }
  // Real-VAE preview frames of `step` received so far.
  int preview_frames(int step) {
    int n = 0;
    for (const auto& c : all<engine::PreviewChunk>()) n += c.step == step ? static_cast<int>(c.frames.size()) : 0;
    return n;
  }
  std::vector<engine::FramePtr> final_frames() {
    std::vector<engine::FramePtr> out;
    for (const auto& c : all<engine::FrameChunk>()) out.insert(out.end(), c.frames.begin(), c.frames.end());
    return out;
  }
};

// A sink that holds the denoise thread after `step`'s cheap preview until `frames` real-VAE preview
// frames of that step arrived, so a preview is not superseded however slow the machine is.
engine::EventSink holding_at(Recorder& got, std::set<int> steps, int frames) {
  return got.sink([&got, steps, frames](const engine::Event& ev) {
    const auto* p = std::get_if<engine::PreviewFrame>(&ev);
    if (!p || !steps.count(p->step)) return;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (got.preview_frames(p->step) < frames && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(2ms);
    }
  });
}

// x0 of the given (1-based) steps, computed the way the engine runs the tiny model, and each
// decoded by the streaming VAE into uint8 frames [n, H, W, 3].
std::map<int, at::Tensor> reference_previews(const engine::JobRequest& r, const std::set<int>& steps) {
  c10::InferenceMode guard;
  const auto dir = testing::tiny_model_dir();
  const auto folder = io::DiffusersFolder::open(dir);
  auto transformer = model::hunyuan_video::HunyuanVideoTransformer3DModel::from_folder(folder, {at::kCPU, at::kFloat, true});
  const auto scheduler = sampling::FlowMatchEulerDiscreteSchedulerConfig::from_config(
      io::ConfigReader::from_file(dir / "scheduler" / "scheduler_config.json"));
  const auto text = text::PromptEncoder::load(folder, {at::kCPU, at::kFloat});
  const auto vae = model::vae::AutoencoderKLHunyuanVideo::from_folder(dir, {at::kCPU, at::kFloat, true});
  const auto e = text->encode(r.prompt);
  sampling::GenerationPipeline pipeline(*transformer, scheduler);
  const sampling::GenerationRequest g = engine::generation_request(r);
  std::map<int, at::Tensor> out;
  sampling::StepHooks hooks;
  hooks.on_step = [&](const sampling::StepEvent& s) {
    if (!steps.count(static_cast<int>(s.index + 1))) return;
    std::vector<at::Tensor> chunks;
    model::vae::StreamingOptions streaming;
    streaming.unscale_latents = true;
    model::vae::decode_streaming(*vae, s.x0, model::vae::ChunkPlan{}, streaming,
                                 [&](const at::Tensor& frames, int64_t) { chunks.push_back(frames.select(0, 0)); });
    // [3, n, H, W] in [-1, 1] → [n, H, W, 3] uint8
    out[static_cast<int>(s.index + 1)] =
        ((at::cat(chunks, 1) + 1.0) * 127.5).clamp(0, 255).round().to(at::kByte).permute({1, 2, 3, 0}).contiguous();
  };
  pipeline.generate(g, {e.prompt_embeds, e.prompt_attention_mask, e.pooled_prompt_embeds}, hooks);
  return out;
}

TEST(RealVaePreviews, EachIsTheStreamingDecodeOfItsStepsX0AtTheInterval) {
  engine::HunyuanEngine e(tiny_options());
  const auto r = request(5, 2);
  Recorder got;
  // Holding the denoise thread at a preview's step until that preview is whole makes every
  // preview complete (none is superseded), so each can be compared frame by frame.
  const auto sink = holding_at(got, {2, 4}, r.frames);
  engine::CancelToken cancel;
  engine::Timeline timeline;
  e.run(r, sink, cancel, timeline);

  const auto plans = got.all<engine::PreviewPlan>();
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(plans[0].path, "latent-rgb+vae");
  EXPECT_EQ(plans[0].lane, "cpu/preview-vae");
  EXPECT_TRUE(plans[0].note.empty()) << plans[0].note;
  std::map<int, std::vector<engine::FramePtr>> previews;
  for (const auto& c : got.all<engine::PreviewChunk>()) {
    EXPECT_EQ(c.first_frame, static_cast<int>(previews[c.step].size())) << "step " << c.step;
    EXPECT_EQ(c.frames_total, 9);
    EXPECT_GT(c.age_seconds, 0.0);
    previews[c.step].insert(previews[c.step].end(), c.frames.begin(), c.frames.end());
  }
  ASSERT_EQ(previews.size(), 2u);
  const auto reference = reference_previews(r, {2, 4});
  for (const int step : {2, 4}) {
    ASSERT_EQ(previews[step].size(), 9u) << "step " << step;
    const at::Tensor want = reference.at(step);
    for (size_t i = 0; i < 9; ++i) {
      const auto& f = *previews[step][i];
      ASSERT_EQ(f.width, 32);
      ASSERT_EQ(f.height, 32);
      const at::Tensor have = at::from_blob(const_cast<uint8_t*>(f.rgb.data()), {32, 32, 3}, at::kByte).to(at::kInt);
      const int diff = (have - want[static_cast<int64_t>(i)].to(at::kInt)).abs().max().item<int>();
      EXPECT_LE(diff, 1) << "step " << step << " frame " << i;
    }
  }
  // Previews differ between steps: they follow the denoising.
  EXPECT_NE(previews[2][4]->rgb, previews[4][4]->rgb);
  EXPECT_EQ(got.final_frames().size(), 9u);
  // The timeline has each preview chunk on the preview lane.
  int preview_spans = 0;
  for (const auto& s : timeline.spans()) {
    if (s.what.rfind("preview step", 0) == 0) {
      ++preview_spans;
      EXPECT_EQ(s.lane, "cpu/preview-vae");
    }
  }
  EXPECT_EQ(preview_spans, 4);  // 2 previews × 2 chunks (1 + 8 frames)
}

TEST(RealVaePreviews, DecodeOnTheirOwnLaneWhileTheNextStepsRun) {
  engine::HunyuanEngine e(tiny_options());
  Recorder got;
  engine::CancelToken cancel;
  engine::Timeline timeline;
  e.run(request(8, 2, 17, 64), got.sink(), cancel, timeline);
  std::vector<engine::Span> steps, previews;
  for (const auto& s : timeline.spans()) {
    if (s.what.rfind("step", 0) == 0) steps.push_back(s);
    if (s.what.rfind("preview step", 0) == 0) previews.push_back(s);
  }
  ASSERT_EQ(steps.size(), 8u);
  ASSERT_FALSE(previews.empty());  // decoded chunks, emitted or superseded
  EXPECT_EQ(steps.front().lane, "cpu/denoise");
  EXPECT_EQ(previews.front().lane, "cpu/preview-vae");
  EXPECT_GT(engine::overlap_seconds(previews, steps), 0.0) << "no preview decoded while a step ran";
  std::set<int> preview_steps;
  for (const auto& c : got.all<engine::PreviewChunk>()) preview_steps.insert(c.step);
  for (const int s : preview_steps) {
    EXPECT_EQ(s % 2, 0);
    EXPECT_LT(s, 8);
  }
  EXPECT_EQ(got.final_frames().size(), 17u);
}

TEST(RealVaePreviews, AutoIntervalPreviewsTheFirstStepAndNeverTheLast) {
  engine::HunyuanEngine e(tiny_options());
  Recorder got;
  engine::CancelToken cancel;
  e.run(request(6, engine::kPreviewVaeAuto), holding_at(got, {1}, 9), cancel);
  const auto plans = got.all<engine::PreviewPlan>();
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(plans[0].vae_every, engine::kPreviewVaeAuto);
  const auto chunks = got.all<engine::PreviewChunk>();
  ASSERT_FALSE(chunks.empty());
  EXPECT_EQ(chunks.front().step, 1);
  for (const auto& c : chunks) EXPECT_LT(c.step, 6);
}

TEST(RealVaePreviews, DownscaledPreviewsAreTheSamePictureAtLessDetail) {
  // Step 1's preview, decoded at full resolution and from x0 pooled 2×2 (then scaled back up).
  std::vector<engine::FramePtr> first_frames;
  for (const int downscale : {1, 2}) {
    auto options = tiny_options();
    options.preview_vae_downscale = downscale;
    engine::HunyuanEngine e(options);
    Recorder got;
    engine::CancelToken cancel;
    e.run(request(3, 1, 5, 64), holding_at(got, {1}, 1), cancel);
    const auto chunks = got.all<engine::PreviewChunk>();
    ASSERT_FALSE(chunks.empty());
    ASSERT_EQ(chunks.front().step, 1);
    first_frames.push_back(chunks.front().frames.front());
  }
  const auto& full = *first_frames[0];
  const auto& pooled = *first_frames[1];
  ASSERT_EQ(pooled.width, 64);  // the output size, as the compositor takes it
  ASSERT_EQ(pooled.height, 64);
  ASSERT_EQ(pooled.rgb.size(), full.rgb.size());
  double mean_full = 0, mean_pooled = 0;
  int differ = 0;
  for (size_t i = 0; i < full.rgb.size(); ++i) {
    mean_full += full.rgb[i];
    mean_pooled += pooled.rgb[i];
    differ += full.rgb[i] != pooled.rgb[i];
  }
  mean_full /= static_cast<double>(full.rgb.size());
  mean_pooled /= static_cast<double>(full.rgb.size());
  EXPECT_GT(differ, 0);                              // less detail
  EXPECT_NEAR(mean_pooled, mean_full, 16.0);        // the same picture
}

TEST(RealVaePreviews, GiveWayToCheapPreviewsWhenTheMemoryBudgetHasNoRoom) {
  auto options = tiny_options();
  options.memory_budget_gib = 1e-5;  // about 10 KiB
  engine::HunyuanEngine e(options);
  EXPECT_EQ(e.memory_budget(), static_cast<int64_t>(1e-5 * 1024 * 1024 * 1024));
  Recorder got;
  engine::CancelToken cancel;
  e.run(request(4, 2), got.sink(), cancel);
  const auto plans = got.all<engine::PreviewPlan>();
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(plans[0].path, "latent-rgb");
  EXPECT_NE(plans[0].note.find("memory budget"), std::string::npos) << plans[0].note;
  EXPECT_TRUE(got.all<engine::PreviewChunk>().empty());
  EXPECT_EQ(got.all<engine::PreviewFrame>().size(), 4u);
  EXPECT_EQ(got.final_frames().size(), 9u);
  // The queue sees what each stage needs: here, no preview decode in the denoise stage.
  const auto memory = e.stage_memory(request(4, 2));
  EXPECT_GT(memory.denoise, 0);
  EXPECT_GT(memory.finish, 0);
  EXPECT_GT(memory.finish + memory.denoise, e.memory_budget());
}

TEST(HunyuanEngine, RejectsBadPreviewOptionsAndIntervalsNamingTheField) {
  auto bad_downscale = tiny_options();
  bad_downscale.preview_vae_downscale = 3;
  auto bad_budget = tiny_options();
  bad_budget.memory_budget_gib = -1;
  for (const auto& [options, field] : {std::pair{bad_downscale, "preview_vae_downscale"}, std::pair{bad_budget, "memory_budget_gib"}}) {
    try {
      engine::HunyuanEngine e(options);
      FAIL() << "accepted a bad " << field;
    } catch (const Error& err) {
      EXPECT_EQ(err.field(), field);
    }
  }
  engine::HunyuanEngine e(tiny_options());
  for (const int every : {3, 7, -4}) {
    engine::CancelToken cancel;
    try {
      e.run(request(3, every), [](engine::Event) {}, cancel);
      FAIL() << "accepted preview_vae_every " << every << " for 3 steps";
    } catch (const Error& err) {
      EXPECT_EQ(err.field(), "preview_vae_every") << every;
    }
  }
}

TEST(HunyuanEngine, NextJobDenoisesWhileThePreviousFinishesWithTheSameFrames) {
  engine::HunyuanEngine e(tiny_options());
  auto a = request(3, 1, 17, 48);
  auto b = request(4, 2, 9, 32);
  b.prompt = "a lighthouse at night";
  b.seed = 9;
  engine::CancelToken cancel;
  Recorder alone_a, alone_b;
  e.run(a, alone_a.sink(), cancel);
  e.run(b, alone_b.sink(), cancel);

  Recorder over_a, over_b;
  engine::Timeline timeline_a, timeline_b;
  const auto sink_a = over_a.sink();
  const auto sink_b = over_b.sink();
  auto finisher_a = e.denoise(a, sink_a, cancel, timeline_a);
  std::thread finishing([&] { finisher_a->finish(sink_a, cancel, timeline_a); });
  auto finisher_b = e.denoise(b, sink_b, cancel, timeline_b);
  finishing.join();
  finisher_b->finish(sink_b, cancel, timeline_b);

  for (auto [alone, over] : {std::pair{&alone_a, &over_a}, std::pair{&alone_b, &over_b}}) {
    const auto want = alone->final_frames(), have = over->final_frames();
    ASSERT_EQ(have.size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(have[i]->rgb, want[i]->rgb) << "frame " << i;
  }
  for (const auto& s : timeline_a.spans()) {
    if (s.what.rfind("decode", 0) == 0) {
      EXPECT_EQ(s.lane, "cpu/finish");
    }
  }
}

TEST(PreviewSchedule, FixedIntervalsAndAutoChoices) {
  engine::PreviewSchedule fixed(3, 10);
  std::vector<int> due;
  for (int s = 1; s <= 10; ++s) {
    if (fixed.due(s, 1.0, 0)) due.push_back(s);
  }
  EXPECT_EQ(due, (std::vector<int>{3, 6, 9}));
  EXPECT_EQ(fixed.interval(), 3);

  engine::PreviewSchedule automatic(engine::kPreviewVaeAuto, 10);
  EXPECT_TRUE(automatic.due(1, 0.1, 0));    // no decode time yet: the first preview measures it
  EXPECT_FALSE(automatic.due(2, 0.1, 0));   // still measuring
  EXPECT_FALSE(automatic.due(3, 0.1, 0.25));  // k = ceil(0.25 / 0.1) = 3 steps after step 1
  EXPECT_TRUE(automatic.due(4, 0.1, 0.25));
  EXPECT_EQ(automatic.interval(), 3);
  EXPECT_TRUE(automatic.due(5, 0.1, 0.05));  // a quick decode: every step
  EXPECT_FALSE(automatic.due(10, 0.1, 0.05));  // never the last step

  engine::PreviewSchedule off(0, 10);
  EXPECT_FALSE(off.due(1, 0.1, 0.1));
}

TEST(PreviewDecoder, ANewerStepSupersedesTheDecodeInProgressAndReplacesAWaitingOne) {
  c10::InferenceMode guard;
  const auto vae = model::vae::AutoencoderKLHunyuanVideo::from_folder(testing::tiny_model_dir(), {at::kCPU, at::kFloat, true});
  engine::ComputeLane lane(at::kCPU, "preview-vae", engine::ComputeLane::Priority::low);
  std::mutex mutex;
  std::condition_variable changed;
  bool release = false;
  std::vector<engine::PreviewChunk> chunks;
  const engine::EventSink sink = [&](engine::Event e) {
    std::unique_lock lock(mutex);
    if (auto* c = std::get_if<engine::PreviewChunk>(&e)) {
      chunks.push_back(*c);
      changed.notify_all();
      // The first chunk of step 1 waits until steps 2 and 3 were submitted.
      changed.wait_for(lock, 30s, [&] { return release; });
    }
  };
  engine::Timeline timeline;
  engine::PreviewDecodeSettings settings;
  settings.streaming.unscale_latents = true;
  engine::PreviewDecoder decoder(*vae, lane, at::kCPU, settings, 4, 9, sink, timeline);
  const auto x0 = [](double v) { return at::full({1, 16, 3, 4, 4}, v); };  // [B, C, T', H', W']
  decoder.submit(1, x0(0.1), {});
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(changed.wait_for(lock, 30s, [&] { return !chunks.empty(); }));
  }
  decoder.submit(2, x0(0.2), {});  // waits: step 1 is mid-decode
  decoder.submit(3, x0(0.3), {});  // replaces step 2, which never starts
  {
    std::lock_guard lock(mutex);
    release = true;
  }
  changed.notify_all();
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (decoder.stats().completed < 1 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(2ms);
  decoder.stop();
  const auto stats = decoder.stats();
  EXPECT_EQ(stats.submitted, 3);
  EXPECT_EQ(stats.started, 2);
  EXPECT_EQ(stats.completed, 1);
  EXPECT_EQ(stats.superseded, 2);
  std::lock_guard lock(mutex);
  std::vector<std::pair<int, int>> seen;  // (step, first frame)
  for (const auto& c : chunks) seen.emplace_back(c.step, c.first_frame);
  EXPECT_EQ(seen, (std::vector<std::pair<int, int>>{{1, 0}, {3, 0}, {3, 1}}));
}

}  // namespace
}  // namespace ditstream
