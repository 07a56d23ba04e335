// The front desk: an actor that answers greetings through a clerk it
// supervises (an Erlang/OTP-style supervisor, one-for-one: a clerk that
// crashes is replaced, the desk and its callers never notice).
//
//   (greet, name) -> std::string   "hello <name> from <node>, clerk #<n>"
//   (crash) -> void                makes the current clerk crash
#pragma once

#include <ftsr/ftsr.hpp>

namespace desk {

using greet_atom = caf::atom_constant<caf::atom("greet")>;
using crash_atom = caf::atom_constant<caf::atom("crash")>;
/// The monitor's handler message: (desk_down, what).
using desk_down_atom = caf::atom_constant<caf::atom("desk_down")>;

/// Registers the "desk" actor type (and the supervisor's message types).
void register_types(caf::actor_system_config& cfg);

} // namespace desk
