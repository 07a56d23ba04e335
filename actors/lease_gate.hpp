// The lease gate: a behavior wrapper that refuses every invocation while
// this node is outside the majority partition (node_context::in_majority:
// not in the agreed view, or its lease ran out). Actors that answer from
// their own state (persistent actors) serve through it, so a node cut off
// from the majority stops answering before the majority restarts them
// elsewhere. Responses to the actor's own requests bypass behaviors and are
// not affected; neither are system messages (down, exit).
#pragma once

#include <memory>

#include "caf/behavior.hpp"

namespace ftsr {

struct node_context;

/// Wraps `inner`: while `ctx` is a member that lost its lease, each message
/// is answered with errc::no_quorum instead. `ctx` must outlive the behavior
/// (it lives as long as its actor system).
caf::behavior lease_gated(const node_context& ctx, caf::behavior inner);

} // namespace ftsr
