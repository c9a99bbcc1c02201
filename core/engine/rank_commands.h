// How the ranks of a context-parallel service agree on what to run. Rank 0 (the one serving HTTP)
// publishes each job's request, or the order to stop, under the next sequence number in the
// rendezvous store; the other ranks wait for it and run the same job with it. The store carries
// commands rather than NCCL because followers idle between jobs for as long as nobody submits
// anything, far longer than a collective may wait.
#pragma once

#include <c10/util/intrusive_ptr.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "core/engine/job.h"

namespace c10d {
class Store;
}

namespace ditstream::engine {

struct RankCommand {
  enum class Kind { run, stop };
  Kind kind = Kind::run;
  JobRequest request;  // for run
};

// The wire form (JSON); parse throws ditstream::Error naming the field that is missing or wrong.
std::string encode_rank_command(const RankCommand& command);
RankCommand decode_rank_command(const std::string& text);

class RankCommands {
 public:
  explicit RankCommands(c10::intrusive_ptr<c10d::Store> store);
  ~RankCommands();

  // Rank 0: the next command. A command is read by every follower before the job's first
  // collective completes, so the one before it can be dropped from the store here.
  void publish(const RankCommand& command);
  // Followers: waits for the next command; nullopt when `stopping` was set first. Polls the store
  // every `poll`.
  std::optional<RankCommand> next(const std::atomic<bool>& stopping,
                                  std::chrono::milliseconds poll = std::chrono::milliseconds(10));

 private:
  std::string key(uint64_t sequence) const;

  c10::intrusive_ptr<c10d::Store> store_;
  uint64_t sequence_ = 0;
};

}  // namespace ditstream::engine
