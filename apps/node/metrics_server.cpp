// /metrics over HTTP with cpp-httplib.
#include "apps/node/metrics_server.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <chrono>
#include <thread>

#include <httplib.h>

#include "actors/errors.hpp"

namespace ftsr {

namespace {

bool is_loopback(const std::string& host) {
  if (host == "localhost" || host == "::1")
    return true;
  in_addr a{};
  return inet_pton(AF_INET, host.c_str(), &a) == 1
         && (ntohl(a.s_addr) >> 24) == 127;
}

caf::error bad_endpoint(const std::string& text, const std::string& why) {
  return make_error(errc::invalid_argument,
                    "bad metrics address '" + text + "': " + why
                      + " (expected HOST:PORT or PORT)");
}

} // namespace

caf::expected<http_endpoint> parse_http_endpoint(const std::string& text,
                                                 bool allow_remote) {
  http_endpoint result{"127.0.0.1", 0};
  std::string port = text;
  if (auto colon = text.rfind(':'); colon != std::string::npos) {
    result.host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (result.host.size() >= 2 && result.host.front() == '['
        && result.host.back() == ']')
      result.host = result.host.substr(1, result.host.size() - 2);
    if (result.host.empty())
      return bad_endpoint(text, "empty host");
  }
  if (port.empty() || port.size() > 5
      || port.find_first_not_of("0123456789") != std::string::npos
      || std::stoul(port) > 65535)
    return bad_endpoint(text, "port must be a number from 0 to 65535");
  result.port = static_cast<uint16_t>(std::stoul(port));
  if (!allow_remote && !is_loopback(result.host))
    return bad_endpoint(text, "host '" + result.host
                                + "' is not loopback; pass "
                                  "--metrics-any-address to expose metrics "
                                  "beyond this machine");
  return result;
}

struct metrics_server::impl {
  httplib::Server srv;
  std::thread loop;
  uint16_t port = 0;
};

caf::expected<std::unique_ptr<metrics_server>>
metrics_server::start(const http_endpoint& at, const metrics_registry& reg) {
  auto x = std::make_unique<impl>();
  auto& srv = x->srv;
  // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, which would let
  // a second node share (and split the scrapes of) a port already in use.
  srv.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  srv.Get("/metrics", [&reg](const httplib::Request&, httplib::Response& res) {
    res.set_content(reg.render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  auto not_allowed = [](const httplib::Request& req, httplib::Response& res) {
    res.status = 405;
    res.set_header("Allow", "GET");
    res.set_content("method " + req.method
                      + " not allowed on /metrics; use GET\n",
                    "text/plain; charset=utf-8");
  };
  srv.Post("/metrics", not_allowed);
  srv.Put("/metrics", not_allowed);
  srv.Patch("/metrics", not_allowed);
  srv.Delete("/metrics", not_allowed);
  srv.Options("/metrics", not_allowed);
  srv.set_error_handler([](const httplib::Request& req,
                           httplib::Response& res) {
    if (res.status == 404 && res.body.empty())
      res.set_content("unknown path '" + req.path
                        + "'; this node serves GET /metrics\n",
                      "text/plain; charset=utf-8");
  });
  if (at.port == 0) {
    auto port = srv.bind_to_any_port(at.host);
    if (port <= 0)
      return make_error(errc::invalid_argument,
                        "cannot serve metrics on " + at.host + ":0");
    x->port = static_cast<uint16_t>(port);
  } else {
    if (!srv.bind_to_port(at.host, at.port))
      return make_error(errc::invalid_argument,
                        "cannot serve metrics on " + at.host + ":"
                          + std::to_string(at.port));
    x->port = at.port;
  }
  x->loop = std::thread{[&srv] { srv.listen_after_bind(); }};
  return std::unique_ptr<metrics_server>{new metrics_server(std::move(x))};
}

metrics_server::metrics_server(std::unique_ptr<impl> x) : impl_(std::move(x)) {
  // nop
}

metrics_server::~metrics_server() {
  // stop() only ends a loop that runs: wait for a server destroyed right
  // after start to get there (it does at once; bounded anyway).
  for (int i = 0; i < 1000 && !impl_->srv.is_running(); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds{1});
  impl_->srv.stop();
  impl_->loop.join();
}

uint16_t metrics_server::port() const noexcept {
  return impl_->port;
}

} // namespace ftsr
