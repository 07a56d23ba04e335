// Cluster topology: which nodes exist, where they listen, the failure
// detector's timing and, optionally, the TLS credentials that members use to
// authenticate each other (a [cluster.tls] table). Loaded from TOML (see
// config/local-3.toml); every inconsistency is reported as errc::bad_config
// naming the offending entry.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "caf/expected.hpp"

namespace ftsr {

/// A certificate (PEM, may hold the chain) and its private key (PEM,
/// unencrypted). Paths as resolved at load time (relative ones against the
/// cluster file's directory).
struct tls_identity {
  std::string cert;
  std::string key;
};

struct node_address {
  std::string name; // stable node name, e.g. "host1"
  std::string host; // listen address, e.g. "127.0.0.1"
  uint16_t port = 0;
  /// The node's own credentials when the cluster uses TLS (its [[node]]
  /// cert/key, else the cluster-wide ones); empty otherwise. (Initialized
  /// so that {name, host, port} stays a warning-free initializer.)
  tls_identity tls{};
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
  /// CA certificate (PEM) that signs every member's and client's
  /// certificate. Empty: the cluster runs plain TCP without authentication
  /// (insecure: for loopback development only).
  std::string tls_ca;
  /// Cluster-wide credentials of [cluster.tls] (cert/key), used by nodes
  /// without their own and by clients that name none; may be empty.
  tls_identity tls_default{};

  /// True if members and clients must authenticate with TLS.
  bool tls() const {
    return !tls_ca.empty();
  }

  /// The entry of node `name`, if it is part of the cluster.
  const node_address* find(const std::string& name) const;
};

/// The first node name that `names` lists more than once, if any. Node
/// lists (group replicas, backups, restart lists) name each node once: a
/// second replica on one node would fail with it, not tolerate its failure.
std::optional<std::string> repeated_name(const std::vector<std::string>& names);

/// Parses and validates a cluster description given as TOML text.
/// `origin` names the source in error messages; relative TLS file paths are
/// resolved against `base_dir` (empty: the working directory). Named TLS
/// files must exist and be readable; their contents are checked when a node
/// starts (see actors/transport.hpp).
caf::expected<cluster_config> parse_cluster_config(const std::string& toml,
                                                   const std::string& origin,
                                                   const std::string& base_dir
                                                   = {});

/// Reads and validates the cluster file at `path`.
caf::expected<cluster_config> load_cluster_config(const std::string& path);

} // namespace ftsr
