// ditstream: wires the command line to the service. Nothing here but parsing and wiring.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "core/io/diffusers_folder.h"
#include "core/parallel/launcher.h"
#include "core/parallel/rank_group.h"
#include "core/util/error.h"
#include "core/util/log.h"
#include "stream/stream_info.h"
#include "web/api/http_server.h"

namespace {

using namespace ditstream;

struct ServeOptions {
  std::filesystem::path model = std::filesystem::path(DITSTREAM_SOURCE_DIR) / "models" / "tiny-hunyuan-video";
  std::string bind = "127.0.0.1";
  uint16_t port = 8080;
  int http_threads = 4;
  int gpus = 1;
  int rank_timeout_s = 300;
};

void wait_for_signal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  log::info("received signal {}, shutting down", sig);
}

int serve(const ServeOptions& options) {
  // Block the stop signals in every thread; the main thread waits for them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  const auto folder = io::DiffusersFolder::open(options.model);
  const auto ranks = parallel::join_rank_group(parallel::rank_environment_from_process(), options.model,
                                               std::chrono::seconds(options.rank_timeout_s));
  if (ranks.env.rank != 0) {  // rank 0 serves; the others follow it
    wait_for_signal();
    return 0;
  }
  const auto streaming = stream::init_streaming();
  log::info("model {} ({}), {}", options.model.string(), folder.pipeline_class(), streaming.gstreamer_version);

  const nlohmann::json health = {
      {"status", "ok"},
      {"model", options.model.filename().string()},
      {"pipeline", folder.pipeline_class()},
      {"gstreamer", streaming.gstreamer_version},
  };
  web::HttpServer server({options.bind, options.port, options.http_threads}, [&](const web::HttpRequest& req) {
    if (req.path == "/healthz") return web::HttpResponse::text(200, health.dump(), "application/json");
    if (req.path == "/") {
      return web::HttpResponse::text(200, "<!doctype html><title>ditstream</title><h1>ditstream</h1>",
                                     "text/html; charset=utf-8");
    }
    return web::HttpResponse::text(404, R"({"error":{"code":"not_found","message":"no such route"}})",
                                   "application/json");
  });
  server.start();
  log::info("serving on http://{}:{}", options.bind, server.port());
  wait_for_signal();
  server.stop();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ditstream: video diffusion served live"};
  app.set_config("--config", "", "read flags from a JSON/TOML file", false);
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off");

  ServeOptions serve_options;
  auto* serve_cmd = app.add_subcommand("serve", "run the HTTP service");
  serve_cmd->add_option("--model", serve_options.model, "diffusers model folder");
  serve_cmd->add_option("--bind", serve_options.bind, "address to listen on");
  serve_cmd->add_option("--port", serve_options.port, "port to listen on (0: any free port)");
  serve_cmd->add_option("--http-threads", serve_options.http_threads, "HTTP worker threads")->check(CLI::Range(1, 64));
  serve_cmd->add_option("--gpus", serve_options.gpus, "GPUs to use, one rank process each")->check(CLI::Range(1, 64));
  serve_cmd->add_option("--rank-timeout", serve_options.rank_timeout_s, "seconds to wait for the other ranks")
      ->check(CLI::Range(1, 3600));

  CLI11_PARSE(app, argc, argv);
  try {
    log::set_level(log::parse_level(log_level, "--log-level"));
    if (*serve_cmd && serve_options.gpus > 1 && std::getenv("RANK") == nullptr) {
      return parallel::relaunch_as_ranks(argc, argv, serve_options.gpus);
    }
    if (*serve_cmd) return serve(serve_options);
  } catch (const ditstream::Error& e) {
    log::error("{}", e.what());
    return 2;
  } catch (const std::exception& e) {
    log::error("unexpected failure: {}", e.what());
    return 1;
  }
  return 0;
}
