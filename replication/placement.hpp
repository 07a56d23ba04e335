// Placement of declared resource groups (group_declaration.hpp): which
// live nodes host the replicas of each group of an array created at once.
// A pure function of the declaration, the cluster file and the set of
// live nodes (no actors, clocks or sockets); create_group(node, type) asks
// its node's view for the live nodes and creates the groups it returns.
// Thread-safe (no state).
//
// Rules (CMSL `server` expressions, seeds/001 section 3.3.1):
// - each group gets decl.replica_count() replicas, on as many distinct
//   nodes, and max_sf (replicas - 1) / 2;
// - candidates, in order: the declared hosts that are live (in the order
//   declared), then the other live nodes in cluster-file order; the first
//   candidate of a group hosts its first primary;
// - without disjoint, every group of the array gets the first candidates;
//   with it, the candidates are cut into as many disjoint sets as they
//   fill, and group i takes set i modulo their number (every group on
//   nodes of its own when there are enough, otherwise two groups share all
//   their nodes or none);
// - declared backups become each group's group_spec::backups.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "caf/expected.hpp"

#include "actors/cluster_config.hpp"
#include "replication/group.hpp"
#include "replication/group_declaration.hpp"

namespace ftsr {

/// The specs of `count` groups of resource type `type` declared by `decl`,
/// placed on the `live` nodes of `cluster`. Errors (nothing placed):
/// - errc::invalid_argument: count or replicas 0; a model other than
///   crash; a host or backup listed twice; a cluster with fewer nodes than
///   one group needs (the message says how many more);
/// - errc::unknown_node: a host or backup that is not in the cluster;
/// - errc::node_unavailable: fewer live nodes than one group needs; the
///   message names the nodes that are not live and how many more it needs.
caf::expected<std::vector<group_spec>>
place_groups(const std::string& type, const group_declaration& decl,
             size_t count, const cluster_config& cluster,
             const std::set<std::string>& live);

} // namespace ftsr
