// Sample replicated resources hosted by every ftsr-node, showing the
// resource-group annotations:
//
//   "kv"             a replicated key-value store; `stamp` is a {primary}
//                    operation (it reads the primary's clock, so only the
//                    primary may run it; backups receive the new state);
//                    its replicas run on the nodes' I/O threads
//                    (replica_executor::io_thread: in-memory handlers)
//   "bounded_buffer" the FT-SR bounded buffer (capacity from the create
//                    arguments); deposit/fetch never block: a full or empty
//                    buffer answers with an error value
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>

#include <boost/serialization/deque.hpp>
#include <boost/serialization/map.hpp>
#include <boost/serialization/string.hpp>

#include "caf/actor_system_config.hpp"
#include "caf/atom.hpp"

#include "replication/resource.hpp"

namespace ftsr::sample {

using put_atom = caf::atom_constant<caf::atom("put")>;
using get_atom = caf::atom_constant<caf::atom("get")>;
using append_atom = caf::atom_constant<caf::atom("append")>;
using stamp_atom = caf::atom_constant<caf::atom("stamp")>;
using size_atom = caf::atom_constant<caf::atom("size")>;
using deposit_atom = caf::atom_constant<caf::atom("deposit")>;
using fetch_atom = caf::atom_constant<caf::atom("fetch")>;
using forward_atom = caf::atom_constant<caf::atom("forward")>;
using notify_atom = caf::atom_constant<caf::atom("notify")>;
using whoami_atom = caf::atom_constant<caf::atom("whoami")>;

/// (put, k, v) -> bool (true if k was new); (get, k) -> string ("" if
/// absent); (append, k, s) -> uint64 new length; (size) -> uint64;
/// {primary} (stamp, k) -> int64 ns: stores the primary's wall clock;
/// (forward, target, k, s) -> bool: FT-SR imports: the group appends s to
/// k in the `target` group once, however many replicas it has;
/// (notify, sink, s) -> bool: FT-SR owns: every replica sends s to sink;
/// (whoami) -> uint64: the id of the group (FT-SR mygroup()).
struct kv_store : resource<kv_store> {
  std::map<std::string, std::string> data;

  caf::behavior operations() override;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& data;
  }
};

/// (deposit, item) -> uint64 items held, or errc::invalid_argument "full";
/// (fetch) -> string, or errc::invalid_argument "empty"; (size) -> uint64.
struct bounded_buffer : resource<bounded_buffer> {
  uint64_t capacity = 8;
  std::deque<std::string> items;

  caf::behavior operations() override;
  void init(const caf::message& args) override;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& capacity& items;
  }
};

/// Registers "kv" and "bounded_buffer" as resource types.
void add_sample_resources(caf::actor_system_config& cfg);

} // namespace ftsr::sample
