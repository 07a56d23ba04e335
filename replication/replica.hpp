// The replica actor: one member of a resource group. It drives a
// group_core (ordering, delivery, flush, state transfer) with messages
// between the members and answers clients. Failure detection comes from
// ftsr monitors on the other members (actor, node, kill -9, SIGSTOP).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "caf/actor_system_config.hpp"

#include "replication/resource.hpp"

namespace ftsr {

using resource_factory = std::function<std::unique_ptr<resource_base>()>;

/// Registers resource type `name` (FT-SR `resource name`): nodes that
/// register it can host replicas of groups created from it. Also registers
/// the group protocol types.
void add_resource_type(caf::actor_system_config& cfg, const std::string& name,
                       resource_factory factory);

template <class Resource>
void add_resource_type(caf::actor_system_config& cfg,
                       const std::string& name) {
  add_resource_type(cfg, name,
                    [] { return std::make_unique<Resource>(); });
}

} // namespace ftsr
