// Named capabilities: this node's replica of the cluster-wide table from a
// name ("bank.tm") to a capability or group. Like directory bindings, every
// member and client holds a replica; changes are made by members and sent
// to all (protocol.hpp: name_bind), and a node that joins or a client that
// connects later receives the whole table in the hello answer. A name is
// not tied to the node that registered it: it outlives that node, and
// resolve() returns the capability as the directory knows it now (the
// current incarnation of a restarted persistent actor, a group's current
// member list).
//
// Each change of a name carries a version one above the version that node
// knew; replicas keep the highest (version, origin), so concurrent changes
// of one name on two members settle on the same winner everywhere.
// Unregistered names are kept as tombstones so that an older binding
// arriving later does not bring them back. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "caf/error.hpp"
#include "caf/expected.hpp"
#include "caf/meta/type_name.hpp"

#include "actors/capability.hpp"

namespace ftsr {

class directory;

/// One version of a name's binding.
struct name_binding {
  std::string name;
  /// The capability; id 0 means unregistered (a tombstone).
  capability_ref cap;
  /// Grows with each change of this name.
  uint64_t version = 0;
  /// The member that made the change (breaks ties between versions).
  std::string origin;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, name_binding& x) {
  return f(caf::meta::type_name("ftsr::name_binding"), x.name, x.cap,
           x.version, x.origin);
}

class name_registry {
public:
  /// Longest name, in bytes.
  static constexpr size_t max_name_size = 255;

  /// errc::invalid_argument if `name` is empty, longer than max_name_size
  /// or contains a control character.
  static caf::error check_name(const std::string& name);

  /// Binds `name` to `cap` (a change made by member `origin`) and returns
  /// the binding to send to the others. A name held by another capability
  /// is refused (errc::invalid_argument naming the holder) unless
  /// `replace`; binding it to the capability it holds is allowed.
  caf::expected<name_binding> bind(const std::string& name,
                                   const capability_ref& cap, bool replace,
                                   const std::string& origin);

  /// Removes `name` (errc::unknown_name if it is not bound) and returns the
  /// tombstone to send to the others.
  caf::expected<name_binding> unbind(const std::string& name,
                                     const std::string& origin);

  /// Applies a binding made elsewhere if it is newer than the one held;
  /// returns whether it was.
  bool merge(const name_binding& x);

  /// The capability bound to `name`, refreshed through `dir` (its current
  /// incarnation or member list); errc::unknown_name if none.
  caf::expected<capability_ref> resolve(const std::string& name,
                                        const directory& dir) const;

  /// Every binding, tombstones included (for a joining node or client).
  std::vector<name_binding> all() const;

private:
  mutable std::mutex mtx_;
  std::map<std::string, name_binding> names_;
};

} // namespace ftsr
