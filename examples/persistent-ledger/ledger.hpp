// The ledger: a persistent actor (FT-SR `persistent` resource with
// `recovery ... end`) holding one balance. Created with the capability of
// a stable store group; it stores its state there before every reply, so an
// acknowledged deposit survives the loss of its node, and its recovery
// handler reads the state back before the restarted ledger serves.
//
//   (deposit, uint64 token, int64 amount) -> int64 balance
//       applies each token once: a deposit retried after a failure (its
//       answer lost) is answered again, not applied again (exactly once)
//   (balance) -> int64
//   (where) -> std::string: the hosting node and the number of recoveries
#pragma once

#include <ftsr/ftsr.hpp>

namespace ledger {

using deposit_atom = caf::atom_constant<caf::atom("deposit")>;
using balance_atom = caf::atom_constant<caf::atom("balance")>;
using where_atom = caf::atom_constant<caf::atom("where")>;

/// Registers the "ledger" persistent actor type and the stable store
/// resource type, for nodes and clients alike.
void register_types(caf::actor_system_config& cfg);

} // namespace ledger
