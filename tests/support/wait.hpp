// Bounded polling for tests: wait for a condition, never sleep blindly.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <thread>

namespace ftsr::testing {

/// Polls `pred` every 5 ms until it holds or `bound` expires; returns
/// whether it held.
inline bool eventually(const std::function<bool()>& pred,
                       std::chrono::milliseconds bound
                       = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + bound;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }
  return true;
}

} // namespace ftsr::testing
