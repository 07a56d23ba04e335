// A local ZooKeeper ensemble for the comparison benchmarks: N (default 3)
// servers of the Debian `zookeeper` package, run as child processes
// (java ... QuorumPeerMain <zoo.cfg>) on 127.0.0.1 with ephemeral ports,
// forceSync=no, data and logs under a fresh /tmp/ftsr-zk-XXXXXX directory.
// Finds the leader through the `srvr` four-letter word on the client ports
// (4lw.commands.whitelist=*), kills a server with SIGKILL by PID, restarts
// it; the destructor kills every server it started and removes the
// directory. Only ever signals the processes it started. Not thread-safe,
// except `mode`, `leader` and `four_letter`, which only talk to sockets.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "apps/node/child_process.hpp"

namespace ftsr::bench::zk {

struct ensemble_options {
  size_t servers = 3;
  /// zoo.cfg tickTime; initLimit/syncLimit are in ticks.
  int tick_ms = 200;
  int init_limit = 10;
  int sync_limit = 5;
  /// Upper bound on the session timeout clients may negotiate (zoo.cfg
  /// maxSessionTimeout); the default would be 20 ticks.
  int max_session_timeout_ms = 30000;
  /// Absolute path of the java launcher; empty: $FTSR_ZK_JAVA, else
  /// /usr/bin/java.
  std::string java;
  /// Server classpath; empty: $FTSR_ZK_CLASSPATH, else the Debian jars
  /// (/usr/share/java/zookeeper.jar, whose manifest pulls in its
  /// dependencies, plus slf4j-log4j12 and log4j-1.2 for server logs).
  std::string classpath;
  /// Extra JVM options for every server (heap bounds by default).
  std::vector<std::string> jvm_options{"-Xms64m", "-Xmx256m"};
  /// log4j root level of the servers' logs (<dir>/sN/server.log).
  std::string log_level = "INFO";
  /// Keep the /tmp directory after destruction (for debugging).
  bool keep_dir = false;
};

/// Sends a four-letter word to 127.0.0.1:`port` and returns the full reply
/// (empty on failure or timeout).
std::string four_letter(int port, const std::string& word,
                        std::chrono::milliseconds timeout
                        = std::chrono::milliseconds(1000));

/// Sends SIGKILL to every server any ensemble of this process has running.
/// Async-signal-safe: for a SIGINT/SIGTERM handler of a driver, so that an
/// interrupted benchmark leaves no JVM behind.
void kill_all_servers_from_signal_handler() noexcept;

class ensemble {
public:
  /// Creates the directory and writes every zoo.cfg and myid; starts
  /// nothing. Throws std::runtime_error on failure.
  explicit ensemble(ensemble_options opts = {});

  /// Kills (SIGKILL) and reaps every running server; removes the directory
  /// unless keep_dir.
  ~ensemble();

  ensemble(const ensemble&) = delete;
  ensemble& operator=(const ensemble&) = delete;

  /// Starts every server that is not running, then waits (bounded) until the
  /// ensemble serves: see wait_serving. Throws std::runtime_error, with the
  /// tail of the server logs, when it does not within `timeout`.
  void start(std::chrono::milliseconds timeout = std::chrono::seconds(60));

  /// Polls (bounded) until every running server answers `srvr` with
  /// "Mode: leader|follower", exactly one is leader, and a client can
  /// create (or finds) the znode /ftsr-ready through connect_string().
  bool wait_serving(std::chrono::milliseconds timeout);

  /// Same as wait_serving but without the client write: every running
  /// server reports leader or follower and exactly one leader.
  bool wait_quorum(std::chrono::milliseconds timeout);

  size_t size() const {
    return servers_.size();
  }

  /// "127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3".
  std::string connect_string() const;

  /// "127.0.0.1:p" of server i (0-based; its myid is i + 1).
  std::string address_of(size_t i) const;

  int client_port(size_t i) const {
    return servers_.at(i).client_port;
  }

  /// PID of server i, or -1 when it is not running.
  pid_t pid(size_t i) const;

  bool running(size_t i);

  /// "leader", "follower", "observer", "standalone" from `srvr`, or "" when
  /// the server does not answer or does not serve (e.g. during elections).
  std::string mode(size_t i) const;

  /// Index of the server that reports "leader" now, if exactly one does.
  std::optional<size_t> leader() const;

  /// Polls (bounded) until exactly one server reports "leader".
  std::optional<size_t> wait_leader(std::chrono::milliseconds timeout) const;

  /// SIGKILL server i by PID and reap it (bounded). False when it was not
  /// running or could not be reaped.
  bool kill9(size_t i);

  /// Starts server i again with the same configuration and data; does not
  /// wait (use wait_quorum / wait_serving).
  void restart(size_t i);

  /// Kills every running server (SIGKILL, reaped).
  void stop();

  const std::string& dir() const {
    return dir_;
  }

  std::string log_path(size_t i) const;

  /// The last `max_bytes` of server i's log.
  std::string log_tail(size_t i, size_t max_bytes = 2000) const;

  /// PIDs of all running servers (for an emergency signal handler).
  std::vector<pid_t> pids() const;

private:
  struct server {
    int client_port = 0;
    int quorum_port = 0;
    int election_port = 0;
    std::string cfg;
    std::optional<child_process> proc;
  };

  void start_server(size_t i);

  ensemble_options opts_;
  std::string dir_;
  std::string java_;
  std::string classpath_;
  std::vector<server> servers_;
};

} // namespace ftsr::bench::zk
