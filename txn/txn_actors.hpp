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
// TM). Roles find each other by type (and DM id) in the directory's
// restart specs (find_role), so a restarted role is found under the same
// capability. Every incarnation recovers from its store before it serves;
// a DM fail-stops when its stable store or the LM fails, any role when a
// store write fails (incarnations, recovery: docs/transactions.md).
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
//   (tm_status, token)   what became of the operation carrying `token`:
//        "committed" (its commit decision is logged: it is or will be
//        applied), "running" (this incarnation still runs it) or
//        "not_committed" (neither: at quiescence, it was never applied and
//        never will be). Lets a client settle the outcome of a call that
//        got no answer (bank chaos runs).
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
using tm_status_atom = caf::atom_constant<caf::atom("tm_status")>;
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
