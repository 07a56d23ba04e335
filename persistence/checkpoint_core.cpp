// FTM checkpoint waves as plain state machines; see checkpoint_core.hpp.
#include "persistence/checkpoint_core.hpp"

#include <algorithm>
#include <set>
#include <string>
#include <utility>

#include "caf/message.hpp"

#include "actors/errors.hpp"

namespace ftsr {

namespace {

bool contains(const std::vector<uint64_t>& xs, uint64_t x) {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

void raise_to(std::map<uint64_t, uint64_t>& xs, uint64_t key, uint64_t val) {
  auto [i, fresh] = xs.emplace(key, val);
  if (!fresh)
    i->second = std::max(i->second, val);
}

std::string prefix(uint64_t initiator) {
  return "checkpoint " + std::to_string(initiator) + ": ";
}

} // namespace

// -- participant --------------------------------------------------------------

checkpoint_participant::checkpoint_participant(uint64_t id, uint64_t epoch)
  : id_(id), epoch_(epoch) {
  // nop
}

checkpoint_participant::delivery
checkpoint_participant::on_update(const ckpt_stamp& s) {
  if (holds_back(s.sender))
    return delivery::defer;
  auto dep = s.sender != 0 && s.sender != id_ && s.modified;
  auto* u = &cur_;
  switch (phase_) {
    case phase::idle:
      break;
    case phase::joined:
      if (dep) {
        // The build wave saw our dependencies: a new one must wait.
        auto i = cur_.preds.find(s.sender);
        if (i == cur_.preds.end() || i->second < s.epoch) {
          deferred_.insert(s.sender);
          return delivery::defer;
        }
      }
      break;
    case phase::precommitted:
      u = &next_; // after the snapshot: this receive is the next unit's
      break;
  }
  u->modified = true;
  if (!dep)
    return delivery::deliver;
  auto [i, fresh] = u->preds.emplace(s.sender, s.epoch);
  if (!fresh && i->second >= s.epoch)
    return delivery::deliver;
  i->second = s.epoch;
  return delivery::deliver_and_note;
}

void checkpoint_participant::on_dep_note(const ckpt_dep_note& m) {
  // A note on an older, committed unit is satisfied already.
  if (m.epoch == epoch_ && m.participant != id_)
    cur_.succs.insert(m.participant);
}

bool checkpoint_participant::record(const ckpt_stamp& s) {
  if (phase_ != phase::precommitted || s.sender == 0)
    return false;
  ++recorded_[s.sender];
  return true;
}

void checkpoint_participant::hold(uint64_t sender) {
  if (sender != 0)
    held_.insert(sender);
}

ckpt_step checkpoint_participant::replay() {
  ckpt_step st;
  if (!held_.empty()) {
    held_.clear();
    st.resume = true;
  }
  return st;
}

bool checkpoint_participant::not_needed(const ckpt_build& m) const {
  if (m.of == 0)
    return epoch_ > m.epoch;
  auto i = cur_.preds.find(m.of);
  return i == cur_.preds.end() || i->second < m.epoch;
}

ckpt_build_reply checkpoint_participant::reply(ckpt_answer a,
                                               const ckpt_build& m) const {
  ckpt_build_reply r;
  r.answer = a;
  r.participant = id_;
  r.initiator = m.initiator;
  r.asked_epoch = m.epoch;
  r.asked_of = m.of;
  r.epoch = epoch_;
  r.lock = join_count_;
  r.holder = holder_;
  if (a == ckpt_answer::joined) {
    for (auto [peer, epoch] : cur_.preds)
      r.preds.push_back({peer, epoch});
    r.succs.assign(cur_.succs.begin(), cur_.succs.end());
  }
  return r;
}

ckpt_step checkpoint_participant::on_build(const ckpt_build& m) {
  ckpt_step st;
  if (not_needed(m)) {
    st.out.push_back({m.initiator, reply(ckpt_answer::not_needed, m)});
    return st;
  }
  if (holder_ == 0)
    take(m.initiator);
  if (holder_ == m.initiator) {
    st.out.push_back({m.initiator, reply(ckpt_answer::joined, m)});
    return st;
  }
  queue_.push_back(m);
  st.out.push_back({m.initiator, reply(ckpt_answer::busy, m)});
  return st;
}

void checkpoint_participant::take(uint64_t initiator) {
  holder_ = initiator;
  phase_ = phase::joined;
  ++join_count_;
  markers_.clear(); // meant for older joins
}

ckpt_step checkpoint_participant::on_precommit(const ckpt_precommit& m) {
  ckpt_step st;
  if (holder_ != m.initiator || phase_ != phase::joined
      || join_count_ != m.lock) {
    std::string why;
    if (holder_ != m.initiator)
      why = "not a member (holder " + std::to_string(holder_) + ")";
    else if (join_count_ != m.lock)
      why = "freed and taken again since it joined";
    else
      why = "duplicate precommit";
    st.out.push_back({m.initiator, ckpt_precommit_reply{id_, m.initiator,
                                                        m.lock, false, why,
                                                        {}}});
    return st;
  }
  phase_ = phase::precommitted;
  next_ = unit{};
  expect_.clear();
  recorded_.clear();
  reported_.clear();
  saved_ = false;
  replied_ = false;
  // Our sends are blocked from now to the end: a marker sent now follows
  // everything we sent before the snapshot on each channel, ours to
  // ourselves included.
  mark(m.peers, st);
  expect_[id_] = join_count_;
  st.out.push_back({id_, ckpt_marker{id_, join_count_, join_count_}});
  st.snapshot = true;
  return st;
}

void checkpoint_participant::mark(const std::vector<ckpt_peer>& peers,
                                  ckpt_step& st) {
  for (auto& p : peers) {
    if (p.id == id_)
      continue;
    expect_[p.id] = p.lock;
    st.out.push_back({p.id, ckpt_marker{id_, join_count_, p.lock}});
  }
}

ckpt_step checkpoint_participant::on_snapshot() {
  ckpt_step st;
  if (phase_ != phase::precommitted || saved_)
    return st;
  saved_ = true;
  // Markers from before the snapshot: the channel holds just the deferred
  // messages of that sender (it sends nothing after its marker).
  for (auto& [sender, x] : markers_)
    if (!x.counted) {
      x.count = recorded_[sender];
      x.counted = true;
    }
  report(st);
  return st;
}

ckpt_step checkpoint_participant::on_mark(const ckpt_mark& m) {
  ckpt_step st;
  if (phase_ != phase::precommitted || holder_ != m.initiator
      || join_count_ != m.lock)
    return st; // stale: the initiator learns from our precommit reply
  mark(m.peers, st);
  report(st);
  return st;
}

ckpt_step checkpoint_participant::on_marker(const ckpt_marker& m) {
  ckpt_step st;
  if (m.to_lock != join_count_ || phase_ == phase::idle)
    return st; // meant for an earlier join
  auto& x = markers_[m.from];
  x.lock = m.from_lock;
  x.counted = phase_ == phase::precommitted && saved_;
  x.count = x.counted ? recorded_[m.from] : 0;
  report(st);
  return st;
}

void checkpoint_participant::report(ckpt_step& st) {
  if (phase_ != phase::precommitted || !saved_)
    return;
  std::vector<ckpt_channel> cs;
  for (auto [sender, lock] : expect_) {
    auto i = markers_.find(sender);
    if (i == markers_.end() || !i->second.counted || i->second.lock != lock)
      return; // not yet (or only an older join's marker)
    if (reported_.count({sender, lock}) == 0)
      cs.push_back({sender, lock, i->second.count});
  }
  for (auto& c : cs)
    reported_.emplace(c.from, c.lock);
  if (!replied_) {
    replied_ = true;
    st.out.push_back({holder_, ckpt_precommit_reply{id_, holder_, join_count_,
                                                    true, {}, std::move(cs)}});
  } else if (!cs.empty()) {
    st.out.push_back(
      {holder_, ckpt_channels{id_, holder_, join_count_, std::move(cs)}});
  }
}

ckpt_step checkpoint_participant::on_end(const ckpt_end& m) {
  ckpt_step st;
  // Aborted or finished initiations need no answer any more.
  queue_.erase(std::remove_if(queue_.begin(), queue_.end(),
                              [&](const ckpt_build& q) {
                                return contains(m.initiators, q.initiator);
                              }),
               queue_.end());
  if (holder_ != 0 && contains(m.initiators, holder_))
    finish(m.commit, st);
  return st;
}

ckpt_step checkpoint_participant::on_reassign(const ckpt_reassign& m) {
  ckpt_step st;
  if (holder_ == 0 || !contains(m.from, holder_))
    return st;
  holder_ = m.to;
  // Requests queued by initiations that merged into ours are answered.
  auto same = [&](const ckpt_build& q) {
    return q.initiator == m.to || contains(m.from, q.initiator);
  };
  for (auto& q : queue_)
    if (same(q))
      st.out.push_back({q.initiator, reply(ckpt_answer::joined, q)});
  queue_.erase(std::remove_if(queue_.begin(), queue_.end(), same),
               queue_.end());
  return st;
}

ckpt_step checkpoint_participant::on_initiator_down(uint64_t initiator) {
  ckpt_step st;
  queue_.erase(std::remove_if(queue_.begin(), queue_.end(),
                              [&](const ckpt_build& q) {
                                return q.initiator == initiator;
                              }),
               queue_.end());
  if (holder_ == initiator && holder_ != 0)
    finish(false, st);
  return st;
}

void checkpoint_participant::finish(bool commit, ckpt_step& st) {
  // A commit without our snapshot cannot happen; treat it as an abort.
  if (commit && phase_ == phase::precommitted) {
    ++epoch_;
    cur_ = std::move(next_);
  } else {
    for (auto [peer, epoch] : next_.preds)
      raise_to(cur_.preds, peer, epoch);
    cur_.succs.insert(next_.succs.begin(), next_.succs.end());
    cur_.modified = cur_.modified || next_.modified;
  }
  next_ = unit{};
  phase_ = phase::idle;
  holder_ = 0;
  deferred_.clear();
  expect_.clear();
  markers_.clear();
  recorded_.clear();
  reported_.clear();
  saved_ = false;
  replied_ = false;
  st.resume = true;
  std::deque<ckpt_build> rest;
  for (auto& q : queue_) {
    if (not_needed(q)) {
      st.out.push_back({q.initiator, reply(ckpt_answer::not_needed, q)});
      continue;
    }
    if (holder_ == 0)
      take(q.initiator);
    if (holder_ == q.initiator) {
      st.out.push_back({q.initiator, reply(ckpt_answer::joined, q)});
    } else {
      // The new holder may have to yield to this requester: tell it.
      st.out.push_back({q.initiator, reply(ckpt_answer::busy, q)});
      rest.push_back(q);
    }
  }
  queue_ = std::move(rest);
}

// -- initiator ----------------------------------------------------------------

checkpoint_initiator::checkpoint_initiator(uint64_t id) : id_(id) {
  absorbed_.insert(id);
}

std::vector<uint64_t> checkpoint_initiator::absorbed() const {
  return {absorbed_.begin(), absorbed_.end()};
}

std::vector<ckpt_member> checkpoint_initiator::members() const {
  if (winner_ != 0)
    return final_members_;
  std::vector<ckpt_member> xs;
  for (auto& [id, m] : members_)
    xs.push_back(m.info);
  return xs;
}

std::vector<uint64_t> checkpoint_initiator::pending() const {
  std::vector<uint64_t> xs;
  for (auto& kv : pending_)
    xs.push_back(kv.first);
  return xs;
}

ckpt_outcome checkpoint_initiator::outcome() const {
  return {committed_, decided_by_, error_, members()};
}

ckpt_step checkpoint_initiator::start(const std::vector<uint64_t>& roots) {
  ckpt_step st;
  for (auto r : roots)
    request({r, ckpt_any_epoch, 0}, st);
  advance(st);
  return st;
}

void checkpoint_initiator::request(const ckpt_request& r, ckpt_step& st) {
  if (members_.count(r.participant) > 0)
    return;
  if (auto i = satisfied_.find(r.participant);
      r.of == 0 && i != satisfied_.end() && i->second > r.epoch)
    return;
  if (!sent_.emplace(r.participant, r.epoch, r.of).second)
    return;
  pending_[r.participant].emplace(r.epoch, r.of);
  st.out.push_back({r.participant, ckpt_build{id_, r.epoch, r.of}});
}

void checkpoint_initiator::add_member(const ckpt_member& m, uint64_t asked_by,
                                      bool chase, ckpt_step& st) {
  members_[m.id] = member_state{m, false, {}};
  pending_.erase(m.id);
  holders_.erase(m.id);
  // Held under a merged initiation: it must take our orders from now on
  // (sent before any precommit: one sender, one order).
  if (asked_by != id_)
    st.out.push_back({m.id, ckpt_reassign{absorbed(), id_}});
  if (chase) {
    for (auto& d : m.preds)
      if (d.peer != m.id)
        request({d.peer, d.epoch, 0}, st);
    for (auto s : m.succs)
      if (s != m.id)
        request({s, m.epoch, m.id}, st);
  }
  if (phase_ == phase::precommitting) {
    // Late (or joined again): the others mark it, it marks them.
    st.out.push_back({m.id, ckpt_precommit{id_, m.lock, peers_of(m.id)}});
    for (auto& [id, o] : members_)
      if (id != m.id)
        st.out.push_back({id, ckpt_mark{id_, o.info.lock, {{m.id, m.lock}}}});
  }
}

std::vector<ckpt_peer> checkpoint_initiator::peers_of(uint64_t id) const {
  std::vector<ckpt_peer> xs;
  for (auto& [other, m] : members_)
    if (other != id)
      xs.push_back({other, m.info.lock});
  return xs;
}

bool checkpoint_initiator::ready(const member_state& m) const {
  if (!m.precommitted)
    return false;
  for (auto& [id, o] : members_) {
    auto i = m.channels.find(id);
    if (i == m.channels.end() || i->second != o.info.lock)
      return false;
  }
  return true;
}

std::string checkpoint_initiator::waiting_for() const {
  std::string xs;
  auto add = [&](const std::string& x) {
    xs += (xs.empty() ? "" : ", ") + x;
  };
  for (auto& kv : pending_)
    add("participant " + std::to_string(kv.first) + " (build)");
  if (phase_ == phase::precommitting)
    for (auto& [id, m] : members_) {
      if (!m.precommitted) {
        add("participant " + std::to_string(id) + " (precommit)");
        continue;
      }
      for (auto& [other, o] : members_) {
        auto i = m.channels.find(other);
        if (i == m.channels.end() || i->second != o.info.lock)
          add("channel " + std::to_string(other) + " -> "
              + std::to_string(id));
      }
    }
  return xs.empty() ? "nothing" : xs;
}

void checkpoint_initiator::contest(uint64_t participant, uint64_t holder,
                                   ckpt_step& st) {
  holders_[participant].insert(holder);
  // The smaller id wins: ask a larger holder to hand over; wait for a
  // smaller one (it waits on nobody larger than itself).
  if (absorbed_.count(holder) == 0 && holder > id_
      && yielded_to_.insert(holder).second)
    st.out.push_back({holder, ckpt_yield{id_}});
}

void checkpoint_initiator::advance(ckpt_step& st) {
  if (phase_ == phase::building && pending_.empty()) {
    phase_ = phase::precommitting;
    for (auto& [id, m] : members_)
      st.out.push_back({id, ckpt_precommit{id_, m.info.lock, peers_of(id)}});
  }
  if (phase_ == phase::precommitting && pending_.empty()
      && std::all_of(members_.begin(), members_.end(),
                     [this](auto& kv) { return ready(kv.second); })) {
    phase_ = phase::writing;
    st.write = true;
  }
}

void checkpoint_initiator::abort(caf::error err, ckpt_step& st) {
  if (phase_ != phase::building && phase_ != phase::precommitting
      && phase_ != phase::writing)
    return;
  phase_ = phase::aborted;
  decided_by_ = id_;
  error_ = std::move(err);
  auto ids = absorbed();
  // Pending participants may have joined meanwhile, or queued our request.
  for (auto& kv : members_)
    st.out.push_back({kv.first, ckpt_end{false, ids}});
  for (auto& kv : pending_)
    st.out.push_back({kv.first, ckpt_end{false, ids}});
  for (auto l : losers_)
    st.out.push_back({l, outcome()});
  st.done = true;
}

void checkpoint_initiator::finish_merged(bool committed, uint64_t decided_by,
                                         caf::error err,
                                         std::vector<ckpt_member> members,
                                         ckpt_step& st) {
  phase_ = committed ? phase::committed : phase::aborted;
  committed_ = committed;
  decided_by_ = decided_by;
  error_ = std::move(err);
  final_members_ = std::move(members);
  for (auto l : losers_)
    st.out.push_back({l, outcome()});
  st.done = true;
}

ckpt_step checkpoint_initiator::on_build_reply(const ckpt_build_reply& r) {
  ckpt_step st;
  switch (phase_) {
    case phase::merged:
      st.out.push_back({winner_, r});
      return st;
    case phase::committed:
    case phase::aborted:
      // A late join (e.g. through a forwarder): release it.
      if (r.answer == ckpt_answer::joined
          && (!committed_ || members_.count(r.participant) == 0))
        st.out.push_back({r.participant, ckpt_end{false, absorbed()}});
      return st;
    default:
      break;
  }
  switch (r.answer) {
    case ckpt_answer::joined:
      // Known from this join: a duplicate. A member freed meanwhile (its
      // holder failed before our reassign) and taken again may have new
      // links: chase those, and precommit this join instead.
      if (auto i = members_.find(r.participant);
          i != members_.end() && i->second.info.lock >= r.lock)
        break;
      if (phase_ == phase::writing) { // past the set: cannot take it
        st.out.push_back({r.participant, ckpt_end{false, absorbed()}});
        break;
      }
      add_member({r.participant, r.epoch, r.lock, r.preds, r.succs},
                 r.initiator, true, st);
      break;
    case ckpt_answer::not_needed:
      if (r.asked_of == 0)
        raise_to(satisfied_, r.participant, r.epoch);
      if (auto i = pending_.find(r.participant); i != pending_.end()) {
        if (auto j = i->second.find({r.asked_epoch, r.asked_of});
            j != i->second.end())
          i->second.erase(j);
        if (i->second.empty()) {
          pending_.erase(i);
          holders_.erase(r.participant);
        }
      }
      break;
    case ckpt_answer::busy:
      if (pending_.count(r.participant) > 0)
        contest(r.participant, r.holder, st);
      break;
  }
  advance(st);
  return st;
}

ckpt_step checkpoint_initiator::on_precommit_reply(
  const ckpt_precommit_reply& r) {
  ckpt_step st;
  auto i = members_.find(r.participant);
  if (phase_ != phase::precommitting || i == members_.end()
      || i->second.info.lock != r.lock)
    return st;
  if (!r.ok) {
    abort(make_error(errc::checkpoint_aborted,
                     prefix(id_) + "aborted: participant "
                       + std::to_string(r.participant)
                       + " refused the precommit: " + r.reason),
          st);
    return st;
  }
  i->second.precommitted = true;
  for (auto& c : r.channels)
    i->second.channels[c.from] = c.lock;
  advance(st);
  return st;
}

ckpt_step checkpoint_initiator::on_channels(const ckpt_channels& r) {
  ckpt_step st;
  auto i = members_.find(r.participant);
  if (phase_ != phase::precommitting || i == members_.end()
      || i->second.info.lock != r.lock)
    return st;
  for (auto& c : r.channels)
    i->second.channels[c.from] = c.lock;
  advance(st);
  return st;
}

ckpt_step checkpoint_initiator::on_written(const caf::error& err) {
  ckpt_step st;
  if (phase_ != phase::writing)
    return st;
  if (is(err, errc::checkpoint_aborted)) { // not the store's: e.g. a
    auto& ctx = err.context();            // message not serializable
    abort(make_error(errc::checkpoint_aborted,
                     prefix(id_) + "aborted: "
                       + (ctx.match_elements<std::string>()
                            ? ctx.get_as<std::string>(0)
                            : describe(err))),
          st);
    return st;
  }
  if (err) {
    auto code = err.category() == error_category
                  ? static_cast<errc>(err.code())
                  : errc::storage_error;
    abort(make_error(code, prefix(id_) + "aborted: snapshots not stored: "
                             + describe(err)),
          st);
    return st;
  }
  phase_ = phase::committed;
  committed_ = true;
  decided_by_ = id_;
  auto ids = absorbed();
  for (auto& [id, m] : members_)
    st.out.push_back({id, ckpt_end{true, ids}});
  for (auto l : losers_)
    st.out.push_back({l, outcome()});
  st.done = true;
  return st;
}

ckpt_step checkpoint_initiator::on_yield(const ckpt_yield& m) {
  ckpt_step st;
  if (phase_ == phase::merged) {
    st.out.push_back({winner_, m});
    return st;
  }
  // Past the build wave we wait for nobody: the winner waits for us.
  if (phase_ != phase::building || m.winner >= id_)
    return st;
  ckpt_merge mg;
  mg.loser = id_;
  mg.absorbed = absorbed();
  mg.members = members();
  for (auto& [p, e, of] : sent_)
    mg.sent.push_back({p, e, of});
  for (auto& [p, reqs] : pending_)
    for (auto [e, of] : reqs)
      mg.pending.push_back({p, e, of});
  for (auto [p, e] : satisfied_)
    mg.satisfied.push_back({p, e});
  for (auto& [p, hs] : holders_)
    for (auto h : hs)
      mg.busy.push_back({p, h});
  phase_ = phase::merged;
  winner_ = m.winner;
  members_.clear();
  pending_.clear();
  st.out.push_back({winner_, std::move(mg)});
  return st;
}

ckpt_step checkpoint_initiator::on_merge(const ckpt_merge& m) {
  ckpt_step st;
  if (phase_ == phase::merged) {
    // The loser watches us, not our winner: we relay the outcome to it
    // before we quit.
    losers_.push_back(m.loser);
    st.out.push_back({winner_, m});
    return st;
  }
  if (phase_ != phase::building) {
    // A merge only comes while we wait on the loser, i.e. while building;
    // refuse anything else rather than grow a set past its build wave.
    for (auto& mm : m.members)
      st.out.push_back({mm.id, ckpt_end{false, m.absorbed}});
    for (auto& r : m.pending)
      st.out.push_back({r.participant, ckpt_end{false, m.absorbed}});
    auto err = make_error(errc::checkpoint_aborted,
                          prefix(m.loser) + "aborted: checkpoint "
                            + std::to_string(id_)
                            + " was past its build wave when merging");
    st.out.push_back({m.loser, ckpt_outcome{false, id_, err, {}}});
    return st;
  }
  absorbed_.insert(m.absorbed.begin(), m.absorbed.end());
  losers_.push_back(m.loser);
  for (auto& d : m.satisfied)
    raise_to(satisfied_, d.peer, d.epoch);
  for (auto& r : m.sent)
    sent_.emplace(r.participant, r.epoch, r.of);
  // Their answers reach us through the loser.
  for (auto& r : m.pending)
    if (members_.count(r.participant) == 0)
      pending_[r.participant].emplace(r.epoch, r.of);
  for (auto& mm : m.members)
    if (auto i = members_.find(mm.id);
        i == members_.end() || i->second.info.lock < mm.lock)
      add_member(mm, m.loser, false, st);
  // The loser may have waited for a holder that we must contest.
  for (auto& b : m.busy)
    if (pending_.count(b.participant) > 0)
      contest(b.participant, b.holder, st);
  advance(st);
  return st;
}

ckpt_step checkpoint_initiator::on_outcome(const ckpt_outcome& m) {
  ckpt_step st;
  if (phase_ == phase::merged)
    finish_merged(m.committed, m.initiator, m.error, m.members, st);
  return st;
}

ckpt_step checkpoint_initiator::on_participant_down(uint64_t participant,
                                                    const caf::error& reason) {
  ckpt_step st;
  if (phase_ != phase::building && phase_ != phase::precommitting)
    return st;
  if (members_.count(participant) == 0 && pending_.count(participant) == 0)
    return st;
  abort(make_error(errc::checkpoint_aborted,
                   prefix(id_) + "aborted: participant "
                     + std::to_string(participant) + " failed during "
                     + to_string(phase_) + ": " + describe(reason)),
        st);
  return st;
}

ckpt_step checkpoint_initiator::on_initiator_down(uint64_t initiator) {
  ckpt_step st;
  if (phase_ == phase::merged && initiator == winner_)
    finish_merged(false, 0,
                  make_error(errc::fail_stop,
                             prefix(id_) + "merged into checkpoint "
                               + std::to_string(winner_)
                               + ", which failed; outcome unknown"),
                  {}, st);
  return st;
}

ckpt_step checkpoint_initiator::on_timeout() {
  ckpt_step st;
  if (phase_ == phase::merged)
    finish_merged(false, 0,
                  make_error(errc::timeout,
                             prefix(id_) + "no outcome from checkpoint "
                               + std::to_string(winner_)
                               + " it merged into"),
                  {}, st);
  else
    abort(make_error(errc::checkpoint_aborted,
                     prefix(id_) + "aborted: timed out during "
                       + to_string(phase_) + ", waiting for "
                       + waiting_for()),
          st);
  return st;
}

const char* to_string(checkpoint_participant::phase x) {
  switch (x) {
    case checkpoint_participant::phase::idle: return "idle";
    case checkpoint_participant::phase::joined: return "joined";
    case checkpoint_participant::phase::precommitted: return "precommitted";
  }
  return "?";
}

const char* to_string(checkpoint_initiator::phase x) {
  switch (x) {
    case checkpoint_initiator::phase::building: return "build";
    case checkpoint_initiator::phase::precommitting: return "precommit";
    case checkpoint_initiator::phase::writing: return "write";
    case checkpoint_initiator::phase::committed: return "committed";
    case checkpoint_initiator::phase::aborted: return "aborted";
    case checkpoint_initiator::phase::merged: return "merged";
  }
  return "?";
}

} // namespace ftsr
