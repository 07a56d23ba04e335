// The persistent catalog: what a node keeps on disk about the cluster's
// persistent actors (their restart specs and the incarnation each was last
// bound to), so that after every node stopped (a cold restart) the first
// agreed view finds them orphaned by the removal of the old incarnations and
// restarts them, recovery handlers first. Every member keeps a copy.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "caf/error.hpp"
#include "caf/expected.hpp"
#include "caf/meta/type_name.hpp"

#include "actors/capability.hpp"

namespace caf {
class execution_unit;
}

namespace ftsr {

class directory;

struct catalog_entry {
  restart_spec spec;
  /// Where the actor was last bound (its handle is meaningless on disk).
  std::string node;
  uint64_t incarnation = 0;
  uint64_t generation = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, catalog_entry& x) {
  return f(caf::meta::type_name("ftsr::catalog_entry"), x.spec, x.node,
           x.incarnation, x.generation);
}

/// The live persistent actors of `dir`, destroyed ones left out.
std::vector<catalog_entry> catalog_of(const directory& dir);

/// Serialized form (CAF binary; the restart arguments are CAF messages that
/// may hold actor handles, so this runs in an actor: `ctx` is its
/// execution unit, and the argument types must be registered).
caf::expected<std::vector<char>>
encode_catalog(caf::execution_unit* ctx, const std::vector<catalog_entry>& xs);

/// Writes `bytes` to `dir`/persistent.bin atomically and durably.
caf::error save_catalog(const std::string& dir, const std::vector<char>& bytes);

/// Reads the catalog of `dir` (empty if there is none). Errors name the file
/// (errc::corrupted when it is truncated, damaged or cannot be decoded).
caf::expected<std::vector<catalog_entry>>
load_catalog(caf::execution_unit* ctx, const std::string& dir);

/// The rule for a damaged catalog: the node renames it to
/// persistent.bin.damaged (kept for the operator, never read again) and
/// starts with an empty catalog. Every member keeps a copy of the catalog,
/// so the node learns the persistent actors again from the other members
/// of the first view. Returns the new path.
caf::expected<std::string> set_aside_catalog(const std::string& dir);

/// Records `xs` in `dir` as restart specs and (failed-unless-alive)
/// bindings.
void restore_catalog(directory& dir, const std::vector<catalog_entry>& xs);

} // namespace ftsr
