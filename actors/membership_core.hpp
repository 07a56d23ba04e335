// membership_core: the decisions of one node in the cluster membership
// protocol, as a deterministic machine (no actors, clocks or sockets: time
// is an input). The node manager decodes messages, steps the core and
// applies the step (sends, durable writes, installed views, fencing).
//
// Rules (see membership.hpp for the view sequence):
// - Failure detection: a member is suspected when nothing was heard from
//   its incarnation for failure_timeout (never before this core ran that
//   long), when its connection broke, or when a newer incarnation of its
//   name appeared. Suspicion is local; only an agreed view removes anyone.
// - Coordination: the first name of the current view that this node
//   considers alive (itself included) coordinates. It proposes the next view
//   (suspected members out, waiting new incarnations in) by single-decree
//   Paxos among the names of the current view; competing coordinators are
//   ordered by ballots, so at most one next view is ever chosen.
// - Leases: a member serves only while a majority of its view (itself
//   included) renewed its lease within `lease`, measured from when it sent
//   the heartbeat that the renewals echo. A node stops renewing a member's
//   lease as soon as it accepted a view without that member, so once a view
//   removing X is committed, X's lease ends at the latest `lease` after the
//   commit (plus clock-rate drift). The node manager waits that long before
//   it treats X as failed (fail-stop notification, restarts, replacement),
//   unless X's death is proven; see removal_delay().
// - Joins: an incarnation not in the view asks to join every tick; the
//   coordinator admits it when its incarnation is above everything fenced
//   for its name and its name's current member is gone (suspected, or its
//   death proven by the joiner holding its data directory). A name whose
//   member is alive refuses the newcomer; after refusals for longer than
//   3 failure timeouts the newcomer gives up (step.refused).
//
// Thread-safety: none; one owner (the node manager actor) drives it.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "actors/membership.hpp"

namespace ftsr {

struct membership_options {
  std::chrono::milliseconds heartbeat_interval{100};
  std::chrono::milliseconds failure_timeout{500};
  std::chrono::milliseconds lease{500};
};

/// Everything one input of membership_core asks its owner to do, in order:
/// persist state() first (if `persist`), then send, then act on the views.
struct gms_step {
  /// Messages to the process currently known under a node name.
  std::vector<std::pair<std::string, gms_msg>> send;
  bool persist = false;
  /// Views installed by this input, oldest first.
  std::vector<cluster_view> installed;
  /// Non-empty: this incarnation was removed from the view (fail-stop).
  std::string fenced;
  /// Non-empty: this incarnation cannot join (its name is in use).
  std::string refused;
};

class membership_core {
public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;

  /// `names`: the cluster file's node names, in order. `loaded`: the state
  /// read from this node's data directory; `found` when there was one (the
  /// node then votes for its name as its predecessor did).
  membership_core(member_id self, std::vector<std::string> names,
                  membership_options opts, membership_state loaded, bool found,
                  time_point now);

  gms_step on_tick(time_point now);
  gms_step on_message(const gms_msg& m, time_point now);

  /// The connection to incarnation `m` broke. `proven`: its address then
  /// refused a connection, so its process is gone.
  gms_step on_connection_lost(const member_id& m, bool proven, time_point now);

  /// A connection made to `who.name`'s own address reached `who`: an older
  /// incarnation of that name no longer listens there, so it is dead.
  gms_step on_reached(const member_id& who, time_point now);

  const cluster_view& view() const noexcept {
    return st_.view;
  }

  const membership_state& state() const noexcept {
    return st_;
  }

  const member_id& self() const noexcept {
    return self_;
  }

  /// This incarnation is in the current view.
  bool is_member() const;

  /// Until when this member may serve (time_point::min() when it may not).
  time_point lease_expiry() const;

  bool serving(time_point now) const {
    return now < lease_expiry();
  }

  /// How long after installing a view that removed `m` its failure may be
  /// acted on: 0 if its death is proven, otherwise its lease stretched by
  /// the assumed clock-rate drift (below 5 %) plus one heartbeat interval.
  std::chrono::milliseconds removal_delay(const cluster_view& v,
                                          const member_id& m) const;

  /// True if this node currently suspects the member `m`.
  bool suspects(const member_id& m, time_point now) const;

  /// The name this node expects to coordinate the next change.
  std::optional<std::string> coordinator(time_point now) const;

  /// The most recent incarnation heard of under `name` (0 if none).
  uint64_t latest_incarnation(const std::string& name) const;

private:
  struct peer_info {
    member_id latest;
    bool votes = false;
    bool lost = false;
    time_point last_heard{};
    /// Last heartbeat number received from `latest` (echoed back).
    uint64_t echo_to_send = 0;
    /// Highest of this node's heartbeat numbers `latest` echoed.
    uint64_t acked_seq = 0;
    bool wants_join = false;
    /// Its last heartbeat said it accepted a next view not yet installed.
    bool pending = false;
    uint64_t predecessor = 0;
  };

  struct round {
    uint64_t number = 0;
    ballot bal;
    int phase = 1;
    cluster_view own;
    std::set<std::string> promised;
    std::set<std::string> accepted;
    bool has_adopted = false;
    ballot adopted_bal;
    cluster_view adopted;
    time_point started;
  };

  void handle(const gms_msg& m, time_point now, gms_step& out);
  void drain_local(time_point now, gms_step& out);
  void send(gms_step& out, const std::string& to, gms_msg m);
  gms_msg make(gms_kind k) const;
  peer_info* heard(const member_id& from, time_point now);
  const peer_info* find_peer(const member_id& m) const;
  /// The newest incarnation heard of under `name` that is not in the view.
  const peer_info* newcomer(const std::string& name) const;

  /// Tells the sender of `m` that this node promised a higher ballot.
  void reject(const gms_msg& m, gms_step& out);
  void on_prepare(const gms_msg& m, gms_step& out);
  void on_accept(const gms_msg& m, gms_step& out);
  void on_promise(const gms_msg& m, time_point now, gms_step& out);
  void on_accepted(const gms_msg& m, gms_step& out);
  void on_join(const gms_msg& m, time_point now, gms_step& out);
  void send_views_after(uint64_t number, const std::string& to, gms_step& out);
  void install(const cluster_view& v, gms_step& out);
  void coordinate(time_point now, gms_step& out);
  std::optional<cluster_view> desired_view(time_point now) const;
  std::vector<std::string> voters() const;
  size_t majority() const;
  bool renews(const peer_info& p) const;
  bool alive_name(const std::string& name, time_point now) const;
  bool silent(const peer_info& p, time_point now) const;

  member_id self_;
  std::vector<std::string> names_;
  membership_options opts_;
  membership_state st_;
  /// This node holds its name's acceptor state (its data directory, or its
  /// admission into a view), or the cluster has no view yet: it may vote.
  bool votes() const {
    return found_ || admitted_ || st_.view.number == 0;
  }

  bool found_;
  bool admitted_ = false;
  time_point started_;
  /// What this node heard of each incarnation (name, incarnation): the
  /// members of its view and the newer incarnations asking to join.
  std::map<std::pair<std::string, uint64_t>, peer_info> peers_;
  std::set<std::pair<std::string, uint64_t>> proven_dead_;
  std::deque<cluster_view> history_;
  std::optional<round> round_;
  time_point next_round_{};
  uint64_t seq_ = 0;
  std::map<uint64_t, time_point> sent_at_;
  std::optional<time_point> refused_since_;
  std::vector<gms_msg> local_;
};

} // namespace ftsr
