// CBCAST by vector timestamps and ABCAST by the ISIS priority protocol.
#include "replication/multicast_core.hpp"

#include <algorithm>

#include "actors/errors.hpp"

namespace ftsr {

namespace {

std::string str(uint64_t x) {
  return std::to_string(x);
}

caf::error invalid(std::string what) {
  return make_error(errc::invalid_argument, std::move(what));
}

} // namespace

caf::error validate_members(uint64_t self,
                            const std::vector<uint64_t>& members) {
  if (members.empty())
    return invalid("multicast group: no members");
  std::set<uint64_t> seen;
  for (auto m : members) {
    if (m == 0)
      return invalid("multicast group: member id 0 is invalid");
    if (!seen.insert(m).second)
      return invalid("multicast group: member " + str(m) + " listed twice");
  }
  if (seen.count(self) == 0)
    return invalid("multicast group: member " + str(self)
                   + " is not in its own member list");
  return caf::none;
}

// -- causal_order -------------------------------------------------------------

causal_order::causal_order(uint64_t self, std::vector<uint64_t> members)
  : self_(self),
    members_(std::move(members)),
    me_(0),
    vt_(members_.size(), 0),
    live_(members_.size(), true),
    flushing_(members_.size(), false),
    buffer_(members_.size()),
    retained_(members_.size()),
    known_(members_.size(), std::vector<uint64_t>(members_.size(), 0)) {
  if (auto i = index_of(self_))
    me_ = *i;
}

std::optional<size_t> causal_order::index_of(uint64_t member) const {
  auto i = std::find(members_.begin(), members_.end(), member);
  if (i == members_.end())
    return std::nullopt;
  return static_cast<size_t>(i - members_.begin());
}

bool causal_order::is_live(uint64_t member) const {
  auto i = index_of(member);
  return i && live_[*i];
}

size_t causal_order::buffered() const {
  size_t n = 0;
  for (auto& b : buffer_)
    n += b.size();
  return n;
}

size_t causal_order::retained() const {
  size_t n = 0;
  for (auto& r : retained_)
    n += r.size();
  return n;
}

size_t causal_order::buffered_from(uint64_t member) const {
  auto i = index_of(member);
  return i ? buffer_[*i].size() : 0;
}

bool causal_order::is_flushing(uint64_t member) const {
  auto i = index_of(member);
  return i && flushing_[*i];
}

std::vector<uint64_t> causal_order::live_members() const {
  std::vector<uint64_t> out;
  for (size_t k = 0; k < members_.size(); ++k)
    if (live_[k])
      out.push_back(members_[k]);
  return out;
}

caf::error causal_order::check(const stamped_message& m) const {
  if (m.vt.size() != members_.size())
    return invalid("CBCAST message from " + str(m.sender)
                   + ": vector timestamp has " + str(m.vt.size())
                   + " entries, the group has " + str(members_.size())
                   + " members");
  auto s = index_of(m.sender);
  if (!s)
    return invalid("CBCAST message from unknown sender " + str(m.sender));
  if (*s == me_ && m.vt[me_] > vt_[me_])
    return invalid("CBCAST message " + str(m.vt[me_]) + " claims to be from "
                   "member " + str(self_) + " itself, which sent only "
                   + str(vt_[me_]));
  for (size_t k = 0; k < members_.size(); ++k)
    if (!live_[k] && k != *s && m.vt[k] > vt_[k] + buffer_[k].size())
      return invalid("CBCAST message from " + str(m.sender) + " depends on "
                     + str(m.vt[k]) + " messages of removed member "
                     + str(members_[k]) + ", of which only "
                     + str(vt_[k] + buffer_[k].size()) + " survived");
  return caf::none;
}

stamped_message causal_order::stamp(caf::message payload) {
  ++vt_[me_];
  stamped_message m{self_, vt_, std::move(payload)};
  retained_[me_].emplace(vt_[me_], m);
  prune_stable();
  return m;
}

bool causal_order::deliverable(size_t s, const stamped_message& m) const {
  if (m.vt[s] != vt_[s] + 1)
    return false;
  for (size_t k = 0; k < vt_.size(); ++k)
    if (k != s && m.vt[k] > vt_[k])
      return false;
  return true;
}

void causal_order::buffer(size_t s, stamped_message m) {
  auto n = m.vt[s];
  if (n <= vt_[s] || buffer_[s].count(n) > 0)
    return; // delivered or buffered already
  buffer_[s].emplace(n, std::move(m));
}

std::vector<stamped_message> causal_order::deliver_ready() {
  std::vector<stamped_message> out;
  for (bool progress = true; progress;) {
    progress = false;
    for (size_t s = 0; s < buffer_.size(); ++s) {
      auto& b = buffer_[s];
      while (!b.empty() && deliverable(s, b.begin()->second)) {
        auto m = std::move(b.begin()->second);
        b.erase(b.begin());
        ++vt_[s];
        for (size_t k = 0; k < vt_.size(); ++k)
          known_[s][k] = std::max(known_[s][k], m.vt[k]);
        retained_[s].emplace(vt_[s], m);
        out.push_back(std::move(m));
        progress = true;
      }
    }
  }
  if (!out.empty())
    prune_stable();
  return out;
}

void causal_order::prune_stable() {
  for (size_t k = 0; k < members_.size(); ++k) {
    auto stable = vt_[k];
    for (size_t j = 0; j < members_.size(); ++j)
      if (j != me_ && live_[j])
        stable = std::min(stable, known_[j][k]);
    auto& r = retained_[k];
    r.erase(r.begin(), r.upper_bound(stable));
  }
}

caf::expected<std::vector<stamped_message>>
causal_order::receive(stamped_message m) {
  if (auto err = check(m))
    return err;
  auto s = *index_of(m.sender);
  if (s == me_ || !live_[s] || flushing_[s])
    return std::vector<stamped_message>{};
  buffer(s, std::move(m));
  return deliver_ready();
}

caf::error causal_order::learn(uint64_t member,
                               const std::vector<uint64_t>& clock) {
  auto j = index_of(member);
  if (!j)
    return invalid("CBCAST clock of unknown member " + str(member));
  if (clock.size() != members_.size())
    return invalid("CBCAST clock of member " + str(member) + " has "
                   + str(clock.size()) + " entries, the group has "
                   + str(members_.size()) + " members");
  if (*j == me_ || !live_[*j])
    return caf::none;
  for (size_t k = 0; k < clock.size(); ++k)
    known_[*j][k] = std::max(known_[*j][k], clock[k]);
  prune_stable();
  return caf::none;
}

caf::expected<std::vector<stamped_message>>
causal_order::flush(uint64_t failed) {
  auto f = index_of(failed);
  if (!f)
    return invalid("CBCAST flush of unknown member " + str(failed));
  if (*f == me_)
    return invalid("CBCAST flush: member " + str(failed)
                   + " cannot flush itself");
  if (!live_[*f])
    return invalid("CBCAST flush: member " + str(failed)
                   + " was already removed");
  flushing_[*f] = true;
  std::vector<stamped_message> out;
  for (auto& [n, m] : retained_[*f])
    out.push_back(m);
  for (auto& [n, m] : buffer_[*f])
    out.push_back(m);
  return out;
}

caf::expected<std::vector<stamped_message>>
causal_order::receive_flushed(std::vector<stamped_message> ms) {
  for (auto& m : ms) {
    if (auto err = check(m))
      return err;
    auto s = *index_of(m.sender);
    if (live_[s] && !flushing_[s])
      return invalid("CBCAST flush relays a message of member "
                     + str(m.sender) + ", which is not being flushed");
  }
  for (auto& m : ms) {
    auto s = *index_of(m.sender);
    if (live_[s]) // else: a late copy of a flush, already removed
      buffer(s, std::move(m));
  }
  return deliver_ready();
}

caf::expected<std::vector<stamped_message>>
causal_order::remove(uint64_t failed) {
  auto f = index_of(failed);
  if (!f)
    return invalid("CBCAST view change: unknown member " + str(failed));
  if (*f == me_)
    return invalid("CBCAST view change: member " + str(failed)
                   + " cannot remove itself");
  if (!live_[*f])
    return invalid("CBCAST view change: member " + str(failed)
                   + " was already removed");
  if (!flushing_[*f])
    return invalid("CBCAST view change: member " + str(failed)
                   + " must be flushed before it is removed");
  live_[*f] = false;
  flushing_[*f] = false;
  std::vector<stamped_message> discarded;
  // Keep f's gap-free run after what was delivered: survivors have all of
  // it, so it becomes deliverable; discard everything after the gap.
  auto& b = buffer_[*f];
  auto last = vt_[*f];
  for (auto i = b.begin(); i != b.end();) {
    if (i->first == last + 1) {
      ++last;
      ++i;
    } else {
      discarded.push_back(std::move(i->second));
      i = b.erase(i);
    }
  }
  // Messages of others that depend on discarded messages of f.
  for (size_t s = 0; s < buffer_.size(); ++s) {
    if (s == *f)
      continue;
    for (auto i = buffer_[s].begin(); i != buffer_[s].end();) {
      if (i->second.vt[*f] > last) {
        discarded.push_back(std::move(i->second));
        i = buffer_[s].erase(i);
      } else {
        ++i;
      }
    }
  }
  // f no longer counts for stability. Nothing becomes deliverable: no
  // entry of the clock changed.
  prune_stable();
  return discarded;
}

// -- total_order --------------------------------------------------------------

total_order::total_order(uint64_t self, std::vector<uint64_t> members)
  : self_(self),
    members_(std::move(members)),
    member_set_(members_.begin(), members_.end()) {
  // nop
}

abcast_data total_order::submit(caf::message payload) {
  abcast_data d{self_, next_number_++, std::move(payload)};
  proposals_[d.number]; // waits for all proposals
  return d;
}

bool total_order::was_delivered(uint64_t sender, uint64_t number) const {
  auto i = delivered_.find(sender);
  return i != delivered_.end()
         && (number <= i->second.first || i->second.second.count(number) > 0);
}

void total_order::mark_delivered(uint64_t sender, uint64_t number) {
  auto& [upto, above] = delivered_[sender];
  above.insert(number);
  while (above.count(upto + 1) > 0)
    above.erase(++upto);
}

caf::expected<std::optional<abcast_proposal>>
total_order::on_data(abcast_data d) {
  if (!is_member(d.sender))
    return invalid("ABCAST message from unknown sender " + str(d.sender));
  if (d.number == 0)
    return invalid("ABCAST message from " + str(d.sender)
                   + " has number 0 (numbers start at 1)");
  if (d.sender == self_ && d.number >= next_number_)
    return invalid("ABCAST message " + str(d.number) + " claims to be from "
                   "member " + str(self_) + " itself, which sent only "
                   + str(next_number_ - 1));
  if (was_delivered(d.sender, d.number) || has_failed(d.sender))
    return std::optional<abcast_proposal>{};
  auto id = std::make_pair(d.sender, d.number);
  if (auto i = queue_.find(id); i != queue_.end())
    return abcast_proposal{d.sender, d.number, self_, i->second.proposed};
  auto prio = ++max_priority_;
  entry e;
  e.data = std::move(d);
  e.priority = prio;
  e.proposed = prio;
  e.proposer = self_;
  order_.emplace(prio, self_, id.first, id.second);
  queue_.emplace(id, std::move(e));
  return abcast_proposal{id.first, id.second, self_, prio};
}

caf::expected<std::optional<abcast_final>>
total_order::on_proposal(const abcast_proposal& p) {
  if (p.sender != self_)
    return invalid("ABCAST proposal for a message of member " + str(p.sender)
                   + " reached member " + str(self_));
  if (!is_member(p.from))
    return invalid("ABCAST proposal from unknown member " + str(p.from));
  auto i = proposals_.find(p.number);
  if (i == proposals_.end()) {
    if (p.number >= 1 && p.number < next_number_)
      return std::optional<abcast_final>{}; // already final
    return invalid("ABCAST proposal for message " + str(p.number)
                   + " that member " + str(self_) + " never sent");
  }
  auto& got = i->second;
  if (got.count(p.from) > 0)
    return std::optional<abcast_final>{};
  got.emplace(p.from, std::make_pair(p.priority, p.from));
  for (auto m : members_)
    if (is_live(m) && got.count(m) == 0)
      return std::optional<abcast_final>{};
  std::pair<uint64_t, uint64_t> best{0, 0};
  for (auto& [from, prio] : got)
    best = std::max(best, prio);
  proposals_.erase(i);
  return abcast_final{self_, p.number, best.first, best.second};
}

caf::expected<std::vector<abcast_data>>
total_order::on_final(const abcast_final& f) {
  if (!is_member(f.sender))
    return invalid("ABCAST final priority for a message of unknown sender "
                   + str(f.sender));
  if (!is_member(f.proposer))
    return invalid("ABCAST final priority proposed by unknown member "
                   + str(f.proposer));
  if (was_delivered(f.sender, f.number) || has_failed(f.sender))
    return std::vector<abcast_data>{};
  auto i = queue_.find(std::make_pair(f.sender, f.number));
  if (i == queue_.end())
    return invalid("ABCAST final priority for message " + str(f.number)
                   + " of " + str(f.sender) + ", which member " + str(self_)
                   + " never received");
  auto& e = i->second;
  if (e.final) {
    if (e.priority == f.priority && e.proposer == f.proposer)
      return std::vector<abcast_data>{};
    return invalid("ABCAST final priority for message " + str(f.number)
                   + " of " + str(f.sender) + " conflicts with the one "
                   "received before");
  }
  if (std::make_pair(f.priority, f.proposer)
      < std::make_pair(e.proposed, self_))
    return invalid("ABCAST final priority " + str(f.priority) + " for message "
                   + str(f.number) + " of " + str(f.sender)
                   + " is below member " + str(self_) + "'s proposal "
                   + str(e.proposed));
  finalize(e, f);
  return deliver_ready();
}

void total_order::finalize(entry& e, const abcast_final& f) {
  order_.erase(key{e.priority, e.proposer, f.sender, f.number});
  e.priority = f.priority;
  e.proposer = f.proposer;
  e.final = true;
  order_.emplace(e.priority, e.proposer, f.sender, f.number);
  max_priority_ = std::max(max_priority_, f.priority);
}

std::vector<abcast_data> total_order::deliver_ready() {
  std::vector<abcast_data> out;
  while (!order_.empty()) {
    auto [prio, proposer, sender, number] = *order_.begin();
    auto j = queue_.find(std::make_pair(sender, number));
    if (!j->second.final)
      break;
    mark_delivered(sender, number);
    auto& recent = recent_finals_[sender];
    recent[number] = abcast_final{sender, number, prio, proposer};
    if (recent.size() > remembered_finals)
      recent.erase(recent.begin());
    out.push_back(std::move(j->second.data));
    queue_.erase(j);
    order_.erase(order_.begin());
  }
  return out;
}

bool total_order::is_live(uint64_t member) const {
  return is_member(member) && !has_failed(member);
}

std::vector<uint64_t> total_order::live_members() const {
  std::vector<uint64_t> out;
  for (auto m : members_)
    if (is_live(m))
      out.push_back(m);
  return out;
}

uint64_t total_order::coordinator() const {
  uint64_t best = 0;
  for (auto m : members_)
    if (is_live(m) && (best == 0 || m < best))
      best = m;
  return best;
}

size_t total_order::pending_from(uint64_t sender) const {
  size_t n = 0;
  for (auto& [id, e] : queue_)
    if (id.first == sender)
      ++n;
  return n;
}

abcast_report total_order::report_on(uint64_t failed) const {
  abcast_report r;
  r.failed = failed;
  r.from = self_;
  if (auto i = recent_finals_.find(failed); i != recent_finals_.end())
    for (auto& [n, f] : i->second)
      r.finals.push_back(f);
  for (auto& [id, e] : queue_) {
    if (id.first != failed)
      continue;
    if (e.final)
      r.finals.push_back(abcast_final{id.first, id.second, e.priority,
                                      e.proposer});
    else
      r.pending.push_back(
        abcast_proposal{id.first, id.second, self_, e.proposed});
  }
  return r;
}

caf::expected<abcast_failure_steps> total_order::fail(uint64_t failed) {
  if (!is_member(failed))
    return invalid("ABCAST failure of unknown member " + str(failed));
  if (failed == self_)
    return invalid("ABCAST failure: member " + str(failed)
                   + " cannot fail itself");
  if (has_failed(failed))
    return invalid("ABCAST failure: member " + str(failed)
                   + " failed already");
  auto old_coordinator = coordinator();
  failed_.insert(failed);
  abcast_failure_steps out;
  // Own messages no longer wait for the failed member's proposal.
  for (auto i = proposals_.begin(); i != proposals_.end();) {
    auto& got = i->second;
    bool complete = true;
    for (auto m : members_)
      if (is_live(m) && got.count(m) == 0)
        complete = false;
    if (!complete) {
      ++i;
      continue;
    }
    std::pair<uint64_t, uint64_t> best{0, 0};
    for (auto& [from, prio] : got)
      best = std::max(best, prio);
    out.finals.push_back(abcast_final{self_, i->first, best.first,
                                      best.second});
    i = proposals_.erase(i);
  }
  // Reports: on `failed`, and on every undecided failure again if the
  // coordinator changed (it was `failed`).
  auto now = coordinator();
  for (auto m : failed_)
    if (m == failed || now != old_coordinator)
      out.reports.push_back(report_on(m));
  return out;
}

caf::error total_order::on_report(const abcast_report& r) {
  if (!is_member(r.failed) || !is_member(r.from))
    return invalid("ABCAST report about " + str(r.failed) + " from "
                   + str(r.from) + ": unknown member");
  if (!has_failed(r.failed))
    return invalid("ABCAST report about member " + str(r.failed)
                   + ", which has not failed at member " + str(self_));
  if (has_failed(r.from))
    return invalid("ABCAST report from failed member " + str(r.from));
  for (auto& f : r.finals)
    if (f.sender != r.failed || !is_member(f.proposer))
      return invalid("ABCAST report about member " + str(r.failed)
                     + " holds a bad final priority");
  for (auto& p : r.pending)
    if (p.sender != r.failed)
      return invalid("ABCAST report about member " + str(r.failed)
                     + " holds a message of member " + str(p.sender));
  if (done_.count(r.failed) == 0)
    reports_[r.failed][r.from] = r;
  return caf::none;
}

std::vector<abcast_takeover> total_order::decide() {
  std::vector<abcast_takeover> out;
  if (coordinator() != self_)
    return out;
  auto live = live_members();
  for (auto f : failed_) {
    if (decided_.count(f) > 0)
      continue;
    if (auto i = applied_.find(f); i != applied_.end()) {
      // Decided by a coordinator that failed: some may lack its takeover.
      decided_.insert(f);
      out.push_back(i->second);
      out.back().decider = self_;
      continue;
    }
    auto& rs = reports_[f];
    bool complete = true;
    for (auto m : live)
      if (rs.count(m) == 0)
        complete = false;
    if (!complete)
      continue;
    std::map<uint64_t, abcast_final> finals;
    // number -> (holders without final, largest proposal)
    std::map<uint64_t, std::pair<size_t, std::pair<uint64_t, uint64_t>>>
      pending;
    for (auto m : live) {
      auto& r = rs.at(m);
      for (auto& x : r.finals)
        finals.emplace(x.number, x);
      for (auto& p : r.pending) {
        auto& [holders, best] = pending[p.number];
        ++holders;
        best = std::max(best, std::make_pair(p.priority, p.from));
      }
    }
    abcast_takeover t{f, self_, {}};
    for (auto& [n, x] : finals)
      t.finals.push_back(x);
    for (auto& [n, hb] : pending)
      if (finals.count(n) == 0 && hb.first == live.size())
        t.finals.push_back(
          abcast_final{f, n, hb.second.first, hb.second.second});
    decided_.insert(f);
    out.push_back(std::move(t));
  }
  return out;
}

caf::expected<std::vector<abcast_data>>
total_order::on_takeover(const abcast_takeover& t) {
  if (!is_member(t.failed))
    return invalid("ABCAST takeover for unknown member " + str(t.failed));
  if (!has_failed(t.failed))
    return invalid("ABCAST takeover for member " + str(t.failed)
                   + ", which has not failed at member " + str(self_));
  for (auto& f : t.finals)
    if (f.sender != t.failed || !is_member(f.proposer))
      return invalid("ABCAST takeover for member " + str(t.failed)
                     + " holds a bad final priority");
  if (!is_member(t.decider))
    return invalid("ABCAST takeover decided by unknown member "
                   + str(t.decider));
  // A decider that failed here: this member reported to its successor
  // already (without this takeover), which decides anew.
  if (done_.count(t.failed) > 0 || has_failed(t.decider))
    return std::vector<abcast_data>{};
  done_.insert(t.failed);
  applied_.emplace(t.failed, t);
  reports_.erase(t.failed);
  std::set<uint64_t> keep;
  for (auto& f : t.finals) {
    auto i = queue_.find(std::make_pair(f.sender, f.number));
    if (i == queue_.end())
      continue; // delivered already
    keep.insert(f.number);
    finalize(i->second, f);
  }
  for (auto i = queue_.begin(); i != queue_.end();) {
    if (i->first.first == t.failed && keep.count(i->first.second) == 0) {
      auto& e = i->second;
      order_.erase(key{e.priority, e.proposer, i->first.first,
                       i->first.second});
      i = queue_.erase(i);
    } else {
      ++i;
    }
  }
  return deliver_ready();
}

} // namespace ftsr
