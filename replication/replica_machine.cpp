#include "replication/replica_machine.hpp"

#include <algorithm>

#include "actors/capability.hpp"
#include "actors/errors.hpp"

namespace ftsr {

replica_machine::replica_machine(std::string node,
                                 std::function<node_standing()> standing,
                                 replica_limits lim)
  : node_(std::move(node)), standing_(std::move(standing)), limits_(lim) {
  // Nothing to do.
}

void replica_machine::set_group(capability_ref group) {
  group_ = std::move(group);
  if (core_)
    core_->set_group(group_);
}

group_status replica_machine::status() const {
  auto result = core_->status();
  result.waiting = waiting_.size() + relayed_.size();
  result.stashed = stash_.size();
  return result;
}

caf::error replica_machine::refusal() const {
  if (core_->quorum_lost())
    return make_error(errc::no_quorum, "group " + to_string(group_)
                                         + " lost the majority of its replicas");
  return make_error(errc::not_primary, std::to_string(core_->primary()));
}

// -- starting -----------------------------------------------------------------

void replica_machine::create(uint64_t me, std::vector<uint64_t> members,
                             size_t max_sf, group_mode mode,
                             std::unique_ptr<resource_base> res) {
  core_.emplace(me, std::move(members), max_sf, std::move(res),
                std::move(mode));
  core_->set_group(group_);
  // Exactly half of a view survives only in the cluster's primary
  // partition: two halves never both serve.
  core_->set_tie_breaker([this] { return standing_().in_majority; });
}

replica_step replica_machine::start(uint64_t me, std::vector<uint64_t> members,
                                    size_t max_sf, group_mode mode,
                                    std::unique_ptr<resource_base> res,
                                    const caf::message& args) {
  create(me, std::move(members), max_sf, std::move(mode), std::move(res));
  core_->resource().init(args);
  replica_step s;
  if (auto& err = core_->resource().failure()) {
    s.quit = err; // a replica that cannot set up its state never serves
    return s;
  }
  return finish(std::move(s));
}

replica_step replica_machine::start_from(uint64_t me, size_t max_sf,
                                         group_mode mode,
                                         std::unique_ptr<resource_base> res,
                                         const state_transfer& t) {
  create(me, t.members, max_sf, std::move(mode), std::move(res));
  replica_step s;
  if (auto err = core_->adopt(t)) {
    s.quit = std::move(err);
    return s;
  }
  s.events.emplace_back("state_transfer",
                        std::to_string(t.state.size()) + " bytes at seq "
                          + std::to_string(t.delivered));
  return finish(std::move(s));
}

// -- helpers ------------------------------------------------------------------

/// Fail-stop: the resource reported that it can no longer be trusted
/// (resource_base::fail). The replica stops with that error at once, before
/// it acknowledges, answers or sends anything that depends on it (finish()
/// drops the rest of the step); the group goes on without it.
bool replica_machine::fail_stopped() {
  if (!core_ || !core_->resource().failure())
    return false;
  outbox_.clear();
  return true;
}

replica_step replica_machine::finish(replica_step s) {
  if (core_ && core_->resource().failure()) {
    auto& err = core_->resource().failure();
    replica_step stop;
    stop.events.emplace_back("replica_failed", describe(err));
    stop.quit = err;
    return stop;
  }
  if (!core_ || s.quit)
    return s;
  // FT-SR monitor: the failure arrives as an input, after this replica's
  // earlier messages; at once if the member failed already.
  for (auto m : core_->watched())
    if (m != core_->self() && monitored_.insert(m).second)
      s.watch.push_back(m);
  return s;
}

void replica_machine::answer_error(replica_step& s, uint64_t ticket,
                                   caf::error err) {
  client_answer a;
  a.kind = client_answer::error;
  a.ticket = ticket;
  a.err = std::move(err);
  s.answers.push_back(std::move(a));
}

/// Answers the clients of completed entries; every path answers alike: the
/// reply (first, vote) or the collated replies (quorum, all). A completed
/// join sends the newcomer its state.
void replica_machine::deliver(replica_step& s,
                              std::vector<group_core::completion> done) {
  for (auto& c : done) {
    if (c.newcomer != 0) {
      s.sends.push_back({c.newcomer, transfer_msg{std::move(c.transfer)}});
      s.joined.push_back(c.newcomer);
      if (auto j = joining_.find(c.newcomer); j != joining_.end()) {
        client_answer a;
        a.kind = client_answer::unit;
        a.ticket = j->second;
        s.answers.push_back(std::move(a));
        joining_.erase(j);
      }
      continue;
    }
    auto range = waiting_.equal_range(c.request);
    for (auto i = range.first; i != range.second; ++i) {
      if (c.error) {
        answer_error(s, i->second.ticket, c.error);
        continue;
      }
      client_answer a;
      a.ticket = i->second.ticket;
      if (c.policy == reply_policy::quorum || c.policy == reply_policy::all) {
        a.kind = client_answer::collated;
        a.values = c.replies;
      } else {
        a.kind = client_answer::single;
        a.value = c.reply;
      }
      s.answers.push_back(std::move(a));
    }
    waiting_.erase(range.first, range.second);
  }
}

/// Clients whose replier did not acknowledge (it may never answer) are
/// answered like waiting ones from here on.
void replica_machine::reclaim_relayed() {
  for (auto& [seq, r] : relayed_)
    waiting_.emplace(r.call.inv.request, std::move(r.call));
  relayed_.clear();
}

/// Queues an entry for the backups; sent in one batch per burst.
void replica_machine::enqueue_order(replica_step& s, log_entry e) {
  outbox_.push_back(std::move(e));
  if (!orders_due_) {
    // Behind the messages already queued: their entries join this batch.
    orders_due_ = true;
    s.timers.push_back(replica_timer::send_orders);
  }
}

/// Sends the batched entries to the backups, in sequence order: at once to
/// the repliers they name, and to all of them if one has no replier (the
/// primary waits for acknowledgements) or with `everything` (a join or
/// leave follows; the timer); otherwise the others' share waits.
void replica_machine::send_orders(replica_step& s, bool everything) {
  orders_due_ = false;
  if (outbox_.empty() && !everything)
    return;
  bool hold = !everything;
  std::set<uint64_t> repliers;
  for (auto& e : outbox_) {
    if (e.replier == 0)
      hold = false;
    repliers.insert(e.replier);
  }
  auto stable = core_->stable();
  bool held = false;
  for (auto m : core_->others()) {
    auto& q = lagging_[m];
    q.insert(q.end(), outbox_.begin(), outbox_.end());
    if (q.empty())
      continue;
    if (hold && repliers.count(m) == 0 && q.size() < limits_.lag_batch) {
      held = true;
      continue;
    }
    s.sends.push_back({m, order_msg{std::move(q), stable}});
    q.clear();
  }
  outbox_.clear();
  if (held && !lag_timer_) {
    lag_timer_ = true;
    s.timers.push_back(replica_timer::send_lagging);
  }
}

/// Backup: sends the acknowledgements held back.
void replica_machine::send_acks(replica_step& s) {
  if (ack_seqs_.empty())
    return;
  s.sends.push_back({core_->primary(),
                     ack_msg{core_->view(), std::move(ack_seqs_),
                             core_->self(), std::move(ack_results_)}});
  ack_seqs_.clear();
  ack_results_.clear();
}

void replica_machine::send_entry(replica_step& s,
                                 const std::vector<uint64_t>& to,
                                 const log_entry& e) {
  for (auto m : to)
    s.sends.push_back({m, order_msg{{e}, core_->stable()}});
}

void replica_machine::send_flush(replica_step& s, uint64_t view,
                                 const std::vector<uint64_t>& survivors) {
  for (auto m : survivors)
    s.sends.push_back({m, flush_msg{view, survivors, m}});
}

void replica_machine::coordinate_flush(replica_step& s,
                                       const group_core::suspicion& x) {
  s.events.emplace_back("view_change",
                        "flush for view " + std::to_string(x.new_view));
  send_flush(s, x.new_view, x.survivors);
}

/// The owns-sends of the operations just executed here, and (at the
/// primary) the imports they declared.
void replica_machine::perform_outgoing(replica_step& s) {
  for (auto& o : core_->take_owned())
    s.owned.push_back(std::move(o));
  for (auto& imp : core_->take_new_imports())
    s.imports.push_back(std::move(imp));
}

void replica_machine::invoke(replica_step& s, client_call c) {
  auto& core = *core_;
  if (core.resource().failure())
    return; // stopping: the client retries at the next primary
  if (!core.serving() && !core.quorum_lost()) {
    ++stats_.stashed;
    stash_.push_back(std::move(c));
    return;
  }
  auto ns = standing_();
  if (core.is_primary() && ns.member && !ns.in_majority) {
    if (!ns.leased) {
      // Just admitted: its first lease is one heartbeat away.
      stash_.push_back(std::move(c));
      if (!std::exchange(lease_timer_, true))
        s.timers.push_back(replica_timer::lease);
      return;
    }
    // Cut off from the majority: the others may already be replacing this
    // replica, so it answers nothing (its lease bounds how long it did).
    answer_error(s, c.ticket,
                 make_error(errc::no_quorum,
                            "node " + node_
                              + " is outside the majority partition"));
    return;
  }
  if (core.is_primary() && core.partition_bound() && !core.quorum_lost()
      && !ns.in_majority) {
    // Serving on a tie: only while this node is in the primary partition.
    for (auto m : core.drop_quorum())
      s.sends.push_back({m, no_quorum_msg{core.view(), core.self()}});
    lose_quorum(s);
  }
  if (core.quorum_lost() || !core.is_primary()) {
    answer_error(s, c.ticket, refusal());
    return;
  }
  auto out = core.invoke(c.inv, c.reply_to);
  if (fail_stopped())
    return;
  switch (out.kind) {
    case group_core::invoke_outcome::rejected:
      ++stats_.rejected;
      answer_error(s, c.ticket, out.error);
      return;
    case group_core::invoke_outcome::sequenced:
      // Also a retry of a delivered request: answered (from the replicas'
      // de-duplication tables) once its retry entry is stable enough.
      ++(out.retry ? stats_.retries : stats_.sequenced);
      out.entry.tc = sequencing_context(c.inv);
      if (out.replier != 0)
        relayed_.emplace(out.entry.seq,
                         relayed_call{out.replier, std::move(c)});
      else
        waiting_.emplace(c.inv.request, std::move(c));
      enqueue_order(s, std::move(out.entry));
      deliver(s, std::move(out.done));
      perform_outgoing(s);
      return;
  }
}

/// Runs the invocations held during a view change again, now that the
/// replica serves (or refuses) again.
void replica_machine::replay_stash(replica_step& s) {
  auto stash = std::move(stash_);
  stash_.clear();
  for (auto& c : stash)
    invoke(s, std::move(c));
}

/// After a view change: send the state to members that had none, and run
/// the waiting clients and the stash again. A waiting client is handled
/// like a retry: the new view's primary orders a retry entry for it if it
/// was delivered (and answers it once the backups, which deliver the
/// install first, hold it), a backup redirects it to the primary.
void replica_machine::after_install(replica_step& s) {
  auto& core = *core_;
  for (auto& [member, transfer] : core.take_transfers())
    s.sends.push_back({member, transfer_msg{std::move(transfer)}});
  // Imports are sent again below from the pending ones (primary only).
  core.take_new_imports();
  perform_outgoing(s);
  reclaim_relayed();
  // A flush reports (and an install supersedes) what they acknowledge.
  ack_seqs_.clear();
  ack_results_.clear();
  // Entries of the old view: the flush handed them to every survivor.
  lagging_.clear();
  if (core.is_primary())
    for (auto& imp : core.pending_imports())
      s.imports.push_back(imp);
  std::vector<client_call> again;
  for (auto& [req, w] : waiting_)
    again.push_back(std::move(w));
  waiting_.clear();
  for (auto& x : stash_)
    again.push_back(std::move(x));
  stash_ = std::move(again);
  // A join still waiting for its acknowledgements: the flush delivered it
  // (and the coordinator sent the newcomer its state) or lost it.
  auto& ms = core.members();
  for (auto& [member, ticket] : joining_) {
    if (std::find(ms.begin(), ms.end(), member) != ms.end()) {
      client_answer a;
      a.kind = client_answer::unit;
      a.ticket = ticket;
      s.answers.push_back(std::move(a));
    } else {
      answer_error(s, ticket, make_error(errc::not_primary,
                                         std::to_string(core.primary())));
    }
  }
  joining_.clear();
  s.installed = true;
  replay_stash(s);
}

void replica_machine::lose_quorum(replica_step& s) {
  auto err = refusal();
  s.events.emplace_back("quorum_lost", "");
  reclaim_relayed();
  for (auto& [req, w] : waiting_)
    answer_error(s, w.ticket, err);
  waiting_.clear();
  for (auto& c : stash_)
    answer_error(s, c.ticket, err);
  stash_.clear();
  for (auto& [member, ticket] : joining_)
    answer_error(s, ticket, err);
  joining_.clear();
}

/// The view without this replica was delivered (it left the group).
/// Leaving is not failing: the directory records it as destroyed, which
/// does not count against the group's quorum.
void replica_machine::leave_group(replica_step& s) {
  s.quit = make_error(errc::destroyed, "left the group");
}

// -- inputs -------------------------------------------------------------------

replica_step replica_machine::on_invoke(const invocation& inv, uint64_t ticket,
                                        caf::message reply_to) {
  replica_step s;
  invoke(s, client_call{inv, ticket, std::move(reply_to)});
  return finish(std::move(s));
}

replica_step replica_machine::on_timer(replica_timer t) {
  replica_step s;
  switch (t) {
    case replica_timer::send_orders:
      send_orders(s, false);
      break;
    case replica_timer::send_acks:
      ack_timer_ = false;
      send_acks(s);
      break;
    case replica_timer::send_lagging:
      lag_timer_ = false;
      send_orders(s, true);
      break;
    case replica_timer::lease:
      lease_timer_ = false;
      if (core_->serving())
        replay_stash(s);
      break;
    case replica_timer::depart:
      leave_group(s);
      break;
  }
  return finish(std::move(s));
}

replica_step replica_machine::on_order(const std::vector<log_entry>& entries,
                                       uint64_t stable) {
  replica_step s;
  auto& core = *core_;
  std::vector<group_core::ack> acks;
  for (auto& e : entries)
    for (auto& a : core.on_order(e, stable))
      acks.push_back(std::move(a));
  if (fail_stopped())
    return finish(std::move(s)); // acknowledges (and answers) nothing
  bool urgent = false;
  for (auto& a : acks) {
    if (!a.answer_to.empty())
      s.direct.push_back({std::move(a.answer_to), std::move(a.answer)});
    urgent |= a.urgent;
    ack_seqs_.push_back(a.seq);
    ack_results_.push_back(std::move(a.result));
  }
  if (urgent || ack_seqs_.size() >= limits_.ack_batch) {
    send_acks(s);
  } else if (!ack_seqs_.empty() && !ack_timer_) {
    ack_timer_ = true;
    s.timers.push_back(replica_timer::send_acks);
  }
  perform_outgoing(s);
  if (!core.is_member()) {
    send_acks(s);   // the primary forgets the clients it answered
    leave_group(s); // delivered the view without itself
    return finish(std::move(s));
  }
  if (core.serving() && !stash_.empty())
    replay_stash(s); // a leave ended a view change (see group_core)
  return finish(std::move(s));
}

replica_step replica_machine::on_ack(const ack_msg& m) {
  replica_step s;
  if (m.seqs.size() != m.results.size())
    return s; // malformed: ignored
  for (auto seq : m.seqs)
    if (auto i = relayed_.find(seq);
        i != relayed_.end() && i->second.replier == m.from) {
      s.released.push_back(i->second.call.ticket); // answered by `from`
      relayed_.erase(i);
    }
  std::vector<group_core::completion> done;
  for (size_t i = 0; i < m.seqs.size(); ++i)
    for (auto& c : core_->on_ack(m.from, m.view, m.seqs[i], m.results[i]))
      done.push_back(std::move(c));
  deliver(s, std::move(done));
  return finish(std::move(s));
}

replica_step replica_machine::on_member_failed(uint64_t member) {
  replica_step s;
  auto x = core_->suspect(member);
  if (x.quorum_lost) {
    // This member coordinates: the others follow its verdict.
    for (auto m : x.survivors)
      s.sends.push_back({m, no_quorum_msg{x.new_view, core_->self()}});
    lose_quorum(s);
  } else if (x.coordinate) {
    coordinate_flush(s, x);
  }
  return finish(std::move(s));
}

replica_step
replica_machine::on_install_refused(const install_refused_msg& m) {
  replica_step s;
  auto x = core_->on_install_refused(m.member, m.view, m.seen);
  if (x.coordinate)
    coordinate_flush(s, x);
  return finish(std::move(s));
}

replica_step replica_machine::on_no_quorum(const no_quorum_msg& m) {
  replica_step s;
  if (core_->on_no_quorum(m.from))
    lose_quorum(s);
  return finish(std::move(s));
}

replica_step replica_machine::on_flush(const flush_msg& m) {
  replica_step s;
  if (m.survivors.empty())
    return s; // malformed: ignored
  auto coordinator = m.survivors.front();
  if (!core_) {
    // A newcomer whose join entry survived its primary's failure, but not
    // its state transfer: it answers without state, and the coordinator
    // sends the state of the view it installs. Its view: the highest flush
    // it answered before; a transfer below it would be stale here, so the
    // coordinator must install above it.
    group_core::flushed f{flush_seen_, 0, {}, false};
    flush_seen_ = std::max(flush_seen_, m.new_view);
    s.sends.push_back({coordinator, flushed_msg{m.new_view, m.addressee,
                                                std::move(f)}});
    return s;
  }
  if (auto f = core_->on_flush(m.new_view, m.survivors))
    s.sends.push_back({coordinator, flushed_msg{m.new_view, core_->self(),
                                                std::move(*f)}});
  return finish(std::move(s));
}

replica_step replica_machine::on_flushed(const flushed_msg& m) {
  replica_step s;
  auto x = core_->on_flushed(m.from, m.new_view, m.reply);
  if (fail_stopped())
    return finish(std::move(s));
  switch (x.kind) {
    case group_core::flush_step::wait:
      break;
    case group_core::flush_step::reflush:
      send_flush(s, x.msg.view, x.msg.members);
      break;
    case group_core::flush_step::install:
      for (auto member : x.to)
        s.sends.push_back({member, x.msg});
      break;
  }
  return finish(std::move(s));
}

replica_step replica_machine::on_install(const group_core::install_msg& m) {
  replica_step s;
  auto& core = *core_;
  if (!core.install(m)) {
    // Stale, or superseded by a newer flush this member answered: the
    // view's primary then flushes again above that one.
    if (auto seen = core.superseded_by(m); seen != 0 && !m.members.empty())
      s.sends.push_back({m.members.front(),
                         install_refused_msg{m.view, core.self(), seen}});
    return finish(std::move(s));
  }
  if (fail_stopped())
    return finish(std::move(s));
  if (!core.is_member()) {
    leave_group(s); // a leave entry the flush delivered
    return finish(std::move(s));
  }
  s.events.emplace_back("view_installed",
                        "view " + std::to_string(m.view) + ", primary "
                          + std::to_string(core.primary()));
  after_install(s);
  return finish(std::move(s));
}

replica_step replica_machine::on_transfer(const state_transfer& t) {
  replica_step s;
  if (core_->stale(t))
    return s; // an older one (the join's, after the view change's)
  if (auto err = core_->adopt(t)) {
    s.quit = std::move(err);
    return s;
  }
  if (fail_stopped())
    return finish(std::move(s));
  replay_stash(s);
  return finish(std::move(s));
}

replica_step replica_machine::on_join(uint64_t newcomer,
                                      std::optional<uint64_t> ticket) {
  replica_step s;
  auto& core = *core_;
  if (!core.serving() || !core.is_primary()) {
    if (ticket)
      answer_error(s, *ticket, refusal());
    return finish(std::move(s));
  }
  send_orders(s, true); // earlier entries go first
  auto backups = core.others();
  auto out = core.join(newcomer);
  if (fail_stopped()) {
    auto stop = finish(std::move(s));
    if (ticket)
      answer_error(stop, *ticket,
                   make_error(errc::fail_stop, "primary stopped"));
    return stop;
  }
  if (!out) {
    // A member already (a retried join).
    s.joined.push_back(newcomer);
    if (ticket) {
      client_answer a;
      a.kind = client_answer::unit;
      a.ticket = *ticket;
      s.answers.push_back(std::move(a));
    }
    return finish(std::move(s));
  }
  send_entry(s, backups, out->entry);
  // Answered, and the state sent, once the join is stable (deliver).
  if (ticket)
    joining_.emplace(newcomer, *ticket);
  deliver(s, std::move(out->done));
  return finish(std::move(s));
}

replica_step replica_machine::on_leave(uint64_t member, uint64_t ticket) {
  replica_step s;
  auto& core = *core_;
  if (!core.serving() || !core.is_primary()) {
    answer_error(s, ticket, refusal());
    return finish(std::move(s));
  }
  send_orders(s, true); // earlier entries go first
  auto others = core.others();
  auto out = core.leave(member);
  if (!out) {
    answer_error(s, ticket,
                 make_error(errc::invalid_argument,
                            "cannot remove member " + std::to_string(member)
                              + " from " + to_string(group_)));
    return finish(std::move(s));
  }
  send_entry(s, others, out->entry);
  s.events.emplace_back("view_change",
                        "member " + std::to_string(member) + " left");
  deliver(s, std::move(out->done));
  client_answer a;
  a.kind = client_answer::unit;
  a.ticket = ticket;
  s.answers.push_back(std::move(a));
  // The primary itself left: its clients retry at the new primary, which
  // delivered every earlier entry (sent above, in order).
  if (!core.is_member())
    s.timers.push_back(replica_timer::depart);
  return finish(std::move(s));
}

replica_step replica_machine::on_import_done(uint64_t id) {
  replica_step s;
  if (auto e = core_->import_done(id))
    enqueue_order(s, std::move(*e));
  return finish(std::move(s));
}

} // namespace ftsr
