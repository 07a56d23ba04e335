// The inventory resource: how many of each item a warehouse holds,
// replicated on three nodes as its declaration says (one crash tolerated,
// host1 preferred as the first primary).
//
//   (add, delivery) -> int64      the item's new count (every replica)
//   (count, item) -> int64        the item's count
//   (audit) -> int64              {primary}: stamps the audit time (a clock
//                                 read, so only the primary may run it;
//                                 the backups get the resulting state) and
//                                 returns the number of audits so far
#pragma once

#include <cstdint>
#include <string>

#include <ftsr/ftsr.hpp>

namespace inventory {

using add_atom = caf::atom_constant<caf::atom("add")>;
using count_atom = caf::atom_constant<caf::atom("count")>;
using audit_atom = caf::atom_constant<caf::atom("audit")>;

/// `count` more of `item`: an application message type, so every node and
/// client registers it (register_types).
struct delivery {
  std::string item;
  int64_t count = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, delivery& x) {
  return f(caf::meta::type_name("inventory.delivery"), x.item, x.count);
}

/// Registers the "inventory" resource type and the delivery message type:
/// the one function both the node (ftsr::node_main) and the client
/// (node_options::add_types) pass.
void register_types(caf::actor_system_config& cfg);

} // namespace inventory
