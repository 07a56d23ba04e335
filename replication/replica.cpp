// Replica actor: message plumbing around group_core.
#include "replication/replica.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "caf/all.hpp"
#include "caf/io/broker.hpp"
#include "caf/io/middleman.hpp"

#include "actors/call.hpp"
#include "actors/monitor.hpp"
#include "actors/node.hpp"
#include "actors/protocol.hpp"
#include "replication/group_core.hpp"
#include "replication/group_protocol.hpp"

namespace ftsr {

namespace {

struct replica_state {
  ~replica_state() {
    if (ctx != nullptr && core)
      ctx->replicas.remove(core->self());
  }

  node_context* ctx = nullptr;
  resource_factory factory;
  capability_ref group;
  size_t max_sf = 0;
  group_mode mode;
  std::optional<group_core> core;
  /// Clients waiting for sequenced invocations, by request id (with the
  /// invocation: after a view change, they are handled like a retry).
  std::multimap<uint64_t, std::pair<invocation, caf::response_promise>>
    waiting;
  /// Clients a backup answers (log_entry::replier), by sequence number,
  /// with that backup: kept until it acknowledges the entry. Still here at
  /// a view change or quorum loss, they become `waiting` clients.
  struct relayed_call {
    uint64_t replier = 0;
    invocation inv;
    caf::response_promise rp;
  };
  std::map<uint64_t, relayed_call> relayed;
  /// Join requests waiting until the join is stable, by newcomer.
  std::map<uint64_t, caf::response_promise> joining;
  /// Invocations that arrived during a view change.
  std::vector<std::pair<invocation, caf::response_promise>> stash;
  /// A group_lease_atom is on its way.
  bool lease_timer = false;
  std::set<uint64_t> monitored;
  /// A newcomer without state: the highest flush it answered. Transfers of
  /// lower views are stale (group_core::stale).
  uint64_t flush_seen = 0;
  /// Sequenced entries not yet sent to the backups: invocations arriving
  /// in one burst travel in one message per backup.
  std::vector<log_entry> outbox;
  bool flush_scheduled = false;
  /// Primary: entries held back, by backup, while every one of them has
  /// another member as replier (nobody waits for this backup): sent ahead
  /// of the next batch it must get at once, per lag_batch, or after
  /// lag_delay. A backup that is no replier then costs one message per
  /// burst instead of one per invocation.
  std::map<uint64_t, std::vector<log_entry>> lagging;
  bool lag_timer = false;
  /// Backup: acknowledgements the primary does not wait for (entries whose
  /// replier answered the client), sent with the next urgent one, once
  /// ack_batch are due, or after ack_delay: two messages fewer per
  /// invocation under load.
  std::vector<uint64_t> ack_seqs;
  std::vector<caf::message> ack_results;
  bool ack_timer = false;
  /// Persistent groups (primary): a replacement replica is being spawned
  /// or joined; replacements joining, by id, with their node; failed
  /// spawns or joins per backup node (given up on after a few).
  bool restoring = false;
  std::map<uint64_t, std::string> restarting;
  std::map<std::string, size_t> restore_failures;

  static inline const char* name = "ftsr.replica";
};

using replica_actor = caf::stateful_actor<replica_state>;
using io_replica_actor = caf::stateful_actor<replica_state, caf::io::broker>;

template <class Self>
caf::actor handle_of(Self* self, uint64_t member) {
  if (auto ref = self->state.ctx->dir.lookup(member))
    return self->state.ctx->dir.resolve(*ref);
  return {};
}

template <class Self, class... Ts>
void send_to(Self* self, uint64_t member, Ts&&... xs) {
  if (auto hdl = handle_of(self, member))
    self->send(hdl, std::forward<Ts>(xs)...);
}

/// Monitors every member of the view (and of a flush under way) not yet
/// monitored (FT-SR monitor: the failure arrives as a message, after this
/// replica's earlier messages; at once if the member failed already).
template <class Self>
void monitor_members(Self* self) {
  auto& st = self->state;
  for (auto m : st.core->watched()) {
    if (m == st.core->self() || !st.monitored.insert(m).second)
      continue;
    if (auto ref = st.ctx->dir.lookup(m))
      ftsr::monitor(self, capability<>{*ref}, caf::actor_cast<caf::actor>(self),
                    member_failed_atom::value, m);
  }
}

template <class Self>
void send_transfer(Self* self, uint64_t member,
                   const state_transfer& transfer) {
  auto& st = self->state;
  send_to(self, member, group_transfer_atom::value, st.group, member,
          uint64_t{st.max_sf}, st.mode, transfer);
}

template <class Self>
void restore_size(Self* self);
template <class Self>
void lose_quorum(Self* self);
template <class Self>
void send_flush(Self* self, uint64_t view,
                const std::vector<uint64_t>& survivors);
template <class Self>
void restarted(Self* self, uint64_t newcomer, bool joined);

/// Shows this replica's view on its node's replica board (introspection).
template <class Self>
void publish_status(Self* self) {
  auto& st = self->state;
  auto& core = *st.core;
  std::vector<group_member_ref> refs;
  for (auto& m : st.group.members)
    refs.push_back({m.id, m.node, m.incarnation});
  st.ctx->replicas.publish({st.group.id, st.group.type, std::move(refs),
                            core.self(), core.view(), core.members(),
                            core.delivered(), core.serving()});
}

/// Shows the delivered sequence number on the replica board.
template <class Self>
void publish_progress(Self* self) {
  auto& core = *self->state.core;
  self->state.ctx->replicas.progress(core.self(), core.delivered(),
                                     core.serving());
}

/// Answers the clients of completed entries; every path answers alike:
/// the reply (first, vote) or the collated replies (quorum, all).
template <class Self>
void deliver(Self* self, std::vector<group_core::completion> done) {
  auto& st = self->state;
  publish_progress(self);
  for (auto& c : done) {
    if (c.newcomer != 0) {
      // A join held by max_sf backups: the newcomer gets its state.
      send_transfer(self, c.newcomer, c.transfer);
      if (st.restarting.count(c.newcomer) > 0)
        restarted(self, c.newcomer, true);
      if (auto j = st.joining.find(c.newcomer); j != st.joining.end()) {
        j->second.deliver(caf::unit);
        st.joining.erase(j);
      }
      continue;
    }
    auto range = st.waiting.equal_range(c.request);
    for (auto i = range.first; i != range.second; ++i) {
      auto& rp = i->second.second;
      if (c.error)
        rp.deliver(c.error);
      else if (c.policy == reply_policy::quorum
               || c.policy == reply_policy::all)
        rp.deliver(c.replies);
      else
        rp.deliver(c.reply);
    }
    st.waiting.erase(range.first, range.second);
  }
}

/// Clients whose replier did not acknowledge (it may never answer) are
/// answered like waiting ones from here on.
template <class Self>
void reclaim_relayed(Self* self) {
  auto& st = self->state;
  for (auto& [seq, r] : st.relayed)
    st.waiting.emplace(r.inv.request, std::make_pair(std::move(r.inv),
                                                     std::move(r.rp)));
  st.relayed.clear();
}

/// Replier: answers a client in the primary's place, as the primary's
/// response promise would (same request message id). `to` is the entry's
/// reply_to, set by handle_invoke; anything else is ignored.
template <class Self>
void answer_client(Self* self, const caf::message& to,
                   caf::message reply) {
  if (!to.match_elements<caf::strong_actor_ptr, uint64_t>())
    return;
  auto& dest = to.get_as<caf::strong_actor_ptr>(0);
  if (!dest)
    return;
  caf::message_id request{to.get_as<uint64_t>(1)};
  dest->enqueue(self->ctrl(), request.response_id(), std::move(reply),
                self->context());
}

template <class Self>
caf::error refusal(Self* self) {
  auto& core = *self->state.core;
  if (core.quorum_lost())
    return make_error(errc::no_quorum,
                      "group " + to_string(self->state.group)
                        + " lost the majority of its replicas");
  return make_error(errc::not_primary, std::to_string(core.primary()));
}

/// Fail-stop: the resource reported that it can no longer be trusted
/// (resource_base::fail). The replica stops with that error at once, before
/// it acknowledges, answers or sends anything that depends on it; the group
/// goes on without it. True if it stopped.
template <class Self>
bool fail_stopped(Self* self) {
  auto& st = self->state;
  if (!st.core)
    return false;
  auto& err = st.core->resource().failure();
  if (!err)
    return false;
  st.ctx->spans.event({}, "replica_failed", to_string(st.group),
                      describe(err));
  st.outbox.clear();
  self->quit(err);
  return true;
}

constexpr size_t ack_batch = 64;
constexpr auto ack_delay = std::chrono::milliseconds(2);

/// Backup: sends the acknowledgements held back.
template <class Self>
void send_acks(Self* self) {
  auto& st = self->state;
  if (st.ack_seqs.empty())
    return;
  send_to(self, st.core->primary(), group_ack_atom::value, st.core->view(),
          st.ack_seqs, st.core->self(), st.ack_results);
  st.ack_seqs.clear();
  st.ack_results.clear();
}

/// A flush reports (and an install supersedes) what they acknowledge.
template <class Self>
void drop_acks(Self* self) {
  self->state.ack_seqs.clear();
  self->state.ack_results.clear();
}

/// Queues an entry for the backups; sent in one batch per burst.
template <class Self>
void enqueue_order(Self* self, log_entry e) {
  auto& st = self->state;
  st.outbox.push_back(std::move(e));
  if (!st.flush_scheduled) {
    // Behind the messages already queued: their entries join this batch.
    st.flush_scheduled = true;
    self->send(self, group_flush_orders_atom::value);
  }
}

/// True if `err` shows that the target executed the invocation (any reply,
/// an application error included), false if it may not have.
bool answered(const caf::error& err) {
  return !(detail::is_callee_failure(err) || is(err, errc::no_quorum)
           || is(err, errc::not_primary));
}

/// FT-SR imports: the primary invokes the target under the import's id;
/// once answered, an import_done entry retires it at every replica. If the
/// target does not answer, the import stays pending and the next primary
/// (after a view change) sends it again.
template <class Self>
void send_import(Self* self, uint64_t id, const outgoing_call& imp) {
  auto done = [self, id] {
    if (auto e = self->state.core->import_done(id))
      enqueue_order(self, std::move(*e));
  };
  ftsr::call(self, capability<>{imp.target}, imp.payload)
    .request_id(id)
    .then([done] { done(); },
          [done](caf::error& err) {
            // Any other reply than an empty one also proves execution.
            if (err == caf::sec::unexpected_response || answered(err))
              done();
          });
}

/// Performs the owns-sends of the operations just executed here, and (at
/// the primary) the imports they declared.
template <class Self>
void perform_outgoing(Self* self) {
  auto& core = *self->state.core;
  for (auto& o : core.take_owned())
    if (auto hdl = self->state.ctx->dir.resolve(o.target))
      hdl->enqueue(caf::make_mailbox_element(nullptr, caf::make_message_id(),
                                             {}, std::move(o.payload)),
                   self->context());
  for (auto& [id, imp] : core.take_new_imports())
    send_import(self, id, imp);
}

template <class Self>
void handle_invoke(Self* self, const invocation& inv,
                   caf::response_promise rp) {
  auto& st = self->state;
  auto& core = *st.core;
  if (!core.serving() && !core.quorum_lost()) {
    st.stash.emplace_back(inv, std::move(rp));
    return;
  }
  if (core.is_primary() && st.ctx->member && !st.ctx->in_majority()) {
    if (!st.ctx->leased) {
      // Just admitted: its first lease is one heartbeat away.
      st.stash.emplace_back(inv, std::move(rp));
      if (!std::exchange(st.lease_timer, true))
        self->delayed_send(self, st.ctx->cluster.heartbeat_interval,
                           group_lease_atom::value);
      return;
    }
    // Cut off from the majority: the others may already be replacing this
    // replica, so it answers nothing (its lease bounds how long it did).
    rp.deliver(make_error(errc::no_quorum,
                          "node " + to_string(st.ctx->self)
                            + " is outside the majority partition"));
    return;
  }
  if (core.is_primary() && core.partition_bound() && !core.quorum_lost()
      && !st.ctx->in_majority()) {
    // Serving on a tie: only while this node is in the primary partition.
    for (auto m : core.drop_quorum())
      send_to(self, m, group_no_quorum_atom::value, core.view(), core.self());
    lose_quorum(self);
  }
  if (core.quorum_lost() || !core.is_primary()) {
    rp.deliver(refusal(self));
    return;
  }
  // A plain request (no forwarding stages) can be answered by a backup.
  caf::message reply_to;
  if (rp.stages().empty() && rp.source() != nullptr)
    reply_to = caf::make_message(rp.source(), rp.id().integer_value());
  auto out = core.invoke(inv, std::move(reply_to));
  if (fail_stopped(self))
    return; // the client retries at the next primary
  switch (out.kind) {
    case group_core::invoke_outcome::rejected:
      rp.deliver(out.error);
      return;
    case group_core::invoke_outcome::sequenced:
      // Also a retry of a delivered request: answered (from the replicas'
      // de-duplication tables) once its retry entry is stable enough.
      if (out.replier != 0)
        st.relayed.emplace(out.entry.seq,
                           replica_state::relayed_call{out.replier, inv,
                                                       std::move(rp)});
      else
        st.waiting.emplace(inv.request, std::make_pair(inv, std::move(rp)));
      enqueue_order(self, std::move(out.entry));
      deliver(self, std::move(out.done));
      perform_outgoing(self);
      return;
  }
}

constexpr size_t lag_batch = 64;
constexpr auto lag_delay = std::chrono::milliseconds(2);

/// Sends the batched entries to the backups, in sequence order: at once to
/// the repliers they name, and to all of them if one has no replier (the
/// primary waits for acknowledgements) or with `everything` (a join or
/// leave follows; the timer); otherwise the others' share waits.
template <class Self>
void flush_orders(Self* self, bool everything = false) {
  auto& st = self->state;
  st.flush_scheduled = false;
  if (st.outbox.empty() && !everything)
    return;
  bool hold = !everything;
  std::set<uint64_t> repliers;
  for (auto& e : st.outbox) {
    if (e.replier == 0)
      hold = false;
    repliers.insert(e.replier);
  }
  auto stable = st.core->stable();
  bool held = false;
  for (auto m : st.core->others()) {
    auto& q = st.lagging[m];
    q.insert(q.end(), st.outbox.begin(), st.outbox.end());
    if (q.empty())
      continue;
    if (hold && repliers.count(m) == 0 && q.size() < lag_batch) {
      held = true;
      continue;
    }
    send_to(self, m, group_order_atom::value, q, stable);
    q.clear();
  }
  st.outbox.clear();
  if (held && !st.lag_timer) {
    st.lag_timer = true;
    self->delayed_send(self, lag_delay, group_flush_lagging_atom::value);
  }
}

/// Runs the invocations held during a view change again, now that the
/// replica serves (or refuses) again.
template <class Self>
void replay_stash(Self* self) {
  auto stash = std::move(self->state.stash);
  self->state.stash.clear();
  for (auto& [inv, rp] : stash)
    handle_invoke(self, inv, std::move(rp));
}

/// After a view change: send the state to members that had none, and run
/// the waiting clients and the stash again. A waiting client is handled
/// like a retry: the new view's primary orders a retry entry for it if it
/// was delivered (and answers it once the backups, which deliver the
/// install first, hold it), a backup redirects it to the primary.
template <class Self>
void after_install(Self* self) {
  auto& st = self->state;
  auto& core = *st.core;
  for (auto& [member, transfer] : core.take_transfers())
    send_transfer(self, member, transfer); // before any order to it
  core.take_new_imports();
  perform_outgoing(self);
  reclaim_relayed(self);
  drop_acks(self);
  // Entries of the old view: the flush handed them to every survivor.
  self->state.lagging.clear();
  if (core.is_primary())
    for (auto& [id, imp] : core.pending_imports())
      send_import(self, id, imp);
  std::vector<std::pair<invocation, caf::response_promise>> again;
  for (auto& [req, w] : st.waiting)
    again.emplace_back(std::move(w));
  st.waiting.clear();
  for (auto& x : st.stash)
    again.emplace_back(std::move(x));
  st.stash = std::move(again);
  // A join still waiting for its acknowledgements: the flush delivered it
  // (and the coordinator sent the newcomer its state) or lost it.
  for (auto& [member, rp] : st.joining) {
    auto& ms = core.members();
    if (std::find(ms.begin(), ms.end(), member) != ms.end())
      rp.deliver(caf::unit);
    else
      rp.deliver(make_error(errc::not_primary, std::to_string(core.primary())));
  }
  st.joining.clear();
  for (auto& [member, on] : std::map<uint64_t, std::string>{st.restarting}) {
    auto& ms = core.members();
    restarted(self, member,
              std::find(ms.begin(), ms.end(), member) != ms.end());
  }
  replay_stash(self);
  monitor_members(self);
  restore_size(self);
}

/// This member coordinates the flush `s` describes.
template <class Self>
void coordinate_flush(Self* self, const group_core::suspicion& s) {
  auto& st = self->state;
  st.ctx->spans.event({}, "view_change", to_string(st.group),
                      "flush for view " + std::to_string(s.new_view));
  send_flush(self, s.new_view, s.survivors);
  monitor_members(self);
}

template <class Self>
void lose_quorum(Self* self) {
  auto& st = self->state;
  auto err = refusal(self);
  st.ctx->spans.event({}, "quorum_lost", to_string(st.group));
  reclaim_relayed(self);
  for (auto& [req, w] : st.waiting)
    w.second.deliver(err);
  st.waiting.clear();
  for (auto& [inv, rp] : st.stash)
    rp.deliver(err);
  st.stash.clear();
  for (auto& [member, rp] : st.joining)
    rp.deliver(err);
  st.joining.clear();
}

/// The view without this replica was delivered (it left the group).
/// Leaving is not failing: the directory records it as destroyed, which
/// does not count against the group's quorum.
template <class Self>
void quit_group(Self* self) {
  self->quit(make_error(errc::destroyed, "left the group"));
}

/// Answers a flush: this member's unstable entries, to the coordinator.
template <class Self>
void answer_flush(Self* self, uint64_t new_view,
                  const std::vector<uint64_t>& survivors) {
  auto& core = *self->state.core;
  if (auto f = core.on_flush(new_view, survivors))
    send_to(self, survivors.front(), group_flushed_atom::value, new_view,
            core.self(), f->view, f->delivered, f->unstable, true);
}

template <class Self>
void send_flush(Self* self, uint64_t view,
                const std::vector<uint64_t>& survivors) {
  for (auto m : survivors)
    send_to(self, m, group_flush_atom::value, view, survivors, m);
}

enum class join_result { ordered, member, stopped };

/// Primary: orders the join of `newcomer` (state transfer once the join is
/// held by max_sf backups; `rp`, if any, is answered then).
template <class Self>
join_result order_join(Self* self, const capability_ref& newcomer,
                       caf::response_promise* rp) {
  auto& st = self->state;
  auto& core = *st.core;
  st.ctx->dir.bind(newcomer);
  flush_orders(self, true); // earlier entries go first
  auto backups = core.others();
  auto out = core.join(newcomer.id);
  if (fail_stopped(self))
    return join_result::stopped;
  if (!out)
    return join_result::member; // a member already (a retried join)
  for (auto m : backups)
    send_to(self, m, group_order_atom::value,
            std::vector<log_entry>{out->entry}, core.stable());
  if (rp != nullptr)
    st.joining.emplace(newcomer.id, *rp);
  deliver(self, std::move(out->done));
  monitor_members(self);
  return join_result::ordered;
}

/// The group capability with the current members, bound in every node's
/// directory (as resize_group does): holders keep being served, and no
/// node counts replaced members against the group's quorum.
template <class Self>
void rebind_group(Self* self) {
  auto& st = self->state;
  std::vector<capability_ref> members;
  for (auto m : st.core->members())
    if (auto ref = st.ctx->dir.lookup(m))
      members.push_back(*ref);
  if (members.empty())
    return;
  st.group.members = std::move(members);
  st.group.handle = st.group.members.front().handle;
  st.core->set_group(st.group);
  self->send(st.ctx->manager, publish_atom::value, st.group);
}

/// A replacement replica joined (state transferred) or did not make it.
template <class Self>
void restarted(Self* self, uint64_t newcomer, bool joined) {
  auto& st = self->state;
  auto i = st.restarting.find(newcomer);
  if (i == st.restarting.end())
    return;
  auto on = i->second;
  st.restarting.erase(i);
  st.restoring = false;
  if (joined) {
    st.ctx->spans.event({}, "restart", to_string(st.group),
                        "replica " + std::to_string(newcomer) + " on " + on
                          + " joined with state transfer");
    rebind_group(self);
  } else {
    ++st.restore_failures[on];
  }
  restore_size(self);
}

/// Tries the backup nodes of `candidates` from `i` on: spawns a replica
/// there and joins it.
template <class Self>
void spawn_replacement(Self* self,
                       std::shared_ptr<std::vector<std::string>> candidates,
                       size_t i) {
  auto& st = self->state;
  if (i >= candidates->size()) {
    st.restoring = false;
    return;
  }
  st.restoring = true;
  auto on = (*candidates)[i];
  self
    ->request(st.ctx->manager, std::chrono::seconds(10), spawn_atom::value, on,
              st.group.type.substr(6), caf::message{},
              std::vector<std::string>{}, trace_context{})
    .then(
      [self, on](capability_ref& ref) {
        auto& st = self->state;
        auto& core = *st.core;
        if (!core.serving() || !core.is_primary()) {
          // A view change meanwhile: the next install tries again.
          self->send(st.ctx->manager, destroy_atom::value, ref,
                     trace_context{});
          st.restoring = false;
          return;
        }
        st.ctx->spans.event({}, "restart", to_string(st.group),
                            "spawned replica " + std::to_string(ref.id)
                              + " on " + on);
        st.restarting.emplace(ref.id, on);
        if (order_join(self, ref, nullptr) == join_result::member)
          restarted(self, ref.id, true);
      },
      [self, candidates, i](caf::error& err) {
        auto& st = self->state;
        auto on = (*candidates)[i];
        if (!is(err, errc::node_unavailable))
          ++st.restore_failures[on];
        st.ctx->spans.event({}, "restart", to_string(st.group),
                            "no replica on " + on + ": " + describe(err));
        spawn_replacement(self, candidates, i + 1);
      });
}

/// Persistent groups (primary, serving): while the view has fewer members
/// than the group was created with, restart one on the first backup node
/// (in order) that is up and hosts no member, joined by state transfer.
template <class Self>
void restore_size(Self* self) {
  constexpr size_t max_failures_per_node = 3;
  auto& st = self->state;
  auto& core = *st.core;
  if (st.mode.backups.empty() || st.restoring || !core.serving()
      || !core.is_primary() || core.members().size() >= st.mode.replicas)
    return;
  std::set<std::string> hosting;
  for (auto m : core.members())
    if (auto ref = st.ctx->dir.lookup(m))
      hosting.insert(ref->node);
  auto candidates = std::make_shared<std::vector<std::string>>();
  for (auto& b : st.mode.backups)
    if (hosting.count(b) == 0
        && st.restore_failures[b] < max_failures_per_node)
      candidates->push_back(b);
  spawn_replacement(self, std::move(candidates), 0);
}

template <class Self>
caf::behavior serving(Self* self) {
  return {
    [self](group_invoke_atom, const invocation& inv) {
      auto rp = self->make_response_promise();
      handle_invoke(self, inv, rp);
      return rp;
    },
    [self](group_flush_orders_atom) { flush_orders(self); },
    [self](group_lease_atom) {
      self->state.lease_timer = false;
      if (self->state.core->serving())
        replay_stash(self);
    },
    [self](group_flush_lagging_atom) {
      self->state.lag_timer = false;
      flush_orders(self, true);
    },
    [self](group_flush_acks_atom) {
      self->state.ack_timer = false;
      send_acks(self);
    },
    [self](group_order_atom, const std::vector<log_entry>& entries,
           uint64_t stable) {
      auto& core = *self->state.core;
      std::vector<group_core::ack> acks;
      for (auto& e : entries)
        for (auto& a : core.on_order(e, stable))
          acks.push_back(std::move(a));
      if (fail_stopped(self))
        return; // acknowledges (and answers) nothing it may not hold
      auto& st = self->state;
      bool urgent = false;
      for (auto& a : acks) {
        if (!a.answer_to.empty())
          answer_client(self, a.answer_to, std::move(a.answer));
        urgent |= a.urgent;
        st.ack_seqs.push_back(a.seq);
        st.ack_results.push_back(std::move(a.result));
      }
      if (urgent || st.ack_seqs.size() >= ack_batch) {
        send_acks(self);
      } else if (!st.ack_seqs.empty() && !st.ack_timer) {
        st.ack_timer = true;
        self->delayed_send(self, ack_delay, group_flush_acks_atom::value);
      }
      perform_outgoing(self);
      publish_progress(self);
      if (!core.is_member()) {
        send_acks(self); // the primary forgets the clients it answered
        quit_group(self); // delivered the view without itself
        return;
      }
      monitor_members(self); // a join may have added a member
      if (core.serving() && !self->state.stash.empty())
        replay_stash(self); // a leave ended a view change (see group_core)
    },
    [self](group_ack_atom, uint64_t view, const std::vector<uint64_t>& seqs,
           uint64_t from, std::vector<caf::message>& results) {
      if (seqs.size() != results.size())
        return; // malformed: ignore
      auto& relayed = self->state.relayed;
      for (auto seq : seqs)
        if (auto i = relayed.find(seq);
            i != relayed.end() && i->second.replier == from)
          relayed.erase(i); // answered by `from`
      std::vector<group_core::completion> done;
      for (size_t i = 0; i < seqs.size(); ++i)
        for (auto& c : self->state.core->on_ack(from, view, seqs[i],
                                                std::move(results[i])))
          done.push_back(std::move(c));
      deliver(self, std::move(done));
    },
    [self](member_failed_atom, uint64_t member) {
      auto& st = self->state;
      auto s = st.core->suspect(member);
      if (s.quorum_lost) {
        // This member coordinates: the others follow its verdict.
        for (auto m : s.survivors)
          send_to(self, m, group_no_quorum_atom::value, s.new_view,
                  st.core->self());
        lose_quorum(self);
        return;
      }
      if (s.coordinate)
        coordinate_flush(self, s);
    },
    [self](group_install_refused_atom, uint64_t view, uint64_t member,
           uint64_t seen) {
      auto s = self->state.core->on_install_refused(member, view, seen);
      if (s.coordinate)
        coordinate_flush(self, s);
    },
    [self](group_no_quorum_atom, uint64_t, uint64_t from) {
      if (self->state.core->on_no_quorum(from))
        lose_quorum(self);
    },
    [self](group_flush_atom, uint64_t new_view,
           const std::vector<uint64_t>& survivors, uint64_t) {
      answer_flush(self, new_view, survivors);
      monitor_members(self);
    },
    [self](group_flushed_atom, uint64_t new_view, uint64_t from, uint64_t view,
           uint64_t delivered, const std::vector<log_entry>& unstable,
           bool has_state) {
      auto& core = *self->state.core;
      group_core::flushed f{view, delivered, unstable, has_state};
      auto step = core.on_flushed(from, new_view, f);
      if (fail_stopped(self))
        return;
      switch (step.kind) {
        case group_core::flush_step::wait:
          return;
        case group_core::flush_step::reflush:
          send_flush(self, step.msg.view, step.msg.members);
          monitor_members(self);
          return;
        case group_core::flush_step::install:
          for (auto member : step.to)
            send_to(self, member, group_install_atom::value,
                    step.msg.view, step.msg.members,
                    step.msg.entries);
          return;
      }
    },
    [self](group_install_atom, uint64_t view,
           const std::vector<uint64_t>& members,
           const std::vector<log_entry>& entries) {
      auto& st = self->state;
      group_core::install_msg msg{view, members, entries};
      if (!st.core->install(msg)) {
        // Stale, or superseded by a newer flush this member answered: the
        // view's primary then flushes again above that one.
        if (auto seen = st.core->superseded_by(msg))
          send_to(self, members.front(), group_install_refused_atom::value,
                  view, st.core->self(), seen);
        return;
      }
      if (fail_stopped(self))
        return;
      if (!st.core->is_member()) {
        quit_group(self); // a leave entry the flush delivered
        return;
      }
      st.ctx->spans.event({}, "view_installed", to_string(st.group),
                          "view " + std::to_string(view) + ", primary "
                            + std::to_string(st.core->primary()));
      publish_status(self);
      after_install(self);
    },
    // A view change sent the state again (it had none when it answered
    // the flush): a newer state replaces the one of its join.
    [self](group_transfer_atom, const capability_ref&, uint64_t, uint64_t,
           const group_mode&, const state_transfer& transfer) {
      auto& st = self->state;
      if (st.core->stale(transfer))
        return; // an older one (the join's, after the view change's)
      if (auto err = st.core->adopt(transfer)) {
        self->quit(err);
        return;
      }
      if (fail_stopped(self))
        return;
      monitor_members(self);
      replay_stash(self);
    },
    [self](group_join_atom, const capability_ref& newcomer)
      -> caf::result<caf::unit_t> {
      auto& core = *self->state.core;
      if (!core.serving() || !core.is_primary())
        return refusal(self);
      // Answered, and the state sent, once the join is stable (deliver).
      auto rp = self->template make_response_promise<caf::unit_t>();
      caf::response_promise untyped = rp;
      switch (order_join(self, newcomer, &untyped)) {
        case join_result::ordered:
          break;
        case join_result::member:
          rp.deliver(caf::unit);
          break;
        case join_result::stopped:
          rp.deliver(make_error(errc::fail_stop, "primary stopped"));
          break;
      }
      return rp;
    },
    [self](group_leave_atom, uint64_t member) -> caf::result<void> {
      auto& st = self->state;
      auto& core = *st.core;
      if (!core.serving() || !core.is_primary())
        return refusal(self);
      flush_orders(self, true); // earlier entries go first
      auto others = core.others();
      auto out = core.leave(member);
      if (!out)
        return make_error(errc::invalid_argument,
                          "cannot remove member " + std::to_string(member)
                            + " from " + to_string(st.group));
      for (auto m : others)
        send_to(self, m, group_order_atom::value,
                std::vector<log_entry>{out->entry}, core.stable());
      st.ctx->spans.event({}, "view_change", to_string(st.group),
                          "member " + std::to_string(member) + " left");
      publish_status(self);
      deliver(self, std::move(out->done));
      if (!core.is_member()) {
        // The primary itself left: its clients retry at the new primary,
        // which delivered every earlier entry (sent above, in order).
        self->send(caf::actor_cast<caf::actor>(self), group_leave_atom::value);
      }
      return caf::unit;
    },
    [self](group_leave_atom) {
      self->quit(make_error(errc::destroyed, "left the group"));
    },
    [self](group_status_atom) {
      auto& st = self->state;
      auto result = st.core->status();
      result.waiting = st.waiting.size() + st.relayed.size();
      result.stashed = st.stash.size();
      return result;
    },
  };
}

template <class Self>
void become_serving(Self* self) {
  publish_status(self);
  // Malformed or unknown messages get sec::unexpected_message, silently.
  self->set_default_handler(caf::drop);
  self->become(serving(self));
}

template <class Self>
caf::behavior replica(Self* self, resource_factory factory) {
  // Group traffic that overtakes the init/transfer waits for it.
  self->set_default_handler(caf::skip);
  // Error messages that are not responses (e.g. a joiner that could not
  // take its state transfer answers the transfer with an error) must not
  // kill this replica (CAF's default): the joiner stops, and its failure
  // reaches the group through the monitors as any other.
  self->set_error_handler([self](caf::error& err) {
    self->state.ctx->spans.event({}, "replica_error_message",
                                 to_string(self->state.group), describe(err));
  });
  self->state.ctx = &context_of(self->system());
  self->state.factory = std::move(factory);
  self->delayed_send(self, self->state.ctx->replica_state_timeout,
                     group_state_timeout_atom::value);
  auto start = [self](const capability_ref& group, uint64_t me,
                      uint64_t max_sf, group_mode mode,
                      std::vector<uint64_t> members) -> caf::error {
    auto& st = self->state;
    st.group = group;
    st.max_sf = max_sf;
    st.mode = mode;
    for (auto& m : group.members)
      st.ctx->dir.bind(m);
    auto res = st.factory();
    if (auto err = res->attach(*st.ctx, group, me)) {
      // Fail-stop: a replica that cannot set up its state never serves.
      self->quit(err);
      return err;
    }
    st.core.emplace(me, std::move(members), max_sf, std::move(res), mode);
    st.core->set_group(group);
    // Exactly half of a view survives only in the cluster's primary
    // partition: two halves never both serve.
    st.core->set_tie_breaker([ctx = st.ctx] { return ctx->in_majority(); });
    return caf::none;
  };
  return {
    // Created as a member of a new group (FT-SR create ... on vms).
    // Errors (attach or init failed: the replica stopped) go to the
    // creator, which destroys the group.
    [self, start](group_init_atom, const capability_ref& group, uint64_t me,
                  uint64_t max_sf, const group_mode& mode,
                  caf::message& args) -> caf::result<void> {
      std::vector<uint64_t> members;
      for (auto& m : group.members)
        members.push_back(m.id);
      if (auto err = start(group, me, max_sf, mode, std::move(members)))
        return err;
      self->state.core->resource().init(args);
      if (auto err = self->state.core->resource().failure()) {
        self->quit(err);
        return err;
      }
      monitor_members(self);
      become_serving(self);
      return caf::unit;
    },
    // A newcomer whose join entry survived its primary's failure, but not
    // its state transfer: it answers the flush without state, and the
    // coordinator sends the state of the view it installs.
    [self](group_flush_atom, uint64_t new_view, const std::vector<uint64_t>&,
           uint64_t me) {
      // Its view: the highest flush it answered before. A transfer below it
      // would be stale here, so the coordinator must install above it.
      auto& seen = self->state.flush_seen;
      auto view = seen;
      seen = std::max(seen, new_view);
      self->send(caf::actor_cast<caf::actor>(self->current_sender()),
                 group_flushed_atom::value, new_view, me, view, uint64_t{0},
                 std::vector<log_entry>{}, false);
    },
    // No state in time: the join it was spawned for is lost (fail-stop).
    [self](group_state_timeout_atom) {
      auto wait = self->state.ctx->replica_state_timeout.count();
      self->quit(make_error(errc::timeout,
                            "replica got no group state within "
                              + std::to_string(wait) + " ms"));
    },
    // Joining an existing group: state transfer from the primary.
    [self, start](group_transfer_atom, const capability_ref& group,
                  uint64_t me, uint64_t max_sf, const group_mode& mode,
                  const state_transfer& transfer) -> caf::result<void> {
      if (transfer.view < self->state.flush_seen)
        return caf::unit; // stale: the coordinator sends a newer one
      if (auto err = start(group, me, max_sf, mode, transfer.members))
        return err;
      if (auto err = self->state.core->adopt(transfer)) {
        self->quit(err);
        return err;
      }
      self->state.ctx->spans.event({}, "state_transfer", to_string(group),
                                   std::to_string(transfer.state.size())
                                     + " bytes at seq "
                                     + std::to_string(transfer.delivered));
      monitor_members(self);
      become_serving(self);
      return caf::unit;
    },
  };
}

} // namespace

void add_resource_type(caf::actor_system_config& cfg, const std::string& name,
                       resource_factory factory, replica_executor executor) {
  add_group_types(cfg);
  if (executor == replica_executor::scheduler) {
    cfg.add_actor_type(name, [factory](replica_actor* self) {
      return replica(self, factory);
    });
    return;
  }
  // A broker runs in the multiplexer, so it has to be launched there:
  // CAF's factory launches on the spawning context (cfg.host) otherwise.
  auto make = caf::make_actor_factory([factory](io_replica_actor* self) {
    return replica(self, factory);
  });
  cfg.add_actor_factory(name, [make](caf::actor_config& acfg,
                                     caf::message& args) {
    acfg.host = &acfg.host->system().middleman().backend();
    return make(acfg, args);
  });
}

} // namespace ftsr
