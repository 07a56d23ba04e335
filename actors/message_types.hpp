// Application message types across processes. CAF 0.17 serializes a
// message element by the name it was registered under
// (cfg.add_message_type<T>("name") in a node's add_types), and silently
// drops a message that the sender cannot serialize or the receiver cannot
// deserialize: the requester would only see its timeout. ftsr checks the
// arguments of spawns and group creations before sending them, on both
// sides, and the arguments of a call leaving the process on the caller's
// side (ftsr::call), so a type registered on one side only is an immediate
// error naming it (errc::invalid_argument).
//
// Thread-safe: reads the actor system's type registry only.
#pragma once

#include <string>
#include <typeinfo>
#include <vector>

#include "caf/actor_system.hpp"
#include "caf/expected.hpp"
#include "caf/message.hpp"

namespace ftsr {

/// The registered names of the application types among `msg`'s elements
/// (CAF's built-in types are skipped), in order, without repetitions.
/// errc::invalid_argument naming the C++ type (demangled) of the first
/// element that `sys` has not registered; `what` says whose arguments
/// these are ("the arguments of 'counter'").
caf::expected<std::vector<std::string>>
application_type_names(const caf::actor_system& sys, const caf::message& msg,
                       const std::string& what);

/// Whether `sys` registered the application type `ti` (can serialize it).
bool is_registered(const caf::actor_system& sys, const std::type_info& ti);

/// errc::invalid_argument: argument `position` (from 1) of `what` has type
/// `ti` (null: unknown), which this process has not registered.
caf::error unregistered_type_error(size_t position, const std::type_info* ti,
                                   const std::string& what);

/// The names among `names` that `sys` has not registered (cannot
/// deserialize).
std::vector<std::string> unknown_type_names(const caf::actor_system& sys,
                                            const std::vector<std::string>& names);

/// errc::invalid_argument: node `on` has not registered `missing`, used by
/// `what`.
caf::error missing_types_error(const std::string& on, const std::string& what,
                               const std::vector<std::string>& missing);

/// The C++ name of `ti`, demangled ("std::string" for strings).
std::string cpp_type_name(const std::type_info& ti);

/// The C++ types of `msg`'s elements: "(int, std::string)".
std::string cpp_type_names(const caf::message& msg);

} // namespace ftsr
