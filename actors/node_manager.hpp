// The node manager: one per node. It runs this node's part of the cluster
// membership protocol (membership_core: failure detection, majority-agreed
// views, leases), acts on the agreed views (fail-stop notification and
// restarts once a removed member's lease ended), replicates directory
// bindings, actor failures and named capabilities to every member and client, and serves remote
// spawn/destroy/monitor requests. See protocol.hpp for its messages.
#pragma once

#include <memory>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"

#include "actors/membership.hpp"

namespace ftsr {

struct node_context;

/// Spawns the manager of `ctx`'s node with the membership state loaded from
/// its data directory (`found`: there was one). It starts heartbeating and
/// connecting at its first tick_atom, which node::start sends once the node
/// listens.
caf::actor spawn_node_manager(caf::actor_system& sys,
                              std::shared_ptr<node_context> ctx,
                              membership_state loaded, bool found);

} // namespace ftsr
