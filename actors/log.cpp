// The process-wide node logger (spdlog, stderr).
#include "actors/log.hpp"

#include <array>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "actors/errors.hpp"
#include "actors/protocol.hpp"

namespace ftsr {

namespace detail {
std::atomic<int> current_log_level{static_cast<int>(log_level::warn)};
} // namespace detail

namespace {

constexpr std::array<const char*, 6> level_names{"trace", "debug", "info",
                                                 "warn",  "error", "off"};

spdlog::logger& logger() {
  // Built on first use; spdlog's level stays at trace, ours filters.
  static auto instance = [] {
    auto lg = spdlog::stderr_logger_mt("ftsr");
    lg->set_pattern("%Y-%m-%d %H:%M:%S.%e %l %v");
    lg->set_level(spdlog::level::trace);
    lg->flush_on(spdlog::level::trace);
    return lg;
  }();
  return *instance;
}

spdlog::level::level_enum to_spdlog(log_level x) {
  switch (x) {
    case log_level::trace: return spdlog::level::trace;
    case log_level::debug: return spdlog::level::debug;
    case log_level::info: return spdlog::level::info;
    case log_level::warn: return spdlog::level::warn;
    case log_level::error: return spdlog::level::err;
    case log_level::off: break;
  }
  return spdlog::level::off;
}

} // namespace

caf::expected<log_level> parse_log_level(std::string_view text) {
  for (size_t i = 0; i < level_names.size(); ++i)
    if (text == level_names[i])
      return static_cast<log_level>(i);
  return make_error(errc::invalid_argument,
                    "bad log level '" + std::string{text}
                      + "' (expected trace, debug, info, warn, error or off)");
}

const char* to_string(log_level x) {
  return level_names[static_cast<size_t>(x)];
}

void set_log_level(log_level x) {
  detail::current_log_level.store(static_cast<int>(x),
                                  std::memory_order_relaxed);
}

std::string log_name(const member_id& x) {
  return x.name.empty() ? std::string{"client"} : to_string(x);
}

void log_line(log_level x, std::string_view msg) {
  if (x == log_level::off)
    return;
  logger().log(to_spdlog(x), "{}", msg);
}

} // namespace ftsr
