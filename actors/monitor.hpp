// FT-SR asynchronous failure notification and self-capabilities:
//
//   auto id = ftsr::monitor(self, cap, handler_dest, args...); // monitor cap send handler(args)
//   ftsr::monitorend(self, id);                                 // monitorend
//   ftsr::destroy(self, cap);                                   // destroy
//   ftsr::myresource(self);                                     // myresource()
//
// The handler message (args captured now) is delivered to `dest` exactly
// once when the monitored actor fails, is destroyed, or its node is declared
// failed; if that already happened it is delivered at once. Monitors are
// held by the calling node's directory, so they fire on every node that
// registered one. Callable from any actor of an ftsr node and from a
// caf::scoped_actor.
#pragma once

#include <optional>
#include <utility>

#include "caf/actor.hpp"
#include "caf/make_message.hpp"
#include "caf/scoped_actor.hpp"

#include "actors/capability.hpp"
#include "actors/node.hpp"
#include "actors/protocol.hpp"

namespace ftsr {

using monitor_id = uint64_t;

template <class Self, class Handle, class... Ts>
monitor_id monitor(Self* self, const capability<Handle>& target,
                   caf::actor dest, Ts&&... handler_args) {
  auto& ctx = context_of(self->system());
  auto tc = ctx.spans.event({}, "monitor", to_string(target.ref()));
  return ctx.dir.add_monitor(target.ref(), std::move(dest),
                             caf::make_message(std::forward<Ts>(handler_args)...),
                             tc);
}

/// Overload for caf::scoped_actor (threads outside actors), as for
/// ftsr::call: `dest` may be the scoped actor itself.
template <class Handle, class... Ts>
monitor_id monitor(caf::scoped_actor& self, const capability<Handle>& target,
                   caf::actor dest, Ts&&... handler_args) {
  return monitor(self.ptr(), target, std::move(dest),
                 std::forward<Ts>(handler_args)...);
}

/// FT-SR `monitorend`: false if the monitor already fired or is unknown.
template <class Self>
bool monitorend(Self* self, monitor_id id) {
  return context_of(self->system()).dir.remove_monitor(id);
}

inline bool monitorend(caf::scoped_actor& self, monitor_id id) {
  return monitorend(self.ptr(), id);
}

/// FT-SR `destroy`: asks the hosting node to terminate the actor; monitors
/// fire. The returned response handle completes (empty reply) once the actor
/// is gone, or with an error if it already failed.
template <class Self, class Handle>
auto destroy(Self* self, const capability<Handle>& target) {
  auto& ctx = context_of(self->system());
  return self->request(ctx.manager, caf::infinite, destroy_atom::value,
                       target.ref(), trace_context{});
}

/// FT-SR `myresource()`: the capability of the calling actor, if it was
/// spawned through ftsr (valid once the actor handles messages).
template <class Self>
std::optional<capability<>> myresource(Self* self) {
  auto& ctx = context_of(self->system());
  if (auto ref = ctx.dir.find_local(self->id(), ctx.self.name,
                                    ctx.self.incarnation))
    return capability<>{*ref};
  return std::nullopt;
}

} // namespace ftsr
