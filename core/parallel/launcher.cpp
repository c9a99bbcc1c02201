#include "core/parallel/launcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/util/error.h"
#include "core/util/log.h"

extern char** environ;

namespace ditstream::parallel {
namespace {

constexpr std::string_view kContext = "launcher";

const std::vector<std::string> kRankVariables = {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE",
                                                 "MASTER_ADDR", "MASTER_PORT", "NCCL_NVLS_ENABLE"};

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

struct Rank {
  pid_t pid = -1;
  bool running = false;
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

int relaunch_as_ranks(int argc, char** argv, int ranks) {
  LaunchOptions options;
  options.ranks = ranks;
  options.program = current_executable();
  options.args = without_option(std::vector<std::string>(argv + 1, argv + argc), "--gpus");
  const auto result = launch_ranks(options);
  if (result.failed_rank) log::error("launcher: the job failed: {}", result.failure);
  return result.exit_code;
}

LaunchResult launch_ranks(const LaunchOptions& options) {
  require(options.ranks >= 1 && options.ranks <= 1024, kContext, "gpus",
          std::to_string(options.ranks) + " is outside [1, 1024]");
  require(std::filesystem::exists(options.program), kContext, "program",
          "'" + options.program.string() + "' does not exist");
  const uint16_t port = options.master_port != 0 ? options.master_port : find_free_port(options.master_addr);

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
  auto stop_all = [&](int sig) {
    for (const auto& r : ranks)
      if (r.running) ::kill(r.pid, sig);
  };

  for (int r = 0; r < options.ranks; ++r) {
    auto env_strings = rank_environment_block(r, options.ranks, options.master_addr, port);
    auto envp = pointers(env_strings);
    const pid_t pid = ::fork();
    if (pid < 0) {
      const std::string why = std::strerror(errno);
      stop_all(SIGKILL);
      for (const auto& started : ranks)
        if (started.running) ::waitpid(started.pid, nullptr, 0);
      pthread_sigmask(SIG_SETMASK, &original, nullptr);
      throw Error(ErrorKind::unavailable, std::string(kContext), "fork", "rank " + std::to_string(r) + ": " + why);
    }
    if (pid == 0) {
      // Only async-signal-safe calls from here to exec.
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != launcher_pid) ::_exit(125);
      pthread_sigmask(SIG_SETMASK, &original, nullptr);
      ::execve(program.c_str(), argv.data(), envp.data());
      ::_exit(127);
    }
    ranks[r] = {pid, true};
  }
  log::info("launcher: started {} ranks of {} (rendezvous {}:{})", options.ranks, program, options.master_addr, port);

  int running = options.ranks;
  bool stopping = false;
  std::chrono::steady_clock::time_point kill_at{};
  while (running > 0) {
    timespec wait{0, 100 * 1000 * 1000};
    const int sig = ::sigtimedwait(&watched, nullptr, &wait);
    if ((sig == SIGINT || sig == SIGTERM) && !stopping) {
      log::info("launcher: signal {}, stopping the ranks", sig);
      stopping = true;
      stop_all(SIGTERM);
      kill_at = std::chrono::steady_clock::now() + options.stop_grace;
    }
    for (int r = 0; r < options.ranks; ++r) {
      if (!ranks[r].running) continue;
      int status = 0;
      if (::waitpid(ranks[r].pid, &status, WNOHANG) != ranks[r].pid) continue;
      ranks[r].running = false;
      --running;
      const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      if (ok || stopping) {
        log::info("launcher: rank {} (pid {}) {}", r, ranks[r].pid, describe_status(status));
        continue;
      }
      result.failure = "rank " + std::to_string(r) + " (pid " + std::to_string(ranks[r].pid) + ") " +
                       describe_status(status);
      result.failed_rank = r;
      result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      log::error("launcher: {}; stopping the other ranks", result.failure);
      stopping = true;
      stop_all(SIGTERM);
      kill_at = std::chrono::steady_clock::now() + options.stop_grace;
    }
    if (stopping && running > 0 && std::chrono::steady_clock::now() >= kill_at) {
      log::warn("launcher: {} ranks still running {} ms after SIGTERM, killing them", running,
                options.stop_grace.count());
      stop_all(SIGKILL);
      kill_at = std::chrono::steady_clock::time_point::max();
    }
  }
  pthread_sigmask(SIG_SETMASK, &original, nullptr);
  return result;
}

}  // namespace ditstream::parallel
