// Reading back CAF-serialized data that a node kept on disk (catalogs of
// persistent actors and groups) in a later process. Such data may hold
// actor handles of processes that are gone; CAF can only load a remote
// handle through a proxy registry, which an actor's execution unit may
// lack (the load then fails and leaves the stream misaligned: CAF's
// end_of_stream). Here such handles load as null handles, never as proxies
// to a dead node: a capability resolves through the directory by its id.
// Thread-safe (each call has its own registry).
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

#include "caf/deserializer.hpp"
#include "caf/error.hpp"
#include "caf/fwd.hpp"

namespace ftsr {

/// Runs `load` on a binary deserializer over `bytes` whose actor handles
/// of other nodes load as null; fails with caf::sec::... errors as CAF
/// does, and with errc::corrupted if bytes are left over.
caf::error load_stored(caf::actor_system& sys, const std::vector<char>& bytes,
                       const std::function<caf::error(caf::deserializer&)>& load);

} // namespace ftsr
