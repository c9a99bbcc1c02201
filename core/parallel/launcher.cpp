#include "core/parallel/launcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <memory>

#include "core/parallel/launcher_channel.h"
#include "core/util/error.h"
#include "core/util/log.h"

extern char** environ;

namespace ditstream::parallel {
namespace {

constexpr std::string_view kContext = "launcher";

const std::vector<std::string> kRankVariables = {"RANK",        "WORLD_SIZE",       "LOCAL_RANK",
                                                 "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                                                 "NCCL_NVLS_ENABLE", kLauncherFdVariable, kRankGenerationVariable};

// The launcher's environment without the rank variables, plus this rank's.
std::vector<std::string> rank_environment_block(int rank, int world, const std::string& addr, uint16_t port) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const auto name = entry.substr(0, entry.find('='));
    bool ours = false;
    for (const auto& v : kRankVariables) ours = ours || name == v;
    if (!ours) env.emplace_back(entry);
  }
  env.push_back("RANK=" + std::to_string(rank));
  env.push_back("WORLD_SIZE=" + std::to_string(world));
  env.push_back("LOCAL_RANK=" + std::to_string(rank));
  env.push_back("LOCAL_WORLD_SIZE=" + std::to_string(world));
  env.push_back("MASTER_ADDR=" + addr);
  env.push_back("MASTER_PORT=" + std::to_string(port));
  env.push_back("NCCL_NVLS_ENABLE=0");
  return env;
}

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    return "was killed by signal " + std::to_string(sig) + " (" + strsignal(sig) + ")";
  }
  return "ended with status " + std::to_string(status);
}

using Clock = std::chrono::steady_clock;

struct Rank {
  pid_t pid = -1;
  bool running = false;
  bool replaced = false;  // killed by the launcher to be started again
};

}  // namespace

std::vector<std::string> without_option(const std::vector<std::string>& argv, const std::string& name) {
  std::vector<std::string> out;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (argv[i] == name) {
      ++i;  // and its value
      continue;
    }
    if (argv[i].rfind(name + "=", 0) == 0) continue;
    out.push_back(argv[i]);
  }
  return out;
}

uint16_t find_free_port(const std::string& addr) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error(ErrorKind::unavailable, std::string(kContext), "socket", std::strerror(errno));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = 0;
  if (::inet_pton(AF_INET, addr.c_str(), &sa.sin_addr) != 1) {
    ::close(fd);
    throw_invalid(std::string(kContext), "master_addr", "'" + addr + "' is not an IPv4 address");
  }
  socklen_t len = sizeof(sa);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    const std::string why = std::strerror(errno);
    ::close(fd);
    throw Error(ErrorKind::unavailable, std::string(kContext), "master_addr", "cannot bind " + addr + ": " + why);
  }
  ::close(fd);
  return ntohs(sa.sin_port);
}

std::filesystem::path current_executable() { return std::filesystem::read_symlink("/proc/self/exe"); }

int relaunch_as_ranks(int argc, char** argv, int ranks, LaunchOptions options) {
  options.ranks = ranks;
  options.program = current_executable();
  options.args = without_option(std::vector<std::string>(argv + 1, argv + argc), "--gpus");
  const auto result = launch_ranks(options);
  if (result.failed_rank) log::error("launcher: the service failed: {}", result.failure);
  return result.exit_code;
}

std::chrono::milliseconds restart_backoff(const LaunchOptions& options, int nth) {
  auto wait = options.backoff;
  for (int i = 1; i < nth && wait < options.backoff_max; ++i) wait *= 2;
  return std::min(wait, options.backoff_max);
}

LaunchResult launch_ranks(const LaunchOptions& options) {
  require(options.ranks >= 1 && options.ranks <= 1024, kContext, "gpus",
          std::to_string(options.ranks) + " is outside [1, 1024]");
  require(std::filesystem::exists(options.program), kContext, "program",
          "'" + options.program.string() + "' does not exist");
  require(options.max_restarts >= 0, kContext, "max_restarts", std::to_string(options.max_restarts) + " is negative");
  require(options.restart_window.count() > 0, kContext, "restart_window", "must be positive");
  const uint16_t port = options.master_port != 0 ? options.master_port : find_free_port(options.master_addr);

  // Rank 0's line to the launcher (launcher_channel.h); both ends close on exec, rank 0's end is
  // kept open in rank 0 alone.
  int pair[2] = {-1, -1};
  if (options.ranks > 1 && ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    throw Error(ErrorKind::unavailable, std::string(kContext), "socketpair", std::strerror(errno));
  }
  std::unique_ptr<LauncherChannel> channel;
  if (options.ranks > 1) channel = std::make_unique<LauncherChannel>(pair[0]);
  const int rank0_fd = pair[1];

  // SIGCHLD, SIGINT and SIGTERM are taken synchronously with sigtimedwait; the children get the
  // original mask back before exec.
  sigset_t watched, original;
  sigemptyset(&watched);
  sigaddset(&watched, SIGCHLD);
  sigaddset(&watched, SIGINT);
  sigaddset(&watched, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &watched, &original);

  std::string program = options.program.string();
  std::vector<std::string> argv_strings{program};
  argv_strings.insert(argv_strings.end(), options.args.begin(), options.args.end());
  auto argv = pointers(argv_strings);
  const pid_t launcher_pid = ::getpid();

  std::vector<Rank> ranks(options.ranks);
  LaunchResult result;
  int running = 0;
  int generation = 0;
  auto stop_all = [&](int sig) {
    for (const auto& r : ranks)
      if (r.running) ::kill(r.pid, sig);
  };
  auto close_rank0_fd = [&] {
    if (rank0_fd >= 0) ::close(rank0_fd);
  };
  // Starts rank `r` of `generation`; throws when the process cannot be made.
  auto start_rank = [&](int r) {
    auto env_strings = rank_environment_block(r, options.ranks, options.master_addr, port);
    env_strings.push_back(std::string(kRankGenerationVariable) + "=" + std::to_string(generation));
    if (r == 0 && rank0_fd >= 0) env_strings.push_back(std::string(kLauncherFdVariable) + "=" + std::to_string(rank0_fd));
    auto envp = pointers(env_strings);
    const pid_t pid = ::fork();
    if (pid < 0) {
      throw Error(ErrorKind::unavailable, std::string(kContext), "fork", "rank " + std::to_string(r) + ": " + std::strerror(errno));
    }
    if (pid == 0) {
      // Only async-signal-safe calls from here to exec.
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != launcher_pid) ::_exit(125);
      if (r == 0 && rank0_fd >= 0) ::fcntl(rank0_fd, F_SETFD, 0);
      pthread_sigmask(SIG_SETMASK, &original, nullptr);
      ::execve(program.c_str(), argv.data(), envp.data());
      ::_exit(127);
    }
    ranks[r] = {pid, true, false};
    ++running;
  };

  try {
    for (int r = 0; r < options.ranks; ++r) start_rank(r);
  } catch (...) {
    stop_all(SIGKILL);
    for (const auto& started : ranks)
      if (started.running) ::waitpid(started.pid, nullptr, 0);
    pthread_sigmask(SIG_SETMASK, &original, nullptr);
    close_rank0_fd();
    throw;
  }
  close_rank0_fd();  // rank 0 holds it now; its exit closes the channel
  log::info("launcher: started {} ranks of {} (rendezvous {}:{})", options.ranks, program, options.master_addr, port);

  bool stopping = false;       // every rank is being stopped
  bool rank0_ready = false;    // rank 0's world is up: other ranks' failures are restarted
  bool replacing = false;      // ranks 1..N-1 are being killed, then started again
  bool gave_up = false;        // no more restarts
  std::deque<Clock::time_point> failures;  // within the restart window
  Clock::time_point term_at = Clock::time_point::max(), kill_at{}, restart_at{};

  auto tell_rank0 = [&](LauncherMessage::Kind kind, const std::string& text) {
    if (!channel || !ranks[0].running) return;
    try {
      channel->send({kind, generation, text});
    } catch (const Error& e) {
      log::warn("launcher: cannot tell rank 0: {}", e.what());
    }
  };
  auto stop_everything = [&] {
    stopping = true;
    stop_all(SIGTERM);
    kill_at = Clock::now() + options.stop_grace;
  };
  auto fatal = [&](int rank, pid_t pid, const std::string& how, int exit_code) {
    result.failure = "rank " + std::to_string(rank) + " (pid " + std::to_string(pid) + ") " + how;
    result.failed_rank = rank;
    result.exit_code = exit_code;
    log::error("launcher: {}; stopping the other ranks", result.failure);
    stop_everything();
  };
  // The world of generation `generation` broke (`cause`): kill the other ranks but 0 and restart
  // them after the back-off, or give up past the limit.
  auto replace_followers = [&](const std::string& cause, bool from_rank0) {
    if (replacing || gave_up || stopping) return;
    if (!from_rank0) tell_rank0(LauncherMessage::Kind::failed, cause);
    replacing = true;
    result.last_restart_cause = cause;
    for (int r = 1; r < options.ranks; ++r) {
      if (!ranks[r].running) continue;
      ranks[r].replaced = true;
      ::kill(ranks[r].pid, SIGKILL);
    }
    const auto now = Clock::now();
    failures.push_back(now);
    while (!failures.empty() && now - failures.front() > options.restart_window) failures.pop_front();
    const int nth = static_cast<int>(failures.size());
    if (nth > options.max_restarts) {
      gave_up = true;
      result.gave_up = true;
      const std::string why = cause + "; " + std::to_string(nth) + " failures within " +
                              std::to_string(options.restart_window.count() / 1000) +
                              " s (at most " + std::to_string(options.max_restarts) +
                              " restarts): the other ranks are not restarted again";
      log::error("launcher: {}", why);
      tell_rank0(LauncherMessage::Kind::gave_up, why);
      return;
    }
    const auto wait = restart_backoff(options, nth);
    restart_at = now + wait;
    log::warn("launcher: {}; restarting ranks 1..{} in {} ms (restart {} of at most {} within {} s)", cause,
              options.ranks - 1, wait.count(), nth, options.max_restarts, options.restart_window.count() / 1000);
  };

  while (running > 0) {
    timespec wait{0, 50 * 1000 * 1000};
    const int sig = ::sigtimedwait(&watched, nullptr, &wait);
    if ((sig == SIGINT || sig == SIGTERM) && !stopping) {
      log::info("launcher: signal {}, stopping the ranks", sig);
      stop_everything();
    }
    // Exits first: a rank that died is told as such even when rank 0 saw its world break first.
    for (int r = 0; r < options.ranks; ++r) {
      if (!ranks[r].running) continue;
      int status = 0;
      if (::waitpid(ranks[r].pid, &status, WNOHANG) != ranks[r].pid) continue;
      ranks[r].running = false;
      --running;
      const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      const std::string how = describe_status(status);
      if (stopping || ranks[r].replaced) {
        log::info("launcher: rank {} (pid {}) {}", r, ranks[r].pid, how);
        continue;
      }
      if (ok) {
        log::info("launcher: rank {} (pid {}) {}", r, ranks[r].pid, how);
        if (r == 0) {
          // Rank 0 ended the service and told the others to stop: they get a grace period to do
          // so on their own before SIGTERM.
          stopping = true;
          term_at = Clock::now() + options.stop_grace;
          kill_at = term_at + options.stop_grace;
        }
        continue;
      }
      const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      if (r == 0 || !rank0_ready) {
        fatal(r, ranks[r].pid, how, code);
        continue;
      }
      if (gave_up) continue;  // rank 0 serves alone
      replace_followers("rank " + std::to_string(r) + " (pid " + std::to_string(ranks[r].pid) + ") " + how, false);
    }
    // Rank 0's messages.
    while (channel && !stopping) {
      std::optional<LauncherMessage> message;
      try {
        message = channel->receive(std::chrono::milliseconds(0));
      } catch (const Error&) {
        channel.reset();  // rank 0 closed it (it is exiting); its exit status tells the rest
      }
      if (!message) break;
      if (message->kind == LauncherMessage::Kind::ready) {
        if (!rank0_ready) log::info("launcher: rank 0 is serving; a failure of another rank restarts them");
        rank0_ready = options.max_restarts > 0;
      } else if (message->kind == LauncherMessage::Kind::restart && message->generation == generation) {
        if (rank0_ready) {
          replace_followers("rank 0 found the world broken: " + message->text, true);
        } else {
          log::error("launcher: rank 0 found the world broken: {}; restarts are off", message->text);
          stop_everything();
        }
      }
    }
    if (replacing && !gave_up && !stopping && Clock::now() >= restart_at) {
      bool all_down = true;
      for (int r = 1; r < options.ranks; ++r) all_down = all_down && !ranks[r].running;
      if (all_down) {
        ++generation;
        try {
          for (int r = 1; r < options.ranks; ++r) start_rank(r);
        } catch (const Error& e) {
          log::error("launcher: {}", e.what());
          fatal(0, ranks[0].pid, "lost its other ranks: " + std::string(e.detail()), 1);
          continue;
        }
        replacing = false;
        ++result.restarts;
        log::info("launcher: started ranks 1..{} again (generation {})", options.ranks - 1, generation);
        tell_rank0(LauncherMessage::Kind::restarted, "");
      }
    }
    if (stopping && running > 0 && Clock::now() >= term_at) {
      stop_all(SIGTERM);
      term_at = Clock::time_point::max();
    }
    if (stopping && running > 0 && Clock::now() >= kill_at) {
      log::warn("launcher: {} ranks still running {} ms after SIGTERM, killing them", running,
                options.stop_grace.count());
      stop_all(SIGKILL);
      kill_at = Clock::time_point::max();
    }
  }
  pthread_sigmask(SIG_SETMASK, &original, nullptr);
  return result;
}

}  // namespace ditstream::parallel
