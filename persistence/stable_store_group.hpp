// The FT-SR stableStore group: a replicated resource type "stable_store"
// whose replicas each keep the store in their own LMDB environment under
// the hosting node's data directory (node_options::data_dir, ftsr-node
// --data-dir), at stable_store_dir(data_dir, group id, replica id).
//
//   add_stable_store_types(cfg);                        // on every node
//   auto ss = create_group(node, group_spec{"stable_store",
//                                           {"host1", "host2"}, 1});
//   ftsr::call(self, capability<>{*ss}, ss_put_atom::value, k, v) ...
//
// FT-SR uses two replicas per store, and so can this one: when one of the
// two fails, the other serves on alone as long as its node is in the
// cluster's primary partition (it sees a strict majority of the cluster's
// nodes up, node_context::in_majority), and answers errc::no_quorum
// otherwise (no split brain). A restarted node catches up by add_replica
// (state transfer); with group_spec::backups the group restarts a replica
// on a backup node by itself.
// Creation argument (optional): uint64 quota in bytes (default 256 MiB,
// at most 512 MiB).
//
// Operations (totally ordered, executed at every replica; keys are
// non-empty and at most 511 bytes):
//   (ss_put, k, v) -> bool          true if k held no record before
//   (ss_get, k) -> string           errc::invalid_argument if absent
//   (ss_erase, k) -> bool           true if k held a record
//   (ss_write, put_keys, put_values, erase_keys) -> bool
//                                   one atomic batch: the erases, then the
//                                   puts (vectors of strings)
//   (ss_scan, prefix) -> vector<string>
//                                   k0, v0, k1, v1, ... in key order
// Keys starting with a NUL byte are reserved (the replica's position,
// see stable_store_position, is kept under one of them).
// Write errors that every replica reaches alike are replies and change
// nothing: invalid_argument (bad key, mismatched vectors), no_space (the
// group's quota, counted as key + value + 64 bytes per record, would be
// exceeded). A replica whose own storage fails (I/O error, corrupted
// record, disk full) stops instead (fail-stop): its state can no longer
// be trusted to equal the others' (resource_base::fail), and the group
// continues without it.
//
// State transfer (FT-SR sendState/recvState): a joining or restarted
// replica receives the whole store (every record) from the primary and
// replaces its local content atomically; invocations ordered after the
// transfer are applied on top by the group framework.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "caf/actor_system_config.hpp"
#include "caf/atom.hpp"
#include "caf/expected.hpp"

#include "replication/cold_start_planner.hpp"
#include "replication/group_protocol.hpp"

namespace ftsr {

using ss_put_atom = caf::atom_constant<caf::atom("ss_put")>;
using ss_get_atom = caf::atom_constant<caf::atom("ss_get")>;
using ss_erase_atom = caf::atom_constant<caf::atom("ss_erase")>;
using ss_write_atom = caf::atom_constant<caf::atom("ss_write")>;
using ss_scan_atom = caf::atom_constant<caf::atom("ss_scan")>;

/// Directory of one replica's LMDB environment.
std::string stable_store_dir(const std::string& data_dir, uint64_t group_id,
                             uint64_t replica_id);

/// The position (group view and sequence number of the last entry or
/// state transfer applied) that the replica store at `replica_dir` keeps
/// with its records, written in the same transaction as each write;
/// nothing if it was never written through its group. Errors: the store
/// cannot be opened, or the position record is damaged (errc::corrupted).
caf::expected<std::optional<replica_position>>
stable_store_position(const std::string& replica_dir);

/// A cold restart's input from node `node` (cold_start_planner.hpp): for
/// each stableStore group of `records` with a member on `node`, that
/// replica's report from the store under `data_dir`: its position, or
/// nothing if its directory is missing or its position unreadable (then
/// `problems` gets a line naming the directory and the reason). The stores
/// must not be open in this process.
std::vector<replica_report>
stable_store_reports(const std::string& data_dir, const std::string& node,
                     const std::vector<group_record>& records,
                     std::vector<std::string>& problems);

/// Registers the resource type "stable_store" (call on every node that
/// may host a replica, and on clients).
void add_stable_store_types(caf::actor_system_config& cfg);

} // namespace ftsr
