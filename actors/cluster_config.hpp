// Cluster topology: which nodes exist, where they listen, and the failure
// detector's timing. Loaded from TOML (see config/local-3.toml); every
// inconsistency is reported as errc::bad_config naming the offending entry.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "caf/expected.hpp"

namespace ftsr {

struct node_address {
  std::string name; // stable node name, e.g. "host1"
  std::string host; // listen address, e.g. "127.0.0.1"
  uint16_t port = 0;
};

struct cluster_config {
  std::string name;
  std::vector<node_address> nodes;
  /// Period of heartbeats between nodes.
  std::chrono::milliseconds heartbeat_interval{100};
  /// A member silent for this long is suspected (and removed from the
  /// view if a majority agrees).
  std::chrono::milliseconds failure_timeout{500};
  /// A member serves only while a majority of its view renewed its lease
  /// within this time; the others act on its removal only after it ran out
  /// (lease_ms in the file; default: the failure timeout).
  std::chrono::milliseconds lease{500};

  /// The entry of node `name`, if it is part of the cluster.
  const node_address* find(const std::string& name) const;
};

/// The first node name that `names` lists more than once, if any. Node
/// lists (group replicas, backups, restart lists) name each node once: a
/// second replica on one node would fail with it, not tolerate its failure.
std::optional<std::string> repeated_name(const std::vector<std::string>& names);

/// Parses and validates a cluster description given as TOML text.
/// `origin` names the source in error messages.
caf::expected<cluster_config> parse_cluster_config(const std::string& toml,
                                                   const std::string& origin);

/// Reads and validates the cluster file at `path`.
caf::expected<cluster_config> load_cluster_config(const std::string& path);

} // namespace ftsr
