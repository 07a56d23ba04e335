// A cluster of ftsr-node processes, each in its own network namespace, for
// partition tests. The namespaces hang off one bridge in the root namespace
// (10.77.0.254/24, so root-namespace clients reach every node); node i
// (1-based, named host<i>) has 10.77.0.<i>. Faults are real network faults:
//
//   isolate(i)   a blackhole root qdisc on both ends of node i's veth: it
//                reaches nobody, nobody reaches it (root namespace included)
//   cut(i, j)    an htb qdisc with a u32 filter per cut destination, leading
//                to a blackhole class, on both nodes' veths: only i <-> j
//   kill9, sigstop/sigcont, restart (same data directory: a new incarnation)
//
// The kernel has no netem: packets are dropped, not delayed, and TCP
// connections are not reset, so data buffered during a cut arrives after
// the heal.
//
// Ownership and cleanup: everything it creates (namespaces, bridge, veths,
// processes, its temporary directory) is named after the creating process
// ("ftsp<pid>...") and removed by the destructor, also when a test fails or
// throws; leftovers of an earlier run that died are removed at start. Only
// processes it started are signalled, by PID; they run under
// `setpriv --pdeathsig KILL`, so none outlives a test process that died
// without its teardown. An exclusive lock on
// /tmp/ftsr-netns.lock serializes clusters (they share 10.77.0.0/24) across
// processes. Needs root and `ip netns`; see unavailable(). Not thread-safe.
// Setup failures throw std::runtime_error naming the command and its output.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "apps/node/child_process.hpp"

namespace ftsr::testing {

struct netns_options {
  /// Path of the ftsr-node executable.
  std::string node_bin;
  size_t nodes = 3;
  int heartbeat_ms = 100;
  int timeout_ms = 500;
  /// Extra command-line arguments of every ftsr-node (by default a node
  /// that the cluster removes rejoins as a new incarnation by itself).
  std::vector<std::string> node_args{"--rejoin"};
};

class netns_cluster {
public:
  /// Empty if partition tests can run here, else why not (not root, no
  /// `ip netns`, no blackhole qdisc).
  static std::string unavailable();

  /// Creates the namespaces, bridge, veths and the cluster file; starts no
  /// node (start_all / start).
  explicit netns_cluster(netns_options opts);
  ~netns_cluster();

  netns_cluster(const netns_cluster&) = delete;
  netns_cluster& operator=(const netns_cluster&) = delete;

  size_t size() const {
    return opts_.nodes;
  }

  /// "host<i>".
  std::string name(size_t i) const;
  /// "10.77.0.<i>".
  std::string address(size_t i) const;
  /// The namespace of node i.
  std::string netns(size_t i) const;

  const std::string& config_path() const {
    return config_path_;
  }

  /// This cluster's temporary directory (logs, data, histories).
  const std::string& dir() const {
    return dir_;
  }

  std::string log_of(size_t i) const;
  /// The last `lines` lines of node i's log.
  std::string log_tail(size_t i, size_t lines = 15) const;

  /// Starts node i (its data directory survives restarts) and waits until
  /// it listens (bounded; throws with its log otherwise).
  void start(size_t i);
  void start_all();
  void kill9(size_t i);
  void sigstop(size_t i);
  void sigcont(size_t i);
  /// kill -9 (if running), then start: a new incarnation, same data.
  void restart(size_t i);
  bool running(size_t i);
  /// The exit code of node i if it stopped (128 + signal if killed).
  std::optional<int> exit_code(size_t i);

  void isolate(size_t i);
  void heal(size_t i);
  /// Symmetric cut of the link between nodes i and j only.
  void cut(size_t i, size_t j);
  void heal_cut(size_t i, size_t j);
  /// Heals every isolation and cut.
  void heal_all();

  /// Whether a TCP connection from node `from`'s namespace to a listener
  /// in node `to`'s (0: the root namespace, at the bridge's address) is
  /// established within `timeout`: checks the primitives themselves.
  bool reachable(size_t from, size_t to,
                 std::chrono::milliseconds timeout
                 = std::chrono::milliseconds(300));

  /// Starts `argv` (argv[0] an absolute path) inside node i's namespace,
  /// or in the root namespace for i = 0; output appended to `log`.
  child_process spawn(size_t i, std::vector<std::string> argv,
                      const std::string& log);

  /// Keeps the temporary directory (logs, histories) after destruction,
  /// e.g. when the test failed.
  void keep_files() {
    keep_files_ = true;
  }

private:
  void setup_network();
  void teardown() noexcept;
  /// Re-applies node i's qdiscs for its isolation and cuts.
  void apply(size_t i);
  void check_index(size_t i) const;

  netns_options opts_;
  std::string prefix_;
  std::string dir_;
  std::string config_path_;
  int lock_fd_ = -1;
  bool keep_files_ = false;
  std::map<size_t, child_process> procs_;
  std::set<size_t> isolated_;
  std::set<std::pair<size_t, size_t>> cuts_; // (i, j) with i < j
};

/// Runs `argv` (argv[0] resolved on PATH) to completion with a bound;
/// returns its exit code and combined output.
std::pair<int, std::string> run_command(const std::vector<std::string>& argv,
                                        std::chrono::milliseconds bound
                                        = std::chrono::seconds(20));

/// Monotonic clock in nanoseconds (CLOCK_MONOTONIC, as the histories).
int64_t monotonic_ns();

} // namespace ftsr::testing
