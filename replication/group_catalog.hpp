// The group catalog: what a node keeps on disk about each resource group
// one of its replicas belongs to (type, creation arguments, max_sf, mode
// and the members of the group's latest view known here), one file per
// group in the node's data directory (group-<id>.bin, a framed file, see
// actors/durable_file.hpp), written by the replica at creation and at
// every view it installs, removed when it leaves or is destroyed. After
// every node stopped, the coordinator of the first majority view reads the
// catalogs of the members (cold_start_planner.hpp) to bring the groups
// back. The records' arguments are CAF messages, so encoding and decoding
// run in an actor: `ctx` is its execution unit and the argument types
// must be registered. Thread-safe (no shared state); one writer per file
// (a node hosts at most one replica of a group).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "caf/error.hpp"
#include "caf/expected.hpp"

#include "replication/cold_start_planner.hpp"

namespace caf {
class execution_unit;
}

namespace ftsr {

/// Path of group `id`'s record in `dir`.
std::string group_catalog_file(const std::string& dir, uint64_t id);

/// Writes `x` to its file in `dir`, atomically and durably.
caf::error save_group_record(caf::execution_unit* ctx, const std::string& dir,
                             const group_record& x);

/// Removes group `id`'s record from `dir` (none: fine).
caf::error remove_group_record(const std::string& dir, uint64_t id);

/// One file's content, or why it cannot be used.
struct group_catalog_entry {
  std::string file;
  caf::expected<group_record> record;
};

/// Every group record in `dir`, each decoded on its own: a damaged file
/// (truncated, checksum mismatch, undecodable, or holding another group's
/// id than its name says) is reported as errc::corrupted naming the file,
/// and the others are still read.
std::vector<group_catalog_entry> load_group_catalog(caf::execution_unit* ctx,
                                                    const std::string& dir);

} // namespace ftsr
