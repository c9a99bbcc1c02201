// `ditstream serve` as a subprocess on 127.0.0.1 with a port of the kernel's choosing: its log until
// it listens (or exits), then SIGTERM on destruction.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

namespace ditstream::testing {

class ServeProcess {
 public:
  ServeProcess(const std::string& binary, const std::filesystem::path& dir, std::vector<std::string> flags,
               bool hide_vulkan = false) {
    std::vector<std::string> args = {binary,
                                     "serve",
                                     "--bind",
                                     "127.0.0.1",
                                     "--port",
                                     "0",
                                     "--recordings",
                                     (dir / "recordings").string(),
                                     "--db",
                                     (dir / "jobs.db").string(),
                                     "--ice-interface",
                                     "127.0.0.1"};
    args.insert(args.end(), flags.begin(), flags.end());
    std::filesystem::create_directories(dir);
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], STDOUT_FILENO);
      dup2(fds[1], STDERR_FILENO);
      close(fds[0]);
      close(fds[1]);
      if (hide_vulkan) {  // as on a machine without a Vulkan driver
        setenv("VK_DRIVER_FILES", "/nonexistent/ditstream_icd.json", 1);
        setenv("VK_ICD_FILENAMES", "/nonexistent/ditstream_icd.json", 1);
      }
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(fds[1]);
    fd_ = fds[0];
    const std::regex listening(R"(serving on http://127\.0\.0\.1:(\d+))");
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < until && port_ == 0) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 200) <= 0) continue;
      char buf[4096];
      const ssize_t n = read(fd_, buf, sizeof(buf));
      if (n <= 0) break;  // exited
      log_.append(buf, size_t(n));
      std::smatch m;
      if (std::regex_search(log_, m, listening)) port_ = static_cast<uint16_t>(std::stoi(m[1]));
    }
    if (port_ == 0) reap();
  }
  ~ServeProcess() {
    if (pid_ > 0) kill(pid_, SIGTERM);
    reap();
  }
  uint16_t port() const { return port_; }
  int exit_code() const { return exit_code_; }
  const std::string& log() const { return log_; }

 private:
  void reap() {
    if (pid_ <= 0) return;
    char buf[4096];
    ssize_t n;
    while ((n = read(fd_, buf, sizeof(buf))) > 0) log_.append(buf, size_t(n));
    int status = 0;
    waitpid(pid_, &status, 0);
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    pid_ = -1;
    close(fd_);
  }
  pid_t pid_ = -1;
  int fd_ = -1;
  uint16_t port_ = 0;
  int exit_code_ = -1;
  std::string log_;
};

}  // namespace ditstream::testing
