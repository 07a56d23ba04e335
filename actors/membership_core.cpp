// The membership protocol's rules; see membership_core.hpp.
#include "actors/membership_core.hpp"

#include <algorithm>

namespace ftsr {

namespace {

/// Views kept to bring lagging nodes up to date one view at a time (each
/// view's removals decide restarts, so none may be skipped).
constexpr size_t history_size = 64;

} // namespace

membership_core::membership_core(member_id self, std::vector<std::string> names,
                                 membership_options opts,
                                 membership_state loaded, bool found,
                                 time_point now)
  : self_(std::move(self)),
    names_(std::move(names)),
    opts_(opts),
    st_(std::move(loaded)),
    found_(found),
    started_(now) {
  history_.push_back(st_.view);
}

// -- inputs -------------------------------------------------------------------

gms_step membership_core::on_tick(time_point now) {
  gms_step out;
  // Heartbeats go to every configured name: members renew leases with them,
  // and lagging or removed nodes learn the current view number from them.
  ++seq_;
  sent_at_[seq_] = now;
  while (!sent_at_.empty()
         && now - sent_at_.begin()->second > 4 * opts_.lease)
    sent_at_.erase(sent_at_.begin());
  for (auto& name : names_) {
    if (name == self_.name)
      continue;
    auto hb = make(gms_kind::heartbeat);
    hb.number = st_.view.number;
    hb.seq = seq_;
    hb.has_value = st_.has_accepted;
    if (auto m = st_.view.find(name))
      if (auto p = find_peer(*m); p != nullptr && renews(*p)) {
        hb.echo = p->echo_to_send;
        hb.echo_for = m->incarnation;
      }
    send(out, name, std::move(hb));
  }
  if (!is_member()) {
    for (auto& name : names_)
      if (name != self_.name) {
        auto j = make(gms_kind::join);
        j.seq = st_.owner != self_.incarnation ? st_.owner : 0;
        send(out, name, std::move(j));
      }
    if (refused_since_ && now - *refused_since_ > 3 * opts_.failure_timeout)
      out.refused = "node name '" + self_.name + "' is in use by a live "
                    "member of the cluster";
  }
  coordinate(now, out);
  drain_local(now, out);
  return out;
}

gms_step membership_core::on_message(const gms_msg& m, time_point now) {
  gms_step out;
  handle(m, now, out);
  drain_local(now, out);
  return out;
}

gms_step membership_core::on_connection_lost(const member_id& m, bool proven,
                                             time_point) {
  gms_step out;
  if (proven)
    proven_dead_.emplace(m.name, m.incarnation);
  if (auto i = peers_.find({m.name, m.incarnation}); i != peers_.end())
    i->second.lost = true;
  return out;
}

gms_step membership_core::on_reached(const member_id& who, time_point now) {
  gms_step out;
  if (auto cur = st_.view.find(who.name);
      cur != nullptr && cur->incarnation < who.incarnation)
    proven_dead_.emplace(cur->name, cur->incarnation);
  heard(who, now);
  return out;
}

// -- queries ------------------------------------------------------------------

bool membership_core::is_member() const {
  return st_.view.contains(self_);
}

membership_core::time_point membership_core::lease_expiry() const {
  if (!is_member())
    return time_point::min();
  // A member that accepted a view without itself no longer counts itself.
  if (st_.has_accepted && !st_.accepted.contains(self_))
    return time_point::min();
  auto needed = majority() - 1;
  if (needed == 0)
    return time_point::max();
  std::vector<time_point> renewals;
  for (auto& m : st_.view.members) {
    if (m.name == self_.name)
      continue;
    auto p = find_peer(m);
    if (p == nullptr)
      continue;
    auto t = sent_at_.find(p->acked_seq);
    if (t != sent_at_.end())
      renewals.push_back(t->second);
  }
  if (renewals.size() < needed)
    return time_point::min();
  std::sort(renewals.begin(), renewals.end(), std::greater<>{});
  return renewals[needed - 1] + opts_.lease;
}

std::chrono::milliseconds
membership_core::removal_delay(const cluster_view& v, const member_id& m) const {
  if (std::find(v.proven_dead.begin(), v.proven_dead.end(), m)
      != v.proven_dead.end())
    return std::chrono::milliseconds{0};
  return opts_.lease + opts_.lease / 20 + opts_.heartbeat_interval;
}

bool membership_core::silent(const peer_info& p, time_point now) const {
  // Nobody is silent before this node listened for a whole timeout.
  auto since = std::max(p.last_heard, started_);
  return p.lost || now - since > opts_.failure_timeout;
}

bool membership_core::suspects(const member_id& m, time_point now) const {
  if (m == self_)
    return false;
  if (proven_dead_.count({m.name, m.incarnation}) != 0)
    return true;
  // A newcomer holding its data directory proves it gone.
  if (auto n = newcomer(m.name);
      n != nullptr && n->predecessor == m.incarnation)
    return true;
  auto p = find_peer(m);
  if (p == nullptr)
    return now - started_ > opts_.failure_timeout;
  return silent(*p, now);
}

bool membership_core::alive_name(const std::string& name,
                                 time_point now) const {
  if (name == self_.name)
    return votes();
  auto heard_lately = [&](const peer_info* p) {
    return p != nullptr && p->last_heard != time_point{} && !silent(*p, now);
  };
  if (auto cur = st_.view.find(name); cur != nullptr && heard_lately(find_peer(*cur)))
    return true;
  // A restarted node holding its name's acceptor state stands in for it.
  auto n = newcomer(name);
  return heard_lately(n) && n->votes;
}

std::optional<std::string> membership_core::coordinator(time_point now) const {
  if (st_.view.number == 0) {
    for (auto& n : names_)
      if (alive_name(n, now))
        return n;
    return std::nullopt;
  }
  for (auto& m : st_.view.members)
    if (alive_name(m.name, now))
      return m.name;
  return std::nullopt;
}

uint64_t membership_core::latest_incarnation(const std::string& name) const {
  if (name == self_.name)
    return self_.incarnation;
  uint64_t result = 0;
  for (auto i = peers_.lower_bound({name, 0});
       i != peers_.end() && i->first.first == name; ++i)
    result = std::max(result, i->first.second);
  return result;
}

const membership_core::peer_info*
membership_core::find_peer(const member_id& m) const {
  auto i = peers_.find({m.name, m.incarnation});
  return i != peers_.end() ? &i->second : nullptr;
}

const membership_core::peer_info*
membership_core::newcomer(const std::string& name) const {
  auto cur = st_.view.find(name);
  const peer_info* result = nullptr;
  for (auto i = peers_.lower_bound({name, 0});
       i != peers_.end() && i->first.first == name; ++i)
    if (cur == nullptr || i->first.second > cur->incarnation)
      result = &i->second;
  return result;
}

std::vector<std::string> membership_core::voters() const {
  if (st_.view.number == 0)
    return names_;
  std::vector<std::string> result;
  for (auto& m : st_.view.members)
    result.push_back(m.name);
  return result;
}

size_t membership_core::majority() const {
  return voters().size() / 2 + 1;
}

bool membership_core::renews(const peer_info& p) const {
  // Only a voter renews (the removal quorum consists of voters), only
  // members of its view, and never one it accepted a view without.
  if (!votes() || !st_.view.contains(p.latest))
    return false;
  return !st_.has_accepted || st_.accepted.contains(p.latest);
}

// -- message handling ---------------------------------------------------------

gms_msg membership_core::make(gms_kind k) const {
  gms_msg m;
  m.kind = k;
  m.from = self_;
  m.votes = votes();
  return m;
}

void membership_core::send(gms_step& out, const std::string& to, gms_msg m) {
  if (to == self_.name)
    local_.push_back(std::move(m));
  else
    out.send.emplace_back(to, std::move(m));
}

void membership_core::drain_local(time_point now, gms_step& out) {
  while (!local_.empty()) {
    auto m = std::move(local_.front());
    local_.erase(local_.begin());
    handle(m, now, out);
  }
}

membership_core::peer_info* membership_core::heard(const member_id& from,
                                                   time_point now) {
  if (from.name == self_.name
      || std::find(names_.begin(), names_.end(), from.name) == names_.end())
    return nullptr;
  if (from.incarnation <= st_.fenced_of(from.name))
    return nullptr; // removed from the cluster: it is gone or about to be
  if (auto cur = st_.view.find(from.name);
      cur != nullptr && from.incarnation < cur->incarnation)
    return nullptr;
  // Older incarnations outside the view are gone: forget them.
  for (auto i = peers_.lower_bound({from.name, 0});
       i != peers_.end() && i->first.first == from.name;) {
    if (i->first.second < from.incarnation && !st_.view.contains(i->second.latest))
      i = peers_.erase(i);
    else
      ++i;
  }
  auto& p = peers_[{from.name, from.incarnation}];
  p.latest = from;
  p.lost = false;
  p.last_heard = now;
  return &p;
}

void membership_core::handle(const gms_msg& m, time_point now, gms_step& out) {
  bool from_self = m.from == self_;
  peer_info* p = nullptr;
  if (!from_self) {
    p = heard(m.from, now);
    if (p == nullptr) {
      // A removed incarnation (or a stranger): it only gets the views it
      // missed, so that it learns of its removal and stops.
      if (std::find(names_.begin(), names_.end(), m.from.name)
          == names_.end())
        return;
      bool asks = m.kind == gms_kind::heartbeat || m.kind == gms_kind::behind;
      if (asks && m.number < st_.view.number)
        send_views_after(m.number, m.from.name, out);
      if (m.kind == gms_kind::join
          && m.from.incarnation <= st_.fenced_of(m.from.name)) {
        auto r = make(gms_kind::join_refused);
        r.reason = "told by " + to_string(self_);
        r.seq = st_.fenced_of(m.from.name);
        send(out, m.from.name, std::move(r));
      }
      return;
    }
    p->votes = m.votes;
  }
  switch (m.kind) {
    case gms_kind::heartbeat:
      p->pending = m.has_value && m.number == st_.view.number;
      p->echo_to_send = renews(*p) && m.number == st_.view.number ? m.seq : 0;
      if (m.echo_for == self_.incarnation && m.echo <= seq_
          && m.echo > p->acked_seq)
        p->acked_seq = m.echo;
      if (m.number > st_.view.number) {
        auto b = make(gms_kind::behind);
        b.number = st_.view.number;
        send(out, m.from.name, std::move(b));
      } else if (m.number < st_.view.number) {
        send_views_after(m.number, m.from.name, out);
      }
      break;
    case gms_kind::prepare:
      on_prepare(m, out);
      break;
    case gms_kind::accept:
      on_accept(m, out);
      break;
    case gms_kind::promise:
      on_promise(m, now, out);
      break;
    case gms_kind::accepted:
      on_accepted(m, out);
      break;
    case gms_kind::reject:
      st_.max_round = std::max(st_.max_round, m.promised.round);
      if (round_ && round_->number == m.number && round_->bal == m.bal) {
        round_.reset();
        // Let the competing coordinator finish before trying again.
        next_round_ = now + 2 * opts_.heartbeat_interval;
      }
      break;
    case gms_kind::commit:
      // `number` is the view the sender's history has before `value` (0:
      // no gap-free history, jump). A member takes views in order, as each
      // view's removals decide restarts; a node outside the view may jump.
      if (m.value.number == st_.view.number + 1
          || (m.value.number > st_.view.number
              && (!is_member() || m.number <= st_.view.number))) {
        install(m.value, out);
      } else if (m.value.number > st_.view.number + 1) {
        auto b = make(gms_kind::behind);
        b.number = st_.view.number;
        send(out, m.from.name, std::move(b));
      }
      break;
    case gms_kind::behind:
      send_views_after(m.number, m.from.name, out);
      break;
    case gms_kind::join:
      on_join(m, now, out);
      break;
    case gms_kind::join_refused:
      // `seq`: the incarnation of this name the cluster removed. A node
      // admitted and removed while cut off learns so only here.
      if (m.seq >= self_.incarnation)
        out.fenced = to_string(self_) + " was removed from the cluster ("
                     + m.reason + ")";
      else if (!is_member() && !refused_since_)
        refused_since_ = now;
      break;
  }
}

void membership_core::reject(const gms_msg& m, gms_step& out) {
  auto r = make(gms_kind::reject);
  r.number = m.number;
  r.bal = m.bal;
  r.promised = st_.promised;
  send(out, m.from.name, std::move(r));
}

void membership_core::on_prepare(const gms_msg& m, gms_step& out) {
  if (!votes())
    return;
  if (m.number <= st_.view.number) {
    send_views_after(m.number - 1, m.from.name, out);
    return;
  }
  if (m.number > st_.view.number + 1) {
    auto b = make(gms_kind::behind);
    b.number = st_.view.number;
    send(out, m.from.name, std::move(b));
    return;
  }
  if (m.bal < st_.promised) {
    reject(m, out);
    return;
  }
  st_.promised = m.bal;
  st_.max_round = std::max(st_.max_round, m.bal.round);
  out.persist = true;
  auto r = make(gms_kind::promise);
  r.number = m.number;
  r.promised = m.bal;
  if (st_.has_accepted) {
    r.has_value = true;
    r.bal = st_.accepted_bal;
    r.value = st_.accepted;
  }
  send(out, m.from.name, std::move(r));
}

void membership_core::on_accept(const gms_msg& m, gms_step& out) {
  if (!votes() || m.number != st_.view.number + 1
      || m.value.number != m.number)
    return; // a prepare settled who is behind
  if (m.bal < st_.promised) {
    reject(m, out);
    return;
  }
  st_.promised = m.bal;
  st_.max_round = std::max(st_.max_round, m.bal.round);
  st_.has_accepted = true;
  st_.accepted_bal = m.bal;
  st_.accepted = m.value;
  out.persist = true;
  auto r = make(gms_kind::accepted);
  r.number = m.number;
  r.bal = m.bal;
  send(out, m.from.name, std::move(r));
}

void membership_core::on_promise(const gms_msg& m, time_point,
                                 gms_step& out) {
  if (!round_ || round_->phase != 1 || round_->number != m.number
      || !(round_->bal == m.promised))
    return;
  auto vs = voters();
  if (std::find(vs.begin(), vs.end(), m.from.name) == vs.end())
    return;
  round_->promised.insert(m.from.name);
  if (m.has_value
      && (!round_->has_adopted || round_->adopted_bal < m.bal)) {
    round_->has_adopted = true;
    round_->adopted_bal = m.bal;
    round_->adopted = m.value;
  }
  if (round_->promised.size() < majority())
    return;
  round_->phase = 2;
  auto a = make(gms_kind::accept);
  a.number = round_->number;
  a.bal = round_->bal;
  a.value = round_->has_adopted ? round_->adopted : round_->own;
  for (auto& v : vs)
    send(out, v, a);
}

void membership_core::on_accepted(const gms_msg& m, gms_step& out) {
  if (!round_ || round_->phase != 2 || round_->number != m.number
      || !(round_->bal == m.bal))
    return;
  auto vs = voters();
  if (std::find(vs.begin(), vs.end(), m.from.name) == vs.end())
    return;
  round_->accepted.insert(m.from.name);
  if (round_->accepted.size() < majority())
    return;
  auto chosen = round_->has_adopted ? round_->adopted : round_->own;
  round_.reset();
  auto c = make(gms_kind::commit);
  c.number = chosen.number - 1;
  c.value = chosen;
  // Everyone hears of it: old members (including the removed, who fence
  // themselves), new members, and the nodes still waiting to join.
  for (auto& n : names_)
    if (n != self_.name)
      send(out, n, c);
  install(chosen, out);
}

void membership_core::on_join(const gms_msg& m, time_point now,
                              gms_step& out) {
  auto i = peers_.find({m.from.name, m.from.incarnation});
  if (i == peers_.end())
    return;
  auto& p = i->second;
  p.wants_join = !st_.view.contains(m.from);
  p.predecessor = m.seq;
  // Refuse at once when this node would coordinate and the name's member
  // is alive; the newcomer keeps asking until it gives up.
  if (coordinator(now) == self_.name) {
    auto cur = st_.view.find(m.from.name);
    if (cur != nullptr && cur->incarnation < m.from.incarnation
        && m.seq != cur->incarnation && !suspects(*cur, now)) {
      auto r = make(gms_kind::join_refused);
      r.reason = "node name '" + m.from.name + "' is in use by "
                 + to_string(*cur);
      send(out, m.from.name, std::move(r));
    }
  }
}

void membership_core::send_views_after(uint64_t number, const std::string& to,
                                       gms_step& out) {
  if (!history_.empty() && history_.front().number > number + 1) {
    // Too far behind for the history: the newest view is all it can get.
    auto c = make(gms_kind::commit);
    c.value = st_.view;
    send(out, to, std::move(c));
    return;
  }
  for (auto& v : history_)
    if (v.number > number) {
      auto c = make(gms_kind::commit);
      c.number = v.number - 1;
      c.value = v;
      send(out, to, std::move(c));
    }
}

void membership_core::install(const cluster_view& v, gms_step& out) {
  bool was_member = is_member();
  for (auto& m : st_.view.members)
    if (!v.contains(m))
      st_.fence(m);
  // Whatever came before a member's incarnation is gone, also where this
  // node skipped the views that removed it.
  for (auto& m : v.members)
    if (m.incarnation > 0)
      st_.fence(member_id{m.name, m.incarnation - 1});
  st_.view = v;
  st_.promised = ballot{};
  st_.has_accepted = false;
  st_.accepted = cluster_view{};
  st_.accepted_bal = ballot{};
  st_.owner = self_.incarnation;
  out.persist = true;
  history_.push_back(v);
  while (history_.size() > history_size)
    history_.pop_front();
  round_.reset();
  out.installed.push_back(v);
  if (is_member()) {
    admitted_ = true;
    refused_since_.reset();
  } else if (was_member) {
    out.fenced = "removed from the cluster by view " + std::to_string(v.number);
  }
  // A view that the gap-filling commits made current may already be
  // followed by the next one; the sender repeats until this node caught up.
}

// -- coordination -------------------------------------------------------------

std::optional<cluster_view>
membership_core::desired_view(time_point now) const {
  cluster_view next;
  next.number = st_.view.number + 1;
  auto admit_joiner = [&](const std::string& name) {
    if (name == self_.name)
      return;
    auto n = newcomer(name);
    if (n == nullptr)
      return;
    auto& p = *n;
    if (!p.wants_join || silent(p, now) || p.last_heard == time_point{}
        || p.latest.incarnation <= st_.fenced_of(name))
      return;
    next.members.push_back(p.latest);
  };
  std::set<std::string> placed;
  for (auto& m : st_.view.members) {
    placed.insert(m.name);
    if (m.name == self_.name) {
      next.members.push_back(self_);
      if (!(m == self_))
        next.proven_dead.push_back(m); // this process holds its directory
      continue;
    }
    auto successor = newcomer(m.name);
    bool has_successor = successor != nullptr;
    if (!suspects(m, now)) {
      next.members.push_back(m);
      continue;
    }
    bool proven = proven_dead_.count({m.name, m.incarnation}) != 0
                  || (has_successor && successor->predecessor == m.incarnation);
    if (proven)
      next.proven_dead.push_back(m);
    if (has_successor)
      admit_joiner(m.name);
  }
  if (st_.view.number == 0 || !st_.view.contains(self_)) {
    // Bootstrap, or a restarted coordinator not yet in the view.
    if (placed.count(self_.name) == 0 && votes())
      next.members.push_back(self_);
  }
  for (auto& n : names_)
    if (placed.count(n) == 0)
      admit_joiner(n);
  // Every view keeps a majority of the cluster file's nodes: a view never
  // shrinks to a minority that could then go on alone.
  if (next.members.size() < names_.size() / 2 + 1)
    return std::nullopt;
  if (next.members == st_.view.members)
    return std::nullopt;
  // Never propose a view this node would not be part of.
  if (!next.contains(self_))
    return std::nullopt;
  return next;
}

void membership_core::coordinate(time_point now, gms_step& out) {
  if (round_ && now - round_->started > opts_.failure_timeout)
    round_.reset(); // lost messages or a dead voter: try again
  if (round_ || now < next_round_ || !votes()
      || coordinator(now) != self_.name)
    return;
  auto next = desired_view(now);
  if (!next) {
    // An accepted next view that was never installed (its coordinator
    // failed between the accepts and the commit) stops lease renewals of
    // the members it leaves out: finish that instance, with this view's
    // members again if nobody in the quorum holds the value.
    bool pending = st_.has_accepted;
    for (auto& [key, p] : peers_)
      pending = pending || (p.pending && st_.view.contains(p.latest));
    if (!pending)
      return;
    next = cluster_view{st_.view.number + 1, st_.view.members, {}};
  }
  round r;
  r.number = next->number;
  r.bal = ballot{st_.max_round + 1, self_.name};
  r.own = std::move(*next);
  r.started = now;
  st_.max_round = r.bal.round;
  out.persist = true;
  round_ = std::move(r);
  auto p = make(gms_kind::prepare);
  p.number = round_->number;
  p.bal = round_->bal;
  for (auto& v : voters())
    send(out, v, p);
}

} // namespace ftsr
