// The deterministic replica: everything one member of a resource group
// decides, around its group_core. It holds the clients it owes an answer
// (waiting for a sequenced invocation, answered by a backup, stashed during
// a view change), batches orders to the backups and acknowledgements to the
// primary, and answers flushes before it has a state. No actors, clocks or
// sockets: each input returns one replica_step (messages to members, client
// answers, members to watch, timers to arm, calls to make, quit), which the
// replica actor (replica.cpp) applies and tests/group_core_test.cpp's
// simulator delivers under any order and failure. Not thread-safe.
//
// Clients are tickets the driver chose (a response promise there, a
// simulated client here); every ticket handed in is answered or released
// exactly once, unless the machine quits first.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "caf/error.hpp"
#include "caf/message.hpp"

#include "replication/group_core.hpp"
#include "replication/group_protocol.hpp"
#include "replication/resource.hpp"

namespace ftsr {

/// What the replica's node says about its place in the cluster (asked at
/// each invocation; replica.cpp: node_context).
struct node_standing {
  /// A cluster member (not a client-only context): it holds leases.
  bool member = false;
  /// Its node got its first lease since it was admitted.
  bool leased = false;
  /// Its node sees a majority of the cluster (also the tie-breaker when
  /// exactly half of a view survives).
  bool in_majority = false;
};

// -- messages between members (group_protocol.hpp's atoms) --------------------

struct order_msg { // group_order_atom
  std::vector<log_entry> entries;
  uint64_t stable = 0;
};

struct ack_msg { // group_ack_atom
  uint64_t view = 0;
  std::vector<uint64_t> seqs;
  uint64_t from = 0;
  std::vector<caf::message> results;
};

struct flush_msg { // group_flush_atom
  uint64_t new_view = 0;
  std::vector<uint64_t> survivors;
  uint64_t addressee = 0;
};

struct flushed_msg { // group_flushed_atom
  uint64_t new_view = 0;
  uint64_t from = 0;
  group_core::flushed reply;
};

struct install_refused_msg { // group_install_refused_atom
  uint64_t view = 0;
  uint64_t member = 0;
  uint64_t seen = 0;
};

struct no_quorum_msg { // group_no_quorum_atom
  uint64_t view = 0;
  uint64_t from = 0;
};

struct transfer_msg { // group_transfer_atom (with the group's parameters)
  state_transfer transfer;
};

/// group_install_atom carries a group_core::install_msg.
using peer_msg = std::variant<order_msg, ack_msg, flush_msg, flushed_msg,
                              group_core::install_msg, install_refused_msg,
                              no_quorum_msg, transfer_msg>;

struct peer_send {
  uint64_t to = 0;
  peer_msg msg;
};

/// An answer to a client ticket.
struct client_answer {
  enum kind_t {
    single,   // `value` (first, vote)
    collated, // `values` (quorum, all)
    error,    // `err`
    unit,     // done, nothing to return (a join or leave)
  } kind = single;
  uint64_t ticket = 0;
  caf::message value;
  std::vector<caf::message> values;
  caf::error err;
};

/// Replier: a backup answers a client in the primary's place (`to` is the
/// entry's log_entry::reply_to, as the driver built it).
struct direct_answer {
  caf::message to;
  caf::message reply;
};

/// Timers (and messages to itself) the driver arms; each comes back as
/// on_timer(kind).
enum class replica_timer {
  send_orders,  // at once, behind the messages already queued
  send_acks,    // after a short delay (acknowledgement batching)
  send_lagging, // after a short delay (orders held back for non-repliers)
  lease,        // after a heartbeat: the node's first lease is due
  depart,       // at once, behind the queued messages: the replica left
};

/// Everything one input asks the driver to do, in this order: sends (in
/// order, per destination), answers, direct answers, owns-sends and imports,
/// watches, timers; then the restoration hooks (joined, installed); then
/// quit if set.
struct replica_step {
  std::vector<peer_send> sends;
  std::vector<client_answer> answers;
  std::vector<direct_answer> direct;
  /// Tickets a backup answered (nothing more will come for them).
  std::vector<uint64_t> released;
  /// owns-sends of operations executed here (every replica performs its own).
  std::vector<outgoing_call> owned;
  /// Primary: imports to call, by import id; on an answer, on_import_done.
  std::vector<std::pair<uint64_t, outgoing_call>> imports;
  /// Members to monitor (failure arrives as on_member_failed).
  std::vector<uint64_t> watch;
  std::vector<replica_timer> timers;
  /// Newcomers that are members with state now (join completed, or a
  /// retried join of a member).
  std::vector<uint64_t> joined;
  /// A view was installed (and this replica is in it).
  bool installed = false;
  /// Trace events: (name, detail).
  std::vector<std::pair<std::string, std::string>> events;
  /// Set: stop with this error after the rest.
  caf::error quit;
};

/// Batching limits: a batch of orders for a backup that is no replier, or
/// of acknowledgements the primary does not wait for, goes out once this
/// many are due (or at the timer).
struct replica_limits {
  size_t lag_batch = 64;
  size_t ack_batch = 64;
};

class replica_machine {
public:
  /// Counters of what the machine decided (status, tests).
  struct counters {
    size_t sequenced = 0; // invocations sequenced (not retries)
    size_t retries = 0;   // retries of delivered requests sequenced
    size_t rejected = 0;  // invocations the resource refused
    size_t stashed = 0;   // invocations held during a view change
  };

  /// `node` names the replica's node in errors; `standing` is asked at
  /// each invocation (and is the core's tie-breaker).
  replica_machine(std::string node, std::function<node_standing()> standing,
                  replica_limits lim = {});

  // -- observers --------------------------------------------------------------

  /// False for a newcomer before its state transfer.
  bool has_state() const noexcept { return core_.has_value(); }
  group_core& core() { return *core_; }
  const group_core& core() const { return *core_; }
  const counters& stats() const noexcept { return stats_; }
  /// Clients answered by a backup, not acknowledged yet.
  size_t relayed() const noexcept { return relayed_.size(); }
  /// Clients held: waiting, relayed or stashed.
  size_t holding() const noexcept {
    return waiting_.size() + relayed_.size() + stash_.size();
  }
  group_status status() const;
  /// True if a newcomer without state should adopt `t` (not below a flush
  /// it answered: the coordinator sends a newer one).
  bool wants_state(const state_transfer& t) const {
    return !core_ && t.view >= flush_seen_;
  }

  /// The group capability (operations see it as ftsr::mygroup(); errors
  /// name it).
  void set_group(capability_ref group);
  const capability_ref& group() const noexcept { return group_; }

  // -- starting ---------------------------------------------------------------

  /// A member of a new group: initialized with `args`.
  replica_step start(uint64_t me, std::vector<uint64_t> members,
                     size_t max_sf, group_mode mode,
                     std::unique_ptr<resource_base> res,
                     const caf::message& args);

  /// A newcomer: its first state transfer (wants_state(t) holds).
  replica_step start_from(uint64_t me, size_t max_sf, group_mode mode,
                          std::unique_ptr<resource_base> res,
                          const state_transfer& t);

  // -- inputs -----------------------------------------------------------------

  /// A client's invocation; `reply_to` (empty: none) lets a backup answer
  /// it directly.
  replica_step on_invoke(const invocation& inv, uint64_t ticket,
                         caf::message reply_to);
  replica_step on_timer(replica_timer t);
  replica_step on_order(const std::vector<log_entry>& entries,
                        uint64_t stable);
  replica_step on_ack(const ack_msg& m);
  replica_step on_member_failed(uint64_t member);
  replica_step on_install_refused(const install_refused_msg& m);
  replica_step on_no_quorum(const no_quorum_msg& m);
  /// Also before the replica has a state (answered without one).
  replica_step on_flush(const flush_msg& m);
  replica_step on_flushed(const flushed_msg& m);
  replica_step on_install(const group_core::install_msg& m);
  /// A state sent again by a view change (has_state()).
  replica_step on_transfer(const state_transfer& t);
  /// Primary: a newcomer asks to join (`ticket`, if any, is answered once
  /// the join is stable).
  replica_step on_join(uint64_t newcomer, std::optional<uint64_t> ticket);
  /// Primary: orders the graceful leave of `member`; `ticket` gets unit or
  /// the error.
  replica_step on_leave(uint64_t member, uint64_t ticket);
  /// Primary: import `id` was answered by its target.
  replica_step on_import_done(uint64_t id);

  /// Refusal for a replica that does not serve as primary: no_quorum or
  /// not_primary naming the primary.
  caf::error refusal() const;

private:
  struct client_call {
    invocation inv;
    uint64_t ticket = 0;
    caf::message reply_to;
  };
  struct relayed_call {
    uint64_t replier = 0;
    client_call call;
  };

  void create(uint64_t me, std::vector<uint64_t> members, size_t max_sf,
              group_mode mode, std::unique_ptr<resource_base> res);
  void invoke(replica_step& s, client_call c);
  bool fail_stopped();
  void deliver(replica_step& s, std::vector<group_core::completion> done);
  void reclaim_relayed();
  void enqueue_order(replica_step& s, log_entry e);
  void send_orders(replica_step& s, bool everything);
  void send_acks(replica_step& s);
  void send_entry(replica_step& s, const std::vector<uint64_t>& to,
                  const log_entry& e);
  void send_flush(replica_step& s, uint64_t view,
                  const std::vector<uint64_t>& survivors);
  void coordinate_flush(replica_step& s, const group_core::suspicion& x);
  void perform_outgoing(replica_step& s);
  void replay_stash(replica_step& s);
  void after_install(replica_step& s);
  void lose_quorum(replica_step& s);
  void answer_error(replica_step& s, uint64_t ticket, caf::error err);
  void leave_group(replica_step& s);
  /// Ends every step: members not watched yet.
  replica_step finish(replica_step s);

  std::string node_;
  std::function<node_standing()> standing_;
  replica_limits limits_;
  counters stats_;
  capability_ref group_;
  std::optional<group_core> core_;
  /// Clients waiting for sequenced invocations, by request id (after a view
  /// change, they are handled like a retry).
  std::multimap<uint64_t, client_call> waiting_;
  /// Clients a backup answers (log_entry::replier), by sequence number:
  /// kept until it acknowledges the entry. Still here at a view change or
  /// quorum loss, they become waiting clients.
  std::map<uint64_t, relayed_call> relayed_;
  /// Join requests waiting until the join is stable, by newcomer.
  std::map<uint64_t, uint64_t> joining_;
  /// Invocations that arrived during a view change (or before the node's
  /// first lease).
  std::vector<client_call> stash_;
  bool lease_timer_ = false;
  std::set<uint64_t> monitored_;
  /// A newcomer without state: the highest flush it answered. Transfers of
  /// lower views are stale (group_core::stale).
  uint64_t flush_seen_ = 0;
  /// Sequenced entries not yet sent to the backups: invocations arriving in
  /// one burst travel in one message per backup.
  std::vector<log_entry> outbox_;
  bool orders_due_ = false;
  /// Primary: entries held back, by backup, while every one of them has
  /// another member as replier (nobody waits for this backup): sent ahead
  /// of the next batch it must get at once, per lag_batch, or at the
  /// send_lagging timer. A backup that is no replier then costs one
  /// message per burst instead of one per invocation.
  std::map<uint64_t, std::vector<log_entry>> lagging_;
  bool lag_timer_ = false;
  /// Backup: acknowledgements the primary does not wait for (entries whose
  /// replier answered the client), sent with the next urgent one, once
  /// ack_batch are due, or at the send_acks timer.
  std::vector<uint64_t> ack_seqs_;
  std::vector<caf::message> ack_results_;
  bool ack_timer_ = false;
};

} // namespace ftsr
