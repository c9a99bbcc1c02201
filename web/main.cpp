// ditstream: wires the command line to the service. Nothing here but parsing and wiring.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <thread>

#include "core/engine/device_memory.h"
#include "core/engine/hunyuan_engine.h"
#include "core/engine/rank_recovery.h"
#include "core/io/diffusers_folder.h"
#include "core/parallel/launcher.h"
#include "core/parallel/launcher_channel.h"
#include "core/parallel/rank_group.h"
#include "core/util/error.h"
#include "core/util/log.h"
#include "stream/stream_info.h"
#include "stream/vulkan/compositor_factory.h"
#if DITSTREAM_WITH_CUDA
#include "stream/vulkan/cuda_frame_input.h"
#endif
#include "web/api/service.h"
#include "web/generate.h"
#include "web/json_config.h"

namespace {

using namespace ditstream;

struct EngineFlags {
  std::filesystem::path model = std::filesystem::path(DITSTREAM_SOURCE_DIR) / "models" / "tiny-hunyuan-video";
  std::string device = "cpu";
  std::string dtype = "float32";
  std::string preview_device;
  int preview_vae_downscale = 1;
  double memory_budget_gib = 0;
  bool fp8_linears = false;
  bool fp8_attention = false;

  int gpus = 1;
  int rank_timeout_s = 300;
  int rank_restarts = 3;
  int rank_restart_window_s = 600;
  parallel::MeshConfig mesh;

  engine::HunyuanEngineOptions options() const {
    engine::HunyuanEngineOptions o{model, device, dtype};
    o.preview_device = preview_device;
    o.preview_vae_downscale = preview_vae_downscale;
    o.memory_budget_gib = memory_budget_gib;
    o.fp8_linears = fp8_linears;
    o.fp8_attention = fp8_attention;
    return o;
  }
};

struct CompositorFlags {
  std::string backend = "auto";
  std::filesystem::path preview_factors =
      std::filesystem::path(DITSTREAM_SOURCE_DIR) / "models" / "hunyuan_video_latent_rgb.json";
};

// The engine options of one rank: a rank of several takes the GPU of its local rank.
engine::HunyuanEngineOptions rank_options(const EngineFlags& flags, const parallel::RankEnvironment& env,
                                          parallel::Communicator* world, engine::RankCommands* commands) {
  auto options = flags.options();
  if (!env.is_distributed()) return options;
  if (options.device != "cuda") {
    throw_invalid("serve", "device", "is '" + options.device + "'; several ranks take 'cuda' (each rank uses its local GPU)");
  }
  options.device = "cuda:" + std::to_string(env.local_rank);
  options.world = world;
  options.commands = commands;
  options.mesh = flags.mesh;
  return options;
}

void add_engine_flags(CLI::App* cmd, EngineFlags& f) {
  cmd->add_option("--model", f.model, "diffusers model folder");
  cmd->add_option("--device", f.device, "cpu, cuda or cuda:N");
  cmd->add_option("--dtype", f.dtype, "float32 or bfloat16");
  cmd->add_option("--preview-device", f.preview_device, "where real-VAE previews decode (default: the --device, own stream)");
  cmd->add_option("--preview-vae-downscale", f.preview_vae_downscale, "real-VAE previews at 1/N resolution: 1, 2 or 4");
  cmd->add_option("--memory-budget-gib", f.memory_budget_gib,
                  "memory for jobs beside the weights; gates real-VAE previews and job overlap (0: 90% of free)");
  cmd->add_flag("--fp8-linears", f.fp8_linears, "the transformer's big linears in fp8 e4m3 (per-channel scales)");
  cmd->add_flag("--fp8-attention", f.fp8_attention, "the transformer's attention with fp8 operands (CUDA, Hopper, bfloat16)");
}

// "0" (off), a step interval, or "auto".
int parse_preview_every(const std::string& text, const char* flag) {
  if (text == "auto") return engine::kPreviewVaeAuto;
  int every = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), every);
  if (ec != std::errc() || end != text.data() + text.size() || every < 0) {
    throw_invalid("command line", flag, "'" + text + "' is not 0 (off), a step interval or auto");
  }
  return every;
}

void add_compositor_flags(CLI::App* cmd, CompositorFlags& f) {
  cmd->add_option("--compositor", f.backend, "frame compositor: auto (Vulkan, else the CPU), vulkan or cpu");
  cmd->add_option("--preview-factors", f.preview_factors, "latent→RGB preview factors (JSON)");
}

// The frame path's compositors, chosen once at start-up (the choice and its reason are logged);
// an engine on a CUDA GPU shares its frames with Vulkan on that GPU.
std::shared_ptr<const stream::CompositorFactory> make_compositors(const CompositorFlags& f, const std::string& device) {
  stream::CompositorOptions options;
  options.backend = stream::parse_backend_choice(f.backend, "--compositor");
  options.slots = 4;
  options.preview_factors = stream::LatentRgbFactors::from_json_file(f.preview_factors);
  std::shared_ptr<const stream::DeviceInterop> interop;
#if DITSTREAM_WITH_CUDA
  if (device.rfind("cuda", 0) == 0) {
    interop = std::make_shared<stream::CudaInterop>(device.size() > 5 ? std::stoi(device.substr(5)) : 0);
  }
#endif
  return std::make_shared<stream::CompositorFactory>(options, interop);
}

void add_request_flags(CLI::App* cmd, engine::JobRequest& r, std::string& preview_every) {
  cmd->add_option("--prompt", r.prompt, "what to generate")->required();
  cmd->add_option("--width", r.width, "pixels, multiple of 16");
  cmd->add_option("--height", r.height, "pixels, multiple of 16");
  cmd->add_option("--frames", r.frames, "4k+1 frames");
  cmd->add_option("--steps", r.steps, "denoising steps");
  cmd->add_option("--seed", r.seed, "noise seed");
  cmd->add_option("--shift", r.shift, "flow-matching shift");
  cmd->add_option("--guidance", r.guidance, "embedded guidance scale");
  cmd->add_option("--cache-threshold", r.cache_threshold, "First Block Cache threshold (0: off)");
  cmd->add_option("--fps", r.fps, "frames per second of the recording");
  cmd->add_option("--preview-vae-every", preview_every, "real-VAE preview every N steps: 0 (off), N or auto");
}

void wait_for_signal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  log::info("received signal {}, shutting down", sig);
}

int serve(const EngineFlags& engine_flags, const CompositorFlags& compositor_flags, web::ServiceOptions options) {
  // Block the stop signals in every thread; the main thread waits for them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  const auto folder = io::DiffusersFolder::open(engine_flags.model);
  const auto timeout = std::chrono::milliseconds(std::chrono::seconds(engine_flags.rank_timeout_s));
  auto ranks = parallel::join_rank_group(parallel::rank_environment_from_process(), engine_flags.model, timeout,
                                         parallel::rank_generation_from_process());
  if (ranks.env.rank != 0) {  // rank 0 serves; the others run the jobs it publishes
    engine::RankCommands commands(ranks.store);
    engine::HunyuanEngine engine(rank_options(engine_flags, ranks.env, ranks.world.get(), &commands));
    std::atomic<bool> stopping{false};
    std::thread signals([&] {
      wait_for_signal();
      stopping = true;
    });
    bool told = false;
    std::string broken;
    try {
      told = engine.follow(stopping);
    } catch (const Error& e) {
      broken = e.what();  // the world failed: exit, so that the launcher starts the ranks again
    }
    if (told) log::info("rank {}: rank 0 stopped the service", ranks.env.rank);
    if (!stopping) ::kill(::getpid(), SIGTERM);  // wakes the signal thread
    signals.join();
    if (!broken.empty()) {
      log::error("{}", broken);
      return 3;
    }
    return 0;
  }
  const auto streaming = stream::init_streaming();
  // Rank 0 of several keeps the world in `recovery`: the launcher (when it started the ranks)
  // restarts the others after a failure and rank 0 forms a new world with them.
  std::optional<engine::RankHealth> health;
  std::unique_ptr<engine::RankRecovery> recovery;
  if (ranks.env.is_distributed()) {
    auto channel = parallel::LauncherChannel::from_environment();
    health.emplace(ranks.env.world_size, channel != nullptr);
    engine::RankWorld initial;
    initial.generation = ranks.generation;
    initial.store = ranks.store;
    initial.world = std::move(ranks.world);
    initial.commands = std::make_unique<engine::RankCommands>(ranks.store);
    auto form = [store = ranks.store, env = ranks.env, model = engine_flags.model, timeout](int generation) {
      engine::RankWorld w;
      w.generation = generation;
      w.store = parallel::generation_store(store, generation);
      w.world = parallel::form_world(*w.store, env, model, timeout);
      w.commands = std::make_unique<engine::RankCommands>(w.store);
      return w;
    };
    recovery = std::make_unique<engine::RankRecovery>(*health, std::move(channel), std::move(initial), form);
  }
  auto engine_options = rank_options(engine_flags, ranks.env, recovery ? recovery->current().world.get() : nullptr,
                                     recovery ? recovery->current().commands.get() : nullptr);
  if (recovery) {
    engine_options.rank_health = &*health;
    engine_options.world_failed = [&recovery](const std::string& why) { recovery->world_failed(why); };
  }
  engine::HunyuanEngine engine(engine_options);
  options.compositors = make_compositors(compositor_flags, engine_options.device);
  const auto paths = engine.paths();
  options.health_json = nlohmann::json{{"status", "ok"},
                                       {"model", engine_flags.model.filename().string()},
                                       {"pipeline", folder.pipeline_class()},
                                       {"text_path", paths.text_path},
                                       {"decode_path", paths.decode_path},
                                       {"ranks", ranks.env.world_size},
                                       {"parallelism", engine.parallelism()},
                                       {"precision", engine.precision()},
                                       {"gstreamer", streaming.gstreamer_version}}
                            .dump();
  if (health) options.health_update = web::rank_group_health(*health);
  const std::string bind = options.bind;
  web::Service service(std::move(options), engine);
  engine::add_device_memory_metrics(service.metrics(), engine_flags.device);
  if (health) engine::add_rank_health_metrics(service.metrics(), *health);
  service.start();
  log::info("serving on http://{}:{}", bind, service.port());
  if (recovery) {
    recovery->start([&engine](engine::RankWorld& w) { engine.rebind_world(w.world.get(), w.commands.get()); });
  }
  wait_for_signal();
  service.stop();
  if (recovery) recovery->stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ditstream: video diffusion served live"};
  app.config_formatter(std::make_shared<web::JsonConfig>());
  app.set_config("--config", "", "read flags from a JSON file ({\"serve\": {\"port\": 8080, ...}})", false);
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off");

  EngineFlags serve_engine;
  CompositorFlags serve_compositor;
  web::ServiceOptions o;
  o.ui_folder = DITSTREAM_UI_DIR;
  auto* serve_cmd = app.add_subcommand("serve", "run the HTTP service");
  add_engine_flags(serve_cmd, serve_engine);
  add_compositor_flags(serve_cmd, serve_compositor);
  serve_cmd->add_option("--gpus", serve_engine.gpus, "GPUs to use, one rank process each")->check(CLI::Range(1, 64));
  serve_cmd->add_option("--ulysses", serve_engine.mesh.ulysses, "Ulysses degree of the mesh (0: chosen from GPUs and heads)")
      ->check(CLI::Range(0, 64));
  serve_cmd->add_option("--ring", serve_engine.mesh.ring, "ring degree of the mesh (0: chosen from GPUs and heads)")
      ->check(CLI::Range(0, 64));
  serve_cmd->add_option("--rank-timeout", serve_engine.rank_timeout_s, "seconds to wait for the other ranks")
      ->check(CLI::Range(1, 3600));
  serve_cmd->add_option("--rank-restarts", serve_engine.rank_restarts,
                        "with --gpus: restarts of the other ranks after failures within --rank-restart-window "
                        "(0: a failure stops the service)")
      ->check(CLI::Range(0, 1000));
  serve_cmd->add_option("--rank-restart-window", serve_engine.rank_restart_window_s,
                        "seconds over which --rank-restarts counts failures")
      ->check(CLI::Range(1, 86400));
  serve_cmd->add_option("--bind", o.bind, "address to listen on");
  serve_cmd->add_option("--port", o.port, "port to listen on (0: any free port)");
  serve_cmd->add_option("--http-threads", o.http_threads, "HTTP worker threads")->check(CLI::Range(1, 64));
  serve_cmd->add_option("--api-key", o.api_key, "require 'Authorization: Bearer KEY' on mutating routes and WHEP");
  serve_cmd->add_option("--recordings", o.recordings, "folder of finished mp4 recordings");
  serve_cmd->add_option("--db", o.db, "SQLite file of the job history");
  serve_cmd->add_option("--ui", o.ui_folder, "folder of the browser UI");
  serve_cmd->add_option("--queue-length", o.queue_length, "jobs that may wait (more get 429)");
  serve_cmd->add_option("--max-body-bytes", o.limits.max_body_bytes, "largest request body");
  serve_cmd->add_option("--max-prompt-bytes", o.limits.max_prompt_bytes, "longest prompt");
  serve_cmd->add_option("--max-sdp-bytes", o.limits.max_sdp_bytes, "largest WHEP offer");
  serve_cmd->add_option("--max-width", o.limits.max_width, "widest video");
  serve_cmd->add_option("--max-height", o.limits.max_height, "tallest video");
  serve_cmd->add_option("--max-frames", o.limits.max_frames, "most frames");
  serve_cmd->add_option("--max-steps", o.limits.max_steps, "most denoising steps");
  std::string serve_preview_every = "0";
  serve_cmd->add_option("--preview-vae-every", serve_preview_every,
                        "default real-VAE preview interval of requests: 0 (off), N steps or auto");
  serve_cmd->add_option("--pipeline-jobs", o.pipeline_jobs,
                        "denoise the next job while the previous one finishes (when the memory budget admits both)");
  serve_cmd->add_option("--stun", o.ice.stun_server, "STUN server, stun://host:port");
  serve_cmd->add_option("--turn", o.ice.turn_servers, "TURN server(s), turn://user:pass@host:port");
  serve_cmd->add_option("--ice-interface", o.ice.local_addresses, "addresses or interfaces ICE may use (default: all)");
  serve_cmd->add_option("--cors-origin", o.cors_origin, "Access-Control-Allow-Origin of the WHEP routes");

  EngineFlags generate_engine;
  CompositorFlags generate_compositor;
  engine::JobRequest request = web::ServiceLimits{}.defaults;
  std::string generate_preview_every = "0";
  std::filesystem::path out = "clip.mp4";
  auto* generate_cmd = app.add_subcommand("generate", "run one job without HTTP and write its mp4");
  add_engine_flags(generate_cmd, generate_engine);
  add_compositor_flags(generate_cmd, generate_compositor);
  add_request_flags(generate_cmd, request, generate_preview_every);
  generate_cmd->add_option("--out", out, "mp4 file to write");

  CLI11_PARSE(app, argc, argv);
  try {
    log::set_level(log::parse_level(log_level, "--log-level"));
    if (*serve_cmd && serve_engine.gpus > 1 && std::getenv("RANK") == nullptr) {
      parallel::LaunchOptions restarts;
      restarts.max_restarts = serve_engine.rank_restarts;
      restarts.restart_window = std::chrono::seconds(serve_engine.rank_restart_window_s);
      return parallel::relaunch_as_ranks(argc, argv, serve_engine.gpus, restarts);
    }
    if (*serve_cmd) {
      o.limits.defaults.preview_vae_every = parse_preview_every(serve_preview_every, "--preview-vae-every");
      return serve(serve_engine, serve_compositor, std::move(o));
    }
    if (*generate_cmd) {
      request.preview_vae_every = parse_preview_every(generate_preview_every, "--preview-vae-every");
      stream::init_streaming();
      engine::HunyuanEngine engine(generate_engine.options());
      web::generate_to_file(engine, request, out, make_compositors(generate_compositor, generate_engine.device));
      return 0;
    }
  } catch (const ditstream::Error& e) {
    log::error("{}", e.what());
    return 2;
  } catch (const std::exception& e) {
    log::error("unexpected failure: {}", e.what());
    return 1;
  }
  return 0;
}
