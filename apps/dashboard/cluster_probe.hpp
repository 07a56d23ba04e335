// The cluster probe: joins a cluster as a client node (no actors hosted, no
// vote) and asks every member for its node_report (actors/introspection.hpp).
// ftsr-ctl, ftsr-trace and ftsr-dashboard read the cluster through it; a
// probe that crashes or is killed is a departed client to the members, so it
// never harms a node.
//
// Thread-safety: collect() may be called from several threads at once.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "caf/expected.hpp"

#include "actors/introspection.hpp"
#include "actors/node.hpp"

namespace ftsr::dashboard {

/// One member's answer: its report, or why there is none.
struct member_answer {
  std::string node;
  std::optional<node_report> report;
  std::string error;
};

class cluster_probe {
public:
  /// Loads `config_file` and joins its cluster as a client; waits up to
  /// `bound` for a member to admit it. Errors: the cluster file's
  /// (errc::bad_config naming the entry, or the unreadable file), and
  /// errc::node_unavailable naming every address tried when no member
  /// answered.
  static caf::expected<std::unique_ptr<cluster_probe>>
  connect(const std::string& config_file, std::chrono::milliseconds bound);

  /// As above, for a loaded cluster file; `origin` names it in errors.
  static caf::expected<std::unique_ptr<cluster_probe>>
  connect(cluster_config cfg, const std::string& origin,
          std::chrono::milliseconds bound);

  /// The report of every node of the cluster file, in its order: `q` with
  /// each node's name, asked in parallel, each bounded by `bound`. With
  /// `await_connections` (a client just started), a node in the agreed view
  /// that this client is not connected to yet is asked again until `bound`
  /// passed; otherwise (a poller: the node is gone or on its way out of the
  /// view) it gets the error at once, as does a node outside the view.
  /// `events_after` overrides q.events_after per node name.
  std::vector<member_answer>
  collect(introspect_query q, std::chrono::milliseconds bound,
          bool await_connections = true,
          const std::map<std::string, uint64_t>& events_after = {});

  const cluster_config& cluster() const {
    return client_->context().cluster;
  }

  /// This client's node (for its own view of the cluster).
  node& client() {
    return *client_;
  }

private:
  explicit cluster_probe(std::unique_ptr<node> client);

  std::unique_ptr<node> client_;
};

/// The exit code of a tool that could not connect: 1 when the cluster is
/// unreachable (node_unavailable), 2 for bad input (config file, options).
int connect_exit_code(const caf::error& err);

/// Ends a tool's process without the actor system's shutdown, which can
/// wait for connection attempts to members that are gone.
[[noreturn]] void finish_tool(int code);

} // namespace ftsr::dashboard
