// The replica actor: one member of a resource group. It drives a
// group_core (ordering, delivery, flush, state transfer) with messages
// between the members and answers clients. Failure detection comes from
// ftsr monitors on the other members (actor, node, kill -9, SIGSTOP).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "caf/actor_system_config.hpp"

#include "replication/group_declaration.hpp"
#include "replication/resource.hpp"

namespace ftsr {

using resource_factory = std::function<std::unique_ptr<resource_base>()>;

/// The thread a resource type's replicas run on.
enum class replica_executor {
  /// CAF's scheduler, like any actor: handlers may run long or wait for
  /// local I/O (fsync) without holding up the node's network traffic.
  scheduler,
  /// The node's network I/O thread (the replica is a CAF broker): each
  /// message reaches the replica and leaves it without a thread hand-off
  /// (faster for short handlers). For short, non-blocking handlers
  /// only: while one runs, no message enters or leaves the node, its
  /// heartbeats included (a handler longer than the failure timeout gets the
  /// node declared failed), and a handler that waits for a remote answer
  /// waits forever.
  io_thread,
};

/// Registers resource type `name` (FT-SR `resource name`): nodes that
/// register it can host replicas of groups created from it, on `executor`.
/// Also registers the group protocol types.
void add_resource_type(caf::actor_system_config& cfg, const std::string& name,
                       resource_factory factory,
                       replica_executor executor = replica_executor::scheduler);

/// Also records Resource's declaration(), if it has one
/// (group_declaration.hpp), so that create_group(node, name) places groups
/// by it.
template <class Resource>
void add_resource_type(caf::actor_system_config& cfg, const std::string& name,
                       replica_executor executor = replica_executor::scheduler) {
  add_resource_type(
    cfg, name, [] { return std::make_unique<Resource>(); }, executor);
  if constexpr (has_group_declaration<Resource>::value)
    declare_group(cfg, name, Resource::declaration());
}

} // namespace ftsr
