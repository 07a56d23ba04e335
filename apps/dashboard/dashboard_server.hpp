// The dashboard server: an HTTP server (cpp-httplib) over a cluster probe.
// A poller asks every member for its report a few times a second, keeps
// the merged failure journal, and pushes the cluster model to browsers by
// server-sent events; spans are fetched from the members when a page asks
// for traces. Endpoints (GET only; anything else is a 4xx with a JSON
// {"error": "..."} naming what is wrong):
//
//   /, /app.js, /style.css          the page (assets compiled in)
//   /api/cluster                    the cluster model (cluster_model.hpp)
//   /api/events?after=N&limit=M     journal entries numbered above N
//   /api/traces?limit=N             the newest traces, summarized
//   /api/trace?id=HEX               the spans of one trace
//   /api/export?format=chrome|otlp[&trace=HEX]   trace_export.hpp
//   /api/stream                     server-sent events: "model" on change
//
// Thread-safety: start/stop from one thread; handlers run on httplib's
// pool and share state under a mutex. The dashboard is a client of the
// cluster: whatever happens to it, the members carry on.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "caf/expected.hpp"

#include "apps/dashboard/cluster_model.hpp"
#include "apps/dashboard/cluster_probe.hpp"

namespace httplib {
class Server;
}

namespace ftsr::dashboard {

struct dashboard_options {
  /// Pause between two collections of the members' state.
  std::chrono::milliseconds poll_interval{200};
  /// Bound on one collection (a frozen member costs at most this).
  std::chrono::milliseconds poll_timeout{1000};
  /// Journal entries and spans kept by the dashboard.
  size_t max_events = 5000;
  size_t max_spans = 50000;
};

class dashboard_server {
public:
  dashboard_server(cluster_probe& probe, dashboard_options opts = {});

  /// Stops serving and polling.
  ~dashboard_server();

  /// Binds `host:port` (port 0: any free port) and starts the poller and
  /// the server threads; returns the bound port. Errors: errc::bad_config
  /// when the address cannot be bound (named in the message).
  caf::expected<int> start(const std::string& host, int port);

  /// Stops the server and the poller; idempotent.
  void stop();

  /// Completed collections so far (tests wait on it).
  uint64_t version() const;

private:
  void poll_loop();
  void collect_state();
  /// Fetches spans from every member into the span store.
  void collect_spans();
  void routes();

  cluster_probe& probe_;
  dashboard_options opts_;
  std::unique_ptr<httplib::Server> http_;
  std::thread server_thread_;
  std::thread poll_thread_;
  std::atomic<bool> stopping_{false};

  mutable std::mutex mtx_;
  std::condition_variable changed_;
  uint64_t version_ = 0;
  std::string model_json_;
  /// Per node name: incarnation and the last journal entry taken.
  std::map<std::string, std::pair<uint64_t, uint64_t>> journal_pos_;
  std::vector<event_row> events_;
  /// Dashboard-wide number of events_.front() (numbers never repeat).
  uint64_t first_event_ = 1;
  std::deque<span> spans_;
  std::set<std::pair<uint64_t, uint64_t>> span_ids_;
  std::mutex span_fetch_mtx_;
};

/// Parses "HOST:PORT" (port 0-65535); nullopt with `error` set otherwise.
std::optional<std::pair<std::string, int>>
parse_listen_address(const std::string& text, std::string& error);

} // namespace ftsr::dashboard
