// The line between the `--gpus N` launcher and rank 0: one text line per message over a Unix
// socket pair whose rank-0 end the launcher passes as DITSTREAM_LAUNCHER_FD. The launcher is the
// ranks' parent and sees a rank die first (waitpid); it tells rank 0, which fails the running job
// and re-forms the world with the ranks the launcher starts again. Rank 0 tells the launcher when
// its world is up and when the world broke without a rank dying (an NCCL error or timeout).
// Torch-free.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace ditstream::parallel {

struct LauncherMessage {
  enum class Kind {
    ready,      // rank 0 → launcher: the world is formed; from now on the other ranks are restarted
    restart,    // rank 0 → launcher: the world failed (text: why); restart the other ranks
    failed,     // launcher → rank 0: a rank of `generation` failed (text: which and how)
    restarted,  // launcher → rank 0: ranks 1..N-1 run again, with `generation`
    gave_up,    // launcher → rank 0: no more restarts (text: why)
  };
  Kind kind = Kind::ready;
  int generation = 0;
  std::string text;

  bool operator==(const LauncherMessage&) const = default;
};

std::string_view to_string(LauncherMessage::Kind kind);
// "failed 0 rank 1 (pid 42) was killed by signal 9 (Killed)\n"; newlines in the text become spaces.
std::string encode_launcher_message(const LauncherMessage& message);
// One line without its newline; throws ditstream::Error naming what is malformed.
LauncherMessage decode_launcher_message(std::string_view line);

// The environment variable naming rank 0's end of the socket pair, and the one telling a rank
// which generation of ranks it belongs to (0 at start-up, then one more per restart).
inline constexpr const char* kLauncherFdVariable = "DITSTREAM_LAUNCHER_FD";
inline constexpr const char* kRankGenerationVariable = "DITSTREAM_RANK_GENERATION";

// DITSTREAM_RANK_GENERATION, 0 when unset; throws ditstream::Error for a malformed value.
int rank_generation_from_process();

class LauncherChannel {
 public:
  // Takes ownership of a connected stream socket.
  explicit LauncherChannel(int fd);
  ~LauncherChannel();
  LauncherChannel(const LauncherChannel&) = delete;
  LauncherChannel& operator=(const LauncherChannel&) = delete;

  // Rank 0's end from DITSTREAM_LAUNCHER_FD; null when the variable is unset (no launcher:
  // torchrun, mpirun, a world of one). Throws ditstream::Error when it names no socket.
  static std::unique_ptr<LauncherChannel> from_environment();

  // Thread-safe. Throws ditstream::Error (unavailable) when the other end is gone.
  void send(const LauncherMessage& message);
  // The next message, waiting at most `timeout`; nullopt when none came. Throws ditstream::Error
  // (unavailable) once the other end closed. One reader at a time.
  std::optional<LauncherMessage> receive(std::chrono::milliseconds timeout);
  int fd() const { return fd_; }

 private:
  int fd_;
  std::mutex send_mutex_;
  std::string buffer_;  // received bytes not yet a whole line
};

}  // namespace ditstream::parallel
