// The body of a node process (ftsr-node, `ftsr-bank node`): parses
// --config, --name, --threads, --data-dir, --rejoin, --log-level and
// --metrics, runs the node until SIGINT or SIGTERM. Exit codes: 0 after
// SIGINT/SIGTERM; 2 for a bad command line, config or data directory, an
// address it cannot listen on, a metrics address that is malformed, not
// loopback (without --metrics-any-address) or cannot be bound, or a name in
// use by a live member; 3 when the cluster removed this incarnation
// (fail-stop). With --rejoin the process instead starts over as a new
// incarnation (same PID, same arguments) and asks to join again. Each
// executable passes the actor types its nodes host.
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "caf/actor_system_config.hpp"

namespace ftsr {

/// The options of a node process, added to `app` by add_node_options.
struct node_process_options {
  std::string config_path;
  std::string name;
  size_t threads = 0;
  std::string data_dir;
  bool rejoin = false;
  /// trace|debug|info|warn|error|off (actors/log.hpp); the node's life
  /// (peers up / suspected / failed, views, fencing, restarts, recoveries)
  /// goes to stderr as timestamped lines. The "listening on" line on
  /// stdout is printed at every level: scripts wait for it.
  std::string log_level = "info";
  /// Where to serve GET /metrics (HOST:PORT, or PORT on 127.0.0.1; see
  /// metrics_server.hpp); empty: no metrics endpoint. Non-loopback hosts
  /// need metrics_any_address.
  std::string metrics;
  bool metrics_any_address = false;
  /// The process's own arguments, for --rejoin.
  char** argv = nullptr;
};

void add_node_options(CLI::App& app, node_process_options& opts);

/// Runs the node; returns the process exit code: 0 after SIGINT/SIGTERM,
/// 2 for a bad config or data directory (message on stderr). `prog`
/// prefixes the messages.
int run_node_process(const std::string& prog, node_process_options opts,
                     std::function<void(caf::actor_system_config&)> add_types);

} // namespace ftsr
