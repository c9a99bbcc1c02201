// CLI11 reads --config files through this: a JSON object whose keys are option names (long form,
// without dashes) and whose nested objects are subcommands, e.g.
//   {"log-level": "info", "serve": {"port": 8080, "stun": "stun://127.0.0.1:3478", "ice-interface": ["lo"]}}
// Arrays give repeated values, booleans set flags.
#pragma once

#include <CLI/CLI.hpp>

namespace ditstream::web {

class JsonConfig : public CLI::Config {
 public:
  std::string to_config(const CLI::App* app, bool default_also, bool write_description, std::string prefix) const override;
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override;
};

}  // namespace ditstream::web
