// The actor layer of the transaction cores: the transaction manager (TM),
// the data managers (DM) and the lock manager (LM) of the FT-SR banking
// system as ftsr persistent actors. Each actor only decodes a message,
// feeds it to its core (tm_core, dm_core, lock_core) and applies the step:
// sends its messages to the peers and writes its batch as one atomic
// ss_write to the actor's own stableStore group (group commit: the cores
// keep one write outstanding and batch what comes meanwhile).
//
// Types (add_txn_actor_types registers them, with the wire types and the
// stable_store group):
//   "txn_lm" (uint64 dms)                 lock table in memory; a restarted
//                                          LM rebuilds it from the DMs
//                                          (lock_core.hpp), so it has no
//                                          stable store
//   "txn_dm" (capability<> store, uint64 id)   DM `id` of 1..dms
//   "txn_tm" (capability<> store, uint64 dms)
// Spawn them with node::spawn_persistent (LM first, then the DMs, then the
// TM). Incarnations: the TM and the DMs count theirs in their store
// ("meta/incarnation"), the LM takes the wall clock (ms), so a role
// destroyed and spawned anew on the same store still gets a larger one.
// Roles find
// each other by type (and DM id) in the directory's restart specs
// (find_role, skipping destroyed ones), so a restarted role is found under
// the same capability and a role spawned anew under its new one.
//
// Recovery: every incarnation scans its store and runs the core's
// recovery input (tm_core/dm_core::recover; lock_core::start), on a
// restart in the persistent actor's recovery handler (before it serves).
// A DM monitors its stable store and the LM and fail-stops when either
// fails (FT-SR Fig. 1); a failed store write fail-stops the actor too.
//
// Client operations of the TM (each one transaction; the answer is
// (std::string outcome, int64 value), outcome "ok" or the reason:
// a txn_reason name, "insufficient_funds", "unknown_account",
// "account_exists"):
//   (tm_transfer, token, from_dm, from, to_dm, to, amount)
//        moves `amount` (> 0) from item `from` to item `to`; value: the new
//        balance of `from`. `token` (nonzero, chosen by the client) is
//        logged with the commit decision: a transfer re-sent with a token
//        that committed answers "ok" without running again (value 0).
//   (tm_create, token, dm, key, amount)   creates item `key` (>= 0)
//   (tm_read, dm, key)                    value: the committed balance
// A DM answers (dm_values) with its committed items as k0, v0, k1, ...
// (decimal values), for audits at quiescence.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "caf/actor_system_config.hpp"
#include "caf/atom.hpp"

#include "actors/capability.hpp"
#include "actors/node.hpp"

namespace ftsr {

using tm_transfer_atom = caf::atom_constant<caf::atom("tm_xfer")>;
using tm_create_atom = caf::atom_constant<caf::atom("tm_create")>;
using tm_read_atom = caf::atom_constant<caf::atom("tm_read")>;
using dm_values_atom = caf::atom_constant<caf::atom("dm_values")>;

/// Actor type names.
inline constexpr const char* tm_type = "txn_tm";
inline constexpr const char* dm_type = "txn_dm";
inline constexpr const char* lm_type = "txn_lm";

/// Registers the three persistent actor types, the wire types and the
/// stable_store group type (every node that may host a role, and clients).
void add_txn_actor_types(caf::actor_system_config& cfg);

/// The current capability of the role of type `type` (for DMs: with id
/// `id`) as this node's directory knows it, or nullopt. Thread-safe.
std::optional<capability_ref> find_role(node_context& ctx,
                                        const std::string& type,
                                        uint64_t id = 0);

} // namespace ftsr
