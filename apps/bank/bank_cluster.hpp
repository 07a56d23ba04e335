// The bank's node processes and roles. A run directory holds the cluster
// file (cluster.toml), and per node its PID file, log and data directory;
// `up` fills it, `down` and `chaos` read it (PIDs, not capabilities: roles
// are found by name through the cluster, bank_client.hpp).
//
// Layout (config/bank-3hosts.toml): host1 runs the transaction manager
// and a replica of its stable store; host2 the lock manager and the two
// data managers with a replica of each of their stores; host3 is the
// backup node of every persistent actor and holds the second replica of
// every stable store. Stores are persistent groups: a failed replica is
// replaced on a live node that holds none. Not thread-safe.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "caf/error.hpp"

#include "actors/node.hpp"

namespace ftsr::bank {

class run_dir {
public:
  explicit run_dir(std::string path) : path_(std::move(path)) {
  }

  const std::string& path() const {
    return path_;
  }

  std::string cluster_file() const {
    return path_ + "/cluster.toml";
  }

  std::string log_of(const std::string& name) const {
    return path_ + "/" + name + ".log";
  }

  /// The node names of the run's cluster file (empty if there is none).
  std::vector<std::string> nodes() const;

  /// PID of node `name` if its process runs.
  std::optional<pid_t> running(const std::string& name) const;

  /// Starts node `name` as `exe node ...` (a new incarnation), detached:
  /// it outlives this process. Error: storage_error naming the log.
  caf::error start_node(const std::string& exe, const std::string& name) const;

  /// Sends `sig` to node `name` (false if it does not run).
  bool signal(const std::string& name, int sig) const;

  /// Waits (bounded) until node `name` no longer runs.
  bool await_exit(const std::string& name,
                  std::chrono::milliseconds bound) const;

private:
  std::string path_;
};

/// `up`: copies `config` into a fresh run directory, starts every node
/// and waits until they are up. Error: the directory holds a running
/// cluster, or a node did not start (naming its log).
caf::error start_cluster(const run_dir& dir, const std::string& exe,
                         const std::string& config);

/// Creates the stable stores and the roles (LM, DMs, TM) on `n`.
caf::error create_roles(node& n);

/// `down`: stops every node (SIGTERM, SIGKILL after a bound). Returns the
/// number of nodes that were running.
size_t stop_cluster(const run_dir& dir);

/// This executable's path (to start nodes in node mode).
std::string self_exe();

} // namespace ftsr::bank
