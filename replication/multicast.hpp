// Ordered group multicast between actors (ISIS CBCAST and ABCAST): one
// endpoint actor per member of a static group. A member's owner sends
//   (mcast_atom, ordering, caf::message payload)
// to its endpoint; every endpoint (the sender's included) then sends
//   (mcast_delivered_atom, uint64_t sender, caf::message payload)
// to its `deliver_to` actor, in causal order for ordering::causal (CBCAST)
// and in one order shared by all members for ordering::total (ABCAST).
// When a member failed, every survivor sends its deliver_to
//   (mcast_view_atom, vector<uint64_t> view)
// after all of the failed member's delivered messages, which are the same
// at every survivor. Endpoints find each other explicitly (peers,
// mcast_peer_atom, connect_multicast_endpoints) or, on ftsr nodes, through
// the directory (actor type "ftsr.multicast", mcast_init_atom). How the
// flush and the takeover work, and the limits (one failure at a time is
// the tested case; no rejoin; no partitions): docs/groups-and-views.md.
//
// Thread-safety: endpoints are actors; the free functions are thread-safe.
// Failure behaviour: bad arguments are errc::invalid_argument errors. A
// malformed or inconsistent message from a peer is dropped without state
// change and counted in multicast_status (rejected, last_error).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"
#include "caf/atom.hpp"
#include "caf/expected.hpp"
#include "caf/message.hpp"
#include "caf/meta/type_name.hpp"

#include "replication/multicast_core.hpp"

namespace caf {
class actor_system_config;
}

namespace ftsr {

enum class ordering : uint8_t {
  causal, // CBCAST
  total,  // ABCAST
};

std::string to_string(ordering x);

/// (mcast, ordering, message payload): owner -> its endpoint. A request
/// gets unit once the message is on its way, or an error (uninitialized
/// endpoint, unknown ordering); a plain send gets only errors back.
using mcast_atom = caf::atom_constant<caf::atom("ftsr_mcast")>;
/// (delivered, uint64 sender, message payload): endpoint -> deliver_to.
using mcast_delivered_atom = caf::atom_constant<caf::atom("ftsr_mdlvd")>;
/// (peer, uint64 member, actor endpoint): where `member`'s endpoint is.
using mcast_peer_atom = caf::atom_constant<caf::atom("ftsr_mpeer")>;
/// (init, uint64 self, vector<uint64> members, actor deliver_to): starts an
/// endpoint spawned as "ftsr.multicast"; peers are resolved through the
/// node directory by member id (capability id). -> unit or error.
using mcast_init_atom = caf::atom_constant<caf::atom("ftsr_minit")>;
/// (status) -> multicast_status
using mcast_status_atom = caf::atom_constant<caf::atom("ftsr_mstat")>;
/// Between endpoints: (causal, stamped_message)
using mcast_causal_atom = caf::atom_constant<caf::atom("ftsr_mcb")>;
/// Between endpoints: (data, abcast_data), (propose, abcast_proposal),
/// (final, abcast_final)
using mcast_data_atom = caf::atom_constant<caf::atom("ftsr_mabd")>;
using mcast_propose_atom = caf::atom_constant<caf::atom("ftsr_mabp")>;
using mcast_final_atom = caf::atom_constant<caf::atom("ftsr_mabf")>;
/// Between endpoints: (clock, uint64 member, vector<uint64> clock), a
/// member's CBCAST clock, for stability when it has not sent for a while.
using mcast_clock_atom = caf::atom_constant<caf::atom("ftsr_mclk")>;
/// (suspect, uint64 member): `member` failed (from a monitor, or sent by a
/// failure detector or test). -> unit, or an error for a non-member.
using mcast_suspect_atom = caf::atom_constant<caf::atom("ftsr_msusp")>;
/// (view, vector<uint64> members): endpoint -> deliver_to, the new view
/// after a member failed.
using mcast_view_atom = caf::atom_constant<caf::atom("ftsr_mview")>;
/// Between endpoints: (flush, uint64 from, uint64 failed,
/// vector<stamped_message>), CBCAST view-change flush.
using mcast_flush_atom = caf::atom_constant<caf::atom("ftsr_mflsh")>;
/// Between endpoints: (report, abcast_report) to the ABCAST coordinator and
/// (takeover, abcast_takeover) from it.
using mcast_report_atom = caf::atom_constant<caf::atom("ftsr_mrprt")>;
using mcast_takeover_atom = caf::atom_constant<caf::atom("ftsr_mtkov")>;

/// Actor type name of endpoints on ftsr nodes (add_multicast_types).
constexpr const char* multicast_actor_type = "ftsr.multicast";

/// An endpoint as observers see it (tests, dashboard).
struct multicast_status {
  uint64_t self = 0; // 0: not initialized
  std::vector<uint64_t> members; // the initial view
  std::vector<uint64_t> view;    // current: members minus announced failures
  std::vector<uint64_t> failed;  // failures learned (view change may run)
  std::vector<uint64_t> clock;   // CBCAST vector clock
  uint64_t discarded = 0;        // causal messages of failed members dropped
  uint64_t causal_buffered = 0;
  uint64_t total_pending = 0;
  uint64_t delivered = 0; // both orderings
  uint64_t rejected = 0;  // malformed peer messages dropped
  std::string last_error;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, multicast_status& x) {
  return f(caf::meta::type_name("ftsr::multicast_status"), x.self, x.members,
           x.view, x.failed, x.clock, x.discarded, x.causal_buffered, x.total_pending, x.delivered,
           x.rejected, x.last_error);
}

/// Registers the multicast message types and the "ftsr.multicast" actor
/// type. Every actor system exchanging these messages needs it.
void add_multicast_types(caf::actor_system_config& cfg);

/// Spawns the endpoint of member `self_id` of group `members` (the same
/// list, in the same order, at every member). `peers` maps other members
/// to their endpoints (handles of this actor system); more can follow with
/// mcast_peer_atom. Errors (errc::invalid_argument): bad member list (see
/// validate_members), no deliver_to, a peer that is no member or is
/// `self_id`.
caf::expected<caf::actor>
spawn_multicast_endpoint(caf::actor_system& sys, uint64_t self_id,
                         std::vector<uint64_t> members, caf::actor deliver_to,
                         std::map<uint64_t, caf::actor> peers = {});

/// Tells every endpoint in `endpoints` (member id -> endpoint, all of one
/// actor system) where the others are.
void connect_multicast_endpoints(
  const std::map<uint64_t, caf::actor>& endpoints);

} // namespace ftsr
