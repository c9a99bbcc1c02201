#include "core/engine/rank_health.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <memory>

#include "core/util/error.h"

namespace ditstream::engine {

std::string to_string(RankGroupState state) {
  switch (state) {
    case RankGroupState::ok: return "ok";
    case RankGroupState::restarting: return "restarting";
    case RankGroupState::failed: return "failed";
  }
  return "unknown";
}

std::string RankGroupStatus::to_json() const {
  return nlohmann::json{{"world", world},
                        {"state", to_string(state)},
                        {"restarts", restarts},
                        {"generation", generation},
                        {"last_failure", last_failure},
                        {"restartable", restartable}}
      .dump();
}

RankHealth::RankHealth(int world, bool restartable) {
  require(world >= 1, "rank health", "world", std::to_string(world) + " must be ≥ 1");
  status_.world = world;
  status_.restartable = restartable;
}

bool RankHealth::report_failure(const std::string& what) {
  std::unique_lock lock(mutex_);
  if (status_.state != RankGroupState::ok) return false;
  const auto before = status_.state;
  status_.last_failure = what;
  status_.state = status_.restartable ? RankGroupState::restarting : RankGroupState::failed;
  changed(lock, before);
  return true;
}

void RankHealth::explain(const std::string& what) {
  std::unique_lock lock(mutex_);
  if (status_.state != RankGroupState::restarting) return;
  status_.last_failure = what;
  changed(lock, RankGroupState::restarting);
}

void RankHealth::restarting(int generation) {
  std::unique_lock lock(mutex_);
  if (status_.state == RankGroupState::failed) return;
  const auto before = status_.state;
  status_.state = RankGroupState::restarting;
  status_.generation = generation;
  ++status_.restarts;
  changed(lock, before);
}

void RankHealth::recovered() {
  std::unique_lock lock(mutex_);
  if (status_.state != RankGroupState::restarting) return;
  status_.state = RankGroupState::ok;
  changed(lock, RankGroupState::restarting);
}

void RankHealth::give_up(const std::string& why) {
  std::unique_lock lock(mutex_);
  const auto before = status_.state;
  status_.state = RankGroupState::failed;
  status_.last_failure = why;
  changed(lock, before);
}

RankGroupStatus RankHealth::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

std::string RankHealth::job_error() const {
  std::lock_guard lock(mutex_);
  const std::string failure = status_.last_failure.empty() ? "the ranks' world failed" : status_.last_failure;
  switch (status_.state) {
    case RankGroupState::ok: return failure;
    case RankGroupState::restarting: return failure + "; the ranks are being restarted";
    case RankGroupState::failed:
      return failure + (status_.restartable ? "; the ranks were not restarted again (the service runs no more jobs)"
                                            : "; without the ditstream launcher (serve --gpus N) the ranks are not "
                                              "restarted: restart the service");
  }
  return failure;
}

void RankHealth::wait_explained(const std::string& reported, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  settled_.wait_for(lock, timeout, [&] { return status_.last_failure != reported; });
}

RankGroupState RankHealth::wait_settled(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mutex_);
  settled_.wait_for(lock, timeout, [&] { return status_.state != RankGroupState::restarting; });
  return status_.state;
}

void RankHealth::add_listener(Listener listener) {
  std::lock_guard lock(mutex_);
  listeners_.push_back(std::move(listener));
}

void RankHealth::changed(std::unique_lock<std::mutex>& lock, RankGroupState before) {
  const RankGroupStatus now = status_;
  const auto listeners = listeners_;
  lock.unlock();
  settled_.notify_all();
  for (const auto& l : listeners) l(now, before);
}

EngineReadiness readiness_of(const RankHealth& health) {
  const auto status = health.status();
  switch (status.state) {
    case RankGroupState::ok: return {};
    case RankGroupState::restarting: return {false, true, "the ranks are being restarted after: " + status.last_failure};
    case RankGroupState::failed: return {true, false, health.job_error()};
  }
  return {};
}

void add_rank_health_metrics(MetricsRegistry& registry, RankHealth& health) {
  auto& restarts = registry.counter("ditstream_rank_restarts_total",
                                    "Times the ranks other than 0 were started again after a rank failed");
  auto& state = registry.gauge("ditstream_rank_group_state", "State of the ranks: 0 ok, 1 restarting, 2 failed");
  const int already = health.status().restarts;
  if (already > 0) restarts.add(already);
  auto counted = std::make_shared<std::atomic<int>>(already);
  health.add_listener([&restarts, counted](const RankGroupStatus& now, RankGroupState) {
    const int before = counted->exchange(now.restarts);
    if (now.restarts > before) restarts.add(now.restarts - before);
  });
  registry.add_collector([&health, &state] { state.set(static_cast<double>(health.status().state)); });
}

}  // namespace ditstream::engine
