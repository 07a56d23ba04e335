// Primary-sequencer ordering, flush-based view changes and state transfer.
#include "replication/group_core.hpp"

#include <algorithm>
#include <utility>

#include "caf/deep_to_string.hpp"

#include "actors/message_types.hpp"

namespace ftsr {

namespace {

uint64_t mix(uint64_t h, uint64_t x) {
  // FNV-1a over the 8 bytes of x.
  for (int i = 0; i < 8; ++i) {
    h ^= (x >> (i * 8)) & 0xFF;
    h *= 1099511628211ull;
  }
  return h;
}

} // namespace

bool& detail::primary_op_flag() {
  thread_local bool flag = false;
  return flag;
}

std::vector<outgoing_call>*& detail::outgoing_calls() {
  thread_local std::vector<outgoing_call>* current = nullptr;
  return current;
}

const capability_ref*& detail::current_group() {
  thread_local const capability_ref* current = nullptr;
  return current;
}

const replica_position*& detail::applying() {
  thread_local const replica_position* current = nullptr;
  return current;
}

namespace {

/// Sets detail::applying() for the lifetime of the guard.
class applying_guard {
public:
  explicit applying_guard(replica_position pos) : pos_(pos) {
    detail::applying() = &pos_;
  }

  ~applying_guard() {
    detail::applying() = nullptr;
  }

  applying_guard(const applying_guard&) = delete;
  applying_guard& operator=(const applying_guard&) = delete;

private:
  replica_position pos_;
};

} // namespace

std::optional<caf::message> group_core::run(caf::message payload,
                                            std::vector<outgoing_call>& out) {
  detail::outgoing_calls() = &out;
  detail::current_group() = &group_;
  auto res = ops_(payload);
  detail::outgoing_calls() = nullptr;
  detail::current_group() = nullptr;
  if (!res)
    return std::nullopt;
  return std::move(*res);
}

void group_core::track_imports(const log_entry& e, bool send) {
  // Ids are deterministic: every replica names the same import alike.
  for (size_t k = 0; k < e.imports.size(); ++k) {
    auto id = mix(e.request, k + 1);
    imports_.emplace(id, e.imports[k]);
    if (send)
      new_imports_.emplace_back(id, e.imports[k]);
  }
}

group_core::group_core(uint64_t self, std::vector<uint64_t> members,
                       size_t max_sf, std::unique_ptr<resource_base> res,
                       group_mode mode)
  : self_(self),
    members_(std::move(members)),
    max_sf_(max_sf),
    mode_(mode),
    res_(std::move(res)),
    ops_(res_->operations()),
    digest_(14695981039346656037ull) {
  // nop
}

std::vector<uint64_t> group_core::others() const {
  std::vector<uint64_t> result;
  for (auto m : members_)
    if (m != self_)
      result.push_back(m);
  return result;
}

std::vector<uint64_t> group_core::watched() const {
  auto result = members_;
  auto add = [&](const std::vector<uint64_t>& xs) {
    for (auto m : xs)
      if (std::find(result.begin(), result.end(), m) == result.end())
        result.push_back(m);
  };
  add(flush_survivors_);
  if (coordinating_)
    add(flush_members_);
  // Leavers: their departure is settled like a failure (see left_).
  add(std::vector<uint64_t>(left_.begin(), left_.end()));
  return result;
}

std::optional<caf::message>
group_core::delivered_reply(uint64_t request) const {
  return dedup_.find(request);
}

group_status group_core::status() const {
  return {self_,      view_,     primary(),        members_,
          delivered_, digest_, serving(), res_->snapshot()};
}

void group_core::mix_digest(const log_entry& e) {
  digest_ = mix(mix(mix(digest_, e.seq), static_cast<uint64_t>(e.kind)),
                e.request);
}

caf::message group_core::apply(const log_entry& e) {
  caf::message reply;
  applying_guard at{{e.view, e.seq}};
  switch (e.kind) {
    case entry_kind::invocation: {
      std::vector<outgoing_call> out;
      if (auto res = run(e.payload, out))
        reply = std::move(*res);
      for (auto& o : out)
        if (!o.imported)
          owned_.push_back(std::move(o));
      break;
    }
    case entry_kind::import_done:
      imports_.erase(e.request);
      break;
    case entry_kind::retry:
      // Answered from the de-duplication table, which every replica has
      // alike (same deliveries in the same order, or a state transfer).
      if (auto r = dedup_.find(e.request))
        reply = std::move(*r);
      break;
    case entry_kind::state_update:
      // Produced by the primary from its own state: cannot fail here unless
      // the archive is corrupt, which the primary would have noticed.
      res_->restore(e.state);
      reply = e.reply;
      break;
    case entry_kind::membership:
      for (auto m : members_)
        if (std::find(e.members.begin(), e.members.end(), m)
            == e.members.end()) {
          left_.insert(m);
          untold_.insert(m);
        }
      members_ = e.members;
      view_ = e.view + 1;
      // A backup that becomes primary continues the sequence.
      next_seq_ = std::max(next_seq_, e.seq + 1);
      break;
  }
  if (e.kind != entry_kind::import_done && e.kind != entry_kind::retry)
    dedup_.remember(e.request, reply);
  track_imports(e, false);
  delivered_ = e.seq;
  mix_digest(e);
  // Flushes re-deliver from the log; entries delivered that way are never
  // answered by a replier, so the client's address stays out of it.
  log_.emplace(e.seq, e).first->second.reply_to = caf::message{};
  return reply;
}

uint64_t group_core::choose_replier(const invocation& inv,
                                    const log_entry& e) const {
  if (e.replies != reply_policy::first || needed_acks(e.replies, e.seq) != 1)
    return 0;
  // Nothing after a leave is answered before the leave is (try_complete).
  if (pending_leave() != 0)
    return 0;
  // The first backup the client watches: should it fail before answering,
  // the client retries. A newcomer may still wait for its state: skipped.
  for (auto m : members_)
    if (m != self_ && joined_at_.count(m) == 0
        && std::find(inv.watching.begin(), inv.watching.end(), m)
             != inv.watching.end())
      return m;
  return 0;
}

group_core::invoke_outcome group_core::invoke(const invocation& inv,
                                              caf::message reply_to) {
  invoke_outcome out;
  if (!serving() || !is_primary()) {
    // The replica refuses before it asks (replica_machine): the same
    // refusal for a caller that did not.
    out.error = quorum_lost()
                  ? make_error(errc::no_quorum,
                               "group lost the majority of its replicas")
                  : make_error(errc::not_primary, std::to_string(primary()));
    return out;
  }
  log_entry e;
  e.seq = next_seq_;
  e.view = view_;
  e.sequencer = self_;
  e.request = inv.request;
  e.replies = inv.replies == reply_policy::first && mode_.vote
                ? reply_policy::vote
                : inv.replies;
  auto direct = [&] {
    if (reply_to.empty())
      return;
    e.replier = choose_replier(inv, e);
    if (e.replier != 0)
      e.reply_to = std::move(reply_to);
    out.replier = e.replier;
  };
  if (dedup_.contains(inv.request)) {
    // Delivered before, but maybe held by this member only (it came with
    // the flush of a view whose install has not reached the backups yet,
    // or its acknowledgements are outstanding): answer once the backups
    // delivered an entry after it, with their replies for quorum/all/vote.
    ++next_seq_;
    e.kind = entry_kind::retry;
    auto own = apply(e);
    pending_.emplace(e.seq, pending{e.request, e.replies, std::move(own), {}});
    direct();
    out.kind = invoke_outcome::sequenced;
    out.retry = true;
    out.entry = std::move(e);
    out.done = complete_ready();
    return out;
  }
  // Run the operation first: a {primary} operation ships state instead.
  detail::primary_op_flag() = false;
  std::vector<outgoing_call> out_calls;
  std::optional<caf::message> res;
  {
    applying_guard at{{e.view, e.seq}};
    res = run(inv.payload, out_calls);
  }
  // Active replication: every replica executes, {primary} or not.
  bool primary_only = detail::primary_op_flag() && !mode_.active;
  detail::primary_op_flag() = false;
  if (!res) {
    // Deterministic: no replica would understand it; nothing is ordered.
    auto expected = res_->signatures();
    std::string hint;
    for (auto& sig : expected)
      hint += (hint.empty() ? "; the operations are " : ", ") + sig;
    if (hint.empty())
      hint = "; its resource declares no interface (ftsr::resource<T, "
             "Interface> checks calls at compile time)";
    out.error = make_error(errc::invalid_argument,
                           "group operation not understood: "
                             + caf::to_string(inv.payload) + ", of types "
                             + cpp_type_names(inv.payload) + hint);
    return out;
  }
  ++next_seq_;
  if (primary_only) {
    e.kind = entry_kind::state_update;
    e.state = res_->snapshot();
    e.reply = *res;
  } else {
    e.kind = entry_kind::invocation;
    e.payload = inv.payload;
  }
  for (auto& o : out_calls) {
    if (o.imported)
      e.imports.push_back(std::move(o));
    else
      owned_.push_back(std::move(o));
  }
  // The operation already ran on this replica: record its delivery.
  dedup_.remember(e.request, *res);
  track_imports(e, true);
  delivered_ = e.seq;
  mix_digest(e);
  log_.emplace(e.seq, e);
  pending_.emplace(e.seq, pending{e.request, e.replies, *res, {}});
  direct();
  out.kind = invoke_outcome::sequenced;
  out.entry = std::move(e);
  out.done = complete_ready();
  return out;
}

uint64_t group_core::pending_leave() const {
  uint64_t result = 0;
  for (auto& [m, at] : left_at_)
    if (pending_.count(at) > 0 && (result == 0 || at < result))
      result = at;
  return result;
}

size_t group_core::members_at(uint64_t seq) const {
  // The members of the view in which `seq` was ordered (see joined_at_
  // and left_at_).
  size_t n = 0;
  for (auto m : members_) {
    auto i = joined_at_.find(m);
    if (i == joined_at_.end() || i->second < seq)
      ++n;
  }
  for (auto& [m, at] : left_at_) {
    auto i = joined_at_.find(m);
    if (at >= seq && (i == joined_at_.end() || i->second < seq))
      ++n;
  }
  return n;
}

size_t group_core::needed_acks(reply_policy p, uint64_t seq) const {
  auto members = members_at(seq);
  auto backups = members - 1;
  switch (p) {
    case reply_policy::first:
      return std::min(max_sf_, backups);
    case reply_policy::quorum:
    case reply_policy::vote:
      // A majority of the view, the primary's own result included; never
      // fewer than max_sf backups (atomicity).
      return std::max(std::min(max_sf_, backups), members / 2);
    case reply_policy::all:
      return backups;
  }
  return backups;
}

std::optional<group_core::completion> group_core::try_complete(uint64_t seq,
                                                               pending& p) {
  if (p.results.size() < needed_acks(p.policy, seq))
    return std::nullopt;
  // Entries after a leave need fewer acknowledgements. Answered before the
  // leave is held by enough members, one could be lost with this primary
  // while the leaver, not knowing it left, takes over without it.
  if (auto leave = pending_leave(); leave != 0 && leave < seq)
    return std::nullopt;
  completion c;
  c.seq = seq;
  c.request = p.request;
  c.policy = p.policy;
  if (auto j = joins_.find(seq); j != joins_.end()) {
    c.newcomer = j->second.first;
    c.transfer = std::move(j->second.second);
    joins_.erase(j);
  }
  switch (p.policy) {
    case reply_policy::first:
      c.reply = p.own;
      break;
    case reply_policy::quorum:
    case reply_policy::all:
      c.replies.push_back(p.own);
      for (auto& [m, r] : p.results)
        c.replies.push_back(r);
      break;
    case reply_policy::vote: {
      // Majority vote over the rendered replies (deterministic rendering).
      std::map<std::string, std::pair<size_t, caf::message>> votes;
      auto cast = [&](const caf::message& r) {
        auto& v = votes[caf::to_string(r)];
        ++v.first;
        v.second = r;
      };
      cast(p.own);
      for (auto& [m, r] : p.results)
        cast(r);
      auto members = members_at(seq);
      auto majority = members / 2 + 1;
      for (auto& [key, v] : votes)
        if (v.first >= majority)
          c.reply = v.second;
      if (c.reply.empty() && !votes.empty()) {
        if (p.results.size() + 1 < members)
          return std::nullopt; // more votes may still make a majority
        c.error = make_error(errc::invalid_argument,
                             "replicas disagree: no majority reply");
      }
      break;
    }
  }
  return c;
}

std::vector<group_core::completion> group_core::complete_ready() {
  std::vector<completion> done;
  for (auto i = pending_.begin(); i != pending_.end();) {
    if (auto c = try_complete(i->first, i->second)) {
      done.push_back(std::move(*c));
      i = pending_.erase(i);
    } else {
      ++i;
    }
  }
  return done;
}

std::vector<group_core::completion>
group_core::on_ack(uint64_t from, uint64_t view, uint64_t seq,
                   caf::message result) {
  // Acks from before the last flush are void (pending_ was reset there);
  // acks from before a join or leave are not: those view changes are
  // ordinary entries and the acknowledged entries stay pending across them.
  if (view < installed_view_ || !is_primary())
    return {};
  auto& upto = acked_upto_[from];
  upto = std::max(upto, seq);
  prune(stable());
  auto i = pending_.find(seq);
  if (i == pending_.end())
    return {};
  i->second.results.emplace(from, std::move(result));
  if (auto c = try_complete(seq, i->second)) {
    pending_.erase(i);
    std::vector<completion> done{std::move(*c)};
    if (!left_at_.empty()) // entries held back behind a leave (try_complete)
      for (auto& later : complete_ready())
        done.push_back(std::move(later));
    return done;
  }
  return {};
}

uint64_t group_core::stable() const {
  uint64_t result = delivered_;
  auto held_by = [&](uint64_t m) {
    auto i = acked_upto_.find(m);
    result = std::min(result, i == acked_upto_.end() ? 0 : i->second);
  };
  for (auto m : others())
    held_by(m);
  // A leaver that has not delivered its leave still takes part in flushes
  // (until the flush that settles its departure): the others keep what it
  // lacks to report.
  for (auto& [m, at] : left_at_)
    held_by(m);
  return result;
}

void group_core::prune(uint64_t stable) {
  log_.erase(log_.begin(), log_.upper_bound(stable));
}

void group_core::deliver_buffered(std::vector<ack>* acks) {
  for (auto i = out_of_order_.begin();
       i != out_of_order_.end() && i->first <= delivered_ + 1;) {
    if (acks != nullptr && i->first == delivered_ + 1
        && (i->second.view < view_ || i->second.sequencer != primary())) {
      // An order not of this member's view after all (a failed
      // primary's): as on_order would have dropped it. The gap stays for
      // the flush. (Install entries are the flush's union: all delivered.)
      i = out_of_order_.erase(i);
      continue;
    }
    if (i->first == delivered_ + 1) {
      auto result = apply(i->second);
      if (acks != nullptr) {
        ack a;
        a.seq = i->first;
        if (i->second.replier == self_ && !i->second.reply_to.empty()) {
          a.answer_to = std::move(i->second.reply_to);
          a.answer = result;
        }
        if (i->second.replies != reply_policy::first)
          a.result = std::move(result);
        a.urgent = i->second.replier == 0;
        acks->push_back(std::move(a));
      }
    }
    i = out_of_order_.erase(i);
  }
}

std::vector<group_core::ack> group_core::on_order(const log_entry& e,
                                                  uint64_t stable) {
  std::vector<ack> acks;
  // From a primary of an older view (superseded by a flush), or from a
  // failed primary that reached this view number through a join entry
  // that no survivor delivered (the survivors installed the same number
  // without it).
  if (e.view < view_ || (e.view == view_ && e.sequencer != primary())
      || phase_ == phase::no_quorum)
    return acks;
  // e.view > view_ from another sequencer: a view this member reaches
  // through entries still in flight. After the primary's leave, the new
  // primary's orders can overtake the leave entry (other sender, other
  // channel). Buffered like any gap; deliver_buffered checks it again.
  // After answering a flush, an order of the current view can only come
  // from a failed primary (a live primary coordinates the flush itself and
  // sends its orders before its flush, on the same FIFO channel); it may
  // still be in flight when the flush of another coordinator overtakes it.
  // Delivering it would add an entry the flushed reply did not report: the
  // install would not deliver it elsewhere and the new primary would reuse
  // its sequence number for another request (divergence). The install
  // brings every entry that any survivor reported.
  if (flush_answered_)
    return acks;
  if (e.seq <= delivered_) {
    acks.push_back({e.seq, {}, {}, {}}); // duplicate: re-acknowledge
    return acks;
  }
  out_of_order_.emplace(e.seq, e);
  deliver_buffered(&acks);
  prune(std::min(stable, delivered_));
  return acks;
}

group_core::suspicion group_core::suspect(uint64_t member) {
  suspicion out;
  untold_.erase(member); // gone: nothing to tell it any more
  auto w = watched();
  if (phase_ == phase::no_quorum || suspects_.count(member) > 0
      || std::find(w.begin(), w.end(), member) == w.end())
    return out;
  suspects_.insert(member);
  phase_ = phase::flushing;
  // Everyone who may hold entries: the view, plus the survivors of the
  // flush this member answered or coordinates (newcomers that the view
  // does not list yet). The first of them coordinates.
  for (auto m : w)
    if (suspects_.count(m) == 0)
      out.survivors.push_back(m);
  // Above every flush this member answered: a failed coordinator's view
  // may already be installed at some survivors (see flush_seen_).
  out.new_view = std::max({view_, flush_view_, flush_seen_}) + 1;
  if (out.survivors.empty() || out.survivors.front() != self_)
    return out; // the coordinator decides, quorum included
  // A majority of the view, and of the flush this member answered (which
  // may be installed elsewhere). Only the coordinator decides: members
  // whose views differ (one installed a view the other only answered the
  // flush for) would judge differently, and one would wait for the other
  // forever. Exactly half survives only in the primary partition (the
  // tie-breaker, asked at most once per decision).
  std::optional<bool> tie;
  auto majority_of = [&](const std::vector<uint64_t>& view) {
    size_t alive = 0;
    for (auto m : view)
      alive += suspects_.count(m) == 0 ? 1 : 0;
    if (2 * alive > view.size())
      return true;
    if (alive == 0 || 2 * alive < view.size())
      return false;
    if (!tie)
      tie = tie_breaker_ ? tie_breaker_() : false;
    return *tie;
  };
  if (!majority_of(members_)
      || (flush_answered_ && !majority_of(flush_survivors_))) {
    phase_ = phase::no_quorum;
    coordinating_ = false;
    out.quorum_lost = true;
    out.survivors.erase(out.survivors.begin()); // the others
    // And the members a leave removed, which may not know it (on_flushed).
    for (auto m : untold_)
      if (suspects_.count(m) == 0)
        out.survivors.push_back(m);
    return out;
  }
  partition_bound_ = tie.value_or(false);
  coordinate(out);
  return out;
}

void group_core::coordinate(suspicion& s) {
  s.coordinate = true;
  coordinating_ = true;
  flush_view_ = s.new_view;
  flush_members_ = s.survivors;
  flush_replies_.clear();
  transfer_to_.clear();
}

std::vector<uint64_t> group_core::drop_quorum() {
  phase_ = phase::no_quorum;
  coordinating_ = false;
  return others();
}

bool group_core::on_no_quorum(uint64_t from) {
  // The verdict of a coordinator is final (it decided with the failures it
  // knew; more only make it worse), unless it failed or left the view:
  // then the next coordinator decides.
  if (phase_ == phase::no_quorum || !may_coordinate(from))
    return false;
  phase_ = phase::no_quorum;
  coordinating_ = false;
  return true;
}

std::optional<group_core::flushed>
group_core::on_flush(uint64_t new_view,
                     const std::vector<uint64_t>& survivors) {
  if (phase_ == phase::no_quorum || survivors.empty())
    return std::nullopt;
  // A flush of a coordinator this member knows failed (or that is not in
  // its view any more: it failed or left) is stale; answering it would stop
  // this member for a view change that never ends. A live coordinator is
  // answered whatever the view it proposes: it may not have delivered a
  // join or leave this member did (or not know of a newer flush); the
  // reply reports this member's view and the coordinator flushes again
  // above it.
  auto coordinator = survivors.front();
  if (coordinator != self_ && !may_coordinate(coordinator))
    return std::nullopt;
  flushed f;
  f.view = std::max(view_, flush_seen_);
  f.delivered = delivered_;
  for (auto& [seq, e] : log_)
    f.unstable.push_back(e);
  phase_ = phase::flushing;
  flush_answered_ = true;
  flush_seen_ = std::max(flush_seen_, new_view);
  flush_survivors_ = survivors;
  return f;
}

group_core::flush_step
group_core::on_flushed(uint64_t from, uint64_t new_view, const flushed& f) {
  flush_step out;
  if (!coordinating_ || new_view != flush_view_
      || std::find(flush_members_.begin(), flush_members_.end(), from)
           == flush_members_.end())
    return out; // a reply to a superseded flush
  flush_replies_[from] = f;
  for (auto m : flush_members_)
    if (flush_replies_.count(m) == 0)
      return out;
  // Union of everything any survivor delivered: includes every answered
  // invocation (max_sf backups held it) and the failed members' last ones.
  std::map<uint64_t, const log_entry*> all;
  // (This coordinator's own reply reports its view as well.)
  uint64_t top = view_;
  for (auto& [m, r] : flush_replies_) {
    top = std::max(top, r.view);
    for (auto& e : r.unstable)
      all.emplace(e.seq, &e);
  }
  // The members after delivering all of it: a join or leave entry that
  // this coordinator had not delivered changes them (newcomers are last).
  auto members = members_;
  for (auto& [seq, e] : all) {
    if (e->kind != entry_kind::membership)
      continue;
    top = std::max(top, e->view + 1);
    if (seq > delivered_)
      members = e->members;
  }
  std::vector<uint64_t> survivors;
  for (auto m : members)
    if (suspects_.count(m) == 0)
      survivors.push_back(m);
  bool asked_all = std::all_of(survivors.begin(), survivors.end(), [&](auto m) {
    return flush_replies_.count(m) > 0;
  });
  bool outside_new_view = survivors.empty() || survivors.front() != self_;
  if (!outside_new_view && (!asked_all || top >= flush_view_)) {
    // Another round: with the members the entries name (a newcomer that
    // was not asked may hold later entries, or need its state), above
    // every view a survivor has (it would refuse the install otherwise).
    flush_view_ = std::max(top, flush_view_) + 1;
    flush_members_ = survivors;
    flush_replies_.clear();
    out.kind = flush_step::reflush;
    out.msg.view = flush_view_;
    out.msg.members = survivors;
    return out;
  }
  out.kind = flush_step::install;
  // (The install for leavers only, which stop at it, is above their views.)
  out.msg.view = outside_new_view ? std::max(flush_view_, top + 1)
                                  : flush_view_;
  out.msg.members = survivors;
  for (auto& [seq, e] : all)
    out.msg.entries.push_back(*e);
  transfer_to_.clear();
  for (auto m : flush_members_) {
    bool stays = std::find(survivors.begin(), survivors.end(), m)
                 != survivors.end();
    if (outside_new_view && stays)
      continue;
    if (flush_replies_[m].has_state)
      out.to.push_back(m);
    else if (stays)
      transfer_to_.push_back(m);
  }
  // A member that a leave entry removed (delivered here, or among the
  // entries of this install) may not have delivered it: the entry was lost
  // with a failed primary, and it waits in its old view or for this flush.
  // The install tells it that it left (a member stops on a view without it).
  auto tell = [&](uint64_t m) {
    if (suspects_.count(m) == 0
        && std::find(survivors.begin(), survivors.end(), m) == survivors.end()
        && std::find(out.to.begin(), out.to.end(), m) == out.to.end())
      out.to.push_back(m);
  };
  for (auto m : untold_)
    tell(m);
  for (auto m : members_)
    tell(m);
  // outside_new_view: this coordinator is no member of the view (a leave entry
  // it had not delivered removes it). It installs only at the leaving members
  // (itself included), which then stop; their departure makes the others
  // flush again, coordinated by a member of the view.
  return out;
}

bool group_core::install(const install_msg& m) {
  if (m.view <= view_ || phase_ == phase::no_quorum)
    return false;
  if (std::find(m.members.begin(), m.members.end(), self_)
      == m.members.end()) {
    // A newer view without this member ends its membership, whatever flush
    // it answered since: it stops (a leaver that missed its leave entry
    // learns of it here; the view is empty if nobody else survived).
    // Nothing is delivered.
    members_ = m.members;
    view_ = m.view;
    return true;
  }
  // m.view < flush_seen_: the install of a coordinator that failed, still
  // in flight after this member answered the flush of its successor (which
  // reported everything this member delivered). Installing it would let
  // this member deliver the failed coordinator's later orders unreported.
  if (m.view < flush_seen_)
    return false;
  // A view with a member this replica knows failed comes from a coordinator
  // that did not know it yet, or failed itself (its install still in
  // flight): installing it would forget the suspicion (the monitor notifies
  // only once), and this member could then coordinate a flush waiting for
  // the failed member forever. The failure is certain to cause another
  // flush, to a higher view without it; until then, stay flushing.
  for (auto member : m.members)
    if (suspects_.count(member) > 0)
      return false;
  // This coordinator's own install, overtaken by a failure it learned of
  // meanwhile (one that the view does not list, e.g. a leaver's): it runs
  // a newer flush now, which the others answer after installing this one.
  if (coordinating_ && m.view < flush_view_)
    return false;
  // Exactly the install's entries: an order buffered behind a gap (a
  // failed primary's, which this member's flush reply did not report)
  // would otherwise be delivered here only, or stand in for the install's
  // entry of the same number.
  out_of_order_.clear();
  for (auto& e : m.entries)
    if (e.seq > delivered_)
      out_of_order_.emplace(e.seq, e);
  deliver_buffered(nullptr);
  out_of_order_.clear();
  // The installed view is not mixed into the digest (it used to be, as a
  // seq-0 membership entry): a member can miss the install of a view whose
  // coordinator failed after reaching only some members, and then receives
  // that view's entries through the next install. Its delivery log is the
  // same, but with the skipped view mixed in at different places the
  // members of one view would report different digests forever (status()
  // consumers compare digests). view() and members() tell views apart.
  members_ = m.members;
  view_ = m.view;
  installed_view_ = m.view;
  next_seq_ = delivered_ + 1;
  // Nothing is answered from before the install: waiting clients and
  // retries are answered through retry entries ordered after it.
  pending_.clear();
  acked_upto_.clear();
  joined_at_.clear();
  left_at_.clear();
  joins_.clear();
  suspects_.clear();
  flush_replies_.clear();
  flush_answered_ = false;
  flush_survivors_.clear();
  left_.clear();
  if (coordinating_ && m.view == flush_view_)
    for (auto member : transfer_to_)
      if (is_listed(member))
        transfers_.emplace_back(member, make_transfer());
  coordinating_ = false;
  flush_members_.clear();
  transfer_to_.clear();
  phase_ = phase::normal;
  return true;
}

uint64_t group_core::superseded_by(const install_msg& m) const {
  if (phase_ == phase::no_quorum || m.view <= view_ || m.view >= flush_seen_
      || m.members.empty())
    return 0;
  return flush_seen_;
}

group_core::suspicion group_core::on_install_refused(uint64_t member,
                                                     uint64_t view,
                                                     uint64_t seen) {
  suspicion out;
  if (view != view_ || !serving() || !is_primary() || !is_listed(member)
      || member == self_)
    return out;
  // No member failed: the view's members start again from a flush above
  // every view any of them answered (the refusing member reports its own).
  phase_ = phase::flushing;
  out.new_view = std::max({view_, flush_view_, flush_seen_, seen}) + 1;
  out.survivors = members_;
  coordinate(out);
  return out;
}

std::vector<std::pair<uint64_t, state_transfer>> group_core::take_transfers() {
  return std::exchange(transfers_, {});
}

state_transfer group_core::make_transfer() const {
  state_transfer st;
  st.view = view_;
  st.members = members_;
  st.delivered = delivered_;
  st.digest = digest_;
  st.state = res_->snapshot();
  dedup_.export_to(st.dedup_requests, st.dedup_replies);
  for (auto& [id, imp] : imports_) {
    st.import_ids.push_back(id);
    st.imports.push_back(imp);
  }
  for (auto& [seq, e] : log_)
    st.unstable.push_back(e);
  return st;
}

std::optional<group_core::membership_outcome>
group_core::join(uint64_t newcomer) {
  if (is_listed(newcomer))
    return std::nullopt;
  membership_outcome out;
  auto& e = out.entry;
  e.seq = next_seq_++;
  e.view = view_;
  e.sequencer = self_;
  e.kind = entry_kind::membership;
  e.members = members_;
  e.members.push_back(newcomer);
  apply(e);
  joined_at_[newcomer] = e.seq;
  // Completes once the backups delivered it, like any entry; the newcomer
  // gets its state then. A newcomer with state is in the view for good: if
  // this primary fails first, the flush finds the join entry at a survivor
  // and the coordinator sends the state instead (see flushed::has_state).
  pending_.emplace(e.seq, pending{0, reply_policy::first, {}, {}});
  joins_.emplace(e.seq, std::make_pair(newcomer, make_transfer()));
  out.done = complete_ready();
  return out;
}

std::optional<group_core::membership_outcome>
group_core::leave(uint64_t member) {
  auto i = std::find(members_.begin(), members_.end(), member);
  if (i == members_.end() || members_.size() == 1)
    return std::nullopt;
  log_entry e;
  e.seq = next_seq_++;
  e.view = view_;
  e.sequencer = self_;
  e.kind = entry_kind::membership;
  e.members = members_;
  e.members.erase(e.members.begin() + (i - members_.begin()));
  apply(e);
  membership_outcome out;
  if (is_primary()) {
    pending_.emplace(e.seq, pending{0, reply_policy::first, {}, {}});
    left_at_[member] = e.seq;
    out.done = complete_ready();
  } else {
    // This primary left: its clients retry at the new primary (counted
    // against the view without it, its pending entries would look held).
    pending_.clear();
  }
  out.entry = std::move(e);
  return out;
}

std::optional<log_entry> group_core::import_done(uint64_t id) {
  if (!is_primary() || !serving() || imports_.count(id) == 0)
    return std::nullopt;
  log_entry e;
  e.seq = next_seq_++;
  e.view = view_;
  e.sequencer = self_;
  e.kind = entry_kind::import_done;
  e.request = id;
  apply(e);
  pending_.emplace(e.seq, pending{0, reply_policy::first, {}, {}});
  return e;
}

std::vector<outgoing_call> group_core::take_owned() {
  return std::exchange(owned_, {});
}

std::vector<std::pair<uint64_t, outgoing_call>>
group_core::take_new_imports() {
  return std::exchange(new_imports_, {});
}

bool group_core::is_listed(uint64_t member) const {
  return std::find(members_.begin(), members_.end(), member) != members_.end();
}

bool group_core::may_coordinate(uint64_t member) const {
  return suspects_.count(member) == 0
         && (is_listed(member) || left_.count(member) > 0);
}

bool group_core::is_member() const {
  return is_listed(self_);
}

caf::error group_core::adopt(const state_transfer& st) {
  if (st.dedup_requests.size() != st.dedup_replies.size()
      || st.import_ids.size() != st.imports.size())
    return make_error(errc::invalid_argument, "malformed state transfer");
  {
    applying_guard at{{st.view, st.delivered}};
    if (auto err = res_->restore(st.state))
      return err;
  }
  view_ = st.view;
  installed_view_ = st.view;
  members_ = st.members;
  delivered_ = st.delivered;
  next_seq_ = delivered_ + 1;
  digest_ = st.digest;
  dedup_.import_from(st.dedup_requests, st.dedup_replies);
  imports_.clear();
  for (size_t i = 0; i < st.import_ids.size(); ++i)
    imports_.emplace(st.import_ids[i], st.imports[i]);
  // Everything from before (a newer transfer replaces an older one).
  suspects_.clear();
  log_.clear();
  for (auto& e : st.unstable)
    if (e.seq <= delivered_)
      log_.emplace(e.seq, e);
  out_of_order_.clear();
  pending_.clear();
  acked_upto_.clear();
  joined_at_.clear();
  left_at_.clear();
  joins_.clear();
  flush_answered_ = false;
  flush_survivors_.clear();
  left_.clear();
  untold_.clear();
  flush_seen_ = 0;
  coordinating_ = false;
  flush_view_ = 0;
  flush_members_.clear();
  flush_replies_.clear();
  transfer_to_.clear();
  transfers_.clear();
  owned_.clear();
  new_imports_.clear();
  phase_ = phase::normal;
  return caf::none;
}

} // namespace ftsr
