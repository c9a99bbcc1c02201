// Context-parallel HunyuanVideo steps (random bf16 weights, full size) on N GPUs, one rank per
// GPU: seconds per step on 1 GPU (rank 0 alone) and on N for each mesh, the speed-up, the share
// of the step the compute stream spends in (or waiting for) communication, and the N-rank output's
// relative L2 distance to the 1-GPU output.
//   bench_context_parallel --gpus N [--cases 544x960x61,720x1280x129]
//                          [--modes auto,ulysses,ulysses-pipelined,ring,mixed] [--ulysses-groups G]
//                          [--text-tokens 256] [--repeat R] [--json docs/benchmarks/context_parallel.json]
// `ulysses` is the Ulysses mesh with its all-to-alls on the compute stream (1 head group);
// `ulysses-pipelined` the same mesh with G head groups whose all-to-alls run beside attention
// (default: the library's choice, 3 for 24 heads on 2 ranks). With pipelining the communication
// share counts what the compute stream spends issuing all-to-alls and waiting for them.
// With --gpus it starts its own N ranks; under torchrun/mpirun leave --gpus out.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <ATen/cuda/CUDAEvent.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "core/model/hunyuan_video/transformer.h"
#include "core/parallel/context_parallel_transformer.h"
#include "core/parallel/launcher.h"
#include "core/parallel/nccl_communicator.h"
#include "core/parallel/rendezvous.h"
#include "core/util/error.h"
#include "tests/bench/bench_util.h"

using namespace ditstream;
using model::hunyuan_video::HunyuanVideoTransformer3DModel;
using model::hunyuan_video::HunyuanVideoTransformerConfig;
using model::hunyuan_video::TransformerInputs;

namespace {

// CUDA event pairs around every communication call on the compute stream.
struct CommTimes {
  std::vector<std::pair<std::shared_ptr<at::cuda::CUDAEvent>, std::shared_ptr<at::cuda::CUDAEvent>>> spans;
  std::shared_ptr<at::cuda::CUDAEvent> start() {
    auto e = std::make_shared<at::cuda::CUDAEvent>(cudaEventDefault);
    e->record(at::cuda::getCurrentCUDAStream());
    return e;
  }
  void stop(std::shared_ptr<at::cuda::CUDAEvent> begin) {
    auto e = std::make_shared<at::cuda::CUDAEvent>(cudaEventDefault);
    e->record(at::cuda::getCurrentCUDAStream());
    spans.emplace_back(std::move(begin), std::move(e));
  }
  // Seconds, after the device synchronized.
  double total_and_clear() {
    double ms = 0;
    for (auto& [a, b] : spans) ms += a->elapsed_time(*b);
    spans.clear();
    return ms / 1000.0;
  }
};

class TimedPending final : public parallel::PendingExchange {
 public:
  TimedPending(std::unique_ptr<parallel::PendingExchange> inner, CommTimes& times)
      : inner_(std::move(inner)), times_(times) {}
  at::Tensor wait() override {
    auto begin = times_.start();
    at::Tensor out = inner_->wait();
    times_.stop(begin);  // what the compute stream waits for the overlapped ring step
    return out;
  }

 private:
  std::unique_ptr<parallel::PendingExchange> inner_;
  CommTimes& times_;
};

class TimedCommunicator final : public parallel::Communicator {
  // Times `fn` on the compute stream.
  template <typename Fn>
  auto timed(Fn fn) {
    auto begin = times_->start();
    if constexpr (std::is_void_v<decltype(fn())>) {
      fn();
      times_->stop(begin);
    } else {
      auto out = fn();
      times_->stop(begin);
      return out;
    }
  }

 public:
  TimedCommunicator(std::unique_ptr<Communicator> inner, std::shared_ptr<CommTimes> times)
      : inner_(std::move(inner)), times_(std::move(times)) {}
  int rank() const override { return inner_->rank(); }
  int world_size() const override { return inner_->world_size(); }
  void all_reduce_sum(at::Tensor& t) override { timed([&] { inner_->all_reduce_sum(t); }); }
  at::Tensor all_gather(const at::Tensor& x, int64_t dim) override {
    return timed([&] { return inner_->all_gather(x, dim); });
  }
  at::Tensor all_to_all(const at::Tensor& x, int64_t s, int64_t g) override {
    return timed([&] { return inner_->all_to_all(x, s, g); });
  }
  void broadcast(at::Tensor& t, int root) override { timed([&] { inner_->broadcast(t, root); }); }
  at::Tensor ring_exchange(const at::Tensor& x) override { return timed([&] { return inner_->ring_exchange(x); }); }
  std::unique_ptr<parallel::PendingExchange> ring_exchange_async(const at::Tensor& x) override {
    return std::make_unique<TimedPending>(inner_->ring_exchange_async(x), *times_);
  }
  std::unique_ptr<parallel::PendingExchange> all_to_all_async(const at::Tensor& x, int64_t s, int64_t g) override {
    // Issuing (any layout copy runs on the compute stream), then waiting.
    auto pending = timed([&] { return inner_->all_to_all_async(x, s, g); });
    return std::make_unique<TimedPending>(std::move(pending), *times_);
  }
  void barrier() override { inner_->barrier(); }
  std::unique_ptr<Communicator> split(int color, int key) override {
    return std::make_unique<TimedCommunicator>(inner_->split(color, key), times_);
  }

 private:
  std::unique_ptr<Communicator> inner_;
  std::shared_ptr<CommTimes> times_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string cases_arg = "544x960x61,720x1280x129", modes_arg = "ulysses,ulysses-pipelined,ring,mixed", json_path;
  int64_t text_tokens = 256;
  int repeat = 0, gpus = 0;
  std::optional<int> ulysses_groups;  // of ulysses-pipelined; unset: the library's default
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--cases") cases_arg = value;
    else if (flag == "--modes") modes_arg = value;
    else if (flag == "--text-tokens") text_tokens = std::stol(value);
    else if (flag == "--repeat") repeat = std::stoi(value);
    else if (flag == "--json") json_path = value;
    else if (flag == "--gpus") gpus = std::stoi(value);
    else if (flag == "--ulysses-groups") ulysses_groups = std::stoi(value);
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  // The arguments are checked before anything needs a GPU (a dry run on the CPU stops after this).
  try {
    bench::parse_video_cases(cases_arg);
    for (const auto& mode : bench::split_list(modes_arg)) {
      if (mode != "auto" && mode != "ulysses" && mode != "ulysses-pipelined" && mode != "ring" && mode != "mixed") {
        throw Error(ErrorKind::invalid_argument, "bench", "--modes",
                    "'" + mode + "' is not auto|ulysses|ulysses-pipelined|ring|mixed");
      }
    }
    if (ulysses_groups && *ulysses_groups < 1) {
      throw Error(ErrorKind::invalid_argument, "bench", "--ulysses-groups",
                  std::to_string(*ulysses_groups) + " must be at least 1");
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_context_parallel: %s\n", e.what());
    return 2;
  }
  if (!at::hasCUDA()) {
    std::fprintf(stderr, "bench_context_parallel needs CUDA devices (arguments checked)\n");
    return 3;
  }
  if (gpus > 0 && std::getenv("RANK") == nullptr) return parallel::relaunch_as_ranks(argc, argv, gpus);

  try {
    const auto env = parallel::rank_environment_from_process();
    auto store = parallel::connect_rendezvous(env, std::chrono::minutes(2));
    auto times = std::make_shared<CommTimes>();
    // Long steps (1 GPU at 720p while the other ranks wait) stay inside the timeout.
    TimedCommunicator world(parallel::make_nccl_communicator(*store, env, {std::chrono::minutes(10), "world"}), times);
    const int n = world.world_size();
    const bool lead = world.rank() == 0;
    c10::InferenceMode guard;

    HunyuanVideoTransformerConfig config;
    HunyuanVideoTransformer3DModel model(config);
    model.init_random(at::kCUDA, at::kBFloat16, 0);
    // The same weights everywhere: compare a checksum.
    at::Tensor sum = model.named_parameters().begin()->second->to(at::kDouble).sum().reshape({1});
    const at::Tensor sums = world.all_gather(sum, 0).cpu();
    if (!at::allclose(sums, sums[0].expand_as(sums), 0, 0)) {
      throw Error(ErrorKind::internal, "bench", "weights", "random weights differ between ranks");
    }
    if (lead) std::printf("context parallel: %d ranks on %s\n", n, bench::device_name().c_str());

    bench::Record record("context_parallel", "scripts/device/cp-2gpu.sh");
    std::map<std::string, std::unique_ptr<parallel::ContextParallelTransformer>> transformers;
    const auto bf16 = at::TensorOptions().device(at::kCUDA).dtype(at::kBFloat16);
    for (const auto& c : bench::parse_video_cases(cases_arg)) {
      const int64_t t = c.latent_frames(), h = c.height / 8, w = c.width / 8;
      auto gen = at::detail::createCPUGenerator(7);
      TransformerInputs in;
      in.hidden_states = at::randn({1, 16, t, h, w}, gen).to(bf16);
      in.timestep = at::full({1}, 500.0, bf16);
      in.encoder_hidden_states = at::randn({1, text_tokens, config.text_embed_dim}, gen).to(bf16);
      in.encoder_attention_mask = at::ones({1, text_tokens}, at::kLong);
      in.pooled_projections = at::randn({1, config.pooled_projection_dim}, gen).to(bf16);
      in.guidance = at::full({1}, 6000.0, bf16);
      const int64_t tokens = t * (h / 2) * (w / 2);
      const int reps = repeat > 0 ? repeat : (tokens > 50000 ? 2 : 3);

      // 1 GPU: rank 0 alone.
      double single = 0;
      at::Tensor single_out;
      if (lead) {
        single = bench::time_median([&] { single_out = model.forward(in); }, reps, 1);
        std::printf("%s 1gpu: %.3f s/step\n", c.name.c_str(), single);
        record.add(c.name, "1gpu", "step_s", {{"ours", single}, {"tokens", tokens}, {"mode", "single"}});
      }
      world.barrier();
      times->total_and_clear();

      for (const auto& mode : bench::split_list(modes_arg)) {
        auto found = transformers.find(mode);
        if (found == transformers.end()) {
          parallel::MeshConfig mesh;
          std::optional<int> groups = 1;  // Ulysses head groups: 1 is no pipelining
          if (mode == "auto") {
            mesh = {};  // choose_mesh's pick
            groups = std::nullopt;
          } else if (mode == "ulysses") {
            mesh = {n, 1};
          } else if (mode == "ulysses-pipelined") {
            mesh = {n, 1};
            groups = ulysses_groups;
          } else if (mode == "ring") {
            mesh = {1, n};
          } else if (mode == "mixed") {
            if (n < 4 || n % 2 != 0) {
              if (lead) std::printf("%s mixed: needs an even world of 4 or more ranks, skipped\n", c.name.c_str());
              continue;
            }
            mesh = {n / 2, 2};
          }
          // The mesh groups (NCCL communicators) are formed once per mode.
          auto made = std::make_unique<parallel::ContextParallelTransformer>(model, world, mesh);
          made->set_ulysses_groups(groups);
          found = transformers.emplace(mode, std::move(made)).first;
        }
        auto& transformer = *found->second;
        at::Tensor out;
        transformer.forward(in);  // warm-up
        world.barrier();
        times->total_and_clear();
        std::vector<double> steps, comms;
        for (int r = 0; r < reps; ++r) {
          at::cuda::getCurrentCUDAStream().synchronize();
          const auto start = std::chrono::steady_clock::now();
          out = transformer.forward(in);
          at::cuda::getCurrentCUDAStream().synchronize();
          steps.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
          comms.push_back(times->total_and_clear());
        }
        std::sort(steps.begin(), steps.end());
        const double step = steps[steps.size() / 2];
        double comm = 0;
        for (double x : comms) comm += x;
        comm /= static_cast<double>(comms.size());
        if (lead) {
          const double rel = (out.to(at::kFloat) - single_out.to(at::kFloat)).norm().item<double>() /
                             single_out.to(at::kFloat).norm().item<double>();
          std::printf("%s %dgpu %s (%s, %d head groups): %.3f s/step, speed-up %.2fx, comm %.1f%% of the step, "
                      "rel L2 %.2e\n",
                      c.name.c_str(), n, mode.c_str(), transformer.mesh().to_string().c_str(),
                      transformer.ulysses_groups(), step, single / step, 100 * comm / step, rel);
          record.add(c.name, std::to_string(n) + "gpu", "step_s",
                     {{"ours", step},
                      {"reference", single},
                      {"reference_name", "1 GPU, same run"},
                      {"ratio", step / single},
                      {"speedup", single / step},
                      {"comm_share", comm / step},
                      {"mode", mode},
                      {"mesh", transformer.mesh().to_string()},
                      {"ulysses_groups", transformer.ulysses_groups()},
                      {"rel_l2", rel},
                      {"tokens", tokens}});
          if (!json_path.empty()) record.write(json_path);  // what was measured survives a later failure
        }
        std::fflush(stdout);
        world.barrier();
      }
    }
    if (lead && !json_path.empty()) record.write(json_path);
    world.barrier();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_context_parallel: %s\n", e.what());
    return 1;
  }
  return 0;
}
