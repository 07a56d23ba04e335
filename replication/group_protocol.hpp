// Wire types of resource groups: invocations, ordered log entries and the
// view-change (flush/install) and state-transfer messages between replicas.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "caf/atom.hpp"
#include "caf/message.hpp"
#include "caf/meta/type_name.hpp"

#include "actors/capability.hpp"
#include "actors/group_invocation.hpp"
#include "actors/trace.hpp"

namespace caf {
class actor_system_config;
}

namespace ftsr {

/// How a group replicates (FT-SR's implementation choices).
struct group_mode {
  /// Active replication: every replica executes every operation ({primary}
  /// annotations are ignored). Otherwise primary sequencer, where {primary}
  /// operations run at the primary only and ship their state.
  bool active = false;
  /// Answer with the reply a majority of the replicas agree on (voting)
  /// instead of the primary's reply.
  bool vote = false;
  /// Persistent group (set by create_group from group_spec::backups, travels
  /// with init and state transfer): after a member failure, the primary
  /// restarts a replica on the first backup node that is up and hosts no
  /// member, until the group has `replicas` members again.
  std::vector<std::string> backups;
  uint64_t replicas = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, group_mode& x) {
  return f(caf::meta::type_name("ftsr::group_mode"), x.active, x.vote,
           x.backups, x.replicas);
}

/// Where a replica's state stands: the view and sequence number of the
/// last entry it applied (a state transfer: the sender's view and delivered
/// sequence number). Sequence numbers continue across views.
struct replica_position {
  uint64_t view = 0;
  uint64_t seq = 0;

  friend bool operator<(const replica_position& x, const replica_position& y) {
    return std::tie(x.seq, x.view) < std::tie(y.seq, y.view);
  }

  friend bool operator==(const replica_position& x,
                         const replica_position& y) {
    return x.seq == y.seq && x.view == y.view;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replica_position& x) {
  return f(caf::meta::type_name("ftsr::replica_position"), x.view, x.seq);
}

/// An outgoing invocation declared by an operation (FT-SR owns/imports).
struct outgoing_call {
  bool imported = false;
  capability_ref target;
  caf::message payload;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, outgoing_call& x) {
  return f(caf::meta::type_name("ftsr::outgoing_call"), x.imported, x.target,
           x.payload);
}

enum class entry_kind : uint8_t {
  invocation,   // every replica applies `payload`
  state_update, // a {primary} operation: backups install `state`
  membership,   // a join or leave: the members become `members`
  import_done,  // the import `request` was answered by its target
  retry,        // a retry of the delivered `request`: every replica answers
                // it from its de-duplication table, nothing runs again
};

/// One slot of the group's total order.
struct log_entry {
  uint64_t seq = 0;
  uint64_t view = 0;
  /// The primary that sequenced it. (View numbers alone do not tell a
  /// failed primary's orders apart: a join entry that reached no survivor
  /// moved it to the view number the survivors install next.)
  uint64_t sequencer = 0;
  entry_kind kind = entry_kind::invocation;
  uint64_t request = 0;
  reply_policy replies = reply_policy::first;
  caf::message payload;
  std::string state;
  caf::message reply;
  std::vector<uint64_t> members;
  /// Imports the operation declared (filled by the primary).
  std::vector<outgoing_call> imports;
  /// The backup that answers the client itself once it delivered the entry
  /// (0: the primary answers after the acknowledgements), and the client's
  /// address: (strong_actor_ptr, uint64 request message id) from the
  /// replica, anything the caller of group_core likes in tests. Saves the
  /// hop back to the primary: client -> primary -> backup -> client.
  uint64_t replier = 0;
  caf::message reply_to;
  /// The primary's span that sequenced this entry (zero if the caller's
  /// invocation was not traced): each replica's delivery span is its child.
  trace_context tc;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, log_entry& x) {
  auto k = static_cast<uint8_t>(x.kind);
  auto r = static_cast<uint8_t>(x.replies);
  auto sync = caf::meta::load_callback([&]() -> caf::error {
    x.kind = static_cast<entry_kind>(k);
    x.replies = static_cast<reply_policy>(r);
    return caf::none;
  });
  return f(caf::meta::type_name("ftsr::log_entry"), x.seq, x.view,
           x.sequencer, k,
           x.request, r, x.payload, x.state, x.reply, x.members, x.imports,
           x.replier, x.reply_to, x.tc, sync);
}

/// The context of the primary's sequencing span of a traced invocation
/// (zero if untraced): derived from the invocation alone, so the machine
/// puts it in the entry (the backups' delivery spans hang under it) and the
/// actor records the span with the same id.
inline trace_context sequencing_context(const invocation& inv) {
  if (inv.tc.trace_id == 0)
    return {};
  // splitmix64 of the caller's span and the request: distinct per invocation.
  auto z = inv.tc.span_id ^ (inv.request + 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return {inv.tc.trace_id, (z ^ (z >> 31)) | 1};
}

/// A replica's state as observers see it (tests, dashboard).
struct group_status {
  uint64_t member = 0;
  uint64_t view = 0;
  uint64_t primary = 0;
  std::vector<uint64_t> members;
  uint64_t delivered = 0; // highest delivered sequence number
  uint64_t digest = 0;    // hash over the delivery log (seq, kind, request)
  bool serving = false;   // false while flushing or without quorum
  std::string state;      // snapshot of the resource
  uint64_t waiting = 0;   // clients waiting for a sequenced invocation
  uint64_t stashed = 0;   // invocations held during a view change
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, group_status& x) {
  return f(caf::meta::type_name("ftsr::group_status"), x.member, x.view,
           x.primary, x.members, x.delivered, x.digest, x.serving, x.state,
           x.waiting, x.stashed);
}

/// Full state handed to a joining replica (state transfer).
struct state_transfer {
  uint64_t view = 0;
  std::vector<uint64_t> members;
  uint64_t delivered = 0;
  uint64_t digest = 0;
  std::string state;
  std::vector<uint64_t> dedup_requests;
  std::vector<caf::message> dedup_replies;
  std::vector<uint64_t> import_ids;
  std::vector<outgoing_call> imports;
  /// The sender's delivered entries above its stable point. The state
  /// contains them; the adopter reports them in later flushes like its own
  /// deliveries (a coordinator's transfer may hold entries only it had).
  std::vector<log_entry> unstable;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, state_transfer& x) {
  return f(caf::meta::type_name("ftsr::state_transfer"), x.view, x.members,
           x.delivered, x.digest, x.state, x.dedup_requests, x.dedup_replies,
           x.import_ids, x.imports, x.unstable);
}

/// The capability type of a group of resource type `resource_type`.
inline std::string group_type_of(const std::string& resource_type) {
  return "group:" + resource_type;
}

/// The resource type of group capability type `type` (group_type_of's
/// inverse); empty if `type` is no group's.
inline std::string resource_type_of(const std::string& type) {
  constexpr std::string_view prefix = "group:";
  if (type.compare(0, prefix.size(), prefix) != 0)
    return {};
  return type.substr(prefix.size());
}

/// (order, vector<log_entry> batch, uint64 stable): primary -> backups
using group_order_atom = caf::atom_constant<caf::atom("ftsr_gord")>;
/// (ack, uint64 view, vector<uint64> seqs, uint64 member,
///  vector<message> results): backup -> primary, one per order batch
using group_ack_atom = caf::atom_constant<caf::atom("ftsr_gack")>;
/// Internal: send the acknowledgements held back (backup to itself).
using group_send_acks_atom = caf::atom_constant<caf::atom("ftsr_gfa")>;
/// Internal: send the orders held back for lagging backups (primary to
/// itself).
using group_send_lagging_atom = caf::atom_constant<caf::atom("ftsr_gfl")>;
/// (group_lease): internal: a primary waiting for its node's first lease
/// looks again at the invocations it held back.
using group_lease_atom = caf::atom_constant<caf::atom("ftsr_glse")>;
/// Internal: send the batched orders (replica to itself).
using group_send_orders_atom = caf::atom_constant<caf::atom("ftsr_gfo")>;
/// (flush, uint64 new_view, vector<uint64> survivors, uint64 to):
/// coordinator (survivors.front()) -> each survivor `to`. A newcomer still
/// waiting for its state answers it too (it learns its id from `to`).
using group_flush_atom = caf::atom_constant<caf::atom("ftsr_gflsh")>;
/// (flushed, uint64 new_view, uint64 member, uint64 view, uint64 delivered,
///  vector<log_entry> unstable, bool has_state): survivor -> coordinator;
/// `view` is the highest view the survivor has or answered a flush for.
using group_flushed_atom = caf::atom_constant<caf::atom("ftsr_gfld")>;
/// (install, uint64 view, vector<uint64> members, vector<log_entry>)
using group_install_atom = caf::atom_constant<caf::atom("ftsr_ginst")>;
/// (install_refused, uint64 view, uint64 member, uint64 seen): `member`
/// refused the install of `view` because it answered a flush up to view
/// `seen` since -> the primary of `view`, which flushes again above it
using group_install_refused_atom = caf::atom_constant<caf::atom("ftsr_girf")>;
/// (no_quorum, uint64 view, uint64 member): the coordinator found no
/// majority (or, serving on exactly half of a view, its node left the
/// primary partition) -> the other survivors, which stop serving as well
using group_no_quorum_atom = caf::atom_constant<caf::atom("ftsr_gnoq")>;
/// (init, capability_ref group, uint64 me, uint64 max_sf, group_mode,
///  message args) -> () once it serves, or the error it stopped with
///  (resource_base::attach or init failed)
using group_init_atom = caf::atom_constant<caf::atom("ftsr_ginit")>;
/// (member_failed, uint64 member): monitor handler inside a replica
using member_failed_atom = caf::atom_constant<caf::atom("ftsr_gmf")>;
/// (status) -> group_status
using group_status_atom = caf::atom_constant<caf::atom("ftsr_gstat")>;
/// (join, capability_ref newcomer): to the primary -> unit once the join
/// is held by max_sf backups (the newcomer then gets its state)
using group_join_atom = caf::atom_constant<caf::atom("ftsr_gjoin")>;
/// (leave, uint64 member): to the primary -> () once ordered; the member
/// stops after delivering the view without itself
using group_leave_atom = caf::atom_constant<caf::atom("ftsr_glv")>;
/// (transfer, capability_ref group, uint64 me, uint64 max_sf, group_mode,
///  state_transfer): primary -> newcomer, once its join is stable, or the
/// coordinator of a view change -> a member that had no state yet; a
/// newcomer that cannot take it stops and answers with the error (the
/// sender ignores error messages; the failure reaches the group through
/// its monitors)
using group_transfer_atom = caf::atom_constant<caf::atom("ftsr_gxfer")>;
/// (state_timeout): a replica to itself, node_options::replica_state_timeout
/// after it was spawned; it stops if it has no state (init or transfer) yet
using group_state_timeout_atom = caf::atom_constant<caf::atom("ftsr_gsto")>;

/// Registers the group protocol types with CAF.
void add_group_types(caf::actor_system_config& cfg);

} // namespace ftsr
