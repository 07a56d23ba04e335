// Wire protocol between ftsr node managers (and clients): atoms and message
// types. Every protocol message carries the sender's member_id, used for
// incarnation fencing, and a trace_context.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "caf/atom.hpp"
#include "caf/meta/type_name.hpp"

#include "actors/capability.hpp"
#include "actors/name_registry.hpp"
#include "actors/trace.hpp"

namespace caf {
class actor_system_config;
}

namespace ftsr {

/// One incarnation of a named node. Incarnations of the same name strictly
/// increase across restarts; a failed incarnation is fenced forever.
struct member_id {
  std::string name;
  uint64_t incarnation = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_id& x) {
  return f(caf::meta::type_name("ftsr::member_id"), x.name, x.incarnation);
}

inline bool operator==(const member_id& x, const member_id& y) {
  return x.name == y.name && x.incarnation == y.incarnation;
}

std::string to_string(const member_id& x);

enum class member_state : uint8_t {
  unknown,   // not in the view (not started yet, joining, or unreachable)
  up,        // in the agreed view
  suspected, // in the agreed view, but this node has not heard from it
  failed,    // removed from the view by agreement (fenced forever)
};

const char* to_string(member_state x);

/// A node as one member sees it.
struct member_status {
  std::string name;
  uint64_t incarnation = 0;
  member_state state = member_state::unknown;
  std::string reason; // why it failed, if it did
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, member_status& x) {
  auto st = static_cast<uint8_t>(x.state);
  auto sync = caf::meta::load_callback([&]() -> caf::error {
    x.state = static_cast<member_state>(st);
    return caf::none;
  });
  return f(caf::meta::type_name("ftsr::member_status"), x.name, x.incarnation,
           st, x.reason, sync);
}

/// A node failure or arrival, published to subscribers of node events.
struct node_event {
  member_id member;
  bool up = false;
  std::string reason;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_event& x) {
  return f(caf::meta::type_name("ftsr::node_event"), x.member, x.up, x.reason);
}

/// Counters a node manager keeps about the protocol (for tests and
/// dashboards).
struct manager_stats {
  uint64_t heartbeats_received = 0;
  /// Messages dropped because they came from a fenced incarnation.
  uint64_t dropped_fenced = 0;
  /// Messages dropped because their sender is not part of the cluster.
  uint64_t dropped_unknown = 0;
  /// Calls issued from this node still waiting for a reply.
  uint64_t pending_calls = 0;
  /// Monitors registered on this node that have not fired.
  uint64_t monitors = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, manager_stats& x) {
  return f(caf::meta::type_name("ftsr::manager_stats"), x.heartbeats_received,
           x.dropped_fenced, x.dropped_unknown, x.pending_calls, x.monitors);
}

// -- atoms (CAF 0.17: at most 10 characters) ---------------------------------

/// (gms, gms_msg): the membership protocol (membership.hpp).
using gms_atom = caf::atom_constant<caf::atom("ftsr_gms")>;
/// (cluster_view, cluster_view): from a member to its clients, at connect
/// and at every view it installs: who is up is what the agreed view says.
using cluster_view_atom = caf::atom_constant<caf::atom("ftsr_cview")>;
/// (probe, member_id): internal: the address of a member whose connection
/// broke refused a new connection (its process is gone).
using probe_atom = caf::atom_constant<caf::atom("ftsr_probe")>;
/// (hello, member_id from, bool is_member, trace_context)
///   -> (member_id, vector<capability_ref> directory,
///       vector<restart_spec> persistent actors, vector<name_binding> names)
using hello_atom = caf::atom_constant<caf::atom("ftsr_hello")>;
/// (node_down, member_id from, member_id failed, string why, trace_context):
///   to clients: an agreed view removed `failed` and its lease ended.
using node_down_atom = caf::atom_constant<caf::atom("ftsr_ndown")>;
/// (bind, member_id from, capability_ref, trace_context)
using bind_atom = caf::atom_constant<caf::atom("ftsr_bind")>;
/// (publish, capability_ref): to the local manager: binds `ref` here and
/// sends the binding to every member and client (e.g. a group's new member
/// list after a replica was replaced).
using publish_atom = caf::atom_constant<caf::atom("ftsr_pub")>;
/// (actor_down, member_id from, uint64 cap, uint64 generation, string why,
///  bool destroyed, tc)
using actor_down_atom = caf::atom_constant<caf::atom("ftsr_adown")>;
/// (spawn, string node, string type, message args, vector<string> backups,
///  trace_context) -> capability_ref. With backups, the actor is
///  persistent: restarted on the next live backup when its node fails.
using spawn_atom = caf::atom_constant<caf::atom("ftsr_spawn")>;
/// (restart_spec, member_id from, restart_spec, trace_context): a persistent
/// actor's restart data, replicated like bindings.
using restart_spec_atom = caf::atom_constant<caf::atom("ftsr_rspec")>;
/// (respawn, restart_spec, uint64 generation, trace_context)
///   -> capability_ref: (re)starts a persistent actor on the receiving node
///   under its old id at `generation`.
using respawn_atom = caf::atom_constant<caf::atom("ftsr_respn")>;
/// (restart, capability_ref, message args, vector<string> nodes, tc)
///   -> capability_ref: FT-SR `restart cap(args) on nodes` of a failed
///   persistent actor: on the first live node of `nodes`.
using restart_atom = caf::atom_constant<caf::atom("ftsr_rstrt")>;
/// (persistent_start, capability_ref self, uint64 generation, tc): the first
/// message a persistent actor receives; generation > 0 means it was
/// restarted and its recovery handler runs (persistence/persistent.hpp),
/// traced as a child of the restart's span `tc`.
using persistent_start_atom = caf::atom_constant<caf::atom("ftsr_pstrt")>;
/// (persistent_call, uint64 caller, uint64 seq, uint64 floor, message op)
///   -> op's reply: ftsr::call's envelope of an invocation of a persistent
///   actor (actors/invocation_ids.hpp), unwrapped by the actor's invocation
///   log (persistence/invocation_log.hpp).
using persistent_call_atom = caf::atom_constant<caf::atom("ftsr_pcall")>;
/// (destroy, capability_ref, trace_context) -> unit
using destroy_atom = caf::atom_constant<caf::atom("ftsr_destr")>;
/// (subscribe, actor): node_event messages go to the actor from now on.
using subscribe_atom = caf::atom_constant<caf::atom("ftsr_sub")>;
/// (view) -> (member_id self, vector<member_status>)
using view_atom = caf::atom_constant<caf::atom("ftsr_view")>;
/// (spans, uint64 max) -> vector<span>
using spans_atom = caf::atom_constant<caf::atom("ftsr_spans")>;
/// (introspect, introspect_query) -> node_report (introspection.hpp): the
///   report of the node the query names, asked through its manager.
using introspect_atom = caf::atom_constant<caf::atom("ftsr_intro")>;
/// (stats) -> manager_stats
using stats_atom = caf::atom_constant<caf::atom("ftsr_stats")>;
/// (monitor, capability_ref, actor dest, message handler) -> uint64 id
using monitor_atom = caf::atom_constant<caf::atom("ftsr_mon")>;
/// (monitorend, uint64 id) -> bool
using monitorend_atom = caf::atom_constant<caf::atom("ftsr_unmon")>;
/// (lookup, uint64 cap) -> capability_ref
using lookup_atom = caf::atom_constant<caf::atom("ftsr_look")>;
/// (after, uint32 ms) -> (): replies after ms (back-off timer for calls).
using after_atom = caf::atom_constant<caf::atom("ftsr_after")>;
/// (name, string name, capability_ref cap, bool replace) -> name_binding:
///   to the local manager: registers `cap` under `name` and sends the
///   binding to every member and client; a client's manager has a member
///   make the change.
using name_atom = caf::atom_constant<caf::atom("ftsr_name")>;
/// (name_unreg, string name) -> name_binding (the tombstone): unregisters
///   `name`, like name_atom.
using name_unregister_atom = caf::atom_constant<caf::atom("ftsr_nunrg")>;
/// (name_bind, member_id from, name_binding, trace_context): a name's new
/// binding, replicated like bindings.
using name_bind_atom = caf::atom_constant<caf::atom("ftsr_nbind")>;
/// (name_look, string name) -> capability_ref (errc::unknown_name).
using name_lookup_atom = caf::atom_constant<caf::atom("ftsr_nlook")>;
/// (types, string on, vector<string> names) -> vector<string>: the names
/// of application message types among `names` that node `on` has not
/// registered (message_types.hpp); forwarded to `on` like spawn.
using types_atom = caf::atom_constant<caf::atom("ftsr_types")>;
/// Internal tick of the failure detector.
using tick_atom = caf::atom_constant<caf::atom("ftsr_tick")>;

/// Registers all protocol types with CAF (needed before the system starts).
void add_protocol_types(caf::actor_system_config& cfg);

} // namespace ftsr
