// posix_spawn-based child processes.
#include "apps/node/child_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

extern char** environ;

namespace ftsr {

std::optional<child_process>
child_process::start(std::vector<std::string> argv,
                     const std::string& log_file) {
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(a.data());
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (!log_file.empty()) {
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_file.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  }
  pid_t pid;
  auto rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0)
    return std::nullopt;
  return child_process{pid};
}

child_process::child_process(child_process&& other) noexcept
  : pid_(other.pid_), status_(other.status_) {
  other.pid_ = -1;
}

child_process& child_process::operator=(child_process&& other) noexcept {
  std::swap(pid_, other.pid_);
  std::swap(status_, other.status_);
  return *this;
}

child_process::~child_process() {
  if (pid_ > 0 && running()) {
    ::kill(pid_, SIGKILL);
    wait_for(std::chrono::seconds(10));
  }
}

bool child_process::signal(int sig) const {
  return pid_ > 0 && ::kill(pid_, sig) == 0;
}

bool child_process::running() {
  return pid_ > 0 && !wait_for(std::chrono::milliseconds{0});
}

std::optional<int> child_process::wait_for(std::chrono::milliseconds timeout) {
  if (status_ || pid_ <= 0)
    return status_;
  // waitpid has no timeout: poll with a short step, bounded by `timeout`.
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int st = 0;
    auto rc = ::waitpid(pid_, &st, WNOHANG);
    if (rc == pid_) {
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      return status_;
    }
    if (rc < 0)
      return status_ = -1;
    if (std::chrono::steady_clock::now() >= deadline)
      return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds{2});
  }
}

} // namespace ftsr
