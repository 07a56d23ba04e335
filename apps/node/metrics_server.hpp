// The HTTP endpoint of a node's metrics: GET /metrics answers the node's
// metrics_registry in the Prometheus text format (actors/metrics.hpp).
// Another path answers 404 and another method on /metrics 405, each with a
// plain-text body saying what is served. Runs cpp-httplib on its own
// threads, off the actor system.
//
// By default it binds loopback only: the metrics name nodes, actors and
// groups, so exposing them is the operator's explicit choice
// (allow_remote).
//
// Thread-safety: start and the destructor from one thread; requests are
// served concurrently (rendering takes the registry's mutex).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "caf/expected.hpp"

#include "actors/metrics.hpp"

namespace ftsr {

struct http_endpoint {
  std::string host;
  uint16_t port = 0;
};

/// Parses "HOST:PORT", "[IPv6]:PORT" or "PORT" (host 127.0.0.1). Port 0
/// picks a free port. A host other than localhost or a loopback address
/// is refused unless `allow_remote`. Errors: errc::invalid_argument naming
/// the bad text and what is expected.
caf::expected<http_endpoint> parse_http_endpoint(const std::string& text,
                                                 bool allow_remote);

class metrics_server {
public:
  /// Binds `at` and starts serving `reg`, which must outlive the server.
  /// Error: errc::invalid_argument naming the address it cannot bind.
  static caf::expected<std::unique_ptr<metrics_server>>
  start(const http_endpoint& at, const metrics_registry& reg);

  /// Stops serving and joins the server's threads.
  ~metrics_server();

  /// The bound port (the chosen one for port 0).
  uint16_t port() const noexcept;

private:
  struct impl;
  explicit metrics_server(std::unique_ptr<impl> x);
  std::unique_ptr<impl> impl_;
};

} // namespace ftsr
