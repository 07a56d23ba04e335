// Sample persistent actor hosted by every ftsr-node (FT-SR `persistent`
// resource with `recovery ... end`), used by the tests and the failover
// benchmark:
//
//   "counter"  args (capability<> store): a stableStore group
//              (persistence/stable_store_group.hpp). Its state (total and
//              the tokens applied) is snapshotted into the store before any
//              reply, so an acknowledged add survives a kill -9; after a
//              restart its recovery handler reads the snapshot back before
//              any invocation is served.
#pragma once

#include <cstdint>

#include "caf/actor_system_config.hpp"
#include "caf/atom.hpp"

namespace ftsr::sample {

using add_atom = caf::atom_constant<caf::atom("add")>;
using total_atom = caf::atom_constant<caf::atom("total")>;
using tokens_atom = caf::atom_constant<caf::atom("tokens")>;
using history_atom = caf::atom_constant<caf::atom("history")>;

/// "counter": (add, uint64 token, int64 amount) -> int64 total: applies
/// each token once (a retried add is answered, not applied again), replies
/// once the new state and the reply are in the store (its invocation log,
/// persistence/invocation_log.hpp); (total) -> int64;
/// (tokens) -> vector<uint64> applied tokens in order;
/// (history) -> vector<string>: "start", "recovery_begin g<N>",
/// "recovered g<N>" and "op" entries in the order this incarnation ran
/// them (to check that recovery precedes every invocation).
/// "visits": the same operations, but add applies every invocation (the
/// token is only a label kept in `tokens`), like a counter written without
/// application-level de-duplication: an add re-sent by ftsr::call after a
/// failover is answered from the invocation log, so it is counted once.
void add_sample_persistent(caf::actor_system_config& cfg);

} // namespace ftsr::sample
