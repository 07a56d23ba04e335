// The body of a node process: ftsr-node, `ftsr-bank node`, and a user's own
// node hosting their actor and resource types:
//
//   void register_my_types(caf::actor_system_config& cfg);  // add_actor_type,
//                                // add_resource_type, add_message_type, ...
//   int main(int argc, char** argv) {
//     return ftsr::node_main(argc, argv, register_my_types);
//   }
//
// A node hosts exactly the types its function registers (ftsr-node: only
// the samples of apps/node). Clients (ftsr::node started without a name)
// pass the same function as node_options::add_types, so that the message
// types of calls and creation arguments are known on both sides; a type
// known on one side only is reported by name when a spawn or create_group
// sends it (errc::invalid_argument), not after a timeout.
//
// Command line: --config FILE --name NAME [--threads N] [--data-dir DIR]
// [--rejoin] [--log-level LEVEL] [--metrics [HOST:]PORT
// [--metrics-any-address]]. It runs the node until SIGINT or SIGTERM. Exit
// codes: 0 after SIGINT/SIGTERM (or --help); 2 for a bad command line,
// config or data directory, an address it cannot listen on, a metrics
// address that is malformed, not loopback (without --metrics-any-address)
// or cannot be bound, or a name in use by a live member; 3 when the
// cluster removed this incarnation (fail-stop).
// With --rejoin the process instead starts over as a new incarnation (same
// PID, same arguments) and asks to join again. Messages go to stderr,
// prefixed with the program's name.
//
// Call node_main from main only (it blocks SIGINT and SIGTERM and waits
// for them), once per process.
#pragma once

#include <functional>
#include <string>

#include "caf/actor_system_config.hpp"

namespace CLI {
class App;
} // namespace CLI

namespace ftsr {

/// Registers an application's actor, resource and message types.
using type_registration = std::function<void(caf::actor_system_config&)>;

/// Parses the command line above and runs the node hosting the types
/// `add_types` registers; returns the process exit code. The program's
/// name in messages is argv[0]'s file name.
int node_main(int argc, char** argv, type_registration add_types);

// -- building blocks for a program that has a node mode among others
//    (ftsr-bank's `node` subcommand); they need CLI11 ------------------------

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

/// Runs the node; returns the process exit code as node_main does. `prog`
/// prefixes the messages.
int run_node_process(const std::string& prog, node_process_options opts,
                     type_registration add_types);

} // namespace ftsr
