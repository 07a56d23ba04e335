// Capabilities: location-independent handles to ftsr actors (FT-SR resource
// capabilities). A capability can be copied, sent in messages and invoked
// from any node; it names the actor by a cluster-wide id that the directory
// resolves to the current incarnation, so later restarts can rebind it
// without the holder noticing. Plain value type; not thread-safe to mutate
// concurrently, safe to copy across threads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "caf/actor.hpp"
#include "caf/actor_cast.hpp"
#include "caf/message.hpp"
#include "caf/meta/load_callback.hpp"
#include "caf/meta/type_name.hpp"
#include "caf/none.hpp"

namespace ftsr {

/// The untyped, serializable form of a capability.
struct capability_ref {
  /// Cluster-wide unique id; 0 means "invalid".
  uint64_t id = 0;
  /// Actor type name it was spawned from (factory name), for diagnostics and
  /// restarts.
  std::string type;
  /// Name and incarnation of the node hosting the current incarnation.
  std::string node;
  uint64_t incarnation = 0;
  /// CAF handle of the current incarnation (a group: its first member).
  caf::actor handle;
  /// For a resource group: its replicas in rank order (empty for a single
  /// actor). The group fails when a majority of them failed.
  std::vector<capability_ref> members;
  /// Restarts of a persistent actor: each restart binds the same id at a
  /// higher generation, which overrides any older binding everywhere. For
  /// a group: the view its member list is from, so that a list published
  /// later but from an older view never replaces a newer one.
  uint64_t generation = 0;

  bool is_group() const noexcept {
    return !members.empty();
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, capability_ref& x) {
  return f(caf::meta::type_name("ftsr::capability_ref"), x.id, x.type, x.node,
           x.incarnation, x.handle, x.members, x.generation);
}

/// How to restart a persistent actor (FT-SR `persistent` plus the extra
/// VMs of its create statement): replicated to every node with its binding.
struct restart_spec {
  /// The capability id that every restart binds again.
  uint64_t id = 0;
  std::string type;
  /// The original creation arguments.
  caf::message args;
  /// The home node first, then the backups in the order they take over.
  std::vector<std::string> nodes;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, restart_spec& x) {
  return f(caf::meta::type_name("ftsr::restart_spec"), x.id, x.type, x.args,
           x.nodes);
}

/// "type#id@node" for error messages and traces.
std::string to_string(const capability_ref& x);

/// Appends to_string(x) to `out` (no allocation when `out` has the room:
/// the per-call invocation span renders into a reused string).
void append_to(std::string& out, const capability_ref& x);

/// A capability for actors of interface `Handle` (a caf::typed_actor<...> or
/// caf::actor for dynamically typed actors).
template <class Handle = caf::actor>
class capability {
public:
  using handle_type = Handle;

  capability() = default;

  explicit capability(capability_ref ref)
    : ref_(std::move(ref)), handle_(caf::actor_cast<Handle>(ref_.handle)) {
    // nop
  }

  const capability_ref& ref() const noexcept {
    return ref_;
  }

  uint64_t id() const noexcept {
    return ref_.id;
  }

  /// Handle of the incarnation this capability was last bound to.
  const Handle& handle() const noexcept {
    return handle_;
  }

  explicit operator bool() const noexcept {
    return ref_.id != 0;
  }

  /// Reinterprets this capability with another interface; the caller
  /// asserts that the actor implements it.
  template <class Other>
  capability<Other> as() const {
    return capability<Other>{ref_};
  }

  template <class Inspector>
  friend typename Inspector::result_type inspect(Inspector& f,
                                                 capability& x) {
    auto refresh = caf::meta::load_callback([&]() -> caf::error {
      x.handle_ = caf::actor_cast<Handle>(x.ref_.handle);
      return caf::none;
    });
    return f(x.ref_, refresh);
  }

private:
  capability_ref ref_;
  Handle handle_;
};

template <class Handle>
std::string to_string(const capability<Handle>& x) {
  return to_string(x.ref());
}

} // namespace ftsr
