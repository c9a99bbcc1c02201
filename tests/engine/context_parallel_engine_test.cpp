// The engine over two simulated ranks (threads, one communicator each, an in-memory store for the
// commands): rank 0 runs the job and publishes it, rank 1 follows; the frames equal a one-rank
// engine's, cancelling on rank 0 stops both ranks at the same step, and the ranks stay in step
// for the next job. Also the command wire format and its errors.
#include <gtest/gtest.h>
#include <torch/csrc/distributed/c10d/HashStore.hpp>

#include <cstdlib>

#include "core/engine/hunyuan_engine.h"
#include "core/util/error.h"
#include "tests/parallel/thread_ranks.h"
#include "tests/support/test_support.h"

namespace ditstream {
namespace {

engine::HunyuanEngineOptions tiny_options() {
  return {testing::tiny_model_dir(), "cpu", "float32"};
}

engine::JobRequest small_request(int steps = 3) {
  engine::JobRequest r;
  r.prompt = "two ranks";
  r.width = 32;
  r.height = 32;
  r.frames = 5;
  r.steps = steps;
  r.seed = 5;
  r.cache_threshold = 0.05;
  return r;
}

std::vector<engine::FramePtr> frames_of(engine::HunyuanEngine& e, const engine::JobRequest& r,
                                        engine::CancelToken& cancel, int cancel_at_step = 0) {
  std::vector<engine::FramePtr> frames;
  e.run(r,
        [&](engine::Event ev) {
          if (auto* p = std::get_if<engine::Progress>(&ev); p && p->step == cancel_at_step) cancel.cancel();
          if (auto* c = std::get_if<engine::FrameChunk>(&ev)) frames.insert(frames.end(), c->frames.begin(), c->frames.end());
        },
        cancel);
  return frames;
}

int max_difference(const engine::RgbFrame& a, const engine::RgbFrame& b) {
  int worst = 0;
  for (size_t i = 0; i < a.rgb.size(); ++i) worst = std::max(worst, std::abs(int(a.rgb[i]) - int(b.rgb[i])));
  return worst;
}

TEST(RankCommand, RoundTripsEveryField) {
  engine::RankCommand c;
  c.request = small_request(7);
  c.request.prompt = "quotes \" and unicode é";
  c.request.seed = -3;
  c.request.guidance = 4.5;
  const auto back = engine::decode_rank_command(engine::encode_rank_command(c));
  EXPECT_EQ(back.kind, engine::RankCommand::Kind::run);
  EXPECT_EQ(back.request.prompt, c.request.prompt);
  EXPECT_EQ(back.request.steps, 7);
  EXPECT_EQ(back.request.seed, -3);
  EXPECT_EQ(back.request.guidance, 4.5);
  EXPECT_EQ(back.request.cache_threshold, 0.05);
  const auto stop = engine::decode_rank_command(engine::encode_rank_command({engine::RankCommand::Kind::stop, {}}));
  EXPECT_EQ(stop.kind, engine::RankCommand::Kind::stop);
}

TEST(RankCommand, BadCommandsNameTheField) {
  const auto message = [](const std::string& text) {
    try {
      engine::decode_rank_command(text);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("not json").find("command"), std::string::npos);
  EXPECT_NE(message(R"({"kind":"dance"})").find("kind"), std::string::npos);
  EXPECT_NE(message(R"({"kind":"run"})").find("request"), std::string::npos);
  EXPECT_NE(message(R"({"kind":"run","request":{"prompt":"x"}})").find("width"), std::string::npos);
  EXPECT_NE(message(R"({"kind":"run","request":{"prompt":1}})").find("prompt"), std::string::npos);
}

// Runs rank 0's part on thread 0 and a follower on thread 1; returns what rank 0 saw.
struct TwoRankRun {
  std::vector<std::vector<engine::FramePtr>> jobs;
  std::vector<std::string> errors;  // per job, "" when it completed
  bool follower_told_to_stop = false;
};

TwoRankRun run_two_ranks(const std::vector<engine::JobRequest>& requests, int cancel_first_at_step) {
  auto store = c10::make_intrusive<c10d::HashStore>();
  TwoRankRun out;
  testing::run_thread_ranks(2, [&](parallel::Communicator& world) {
    engine::RankCommands commands(store);
    auto options = tiny_options();
    options.world = &world;
    options.commands = &commands;
    auto engine = std::make_unique<engine::HunyuanEngine>(options);
    EXPECT_EQ(engine->parallelism(), "2 ranks, ulysses 2 x ring 1");
    if (world.rank() != 0) {
      std::atomic<bool> stopping{false};
      out.follower_told_to_stop = engine->follow(stopping);
      return;
    }
    for (size_t j = 0; j < requests.size(); ++j) {
      engine::CancelToken cancel;
      try {
        out.jobs.push_back(frames_of(*engine, requests[j], cancel, j == 0 ? cancel_first_at_step : 0));
        out.errors.emplace_back();
      } catch (const Error& e) {
        out.jobs.emplace_back();
        out.errors.emplace_back(e.what());
      }
    }
    engine.reset();  // tells the follower to stop
  });
  return out;
}

TEST(ContextParallelEngine, TwoRanksMakeTheFramesOfOne) {
  engine::HunyuanEngine single(tiny_options());
  engine::CancelToken cancel;
  const auto expected = frames_of(single, small_request(), cancel);

  const auto two = run_two_ranks({small_request()}, 0);
  ASSERT_EQ(two.errors.at(0), "");
  EXPECT_TRUE(two.follower_told_to_stop);
  ASSERT_EQ(two.jobs.at(0).size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_LE(max_difference(*two.jobs[0][i], *expected[i]), 1) << "frame " << i;
  }
}

TEST(ContextParallelEngine, EachRankDecodesABandOfTheFrame) {
  // 160 pixels high: 20 latent rows, two bands of 10 (+8 overlap), one per rank. One rank with
  // the same two bands makes the same frames; the whole-frame decode differs at the seam.
  auto request = small_request();
  request.height = 160;
  auto banded = tiny_options();
  banded.decode_row_bands = 2;
  engine::HunyuanEngine single_banded(banded);
  engine::HunyuanEngine single_whole(tiny_options());
  engine::CancelToken cancel;
  const auto expected = frames_of(single_banded, request, cancel);
  const auto whole = frames_of(single_whole, request, cancel);

  const auto two = run_two_ranks({request}, 0);
  ASSERT_EQ(two.errors.at(0), "");
  ASSERT_EQ(two.jobs.at(0).size(), expected.size());
  int seam = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_LE(max_difference(*two.jobs[0][i], *expected[i]), 1) << "frame " << i;
    seam = std::max(seam, max_difference(*whole[i], *expected[i]));
  }
  EXPECT_GT(seam, 0) << "the bands were not used";

  auto bad = tiny_options();
  bad.decode_row_bands = -1;
  try {
    engine::HunyuanEngine e(bad);
    ADD_FAILURE() << "a negative band count was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.field(), "decode_row_bands") << e.what();
  }
}

TEST(ContextParallelEngine, CancelOnRankZeroStopsBothRanksAndTheNextJobRuns) {
  const auto two = run_two_ranks({small_request(8), small_request()}, 2);
  ASSERT_EQ(two.errors.size(), 2u);
  EXPECT_NE(two.errors[0].find("cancel"), std::string::npos) << two.errors[0];
  EXPECT_EQ(two.errors[1], "");
  EXPECT_EQ(two.jobs[1].size(), 5u);
  EXPECT_TRUE(two.follower_told_to_stop);
}

TEST(ContextParallelEngine, IdleFollowerReturnsWhenStopping) {
  auto store = c10::make_intrusive<c10d::HashStore>();
  engine::RankCommands commands(store);
  std::atomic<bool> stopping{true};
  EXPECT_FALSE(commands.next(stopping).has_value());
}

TEST(ContextParallelEngine, OnlyRankZeroRunsJobs) {
  auto store = c10::make_intrusive<c10d::HashStore>();
  testing::run_thread_ranks(2, [&](parallel::Communicator& world) {
    engine::RankCommands commands(store);
    auto options = tiny_options();
    options.world = &world;
    options.commands = &commands;
    engine::HunyuanEngine e(options);
    if (world.rank() == 1) {
      engine::CancelToken cancel;
      EXPECT_THROW(e.run(small_request(), [](engine::Event) {}, cancel), Error);
      std::atomic<bool> stopping{false};
      EXPECT_TRUE(e.follow(stopping));  // rank 0's engine says stop when it goes
    } else {
      std::atomic<bool> stopping{false};
      EXPECT_THROW(e.follow(stopping), Error);
    }
  });
}

}  // namespace
}  // namespace ditstream
