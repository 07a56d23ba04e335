// Sample actor types that every ftsr-node hosts: used by the 3-node demo,
// the system tests and the benchmarks.
//
//   "echo"     (typed, echo_actor): echo a string, optionally after a delay
//   "caller"   calls a capability with an optional backup on behalf of a
//              client (FT-SR `call <op, backupOp>`), replies with the result
//   "observer" monitors capabilities (FT-SR `monitor ... send`) and reports
//              each firing to a client actor
// plus the resources of sample_resources.hpp, the persistent "counter" of
// sample_persistent.hpp and the FT-SR stableStore resource "stable_store"
// (persistence/stable_store_group.hpp).
#pragma once

#include <cstdint>
#include <string>

#include "caf/actor_system_config.hpp"
#include "caf/atom.hpp"
#include "caf/replies_to.hpp"
#include "caf/typed_actor.hpp"

namespace ftsr::sample {

using echo_atom = caf::atom_constant<caf::atom("echo")>;
using call_atom = caf::atom_constant<caf::atom("call")>;
using watch_atom = caf::atom_constant<caf::atom("watch")>;
using fired_atom = caf::atom_constant<caf::atom("fired")>;

/// (echo, s) -> s; (echo, s, delay_ms) -> "<node>:<s>" after delay_ms.
using echo_actor = caf::typed_actor<
  caf::replies_to<echo_atom, std::string>::with<std::string>,
  caf::replies_to<echo_atom, std::string, uint32_t>::with<std::string>>;

/// Registers "echo", "caller" and "observer" (and their message types),
/// and the sample resources of sample_resources.hpp.
void add_sample_types(caf::actor_system_config& cfg);

} // namespace ftsr::sample
