// ftsr error codes: errors are values (caf::error), never exceptions across
// actor boundaries. Each code renders with a message naming what went wrong.
#pragma once

#include <cstdint>
#include <string>

#include "caf/atom.hpp"
#include "caf/error.hpp"
#include "caf/make_message.hpp"

namespace caf {
class actor_system_config;
}

namespace ftsr {

enum class errc : uint8_t {
  /// The callee (actor or its node) failed before replying and no backup
  /// operation was given (FT-SR: fail-stop failure of the callee).
  fail_stop = 1,
  /// The capability was explicitly destroyed.
  destroyed,
  /// A node name that is not part of the cluster.
  unknown_node,
  /// A node of the cluster that is currently not reachable / not joined.
  node_unavailable,
  /// The cluster declared this incarnation failed; it must not act again.
  fenced,
  /// A cluster configuration file is missing, malformed or inconsistent.
  bad_config,
  /// An argument that violates an API contract.
  invalid_argument,
  /// An actor type name that the target node does not know.
  unknown_actor_type,
  /// A supervisor exceeded its restart intensity and gave up.
  restart_intensity_exceeded,
  /// A bounded wait expired.
  timeout,
  /// A group member that is not the primary got an invocation; the detail
  /// is the primary's capability id.
  not_primary,
  /// A group lost the majority of its members and refuses invocations.
  no_quorum,
  /// Stable storage failed (I/O error, unusable or read-only data
  /// directory); nothing was written.
  storage_error,
  /// A stored record failed its checksum or is truncated; it is reported,
  /// never returned as data.
  corrupted,
  /// Stable storage is full; nothing was written.
  no_space,
  /// A coordinated checkpoint did not commit (a member failed, refused or
  /// timed out); the previous checkpoint stays the last one.
  checkpoint_aborted,
  /// A group member did not answer an invocation attempt within
  /// node_options::group_attempt_timeout; ftsr::call tries again under the
  /// same request id (the group delivers it at most once).
  no_answer,
  /// No capability is registered under a name (actors/name_registry.hpp).
  unknown_name,
  /// A peer could not be authenticated: its TLS handshake failed (no
  /// certificate, one not signed by the cluster CA, or not speaking TLS).
  unauthenticated,
};

/// Category atom of all ftsr errors.
constexpr caf::atom_value error_category = caf::atom("ftsr");

const char* to_string(errc x);

/// Creates an ftsr error; `detail` names the object concerned.
caf::error make_error(errc code, std::string detail = {});

/// True if `e` is the ftsr error `code`.
bool is(const caf::error& e, errc code);

/// Renders any error (ftsr or CAF) as "category: code: detail".
std::string describe(const caf::error& e);

/// Registers the ftsr error category so that CAF renders ftsr errors.
void add_error_category(caf::actor_system_config& cfg);

} // namespace ftsr
