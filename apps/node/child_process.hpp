// A child OS process started by the demo, the benchmarks and the system
// tests (ftsr-node instances): start, signal by PID, wait with a bound.
// Only ever signals the process it started. Not thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace ftsr {

class child_process {
public:
  /// Starts `argv[0]` with `argv`; stdout/stderr go to `log_file` (appended)
  /// or are inherited when empty. Returns an empty optional on failure.
  static std::optional<child_process> start(std::vector<std::string> argv,
                                            const std::string& log_file = {});

  child_process(child_process&& other) noexcept;
  child_process& operator=(child_process&& other) noexcept;
  child_process(const child_process&) = delete;

  /// Kills (SIGKILL) and reaps the process if it is still running.
  ~child_process();

  pid_t pid() const noexcept {
    return pid_;
  }

  /// Gives the process up: it keeps running after this object is gone
  /// (e.g. cluster nodes started by `ftsr-bank up`, stopped later by PID).
  /// Returns its PID.
  pid_t release() noexcept {
    auto pid = pid_;
    pid_ = -1;
    return pid;
  }

  /// Sends `sig` to the process.
  bool signal(int sig) const;

  /// Waits up to `timeout` for exit; returns the exit code (128 + signal
  /// when killed by a signal), or nothing if it is still running.
  std::optional<int> wait_for(std::chrono::milliseconds timeout);

  bool running();

private:
  explicit child_process(pid_t pid) : pid_(pid) {
  }

  pid_t pid_ = -1;
  std::optional<int> status_;
};

} // namespace ftsr
