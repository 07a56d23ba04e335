// Named capabilities, the calls for actors and for a node:
//
//   ftsr::register_name(node_or_self, "bank.tm", cap);      // cluster-wide
//   ftsr::register_name(node_or_self, "bank.tm", other, ftsr::replace_name);
//   ftsr::unregister_name(node_or_self, "bank.tm");
//   node.lookup_name("bank.tm");                   // caf::expected<capability_ref>
//   ftsr::lookup_name(self, "bank.tm").then([](ftsr::capability_ref& cap) {...},
//                                           [](caf::error& err) {...});
//
// With a node (threads outside actors) the calls block and return
// caf::expected; with an actor `self` they are requests to the node's
// manager whose response handle the caller completes with then() (or
// receive() for a blocking actor): register_name answers a name_binding,
// unregister_name a name_binding (the tombstone), lookup_name a
// capability_ref. Semantics and errors: actors/name_registry.hpp and
// node::register_name. create_group publishes a group under
// group_spec::name.
#pragma once

#include <string>

#include "caf/expected.hpp"

#include "actors/capability.hpp"
#include "actors/node.hpp"
#include "actors/protocol.hpp"

namespace ftsr {

/// Rebinds a name that another capability holds.
constexpr bool replace_name = true;

namespace detail {

inline const capability_ref& ref_of(const capability_ref& x) {
  return x;
}

template <class Handle>
const capability_ref& ref_of(const capability<Handle>& x) {
  return x.ref();
}

} // namespace detail

template <class Cap>
caf::expected<void> register_name(node& n, const std::string& name,
                                  const Cap& cap, bool replace = false) {
  return n.register_name(name, detail::ref_of(cap), replace);
}

inline caf::expected<void> unregister_name(node& n, const std::string& name) {
  return n.unregister_name(name);
}

template <class Self, class Cap>
auto register_name(Self* self, const std::string& name, const Cap& cap,
                   bool replace = false) {
  return self->request(context_of(self->system()).manager, caf::infinite,
                       name_atom::value, name, detail::ref_of(cap), replace);
}

template <class Self>
auto unregister_name(Self* self, const std::string& name) {
  return self->request(context_of(self->system()).manager, caf::infinite,
                       name_unregister_atom::value, name);
}

template <class Self>
auto lookup_name(Self* self, const std::string& name) {
  return self->request(context_of(self->system()).manager, caf::infinite,
                       name_lookup_atom::value, name);
}

} // namespace ftsr
