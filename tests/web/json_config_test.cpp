// The JSON config reader of the command line.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "core/util/error.h"

#include "web/json_config.h"

namespace ditstream {
namespace {

TEST(JsonConfig, ReadsNestedSubcommandOptionsArraysAndFlags) {
  CLI::App app;
  app.config_formatter(std::make_shared<web::JsonConfig>());
  app.set_config("--config");
  std::string level = "info";
  app.add_option("--log-level", level);
  auto* serve = app.add_subcommand("serve");
  int port = 0;
  std::vector<std::string> interfaces;
  bool verbose = false;
  serve->add_option("--port", port);
  serve->add_option("--ice-interface", interfaces);
  serve->add_flag("--verbose", verbose);
  const auto dir = std::filesystem::temp_directory_path() / ("ditstream-config-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / "config.json";
  std::ofstream(file) << R"({"log-level": "debug", "serve": {"port": 9123, "ice-interface": ["127.0.0.1", "lo"], "verbose": true}})";
  const std::string file_arg = file.string();
  std::vector<const char*> argv = {"ditstream", "--config", file_arg.c_str(), "serve"};
  app.parse(static_cast<int>(argv.size()), argv.data());
  EXPECT_EQ(level, "debug");
  EXPECT_EQ(port, 9123);
  EXPECT_EQ(interfaces, (std::vector<std::string>{"127.0.0.1", "lo"}));
  EXPECT_TRUE(verbose);

  std::ofstream(file) << "[1, 2]";
  CLI::App bad;
  bad.config_formatter(std::make_shared<web::JsonConfig>());
  bad.set_config("--config");
  std::vector<const char*> argv2 = {"ditstream", "--config", file_arg.c_str()};
  EXPECT_THROW(bad.parse(static_cast<int>(argv2.size()), argv2.data()), CLI::ParseError);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ditstream
