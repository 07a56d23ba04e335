// The node manager: one per node. It is the node's failure detector
// (heartbeats plus connection loss as an immediate hint), keeps the node's
// view of the other members with their incarnations (fencing failed ones),
// replicates directory bindings, actor failures and named capabilities to
// every member and client, and serves remote spawn/destroy/monitor requests.
// See protocol.hpp for the messages it understands.
#pragma once

#include <memory>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"

namespace ftsr {

struct node_context;

/// Spawns the manager of `ctx`'s node. Members start heartbeating and
/// connecting at once; clients start connecting.
caf::actor spawn_node_manager(caf::actor_system& sys,
                              std::shared_ptr<node_context> ctx);

} // namespace ftsr
