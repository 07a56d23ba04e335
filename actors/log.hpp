// Node logging: timestamped plain lines on stderr, one per event in a
// node's life (listening, peers up / suspected / failed, views, fencing,
// restarts, recoveries), through spdlog.
//
// Library code logs with FTSR_LOG(level, fmt, args...): the arguments are
// evaluated and formatted only when `level` is enabled, so a disabled level
// costs one relaxed atomic load. Lines name the node themselves (several
// nodes can share a process in tests).
//
// Thread-safety: every function here is thread-safe; lines from different
// threads never interleave. The process-wide level defaults to warn
// (quiet in-process tests and clients); ftsr-node sets it from --log-level.
#pragma once

#include <atomic>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "caf/expected.hpp"

namespace ftsr {

enum class log_level : int { trace, debug, info, warn, error, off };

/// Parses "trace", "debug", "info", "warn", "error" or "off".
/// Error: errc::invalid_argument naming the bad value and the valid ones.
caf::expected<log_level> parse_log_level(std::string_view text);

const char* to_string(log_level x);

void set_log_level(log_level x);

namespace detail {
extern std::atomic<int> current_log_level;
} // namespace detail

inline bool log_enabled(log_level x) {
  return static_cast<int>(x)
         >= detail::current_log_level.load(std::memory_order_relaxed);
}

/// Writes one line at `x` (timestamp and level prepended), unconditionally.
void log_line(log_level x, std::string_view msg);

struct member_id;

/// How lines name a node: "name/incarnation", or "client".
std::string log_name(const member_id& x);

} // namespace ftsr

#define FTSR_LOG(level, ...)                                                   \
  do {                                                                         \
    if (::ftsr::log_enabled(::ftsr::log_level::level))                         \
      ::ftsr::log_line(::ftsr::log_level::level, fmt::format(__VA_ARGS__));    \
  } while (false)
