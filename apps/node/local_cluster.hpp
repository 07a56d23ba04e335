// A local cluster of real ftsr-node processes on loopback (ephemeral
// ports), plus an in-process client node connected to all of them; used by
// the demo, the benchmarks and the system tests. Faults are real: kill -9,
// SIGSTOP/SIGCONT, restart. Not thread-safe; throws std::runtime_error when
// the cluster cannot be started (a setup failure, not a protocol error).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/node.hpp"
#include "apps/node/child_process.hpp"

namespace ftsr {

/// Returns `n` distinct free TCP ports on 127.0.0.1.
std::vector<uint16_t> free_ports(size_t n);

/// Writes a cluster file for `names` on the given ports into `dir`.
std::string write_cluster_file(const std::string& dir,
                               const std::vector<std::string>& names,
                               const std::vector<uint16_t>& ports,
                               int heartbeat_ms, int timeout_ms);

/// A fresh temporary directory (removed by the OS's tmp cleaning).
std::string make_temp_dir();

struct local_cluster_options {
  /// Path of the ftsr-node executable.
  std::string node_bin;
  /// An existing cluster file to use; when empty, a file with `nodes`
  /// nodes on ephemeral ports and the timing below is written.
  std::string config_path;
  size_t nodes = 3;
  /// Extra command-line arguments of every ftsr-node (e.g. --threads 1).
  std::vector<std::string> node_args;
  int heartbeat_ms = 100;
  int timeout_ms = 500;
};

class local_cluster {
public:
  /// Starts the nodes (host1..hostN, or those of config_path) and waits until all are up and the
  /// client is connected to all.
  explicit local_cluster(local_cluster_options opts);
  ~local_cluster();

  /// Client-side ftsr node (not a member) connected to all members.
  node& client() {
    return *client_;
  }

  const cluster_config& config() const {
    return config_;
  }

  child_process& process(const std::string& name) {
    return procs_.at(name);
  }

  /// (Re)starts node `name`; a restart is a new incarnation.
  void start(const std::string& name);

  void kill9(const std::string& name);

  /// Starts node `name` again (a new incarnation) and waits until the
  /// client and every other running member see that incarnation up.
  /// Throws std::runtime_error with the node's log path after `bound`.
  void restart_and_await(const std::string& name,
                         std::chrono::milliseconds bound
                         = std::chrono::seconds(20));

  /// Incarnation of `name` as the client sees it (0 if unknown).
  uint64_t incarnation(const std::string& name);

  /// Manager actor of member `name` (direct connection, for tests that
  /// speak the protocol themselves).
  caf::actor manager_of(const std::string& name);

  /// Log file of a node process (for failure messages).
  std::string log_of(const std::string& name) const;

private:
  local_cluster_options opts_;
  std::string dir_;
  std::string config_path_;
  cluster_config config_;
  std::map<std::string, child_process> procs_;
  std::unique_ptr<node> client_;
};

} // namespace ftsr
