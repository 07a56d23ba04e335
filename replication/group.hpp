// Resource groups (FT-SR `create (i:=1 to N) res(args) on vm_caps`): N
// replicas of a registered resource type on named nodes, ordered by a
// primary sequencer, tolerating max_sf simultaneous failures. The returned
// group capability is an ordinary capability: ftsr::call invokes the group
// (atomically and totally ordered; .replies() for group RPC), ftsr::monitor
// fires when the group fails (quorum lost), and it can be sent in messages.
//
// The blocking helpers here are for threads outside actors (main, tests).
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "caf/expected.hpp"
#include "caf/message.hpp"

#include "actors/capability.hpp"
#include "actors/node.hpp"
#include "replication/group_declaration.hpp"
#include "replication/group_protocol.hpp"

namespace ftsr {

struct group_spec {
  group_spec() = default;

  group_spec(std::string type, std::vector<std::string> nodes,
             size_t max_sf = 1, group_mode mode = {})
    : type(std::move(type)),
      nodes(std::move(nodes)),
      max_sf(max_sf),
      mode(mode) {
    // nop
  }

  /// Resource type registered with add_resource_type on the nodes.
  std::string type;
  /// One replica per entry, in rank order (the first is the first primary);
  /// each node at most once.
  std::vector<std::string> nodes;
  /// Simultaneous failures tolerated: an invocation is answered once
  /// max_sf backups hold it. Must be < nodes.size().
  size_t max_sf = 1;
  /// Primary sequencer (default) or active replication, optional voting.
  group_mode mode = {};
  /// Persistent group (FT-SR `persistent` + extra VMs): when a member's
  /// node fails, once the view without it is installed, the primary spawns
  /// a replacement on the first of these nodes (in order) that is up and
  /// hosts no member, and joins it with state transfer, until the group has
  /// nodes.size() replicas again. Empty: failed members are not replaced.
  /// Each node at most once (it may also host a member: then it is skipped).
  std::vector<std::string> backups;
  /// If not empty, create_group registers the group under this name
  /// (actors/names.hpp): other processes find it with lookup_name. A name
  /// already held is refused before any replica is spawned.
  std::string name;
};

/// Checks a spec against the cluster: errc::invalid_argument (also for a
/// node listed twice) or errc::unknown_node naming the problem.
caf::error validate(const group_spec& spec, const cluster_config& cluster);

/// Creates the group: spawns the replicas, initializes them with `args`
/// (passed to resource_base::init), registers it under spec.name if given,
/// and returns the group capability. On failure, replicas already spawned
/// are destroyed.
caf::expected<capability_ref>
create_group(node& n, const group_spec& spec, caf::message args = {},
             std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// Creates a group of resource type `type` as the type declared it
/// (group_declaration.hpp: add_resource_type of a type with a static
/// declaration(), or declare_group, on this process): its replicas are
/// placed on live nodes of this node's view (placement.hpp). Errors: those
/// of place_groups and of create_group above, and errc::invalid_argument
/// when `type` is not registered here or declares no replication.
caf::expected<capability_ref>
create_group(node& n, std::string_view type, caf::message args = {},
             std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// CMSL `server type properties`: creates a group placed by `decl`, given
/// at the creation (it replaces the type's declaration, if any).
caf::expected<capability_ref>
create_group(node& n, std::string_view type, const group_declaration& decl,
             caf::message args = {},
             std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// CMSL `server type [count] properties`: `count` groups created at once,
/// placed together by `decl` (see disjoint() in group_declaration.hpp).
/// All or none: if one cannot be created, those created are destroyed.
caf::expected<std::vector<capability_ref>>
create_groups(node& n, std::string_view type, size_t count,
              const group_declaration& decl, caf::message args = {},
              std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// create_groups by the type's declaration (as create_group above).
caf::expected<std::vector<capability_ref>>
create_groups(node& n, std::string_view type, size_t count,
              caf::message args = {},
              std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// Adds a replica on node `on` to a live group: it joins through the
/// primary with state transfer and takes part once it has the state.
caf::expected<capability_ref>
add_replica(node& n, const capability_ref& group, const std::string& on,
            std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// FT-SR `restart` of a group with a different number of replicas, while
/// it serves: replicas join on the nodes of `nodes` that host none (state
/// transfer), then members on nodes not in `nodes` leave one by one, each
/// leave an ordered view change (unlike a failure, a leave keeps the
/// quorum). A node listed twice is refused (errc::invalid_argument). Returns the group capability with the new member list, bound
/// in every node's directory; holders of the old capability are served as
/// long as one of its members remains.
caf::expected<capability_ref>
resize_group(node& n, const capability_ref& group,
             const std::vector<std::string>& nodes,
             std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// Status of every live member of the group (tests, dashboard).
std::vector<group_status>
group_members_status(node& n, const capability_ref& group,
                     std::chrono::milliseconds timeout = std::chrono::seconds(5));

} // namespace ftsr
