#include "core/engine/rank_commands.h"

#include <nlohmann/json.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <thread>

#include "core/util/error.h"

namespace ditstream::engine {
namespace {

constexpr const char* kContext = "rank command";

template <class T>
T field(const nlohmann::json& j, const char* name) {
  const auto it = j.find(name);
  require(it != j.end(), kContext, name, "is missing");
  try {
    return it->get<T>();
  } catch (const nlohmann::json::exception&) {
    throw_invalid(kContext, name, "has the wrong type: " + it->dump());
  }
}

}  // namespace

std::string encode_rank_command(const RankCommand& command) {
  nlohmann::json j;
  j["kind"] = command.kind == RankCommand::Kind::run ? "run" : "stop";
  if (command.kind == RankCommand::Kind::run) {
    const auto& r = command.request;
    j["request"] = {{"prompt", r.prompt}, {"width", r.width},   {"height", r.height},
                    {"frames", r.frames}, {"steps", r.steps},   {"seed", r.seed},
                    {"shift", r.shift},   {"guidance", r.guidance}, {"cache_threshold", r.cache_threshold},
                    {"fps", r.fps}};
  }
  return j.dump();
}

RankCommand decode_rank_command(const std::string& text) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  require(j.is_object(), kContext, "command", "is not a JSON object");
  RankCommand command;
  const auto kind = field<std::string>(j, "kind");
  if (kind == "stop") {
    command.kind = RankCommand::Kind::stop;
    return command;
  }
  require(kind == "run", kContext, "kind", "is '" + kind + "', must be run or stop");
  const auto it = j.find("request");
  require(it != j.end() && it->is_object(), kContext, "request", "is missing");
  const auto& q = *it;
  auto& r = command.request;
  r.prompt = field<std::string>(q, "prompt");
  r.width = field<int>(q, "width");
  r.height = field<int>(q, "height");
  r.frames = field<int>(q, "frames");
  r.steps = field<int>(q, "steps");
  r.seed = field<int64_t>(q, "seed");
  r.shift = field<double>(q, "shift");
  r.guidance = field<double>(q, "guidance");
  r.cache_threshold = field<double>(q, "cache_threshold");
  r.fps = field<int>(q, "fps");
  return command;
}

RankCommands::RankCommands(c10::intrusive_ptr<c10d::Store> store) : store_(std::move(store)) {
  require(store_.defined(), kContext, "store", "is null: commands need the rendezvous store");
}

RankCommands::~RankCommands() = default;

std::string RankCommands::key(uint64_t sequence) const { return "ditstream/command/" + std::to_string(sequence); }

void RankCommands::publish(const RankCommand& command) {
  const std::string text = encode_rank_command(command);
  store_->set(key(sequence_), std::vector<uint8_t>(text.begin(), text.end()));
  if (sequence_ > 0) store_->deleteKey(key(sequence_ - 1));
  ++sequence_;
}

std::optional<RankCommand> RankCommands::next(const std::atomic<bool>& stopping, std::chrono::milliseconds poll) {
  const std::string k = key(sequence_);
  while (!store_->check({k})) {
    if (stopping.load()) return std::nullopt;
    std::this_thread::sleep_for(poll);
  }
  const auto bytes = store_->get(k);
  ++sequence_;
  return decode_rank_command(std::string(bytes.begin(), bytes.end()));
}

}  // namespace ditstream::engine
