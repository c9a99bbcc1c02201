#include "core/engine/rank_recovery.h"

#include <torch/csrc/distributed/c10d/Store.hpp>

#include "core/util/error.h"
#include "core/util/log.h"

namespace ditstream::engine {

using Kind = parallel::LauncherMessage::Kind;

RankWorld::RankWorld() = default;
RankWorld::RankWorld(RankWorld&&) noexcept = default;
RankWorld& RankWorld::operator=(RankWorld&&) noexcept = default;
RankWorld::~RankWorld() {
  commands.reset();
  world.reset();  // before the store
  store.reset();
}

RankRecovery::RankRecovery(RankHealth& health, std::unique_ptr<parallel::LauncherChannel> channel, RankWorld initial,
                           FormWorld form)
    : health_(health), channel_(std::move(channel)), form_(std::move(form)), current_(std::move(initial)) {
  require(current_.world != nullptr, "rank recovery", "world", "is missing");
  generation_ = current_.generation;
}

RankRecovery::~RankRecovery() { stop(); }

void RankRecovery::start(Install install) {
  install_ = std::move(install);
  if (!channel_) return;
  send(Kind::ready, "");
  thread_ = std::thread([this] { run(); });
}

void RankRecovery::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void RankRecovery::send(Kind kind, const std::string& text) {
  if (!channel_) return;
  try {
    channel_->send({kind, generation_.load(), text});
  } catch (const Error& e) {
    log::warn("ranks: cannot tell the launcher: {}", e.what());
  }
}

void RankRecovery::world_failed(const std::string& why) {
  if (!health_.report_failure(why)) return;  // known already
  log::error("ranks: the world broke inside a job: {}", why);
  if (channel_) {
    send(Kind::restart, why);
  } else {
    log::error("ranks: {}", health_.job_error());
  }
}

void RankRecovery::run() {
  while (!stopping_) {
    std::optional<parallel::LauncherMessage> message;
    try {
      message = channel_->receive(std::chrono::milliseconds(200));
    } catch (const Error& e) {
      if (stopping_) return;
      log::error("ranks: lost the launcher: {}", e.what());
      health_.give_up("lost the launcher: " + e.detail());
      return;
    }
    if (!message) continue;
    switch (message->kind) {
      case Kind::failed:
        log::error("ranks: {}", message->text);
        if (!health_.report_failure(message->text)) health_.explain(message->text);
        current_.world->abort(message->text);  // releases a job waiting on the dead rank
        break;
      case Kind::restarted: recover(message->generation); break;
      case Kind::gave_up:
        log::error("ranks: the launcher gave up: {}", message->text);
        health_.give_up(message->text);
        current_.world->abort(message->text);
        break;
      case Kind::ready:
      case Kind::restart: log::warn("ranks: unexpected '{}' from the launcher", to_string(message->kind)); break;
    }
  }
}

void RankRecovery::recover(int generation) {
  health_.restarting(generation);
  generation_ = generation;
  log::info("ranks: the other ranks were started again (generation {}); forming a new world", generation);
  RankWorld next;
  try {
    next = form_(generation);
  } catch (const std::exception& e) {
    const std::string why = "rank 0 could not form the world of generation " + std::to_string(generation) + ": " + e.what();
    log::error("ranks: {}", why);
    send(Kind::restart, why);
    return;
  }
  // The engine may point at either world if installing fails half-way: both stay alive until the
  // next recovery.
  retired_ = std::move(current_);
  current_ = std::move(next);
  try {
    install_(current_);
  } catch (const std::exception& e) {
    const std::string why = "rank 0 could not run on the world of generation " + std::to_string(generation) + ": " + e.what();
    log::error("ranks: {}", why);
    current_.world->abort(why);
    send(Kind::restart, why);
    return;
  }
  retired_ = RankWorld();  // the engine runs on the new one now
  health_.recovered();
  log::info("ranks: a new world of {} ranks is up (generation {})", current_.world->world_size(), generation);
  send(Kind::ready, "");
}

}  // namespace ditstream::engine
