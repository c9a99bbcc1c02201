// The service with the synthetic engine, as a process: what the browser test drives. Prints
// "port <n>" on stdout once listening and serves until stdin closes.
#include <iostream>
#include <string>

#include "stream/stream_info.h"
#include "tests/web/synthetic_engine.h"
#include "web/api/service.h"

int main(int argc, char** argv) {
  using namespace ditstream;
  if (argc < 2) {
    std::cerr << "usage: ditstream_test_server DIR [step_ms]\n";
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  const int step_ms = argc > 2 ? std::stoi(argv[2]) : 300;
  web::ServiceOptions o;
  o.bind = "127.0.0.1";
  o.port = 0;
  o.recordings = dir / "recordings";
  o.db = dir / "jobs.db";
  o.ui_folder = DITSTREAM_TEST_UI_DIR;
  o.ice.local_addresses = {"127.0.0.1"};
  o.health_json = R"({"status":"ok","model":"synthetic","pipeline":"test fixture","gstreamer":")" +
                  stream::init_streaming().gstreamer_version + "\"}";
  testing::SyntheticEngine engine({std::chrono::milliseconds(step_ms), std::chrono::milliseconds(step_ms / 2)});
  web::Service service(o, engine);
  service.start();
  std::cout << "port " << service.port() << std::endl;
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  service.stop();
  return 0;
}
