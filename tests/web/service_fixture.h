// Starts the whole service on a free loopback port with the synthetic engine, in a fresh folder.
#pragma once

#include <cstdint>
#include <memory>

#include "tests/support/test_support.h"
#include "tests/web/http_client.h"
#include "tests/web/synthetic_engine.h"
#include "web/api/service.h"

namespace ditstream::testing {

inline web::ServiceOptions test_service_options(const std::filesystem::path& dir) {
  web::ServiceOptions o;
  o.bind = "127.0.0.1";
  o.port = 0;
  o.http_threads = 4;
  o.recordings = dir / "recordings";
  o.db = dir / "jobs.db";
  o.ui_folder = DITSTREAM_TEST_UI_DIR;
  o.queue_length = 4;
  o.ice.local_addresses = {"127.0.0.1"};
  return o;
}

struct RunningService {
  RunningService(web::ServiceOptions options, SyntheticEngineOptions engine_options = {})
      : engine(engine_options), service(std::make_unique<web::Service>(std::move(options), engine)) {
    service->start();
  }
  uint16_t port() const { return service->port(); }
  SyntheticEngine engine;
  std::unique_ptr<web::Service> service;
};

}  // namespace ditstream::testing
