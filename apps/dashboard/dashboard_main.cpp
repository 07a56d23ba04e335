// ftsr-dashboard: the live failure dashboard of a running cluster.
//
//   ftsr-dashboard --config config/<cluster>.toml [--listen 127.0.0.1:PORT]
//
// Joins the cluster as a client, serves the page and its API on the listen
// address (loopback by default; port 0 picks a free one) and prints the URL.
// Stops on SIGINT or SIGTERM. Exit codes: 0 stopped, 1 cluster unreachable,
// 2 bad command line, cluster file or listen address.
#include <csignal>
#include <iostream>

#include <pthread.h>

#include <CLI/CLI.hpp>

#include "actors/errors.hpp"
#include "apps/dashboard/dashboard_server.hpp"

using namespace ftsr;
using namespace ftsr::dashboard;

namespace {

const char* prog = "ftsr-dashboard";

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"ftsr-dashboard: live failure dashboard of an ftsr cluster"};
  app.name(prog);
  std::string config;
  std::string listen = "127.0.0.1:8090";
  int timeout_ms = 10000;
  app.add_option("--config", config, "cluster file (TOML)")->required();
  app.add_option("--listen", listen,
                 "HOST:PORT to serve on (default 127.0.0.1:8090; port 0 "
                 "picks a free one)");
  app.add_option("--timeout", timeout_ms,
                 "milliseconds to wait for the cluster at start")
    ->check(CLI::Range(1, 600000));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    auto code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  std::string error;
  auto addr = parse_listen_address(listen, error);
  if (!addr) {
    std::cerr << prog << ": " << error << "\n";
    return 2;
  }
  // Block the stop signals before any thread exists, then wait for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  auto probe = cluster_probe::connect(config,
                                      std::chrono::milliseconds{timeout_ms});
  if (!probe) {
    std::cerr << prog << ": " << describe(probe.error()) << "\n";
    finish_tool(connect_exit_code(probe.error()));
  }
  dashboard_server server{**probe};
  auto port = server.start(addr->first, addr->second);
  if (!port) {
    std::cerr << prog << ": " << describe(port.error()) << "\n";
    finish_tool(2);
  }
  std::cout << prog << ": cluster '" << (*probe)->cluster().name
            << "' at http://" << addr->first << ":" << *port << "/"
            << std::endl;
  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::cout << prog << ": stopping on signal " << sig << std::endl;
  server.stop();
  finish_tool(0);
}
