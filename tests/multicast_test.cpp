// CBCAST and ABCAST (multicast_core.hpp, multicast.hpp): the pure cores
// under many seeded random delivery orders (causal order never violated,
// also across a view change; one total order at every member, also when
// members and the takeover coordinator crash at random points), the classic
// examples, bad input, and endpoint actors in one actor system and across
// three in-process nodes, with an endpoint or a node failing mid-traffic.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "caf/all.hpp"

#include "actors/errors.hpp"
#include "replication/multicast.hpp"
#include "replication/multicast_core.hpp"
#include "tests/support/in_process_cluster.hpp"

using namespace ftsr;
using namespace std::chrono_literals;

namespace {

caf::message text(std::string x) {
  return caf::make_message(std::move(x));
}

std::string text_of(const caf::message& m) {
  return m.match_elements<std::string>() ? m.get_as<std::string>(0)
                                         : caf::to_string(m);
}

std::vector<std::string> texts(const std::vector<stamped_message>& ms) {
  std::vector<std::string> out;
  for (auto& m : ms)
    out.push_back(text_of(m.payload));
  return out;
}

std::vector<std::string> texts(const std::vector<abcast_data>& ds) {
  std::vector<std::string> out;
  for (auto& d : ds)
    out.push_back(text_of(d.payload));
  return out;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::vector<uint64_t> ids(size_t n) {
  std::vector<uint64_t> out;
  for (size_t i = 0; i < n; ++i)
    out.push_back(10 * (i + 1)); // ids are not indexes
  return out;
}

// -- CBCAST simulation --------------------------------------------------------

/// N members exchanging CBCASTs over a network that delivers in-flight
/// messages in random order, with retransmitted duplicates. Records each
/// message's causal history (what its sender had delivered when sending)
/// independently of vector timestamps and checks every delivery against it.
/// Optionally one member crashes, losing some of its in-flight messages,
/// and the survivors run the flush of causal_order's view change.
class causal_sim {
public:
  causal_sim(uint64_t seed, size_t n) : rng_(seed), members_(ids(n)) {
    for (auto m : members_)
      cores_.emplace_back(m, members_);
    delivered_.resize(n);
    flushed_.assign(n, false);
    removed_.assign(n, false);
    flushes_from_.resize(n);
  }

  void run(size_t sends, std::optional<size_t> crash_after = std::nullopt) {
    size_t sent = 0;
    while (!::testing::Test::HasFailure()) {
      if (crash_after && sent == *crash_after && !crashed_)
        crash();
      if (crashed_)
        step_view_change();
      bool can_send = sent < sends;
      if (can_send && (net_.empty() || coin(3))) {
        auto from = pick_live();
        send(from);
        ++sent;
      } else if (!net_.empty()) {
        deliver_one();
      } else if (!crashed_ || view_change_done()) {
        break;
      }
    }
  }

  /// Every live member delivered the same messages (of the crashed one: the
  /// same prefix), nothing is left buffered.
  void check_complete() {
    std::optional<std::set<std::string>> reference;
    for (size_t i = 0; i < members_.size(); ++i) {
      if (crashed_ && i == *victim_)
        continue;
      EXPECT_EQ(cores_[i].buffered(), 0u) << "member " << members_[i];
      if (!reference)
        reference = delivered_[i];
      else
        EXPECT_EQ(delivered_[i], *reference) << "member " << members_[i];
      for (auto& [key, sender] : sender_of_) {
        if (!crashed_ || sender != *victim_) {
          EXPECT_EQ(delivered_[i].count(key), 1u)
            << "member " << members_[i] << " misses " << key;
        }
      }
    }
    if (crashed_) {
      // The crashed member's surviving messages form a gap-free prefix.
      size_t count = 0;
      for (auto& [key, sender] : sender_of_)
        if (sender == *victim_ && reference->count(key) > 0)
          ++count;
      for (size_t k = 1; k <= count; ++k)
        EXPECT_EQ(reference->count(key_of(*victim_, k)), 1u);
    }
  }

  size_t discarded() const noexcept { return discarded_; }

private:
  struct packet {
    size_t to;
    size_t from;
    bool flush; // a relayed flush set rather than a direct message
    std::vector<stamped_message> msgs;
  };

  bool coin(int one_in) {
    return std::uniform_int_distribution<int>(0, one_in - 1)(rng_) == 0;
  }

  size_t pick(size_t n) {
    return std::uniform_int_distribution<size_t>(0, n - 1)(rng_);
  }

  size_t pick_live() {
    for (;;) {
      auto i = pick(members_.size());
      if (!crashed_ || i != *victim_)
        return i;
    }
  }

  std::string key_of(size_t sender, size_t nth) const {
    return std::to_string(members_[sender]) + "#" + std::to_string(nth);
  }

  void send(size_t from) {
    auto nth = ++sends_by_[from];
    auto key = key_of(from, nth);
    history_[key] = delivered_[from];
    sender_of_[key] = from;
    auto m = cores_[from].stamp(text(key));
    EXPECT_EQ(m.sender, members_[from]);
    record(from, m);
    for (size_t to = 0; to < members_.size(); ++to)
      if (to != from)
        net_.push_back({to, from, false, {m}});
  }

  void record(size_t at, const stamped_message& m) {
    auto key = text_of(m.payload);
    EXPECT_EQ(delivered_[at].count(key), 0u)
      << "member " << members_[at] << " delivered " << key << " twice";
    for (auto& dep : history_[key])
      EXPECT_EQ(delivered_[at].count(dep), 1u)
        << "member " << members_[at] << " delivered " << key
        << " before its causal predecessor " << dep;
    delivered_[at].insert(key);
  }

  void deliver_one() {
    auto i = pick(net_.size());
    auto p = net_[i];
    if (coin(10)) {
      // Leave it in flight: a retransmission arrives again later.
    } else {
      net_[i] = std::move(net_.back());
      net_.pop_back();
    }
    if (crashed_ && p.to == *victim_)
      return; // the crashed member receives nothing any more
    auto& core = cores_[p.to];
    if (p.flush) {
      if (!flushed_[p.to])
        start_flush(p.to); // learns of the failure from the flush
      auto out = core.receive_flushed(p.msgs);
      ASSERT_TRUE(out) << describe(out.error());
      for (auto& m : *out)
        record(p.to, m);
      flushes_from_[p.to].insert(p.from);
      return;
    }
    auto out = core.receive(p.msgs.front());
    ASSERT_TRUE(out) << describe(out.error());
    for (auto& m : *out)
      record(p.to, m);
  }

  void crash() {
    crashed_ = true;
    victim_ = pick(members_.size());
    // Some of its messages in flight are lost with it.
    std::vector<packet> kept;
    for (auto& p : net_)
      if (p.from != *victim_ || !coin(2))
        kept.push_back(std::move(p));
    net_ = std::move(kept);
  }

  /// Survivors notice the failure at random times, flush, and remove the
  /// victim once they have every other survivor's flush.
  void step_view_change() {
    auto f = members_[*victim_];
    for (size_t i = 0; i < members_.size(); ++i) {
      if (i == *victim_ || removed_[i])
        continue;
      if (!flushed_[i] && (coin(4) || net_.empty()))
        start_flush(i);
      if (flushed_[i] && flushes_from_[i].size() == members_.size() - 2) {
        auto gone = cores_[i].remove(f);
        ASSERT_TRUE(gone) << describe(gone.error());
        discarded_ += gone->size();
        removed_[i] = true;
        EXPECT_FALSE(cores_[i].is_live(f));
      }
    }
  }

  void start_flush(size_t i) {
    flushed_[i] = true;
    auto msgs = cores_[i].flush(members_[*victim_]);
    ASSERT_TRUE(msgs) << describe(msgs.error());
    for (size_t to = 0; to < members_.size(); ++to)
      if (to != i && to != *victim_)
        net_.push_back({to, i, true, *msgs});
  }

  bool view_change_done() const {
    for (size_t i = 0; i < members_.size(); ++i)
      if (i != *victim_ && !removed_[i])
        return false;
    return true;
  }

  std::mt19937_64 rng_;
  std::vector<uint64_t> members_;
  std::vector<causal_order> cores_;
  std::vector<packet> net_;
  std::vector<std::set<std::string>> delivered_;
  std::map<size_t, size_t> sends_by_;
  std::map<std::string, std::set<std::string>> history_;
  std::map<std::string, size_t> sender_of_;
  bool crashed_ = false;
  std::optional<size_t> victim_;
  std::vector<bool> flushed_;
  std::vector<bool> removed_;
  std::vector<std::set<size_t>> flushes_from_;
  size_t discarded_ = 0;
};

// -- ABCAST simulation --------------------------------------------------------

/// N members running the priority protocol over links that deliver in a
/// random interleaving: FIFO per link (as CAF), or fully reordered with
/// duplicates. Data and proposals to oneself travel the network too.
/// What the ABCAST simulators share: one total_order core per member, the
/// links between them (delivered in random order, or FIFO per link; in
/// random order a message stays in flight as a duplicate one time in ten),
/// each member's delivery log, and the failure-free messages.
template <class Wire>
class abcast_net {
protected:
  abcast_net(uint64_t seed, size_t n, bool fifo)
    : rng_(seed), fifo_(fifo), members_(ids(n)) {
    for (auto m : members_)
      cores_.emplace_back(m, members_);
    log_.resize(n);
  }

  virtual ~abcast_net() = default;

  /// True for a member that sends nothing any more (crashed).
  virtual bool silent(size_t) const {
    return false;
  }

  size_t pick(size_t n) {
    return std::uniform_int_distribution<size_t>(0, n - 1)(rng_);
  }

  void post(size_t from, size_t to, Wire w) {
    if (!silent(from))
      links_[{from, to}].push_back(std::move(w));
  }

  size_t index_of(uint64_t member) const {
    return static_cast<size_t>(
      std::find(members_.begin(), members_.end(), member) - members_.begin());
  }

  /// `from` multicasts its next message; returns its key.
  std::string submit(size_t from) {
    auto d = cores_[from].submit(text(std::to_string(members_[from]) + "#"
                                      + std::to_string(++sent_by_[from])));
    for (size_t to = 0; to < members_.size(); ++to)
      post(from, to, d);
    return text_of(d.payload);
  }

  /// Takes a message off a random link: (addressee, message).
  std::pair<size_t, Wire> take_one() {
    auto link = links_.begin();
    std::advance(link, pick(links_.size()));
    auto& q = link->second;
    auto at = fifo_ ? 0 : pick(q.size());
    auto w = q[at];
    if (fifo_ || pick(10) != 0)
      q.erase(q.begin() + static_cast<std::ptrdiff_t>(at));
    auto to = link->first.second;
    if (q.empty())
      links_.erase(link);
    return {to, std::move(w)};
  }

  /// Handles data, proposals and finals at `to`; false for other messages.
  bool handle_ordering(size_t to, const Wire& w) {
    auto& core = cores_[to];
    if (auto d = std::get_if<abcast_data>(&w)) {
      auto p = core.on_data(*d);
      EXPECT_TRUE(p) << describe(p.error());
      if (p && *p)
        post(to, index_of(d->sender), **p);
    } else if (auto p = std::get_if<abcast_proposal>(&w)) {
      auto f = core.on_proposal(*p);
      EXPECT_TRUE(f) << describe(f.error());
      if (f && *f)
        for (size_t i = 0; i < members_.size(); ++i)
          post(to, i, **f);
    } else if (auto f = std::get_if<abcast_final>(&w)) {
      auto out = core.on_final(*f);
      EXPECT_TRUE(out) << describe(out.error());
      if (out)
        for (auto& x : texts(*out))
          log_[to].push_back(x);
    } else {
      return false;
    }
    return true;
  }

  std::mt19937_64 rng_;
  bool fifo_;
  std::vector<uint64_t> members_;
  std::vector<total_order> cores_;
  std::map<std::pair<size_t, size_t>, std::vector<Wire>> links_;
  std::vector<std::vector<std::string>> log_;
  std::map<size_t, size_t> sent_by_;
};

class total_sim
  : public abcast_net<
      std::variant<abcast_data, abcast_proposal, abcast_final>> {
public:
  total_sim(uint64_t seed, size_t n, bool fifo) : abcast_net(seed, n, fifo) {
    // nop
  }

  void run(size_t sends) {
    size_t sent = 0;
    while (!::testing::Test::HasFailure()) {
      bool idle = links_.empty();
      if (sent < sends && (idle || pick(3) == 0)) {
        submit(pick(members_.size()));
        ++sent;
      } else if (!idle) {
        auto [to, w] = take_one();
        handle_ordering(to, w);
      } else {
        break;
      }
    }
  }

  void check(size_t sends) {
    for (size_t i = 0; i < members_.size(); ++i) {
      EXPECT_EQ(cores_[i].pending(), 0u);
      EXPECT_EQ(cores_[i].proposing(), 0u);
      EXPECT_EQ(log_[i].size(), sends) << "member " << members_[i];
      EXPECT_EQ(log_[i], log_[0]) << "members " << members_[i] << " and "
                                  << members_[0] << " disagree";
    }
    if (fifo_) {
      std::map<std::string, int> last; // sender -> last number delivered
      for (auto& key : log_[0]) {
        auto hash = key.find('#');
        auto sender = key.substr(0, hash);
        auto nth = std::stoi(key.substr(hash + 1));
        EXPECT_EQ(nth, last[sender] + 1) << "sender order broken at " << key;
        last[sender] = nth;
      }
    }
  }
};

/// total_sim with crashes: members crash at given steps (losing a random
/// part of what they still had in flight), survivors learn of each crash
/// at random times and run total_order's takeover (reports to the
/// coordinator, its decision to everyone) over the same network.
class total_crash_sim
  : public abcast_net<std::variant<abcast_data, abcast_proposal, abcast_final,
                                   abcast_report, abcast_takeover>> {
public:
  total_crash_sim(uint64_t seed, size_t n, bool fifo)
    : abcast_net(seed, n, fifo) {
    crashed_.assign(n, false);
    knows_.resize(n);
  }

  /// Crashes: (step, victim index or -1 for the current coordinator).
  void run(size_t sends, std::vector<std::pair<size_t, int>> crashes) {
    size_t sent = 0;
    size_t step = 0;
    while (!::testing::Test::HasFailure()) {
      for (auto& [at, who] : crashes)
        if (at == step)
          crash(who);
      ++step;
      detect();
      bool idle = links_.empty();
      if (sent < sends && (idle || pick(3) == 0)) {
        auto from = pick_live();
        sent_keys_[from].push_back(submit(from));
        ++sent;
      } else if (!idle) {
        deliver_one();
      } else if (all_detected() && step > max_step(crashes)) {
        break;
      }
    }
  }

  void check() {
    std::optional<size_t> ref;
    for (size_t i = 0; i < members_.size(); ++i) {
      if (crashed_[i])
        continue;
      EXPECT_EQ(cores_[i].pending(), 0u) << "member " << members_[i];
      EXPECT_EQ(cores_[i].proposing(), 0u) << "member " << members_[i];
      if (!ref) {
        ref = i;
      } else {
        EXPECT_EQ(log_[i], log_[*ref]) << "members " << members_[i] << " and "
                                       << members_[*ref] << " disagree";
      }
      // Every message of a survivor is delivered.
      std::set<std::string> got(log_[i].begin(), log_[i].end());
      EXPECT_EQ(got.size(), log_[i].size()) << "duplicate delivery";
      for (size_t s = 0; s < members_.size(); ++s) {
        if (crashed_[s])
          continue;
        for (auto& k : sent_keys_[s]) {
          EXPECT_EQ(got.count(k), 1u)
            << "member " << members_[i] << " misses " << k;
        }
      }
    }
    for (size_t s = 0; s < members_.size(); ++s)
      if (crashed_[s])
        for (auto& k : sent_keys_[s]) {
          if (std::count(log_[*ref].begin(), log_[*ref].end(), k) > 0)
            ++victim_delivered_;
          else
            ++victim_discarded_;
        }
  }

  size_t victim_delivered() const noexcept { return victim_delivered_; }
  size_t victim_discarded() const noexcept { return victim_discarded_; }

private:
  using wire = std::variant<abcast_data, abcast_proposal, abcast_final,
                            abcast_report, abcast_takeover>;

  bool silent(size_t member) const override {
    return crashed_[member];
  }

  static size_t max_step(const std::vector<std::pair<size_t, int>>& cs) {
    size_t out = 0;
    for (auto& c : cs)
      out = std::max(out, c.first);
    return out;
  }

  size_t pick_live() {
    for (;;) {
      auto i = pick(members_.size());
      if (!crashed_[i])
        return i;
    }
  }

  void crash(int who) {
    size_t v = 0;
    if (who >= 0) {
      v = static_cast<size_t>(who) % members_.size();
    } else { // the coordinator as the first live member sees it
      v = index_of(cores_[pick_live()].coordinator());
    }
    size_t live = 0;
    for (size_t i = 0; i < members_.size(); ++i)
      live += crashed_[i] ? 0 : 1;
    if (crashed_[v] || live <= 2)
      return; // keep two survivors
    crashed_[v] = true;
    for (auto i = links_.begin(); i != links_.end();) {
      auto [from, to] = i->first;
      auto& q = i->second;
      if (from == v) {
        if (fifo_) { // lose a suffix
          q.resize(pick(q.size() + 1));
        } else {
          std::vector<wire> kept;
          for (auto& w : q)
            if (pick(2) == 0)
              kept.push_back(w);
          q = std::move(kept);
        }
      }
      if (to == v || q.empty())
        i = links_.erase(i);
      else
        ++i;
    }
  }

  bool all_detected() const {
    for (size_t i = 0; i < members_.size(); ++i)
      for (size_t v = 0; v < members_.size(); ++v)
        if (!crashed_[i] && crashed_[v] && knows_[i].count(v) == 0)
          return false;
    return true;
  }

  void detect() {
    for (size_t i = 0; i < members_.size(); ++i)
      for (size_t v = 0; v < members_.size(); ++v)
        if (!crashed_[i] && crashed_[v] && knows_[i].count(v) == 0
            && (pick(8) == 0 || links_.empty()))
          fail(i, v);
  }

  void fail(size_t i, size_t v) {
    knows_[i].insert(v);
    auto steps = cores_[i].fail(members_[v]);
    ASSERT_TRUE(steps) << describe(steps.error());
    for (auto& f : steps->finals)
      for (size_t to = 0; to < members_.size(); ++to)
        post(i, to, f);
    for (auto& r : steps->reports)
      post(i, index_of(cores_[i].coordinator()), r);
    decide(i);
  }

  void decide(size_t i) {
    auto ts = cores_[i].decide();
    for (auto& t : ts)
      for (size_t to = 0; to < members_.size(); ++to)
        post(i, to, t);
    if (!ts.empty() && crash_deciders_ > 0) {
      --crash_deciders_; // while its takeover is in flight
      crash(static_cast<int>(i));
    }
  }

  void learn(size_t at, uint64_t failed) {
    auto v = index_of(failed);
    if (knows_[at].count(v) == 0)
      fail(at, v);
  }

  void deliver_one() {
    auto [to, w] = take_one();
    if (crashed_[to] || handle_ordering(to, w))
      return;
    auto& core = cores_[to];
    if (auto r = std::get_if<abcast_report>(&w)) {
      learn(to, r->failed);
      auto err = core.on_report(*r);
      ASSERT_FALSE(err) << describe(err);
      decide(to);
    } else {
      auto& t = std::get<abcast_takeover>(w);
      learn(to, t.failed);
      auto out = core.on_takeover(t);
      ASSERT_TRUE(out) << describe(out.error());
      for (auto& x : texts(*out))
        log_[to].push_back(x);
    }
  }

  std::map<size_t, std::vector<std::string>> sent_keys_;
  std::vector<bool> crashed_;
  std::vector<std::set<size_t>> knows_;
  size_t victim_delivered_ = 0;
  size_t victim_discarded_ = 0;

public:
  /// Crash this many coordinators right after they decide a takeover.
  size_t crash_deciders_ = 0;
};

} // namespace

// -- CBCAST core --------------------------------------------------------------

TEST(causal_order, later_message_waits_for_its_causal_predecessor) {
  // The classic example: 10 sends m1; 20 delivers it and sends m2; 30
  // receives m2 first and must hold it back until m1 arrives.
  std::vector<uint64_t> g{10, 20, 30};
  causal_order p1{10, g}, p2{20, g}, p3{30, g};
  auto m1 = p1.stamp(text("m1"));
  EXPECT_EQ(m1.vt, (std::vector<uint64_t>{1, 0, 0}));
  auto at2 = p2.receive(m1);
  ASSERT_TRUE(at2);
  EXPECT_EQ(texts(*at2), std::vector<std::string>{"m1"});
  auto m2 = p2.stamp(text("m2"));
  EXPECT_EQ(m2.vt, (std::vector<uint64_t>{1, 1, 0}));
  auto early = p3.receive(m2);
  ASSERT_TRUE(early);
  EXPECT_TRUE(early->empty());
  EXPECT_EQ(p3.buffered(), 1u);
  auto late = p3.receive(m1);
  ASSERT_TRUE(late);
  EXPECT_EQ(texts(*late), (std::vector<std::string>{"m1", "m2"}));
  EXPECT_EQ(p3.clock(), (std::vector<uint64_t>{1, 1, 0}));
  EXPECT_EQ(p3.buffered(), 0u);
  // Duplicates and old messages are ignored.
  auto dup = p3.receive(m2);
  ASSERT_TRUE(dup);
  EXPECT_TRUE(dup->empty());
  EXPECT_EQ(p3.clock(), (std::vector<uint64_t>{1, 1, 0}));
}

TEST(causal_order, concurrent_messages_are_delivered_as_they_come) {
  std::vector<uint64_t> g{1, 2, 3};
  causal_order p1{1, g}, p2{2, g}, p3{3, g};
  auto a = p1.stamp(text("a"));
  auto b = p2.stamp(text("b"));
  auto x = p3.receive(b);
  ASSERT_TRUE(x);
  EXPECT_EQ(texts(*x), std::vector<std::string>{"b"});
  auto y = p3.receive(a);
  ASSERT_TRUE(y);
  EXPECT_EQ(texts(*y), std::vector<std::string>{"a"});
  // A sender's messages are delivered in send order (FIFO is implied).
  auto a2 = p1.stamp(text("a2"));
  auto a3 = p1.stamp(text("a3"));
  for (auto& m : {a3, a2}) {
    auto z = p2.receive(m);
    ASSERT_TRUE(z);
    EXPECT_TRUE(z->empty());
  }
  auto z = p2.receive(a);
  ASSERT_TRUE(z);
  EXPECT_EQ(texts(*z), (std::vector<std::string>{"a", "a2", "a3"}));
}

TEST(causal_order, random_delivery_orders_never_violate_causality) {
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    causal_sim sim{seed, 2 + seed % 4};
    sim.run(20 + seed % 50);
    sim.check_complete();
    if (HasFailure())
      break;
  }
}

TEST(causal_order, flush_after_a_crash_leaves_survivors_agreeing) {
  size_t discarded = 0;
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    causal_sim sim{seed, 3 + seed % 3};
    sim.run(40 + seed % 30, 10 + seed % 25);
    sim.check_complete();
    discarded += sim.discarded();
    if (HasFailure())
      break;
  }
  // Some crash must have left a gap, or the discard path went untested.
  EXPECT_GT(discarded, 0u);
}

TEST(causal_order, view_change_discards_messages_beyond_the_gap) {
  std::vector<uint64_t> g{1, 2, 3};
  causal_order p1{1, g}, p2{2, g}, f{3, g};
  auto m1 = f.stamp(text("f1"));
  auto m2 = f.stamp(text("f2"));
  auto m3 = f.stamp(text("f3"));
  // f crashes: 1 got f1 and f3, 2 got only f3; nobody has f2.
  ASSERT_TRUE(p1.receive(m1));
  ASSERT_TRUE(p1.receive(m3));
  ASSERT_TRUE(p2.receive(m3));
  EXPECT_EQ(p1.buffered(), 1u);
  // A survivor cannot remove f before flushing it.
  auto early = p1.remove(3);
  ASSERT_FALSE(early);
  EXPECT_TRUE(contains(describe(early.error()), "must be flushed"));
  auto s1 = p1.flush(3);
  auto s2 = p2.flush(3);
  ASSERT_TRUE(s1 && s2);
  EXPECT_EQ(texts(*s1), (std::vector<std::string>{"f1", "f3"}));
  EXPECT_EQ(texts(*s2), std::vector<std::string>{"f3"});
  // Straight from f after the flush: ignored.
  auto late = p2.receive(m2);
  ASSERT_TRUE(late);
  EXPECT_TRUE(late->empty());
  auto got = p2.receive_flushed(*s1);
  ASSERT_TRUE(got);
  EXPECT_EQ(texts(*got), std::vector<std::string>{"f1"});
  ASSERT_TRUE(p1.receive_flushed(*s2));
  auto gone1 = p1.remove(3);
  auto gone2 = p2.remove(3);
  ASSERT_TRUE(gone1 && gone2);
  EXPECT_EQ(texts(*gone1), std::vector<std::string>{"f3"});
  EXPECT_EQ(texts(*gone2), std::vector<std::string>{"f3"});
  EXPECT_EQ(p1.clock(), p2.clock());
  EXPECT_EQ(p1.clock(), (std::vector<uint64_t>{0, 0, 1}));
  EXPECT_EQ(p1.buffered() + p2.buffered(), 0u);
  // The survivors go on; f's entry stays frozen.
  auto a = p1.stamp(text("a"));
  auto r = p2.receive(a);
  ASSERT_TRUE(r);
  EXPECT_EQ(texts(*r), std::vector<std::string>{"a"});
  // A message claiming a dependency on f's discarded messages is refused.
  auto bogus = a;
  bogus.vt = {2, 0, 3};
  auto refused = p2.receive(bogus);
  ASSERT_FALSE(refused);
  EXPECT_TRUE(contains(describe(refused.error()), "removed member 3"))
    << describe(refused.error());
}

TEST(causal_order, bad_input_is_refused_without_state_change) {
  std::vector<uint64_t> g{1, 2, 3};
  causal_order p{1, g}, q{2, g};
  auto m = q.stamp(text("x"));
  auto clock = p.clock();
  auto expect_refused = [&](stamped_message bad, const std::string& what) {
    auto r = p.receive(std::move(bad));
    ASSERT_FALSE(r);
    EXPECT_TRUE(is(r.error(), errc::invalid_argument));
    EXPECT_TRUE(contains(describe(r.error()), what)) << describe(r.error());
    EXPECT_EQ(p.clock(), clock);
    EXPECT_EQ(p.buffered(), 0u);
  };
  auto short_vt = m;
  short_vt.vt = {0, 1};
  expect_refused(short_vt, "vector timestamp has 2 entries, the group has 3");
  auto long_vt = m;
  long_vt.vt = {0, 1, 0, 0};
  expect_refused(long_vt, "vector timestamp has 4 entries");
  auto stranger = m;
  stranger.sender = 99;
  expect_refused(stranger, "unknown sender 99");
  auto forged = m;
  forged.sender = 1;
  forged.vt = {5, 0, 0};
  expect_refused(forged, "claims to be from member 1 itself");
  // The real message still gets through afterwards.
  auto ok = p.receive(m);
  ASSERT_TRUE(ok);
  EXPECT_EQ(texts(*ok), std::vector<std::string>{"x"});
  // View-change misuse.
  EXPECT_FALSE(p.flush(1));
  EXPECT_FALSE(p.flush(42));
  EXPECT_FALSE(p.receive_flushed({m}));
  EXPECT_TRUE(contains(describe(p.learn(2, {1, 2})), "has 2 entries"));
  EXPECT_TRUE(contains(describe(p.learn(42, {0, 0, 0})), "unknown member 42"));
}

TEST(causal_order, stable_messages_are_not_retained) {
  std::vector<uint64_t> g{1, 2};
  causal_order p{1, g}, q{2, g};
  // Learned from a message: b's timestamp says q delivered a.
  auto a = p.stamp(text("a"));
  EXPECT_EQ(p.retained(), 1u);
  ASSERT_TRUE(q.receive(a));
  auto b = q.stamp(text("b"));
  ASSERT_TRUE(p.receive(b));
  EXPECT_EQ(p.retained(), 0u);
  // Learned from a clock report.
  auto c = p.stamp(text("c"));
  EXPECT_EQ(p.retained(), 1u);
  ASSERT_TRUE(q.receive(c));
  EXPECT_TRUE(p.learn(2, {1})); // refused: wrong size
  EXPECT_EQ(p.retained(), 1u);
  EXPECT_FALSE(p.learn(2, q.clock()));
  EXPECT_EQ(p.retained(), 0u);
}

TEST(validate_members, rejects_bad_member_lists) {
  EXPECT_FALSE(validate_members(1, {1, 2, 3}));
  EXPECT_TRUE(contains(describe(validate_members(1, {})), "no members"));
  EXPECT_TRUE(contains(describe(validate_members(1, {1, 2, 2})),
                       "member 2 listed twice"));
  EXPECT_TRUE(contains(describe(validate_members(4, {1, 2})),
                       "member 4 is not in its own member list"));
  EXPECT_TRUE(contains(describe(validate_members(1, {1, 0})), "id 0"));
}

// -- ABCAST core --------------------------------------------------------------

TEST(total_order, ties_break_by_proposer_id) {
  // 1 sends a, 2 sends b; each member proposes 1 for its own message first
  // and 2 for the other: a ends at (2, by 2), b at (2, by 1): b comes first
  // everywhere.
  std::vector<uint64_t> g{1, 2};
  total_order p1{1, g}, p2{2, g};
  auto a = p1.submit(text("a"));
  auto b = p2.submit(text("b"));
  auto a1 = p1.on_data(a), b2 = p2.on_data(b);
  auto b1 = p1.on_data(b), a2 = p2.on_data(a);
  ASSERT_TRUE(a1 && b2 && b1 && a2);
  EXPECT_EQ((*a1)->priority, 1u);
  EXPECT_EQ((*a2)->priority, 2u);
  ASSERT_TRUE(p1.on_proposal(**a1));
  auto fa = p1.on_proposal(**a2);
  ASSERT_TRUE(fa && *fa);
  EXPECT_EQ((*fa)->priority, 2u);
  EXPECT_EQ((*fa)->proposer, 2u);
  ASSERT_TRUE(p2.on_proposal(**b2));
  auto fb = p2.on_proposal(**b1);
  ASSERT_TRUE(fb && *fb);
  EXPECT_EQ((*fb)->proposer, 1u);
  auto x1 = p1.on_final(**fa);
  ASSERT_TRUE(x1);
  EXPECT_TRUE(x1->empty()); // b (2, by 1) is ahead and not final yet
  auto y1 = p1.on_final(**fb);
  ASSERT_TRUE(y1);
  EXPECT_EQ(texts(*y1), (std::vector<std::string>{"b", "a"}));
  auto x2 = p2.on_final(**fb);
  auto y2 = p2.on_final(**fa);
  ASSERT_TRUE(x2 && y2);
  EXPECT_EQ(texts(*x2), std::vector<std::string>{"b"});
  EXPECT_EQ(texts(*y2), std::vector<std::string>{"a"});
}

TEST(total_order, single_member_delivers_its_own_messages_in_order) {
  total_order p{7, {7}};
  for (auto x : {"a", "b"}) {
    auto d = p.submit(text(x));
    auto prop = p.on_data(d);
    ASSERT_TRUE(prop && *prop);
    auto f = p.on_proposal(**prop);
    ASSERT_TRUE(f && *f);
    auto out = p.on_final(**f);
    ASSERT_TRUE(out);
    EXPECT_EQ(texts(*out), std::vector<std::string>{x});
  }
  EXPECT_EQ(p.pending(), 0u);
}

TEST(total_order, random_delivery_orders_yield_one_total_order) {
  for (bool fifo : {true, false})
    for (uint64_t seed = 1; seed <= 300; ++seed) {
      SCOPED_TRACE("seed " + std::to_string(seed)
                   + (fifo ? " (FIFO links)" : " (reordering links)"));
      size_t sends = 10 + seed % 40;
      total_sim sim{seed, 2 + seed % 4, fifo};
      sim.run(sends);
      sim.check(sends);
      if (HasFailure())
        return;
    }
}

TEST(total_order, crash_at_random_points_leaves_survivors_agreeing) {
  size_t delivered = 0, discarded = 0;
  for (bool fifo : {true, false})
    for (uint64_t seed = 1; seed <= 300; ++seed) {
      SCOPED_TRACE("seed " + std::to_string(seed)
                   + (fifo ? " (FIFO links)" : " (reordering links)"));
      total_crash_sim sim{seed, 3 + seed % 3, fifo};
      sim.run(30 + seed % 40,
              {{5 + seed % 60, static_cast<int>(seed % 5)}});
      sim.check();
      delivered += sim.victim_delivered();
      discarded += sim.victim_discarded();
      if (HasFailure())
        return;
    }
  // Both outcomes for the failed sender's messages were exercised.
  EXPECT_GT(delivered, 0u);
  EXPECT_GT(discarded, 0u);
}

TEST(total_order, coordinator_crash_during_a_takeover) {
  // A member crashes, then (often while the takeover is running) the
  // coordinator deciding it: the next one takes over.
  for (bool fifo : {true, false})
    for (uint64_t seed = 1; seed <= 300; ++seed) {
      SCOPED_TRACE("seed " + std::to_string(seed)
                   + (fifo ? " (FIFO links)" : " (reordering links)"));
      total_crash_sim sim{seed, 4 + seed % 2, fifo};
      sim.crash_deciders_ = seed % 2;
      auto first = 5 + seed % 40;
      sim.run(40 + seed % 30, {{first, static_cast<int>(1 + seed % 3)},
                               {first + 1 + seed % 12, -1}});
      sim.check();
      if (HasFailure())
        return;
    }
}

TEST(total_order, takeover_delivers_or_discards_the_failed_senders_messages) {
  // 3 sends a (everyone has it, no final yet), b (only 1 has it) and c
  // (final, reached only 1), then crashes.
  std::vector<uint64_t> g{1, 2, 3};
  total_order p1{1, g}, p2{2, g}, p3{3, g};
  auto a = p3.submit(text("a"));
  auto c = p3.submit(text("c"));
  auto b = p3.submit(text("b"));
  auto pa1 = p1.on_data(a), pa2 = p2.on_data(a);
  auto pc1 = p1.on_data(c), pc2 = p2.on_data(c), pc3 = p3.on_data(c);
  auto pb1 = p1.on_data(b);
  ASSERT_TRUE(pa1 && pa2 && pc1 && pc2 && pc3 && pb1);
  ASSERT_TRUE(p3.on_proposal(**pc1));
  ASSERT_TRUE(p3.on_proposal(**pc2));
  auto fc = p3.on_proposal(**pc3);
  ASSERT_TRUE(fc && *fc);
  auto early = p1.on_final(**fc);
  ASSERT_TRUE(early);
  EXPECT_TRUE(early->empty()); // a is ahead of c at 1
  // A message of 2 waits for 3's proposal.
  auto x = p2.submit(text("x"));
  auto px1 = p1.on_data(x), px2 = p2.on_data(x);
  ASSERT_TRUE(px1 && px2);
  ASSERT_TRUE(p2.on_proposal(**px1));
  auto none = p2.on_proposal(**px2);
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  EXPECT_EQ(p2.proposing(), 1u);
  // 3 fails. 1 is the coordinator.
  auto s1 = p1.fail(3);
  auto s2 = p2.fail(3);
  ASSERT_TRUE(s1 && s2);
  EXPECT_EQ(p1.coordinator(), 1u);
  EXPECT_TRUE(s1->finals.empty());
  ASSERT_EQ(s2->finals.size(), 1u); // x no longer waits for 3
  EXPECT_EQ(p2.proposing(), 0u);
  ASSERT_EQ(s1->reports.size(), 1u);
  ASSERT_EQ(s2->reports.size(), 1u);
  EXPECT_FALSE(p1.on_report(s1->reports[0]));
  EXPECT_TRUE(p1.decide().empty()); // 2 has not reported
  // Late data and finals from 3 are ignored.
  auto late = p2.on_final(**fc);
  ASSERT_TRUE(late);
  EXPECT_TRUE(late->empty());
  EXPECT_FALSE(p1.on_report(s2->reports[0]));
  auto ts = p1.decide();
  ASSERT_EQ(ts.size(), 1u);
  EXPECT_EQ(ts[0].finals.size(), 2u); // a and c; b is discarded
  std::vector<std::string> log1, log2;
  for (auto* p : {&p1, &p2}) {
    auto& log = p == &p1 ? log1 : log2;
    auto fx = p->on_final(s2->finals[0]);
    ASSERT_TRUE(fx) << describe(fx.error());
    for (auto& t : texts(*fx))
      log.push_back(t);
    auto out = p->on_takeover(ts[0]);
    ASSERT_TRUE(out) << describe(out.error());
    for (auto& t : texts(*out))
      log.push_back(t);
    EXPECT_EQ(p->pending(), 0u);
    EXPECT_TRUE(p->taken_over(3));
  }
  EXPECT_EQ(log1, log2);
  std::set<std::string> got(log1.begin(), log1.end());
  EXPECT_EQ(got, (std::set<std::string>{"a", "c", "x"}));
  // Duplicates are ignored; misuse is refused.
  auto dup = p1.on_takeover(ts[0]);
  ASSERT_TRUE(dup);
  EXPECT_TRUE(dup->empty());
  EXPECT_FALSE(p1.fail(3));
  EXPECT_FALSE(p1.fail(1));
  EXPECT_FALSE(p1.fail(9));
  total_order q{1, g};
  EXPECT_TRUE(q.on_report(s2->reports[0])); // 3 has not failed at q
  EXPECT_FALSE(q.on_takeover(ts[0]));
  EXPECT_EQ(p1.live_members(), (std::vector<uint64_t>{1, 2}));
}

TEST(total_order, bad_input_is_refused_without_state_change) {
  std::vector<uint64_t> g{1, 2, 3};
  total_order p{1, g}, q{2, g};
  auto d = q.submit(text("x"));
  auto expect_error = [](auto r, const std::string& what) {
    ASSERT_FALSE(r);
    EXPECT_TRUE(is(r.error(), errc::invalid_argument));
    EXPECT_TRUE(contains(describe(r.error()), what)) << describe(r.error());
  };
  expect_error(p.on_data({99, 1, text("y")}), "unknown sender 99");
  expect_error(p.on_data({2, 0, text("y")}), "number 0");
  expect_error(p.on_data({1, 1, text("y")}), "claims to be from member 1");
  expect_error(p.on_final({2, 1, 5, 3}), "never received");
  expect_error(p.on_final({2, 1, 5, 99}), "unknown member 99");
  expect_error(p.on_proposal({2, 1, 3, 4}), "message of member 2");
  expect_error(p.on_proposal({1, 1, 3, 4}), "never sent");
  auto mine = p.submit(text("m"));
  expect_error(p.on_proposal({1, mine.number, 99, 4}), "unknown member 99");
  EXPECT_EQ(p.pending(), 0u);
  // The state is intact: the first real message gets priority 1.
  auto prop = p.on_data(d);
  ASSERT_TRUE(prop && *prop);
  EXPECT_EQ((*prop)->priority, 1u);
  // A final below this member's own proposal is inconsistent.
  expect_error(p.on_final({2, d.number, 0, 1}), "below member 1's proposal");
  EXPECT_EQ(p.pending(), 1u);
}

// -- endpoints in one actor system --------------------------------------------

namespace {

struct delivery {
  uint64_t sender;
  std::string text;

  friend bool operator==(const delivery& x, const delivery& y) {
    return x.sender == y.sender && x.text == y.text;
  }
};

std::ostream& operator<<(std::ostream& out, const delivery& x) {
  return out << x.sender << ":" << x.text;
}

/// Receives `n` deliveries; stops early (with fewer) after 10 s of silence.
std::vector<delivery> collect(caf::scoped_actor& self, size_t n) {
  std::vector<delivery> out;
  bool silent = false;
  while (out.size() < n && !silent)
    self->receive(
      [&](mcast_delivered_atom, uint64_t sender, const caf::message& payload) {
        out.push_back({sender, text_of(payload)});
      },
      caf::after(std::chrono::seconds(10)) >> [&] { silent = true; });
  return out;
}

/// A delivery or a view notification ("view:1,2"), as deliver_to sees it.
struct event {
  uint64_t sender = 0; // 0 for a view
  std::string text;
};

std::string view_text(const std::vector<uint64_t>& members) {
  std::string out = "view:";
  for (size_t i = 0; i < members.size(); ++i)
    out += (i > 0 ? "," : "") + std::to_string(members[i]);
  return out;
}

/// Receives events until `done` holds (or 10 s of silence).
std::vector<event>
collect_events(caf::scoped_actor& self,
               const std::function<bool(const std::vector<event>&)>& done) {
  std::vector<event> out;
  bool silent = false;
  while (!done(out) && !silent)
    self->receive(
      [&](mcast_delivered_atom, uint64_t sender, const caf::message& payload) {
        out.push_back({sender, text_of(payload)});
      },
      [&](mcast_view_atom, const std::vector<uint64_t>& members) {
        out.push_back({0, view_text(members)});
      },
      caf::after(std::chrono::seconds(10)) >> [&] { silent = true; });
  return out;
}

size_t count_views(const std::vector<event>& es) {
  return static_cast<size_t>(std::count_if(
    es.begin(), es.end(), [](const event& e) { return e.sender == 0; }));
}

/// The texts of `es` that start with `prefix` (and views, if asked).
std::vector<std::string> select(const std::vector<event>& es,
                                const std::string& prefix) {
  std::vector<std::string> out;
  for (auto& e : es)
    if (e.text.compare(0, prefix.size(), prefix) == 0)
      out.push_back(e.text);
  return out;
}

/// True if nothing arrived for `self` (without waiting).
bool nothing_pending(caf::scoped_actor& self) {
  bool none = false;
  self->receive([](mcast_delivered_atom, uint64_t, const caf::message&) {},
                caf::after(std::chrono::seconds(0)) >> [&] { none = true; });
  return none;
}

multicast_status status(caf::scoped_actor& self, const caf::actor& ep) {
  multicast_status result;
  self->request(ep, std::chrono::seconds(10), mcast_status_atom::value)
    .receive([&](multicast_status& s) { result = std::move(s); },
             [](caf::error& err) { FAIL() << describe(err); });
  return result;
}

class local_config : public caf::actor_system_config {
public:
  local_config() {
    add_multicast_types(*this);
    ftsr::add_error_category(*this);
  }
};

class multicast_local : public ::testing::Test {
public:
  void SetUp() override {
    for (size_t i = 0; i < 3; ++i)
      owners.push_back(std::make_unique<caf::scoped_actor>(sys));
    std::map<uint64_t, caf::actor> all;
    for (size_t i = 0; i < 3; ++i) {
      auto ep = spawn_multicast_endpoint(sys, group[i], group,
                                         caf::actor{*owners[i]});
      ASSERT_TRUE(ep) << describe(ep.error());
      endpoints.push_back(*ep);
      all.emplace(group[i], *ep);
    }
    connect_multicast_endpoints(all);
  }

  void TearDown() override {
    for (auto& ep : endpoints)
      caf::anon_send_exit(ep, caf::exit_reason::user_shutdown);
  }

  void mcast(size_t i, ordering o, const std::string& x) {
    (*owners[i])->send(endpoints[i], mcast_atom::value, o, text(x));
  }

  local_config cfg;
  caf::actor_system sys{cfg};
  std::vector<uint64_t> group{101, 202, 303};
  std::vector<std::unique_ptr<caf::scoped_actor>> owners;
  std::vector<caf::actor> endpoints;
};

} // namespace

TEST_F(multicast_local, every_endpoint_delivers_one_total_order) {
  for (int k = 0; k < 20; ++k)
    for (size_t i = 0; i < 3; ++i)
      mcast(i, ordering::total, std::to_string(group[i]) + "#"
                                  + std::to_string(k));
  std::vector<std::vector<delivery>> got;
  for (auto& o : owners)
    got.push_back(collect(*o, 60));
  ASSERT_EQ(got[0].size(), 60u);
  EXPECT_EQ(got[1], got[0]);
  EXPECT_EQ(got[2], got[0]);
  std::map<uint64_t, int> next;
  for (auto& d : got[0]) {
    EXPECT_EQ(d.text, std::to_string(d.sender) + "#"
                        + std::to_string(next[d.sender]++))
      << "sender order broken";
  }
  for (auto& o : owners)
    EXPECT_TRUE(nothing_pending(*o));
}

TEST_F(multicast_local, causal_chain_is_delivered_in_order_everywhere) {
  // 101 sends a; 202 sends b after delivering a; 303 sends c after b.
  mcast(0, ordering::causal, "a");
  auto at1 = collect(*owners[1], 1);
  ASSERT_EQ(at1, (std::vector<delivery>{{101, "a"}}));
  mcast(1, ordering::causal, "b");
  auto at2 = collect(*owners[2], 2);
  ASSERT_EQ(at2, (std::vector<delivery>{{101, "a"}, {202, "b"}}));
  mcast(2, ordering::causal, "c");
  auto at0 = collect(*owners[0], 3);
  EXPECT_EQ(at0, (std::vector<delivery>{{101, "a"}, {202, "b"}, {303, "c"}}));
  auto rest1 = collect(*owners[1], 2);
  EXPECT_EQ(rest1, (std::vector<delivery>{{202, "b"}, {303, "c"}}));
  auto rest2 = collect(*owners[2], 1);
  EXPECT_EQ(rest2, (std::vector<delivery>{{303, "c"}}));
  auto st = status(*owners[0], endpoints[0]);
  EXPECT_EQ(st.clock, (std::vector<uint64_t>{1, 1, 1}));
  EXPECT_EQ(st.delivered, 3u);
  EXPECT_EQ(st.rejected, 0u);
}

TEST_F(multicast_local, killed_endpoint_is_removed_and_survivors_go_on) {
  // All three send causal ("c") and total ("t") messages; 303's endpoint is
  // killed in the middle; the survivors send more.
  for (int k = 0; k < 10; ++k)
    for (size_t i = 0; i < 3; ++i) {
      auto tag = std::to_string(group[i]) + "#" + std::to_string(k);
      mcast(i, ordering::causal, "c" + tag);
      mcast(i, ordering::total, "t" + tag);
    }
  caf::anon_send_exit(endpoints[2], caf::exit_reason::kill);
  for (int k = 10; k < 20; ++k)
    for (size_t i = 0; i < 2; ++i) {
      auto tag = std::to_string(group[i]) + "#" + std::to_string(k);
      mcast(i, ordering::causal, "c" + tag);
      mcast(i, ordering::total, "t" + tag);
    }
  // Survivors deliver their 80 messages and one view.
  auto done = [](const std::vector<event>& es) {
    size_t from_survivors = 0;
    for (auto& e : es)
      if (e.sender == 101 || e.sender == 202)
        ++from_survivors;
    return from_survivors == 80 && count_views(es) == 1;
  };
  std::vector<std::vector<event>> got;
  for (size_t i = 0; i < 2; ++i)
    got.push_back(collect_events(*owners[i], done));
  for (size_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(done(got[i])) << "member " << group[i];
    // The view comes after every message of 303.
    auto view = std::find_if(got[i].begin(), got[i].end(),
                             [](const event& e) { return e.sender == 0; });
    EXPECT_EQ(view->text, "view:101,202");
    for (auto e = view; e != got[i].end(); ++e)
      EXPECT_NE(e->sender, 303u) << e->text << " after the view";
    // Each sender's causal messages in send order.
    std::map<uint64_t, int> next;
    for (auto& e : got[i]) {
      if (e.text[0] == 'c') {
        EXPECT_EQ(e.text, "c" + std::to_string(e.sender) + "#"
                            + std::to_string(next[e.sender]++));
      }
    }
    EXPECT_EQ(next[101], 20);
    EXPECT_EQ(next[202], 20);
    auto st = status(*owners[i], endpoints[i]);
    EXPECT_EQ(st.view, (std::vector<uint64_t>{101, 202}));
    EXPECT_EQ(st.failed, std::vector<uint64_t>{303});
    EXPECT_EQ(st.total_pending + st.causal_buffered, 0u);
    EXPECT_EQ(st.rejected, 0u) << st.last_error;
  }
  // One total order; the same causal messages of 303.
  EXPECT_EQ(select(got[0], "t"), select(got[1], "t"));
  EXPECT_EQ(select(got[1], "t").size()
              - select(got[1], "t303").size(), 40u);
  auto c0 = select(got[0], "c303"), c1 = select(got[1], "c303");
  EXPECT_EQ(std::set<std::string>(c0.begin(), c0.end()),
            std::set<std::string>(c1.begin(), c1.end()));
  for (size_t i = 0; i < 2; ++i)
    EXPECT_TRUE(nothing_pending(*owners[i]));
  // Survivors keep delivering after the view change.
  mcast(1, ordering::total, "after");
  for (size_t i = 0; i < 2; ++i)
    EXPECT_EQ(collect(*owners[i], 1), (std::vector<delivery>{{202, "after"}}));
}

TEST(multicast_endpoint, suspected_member_is_flushed_and_taken_over) {
  // The test plays member 3: it hands a causal message to 1 only, an
  // ABCAST a to both and b to 1 only, never finalizes them and never
  // proposes; then both survivors are told that 3 failed.
  local_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor o1{sys}, o2{sys}, fake3{sys};
  std::vector<uint64_t> g{1, 2, 3};
  auto ep1 = spawn_multicast_endpoint(sys, 1, g, o1, {{3, fake3}});
  auto ep2 = spawn_multicast_endpoint(sys, 2, g, o2, {{3, fake3}});
  ASSERT_TRUE(ep1 && ep2);
  connect_multicast_endpoints({{1, *ep1}, {2, *ep2}});
  causal_order c3{3, g};
  total_order t3{3, g};
  auto f1 = c3.stamp(text("f1"));
  auto a = t3.submit(text("a"));
  auto b = t3.submit(text("b"));
  fake3->send(*ep1, mcast_causal_atom::value, f1);
  fake3->send(*ep1, mcast_data_atom::value, a);
  fake3->send(*ep2, mcast_data_atom::value, a);
  fake3->send(*ep1, mcast_data_atom::value, b);
  o1->send(*ep1, mcast_atom::value, ordering::total, text("x"));
  EXPECT_EQ(collect(o1, 1), (std::vector<delivery>{{3, "f1"}}));
  // x waits for 3's proposal; a for its final.
  EXPECT_EQ(status(fake3, *ep1).total_pending, 3u);
  EXPECT_EQ(status(fake3, *ep2).total_pending, 2u);
  EXPECT_TRUE(nothing_pending(o1));
  EXPECT_TRUE(nothing_pending(o2));
  for (auto* ep : {&*ep1, &*ep2})
    fake3->request(*ep, std::chrono::seconds(10), mcast_suspect_atom::value,
                   uint64_t{3})
      .receive([] {}, [](caf::error& err) { FAIL() << describe(err); });
  auto has_view = [](const std::vector<event>& es) {
    return count_views(es) == 1;
  };
  auto e1 = collect_events(o1, has_view);
  auto e2 = collect_events(o2, has_view);
  ASSERT_TRUE(has_view(e1) && has_view(e2));
  // 2 got f1 through 1's flush, before the view; b was discarded.
  auto all2 = select(e2, "");
  ASSERT_EQ(all2.size(), 4u);
  EXPECT_EQ(all2[0], "f1");
  EXPECT_EQ(all2.back(), "view:1,2");
  auto all1 = select(e1, "");
  EXPECT_EQ(all1, std::vector<std::string>(all2.begin() + 1, all2.end()));
  EXPECT_EQ(std::set<std::string>(all1.begin(), all1.end() - 1),
            (std::set<std::string>{"a", "x"}));
  for (auto* ep : {&*ep1, &*ep2}) {
    auto st = status(fake3, *ep);
    EXPECT_EQ(st.view, (std::vector<uint64_t>{1, 2}));
    EXPECT_EQ(st.total_pending + st.causal_buffered, 0u);
    EXPECT_EQ(st.rejected, 0u) << st.last_error;
  }
  // Suspecting a non-member or oneself is refused.
  fake3->request(*ep1, std::chrono::seconds(10), mcast_suspect_atom::value,
                 uint64_t{1})
    .receive([] { FAIL() << "accepted"; },
             [](caf::error& err) {
               EXPECT_TRUE(contains(describe(err), "not another member"));
             });
  for (auto* ep : {&*ep1, &*ep2})
    caf::anon_send_exit(*ep, caf::exit_reason::user_shutdown);
}

TEST(multicast_endpoint, holds_back_a_message_until_its_causal_predecessor) {
  // The test plays members 1 and 2 and hands member 3's endpoint m2 (which
  // depends on m1) before m1.
  local_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor owner{sys};
  std::vector<uint64_t> g{1, 2, 3};
  auto ep = spawn_multicast_endpoint(sys, 3, g, owner);
  ASSERT_TRUE(ep) << describe(ep.error());
  causal_order p1{1, g}, p2{2, g};
  auto m1 = p1.stamp(text("m1"));
  ASSERT_TRUE(p2.receive(m1));
  auto m2 = p2.stamp(text("m2"));
  owner->send(*ep, mcast_causal_atom::value, m2);
  auto st = status(owner, *ep);
  EXPECT_EQ(st.causal_buffered, 1u);
  EXPECT_EQ(st.delivered, 0u);
  EXPECT_TRUE(nothing_pending(owner));
  owner->send(*ep, mcast_causal_atom::value, m1);
  EXPECT_EQ(collect(owner, 2),
            (std::vector<delivery>{{1, "m1"}, {2, "m2"}}));
  caf::anon_send_exit(*ep, caf::exit_reason::user_shutdown);
}

TEST(multicast_endpoint, drops_malformed_peer_messages_without_state_change) {
  local_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor owner{sys};
  std::vector<uint64_t> g{1, 2, 3};
  auto ep = spawn_multicast_endpoint(sys, 1, g, owner);
  ASSERT_TRUE(ep);
  owner->send(*ep, mcast_causal_atom::value,
              stamped_message{2, {0, 1}, text("short")});
  auto st = status(owner, *ep);
  EXPECT_EQ(st.rejected, 1u);
  EXPECT_TRUE(contains(st.last_error, "vector timestamp has 2 entries"))
    << st.last_error;
  owner->send(*ep, mcast_causal_atom::value,
              stamped_message{9, {0, 1, 0}, text("stranger")});
  owner->send(*ep, mcast_final_atom::value, abcast_final{2, 1, 1, 2});
  st = status(owner, *ep);
  EXPECT_EQ(st.rejected, 3u);
  EXPECT_TRUE(contains(st.last_error, "never received")) << st.last_error;
  EXPECT_EQ(st.clock, (std::vector<uint64_t>{0, 0, 0}));
  EXPECT_EQ(st.causal_buffered + st.total_pending + st.delivered, 0u);
  EXPECT_TRUE(nothing_pending(owner));
  // An ordering that does not exist.
  owner->request(*ep, std::chrono::seconds(10), mcast_atom::value,
                 static_cast<ordering>(7), text("x"))
    .receive([] { FAIL() << "accepted"; },
             [](caf::error& err) {
               EXPECT_TRUE(contains(describe(err), "unknown ordering 7"))
                 << describe(err);
             });
  caf::anon_send_exit(*ep, caf::exit_reason::user_shutdown);
}

TEST(multicast_endpoint, spawn_rejects_bad_arguments) {
  local_config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor owner{sys};
  auto check = [&](caf::expected<caf::actor> r, const std::string& what) {
    ASSERT_FALSE(r);
    EXPECT_TRUE(is(r.error(), errc::invalid_argument));
    EXPECT_TRUE(contains(describe(r.error()), what)) << describe(r.error());
  };
  check(spawn_multicast_endpoint(sys, 4, {1, 2}, owner), "not in its own");
  check(spawn_multicast_endpoint(sys, 1, {1, 1}, owner), "listed twice");
  check(spawn_multicast_endpoint(sys, 1, {1, 2}, {}), "no deliver_to");
  check(spawn_multicast_endpoint(sys, 1, {1, 2}, owner,
                                 {{3, caf::actor{owner}}}),
        "peer 3 is not another member");
  check(spawn_multicast_endpoint(sys, 1, {1, 2}, owner,
                                 {{1, caf::actor{owner}}}),
        "peer 1 is not another member");
}

// -- endpoints on three in-process nodes --------------------------------------

namespace {

class multicast_cluster : public ftsr::testing::in_process_cluster {
public:
  void add_types(caf::actor_system_config& cfg) override {
    in_process_cluster::add_types(cfg);
    add_multicast_types(cfg);
  }

  /// One endpoint per node, each with an owner (a scoped_actor) of that
  /// node's actor system, to which the endpoint delivers.
  void spawn_endpoints() {
    for (auto on : {"host1", "host2", "host3"}) {
      auto ref = spawn(on, multicast_actor_type);
      ASSERT_TRUE(ref.id != 0);
      group.push_back(ref.id);
    }
    for (size_t i = 0; i < 3; ++i) {
      owners.push_back(std::make_unique<caf::scoped_actor>(at(i).system()));
      eps.push_back(ref_at(i, group[i]).handle);
      ASSERT_TRUE(eps.back());
    }
  }

  /// Initializes endpoint `i` with the whole group; none or its refusal.
  caf::error init(size_t i) {
    caf::error result;
    (*owners[i])
      ->request(eps[i], bound, mcast_init_atom::value, group[i], group,
                caf::actor{*owners[i]})
      .receive([] {}, [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  std::vector<uint64_t> group;
  std::vector<std::unique_ptr<caf::scoped_actor>> owners;
  std::vector<caf::actor> eps;
};

} // namespace

TEST_F(multicast_cluster, endpoints_on_three_nodes_agree_and_keep_causality) {
  spawn_endpoints();
  // A multicast before init waits in the endpoint's mailbox.
  (*owners[0])->send(eps[0], mcast_atom::value, ordering::total, text("t0"));
  for (size_t i = 0; i < 3; ++i) {
    auto err = init(i);
    ASSERT_FALSE(err) << describe(err);
  }
  for (int k = 1; k < 10; ++k)
    for (size_t i = 0; i < 3; ++i)
      (*owners[i])->send(eps[i], mcast_atom::value, ordering::total,
                         text("t" + std::to_string(k) + "@"
                              + std::to_string(i)));
  std::vector<std::vector<delivery>> got;
  for (auto& o : owners)
    got.push_back(collect(*o, 28));
  ASSERT_EQ(got[0].size(), 28u);
  EXPECT_EQ(got[1], got[0]);
  EXPECT_EQ(got[2], got[0]);
  // Causal chain across the nodes.
  (*owners[0])->send(eps[0], mcast_atom::value, ordering::causal, text("a"));
  ASSERT_EQ(collect(*owners[1], 1), (std::vector<delivery>{{group[0], "a"}}));
  (*owners[1])->send(eps[1], mcast_atom::value, ordering::causal, text("b"));
  EXPECT_EQ(collect(*owners[2], 2),
            (std::vector<delivery>{{group[0], "a"}, {group[1], "b"}}));
  EXPECT_EQ(collect(*owners[0], 2),
            (std::vector<delivery>{{group[0], "a"}, {group[1], "b"}}));
  EXPECT_EQ(collect(*owners[1], 1), (std::vector<delivery>{{group[1], "b"}}));
  // A second init is refused.
  EXPECT_TRUE(contains(describe(init(2)), "already initialized"));
  for (size_t i = 0; i < 3; ++i) {
    auto st = status(*owners[i], eps[i]);
    EXPECT_EQ(st.rejected, 0u) << st.last_error;
    EXPECT_EQ(st.delivered, 30u);
  }
}

TEST_F(multicast_cluster, survivors_remove_a_failed_node_and_go_on) {
  spawn_endpoints();
  for (size_t i = 0; i < 3; ++i) {
    auto err = init(i);
    ASSERT_FALSE(err) << describe(err);
  }
  // Round k from endpoint i: one totally ordered, one causal multicast.
  auto send_round = [&](size_t i, int k) {
    auto tag = [&](const char* kind) {
      return kind + std::to_string(i) + "#" + std::to_string(k);
    };
    (*owners[i])->send(eps[i], mcast_atom::value, ordering::total,
                       text(tag("t")));
    (*owners[i])->send(eps[i], mcast_atom::value, ordering::causal,
                       text(tag("c")));
  };
  for (int k = 0; k < 10; ++k)
    for (size_t i = 0; i < 3; ++i)
      send_round(i, k);
  // host3 fails mid-traffic.
  owners[2].reset();
  eps[2] = nullptr;
  nodes[2].reset();
  for (int k = 10; k < 20; ++k)
    for (size_t i = 0; i < 2; ++i)
      send_round(i, k);
  auto done = [&](const std::vector<event>& es) {
    size_t from_survivors = 0;
    for (auto& e : es)
      if (e.sender == group[0] || e.sender == group[1])
        ++from_survivors;
    return from_survivors == 80 && count_views(es) == 1;
  };
  std::vector<std::vector<event>> got;
  for (size_t i = 0; i < 2; ++i)
    got.push_back(collect_events(*owners[i], done));
  for (size_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(done(got[i])) << "member " << group[i];
    auto view = std::find_if(got[i].begin(), got[i].end(),
                             [](const event& e) { return e.sender == 0; });
    EXPECT_EQ(view->text, view_text({group[0], group[1]}));
    for (auto e = view; e != got[i].end(); ++e)
      EXPECT_NE(e->sender, group[2]) << e->text << " after the view";
    auto st = status(*owners[i], eps[i]);
    EXPECT_EQ(st.view, (std::vector<uint64_t>{group[0], group[1]}));
    EXPECT_EQ(st.total_pending + st.causal_buffered, 0u);
    EXPECT_EQ(st.rejected, 0u) << st.last_error;
  }
  EXPECT_EQ(select(got[0], "t"), select(got[1], "t"));
  auto c0 = select(got[0], "c2#"), c1 = select(got[1], "c2#");
  EXPECT_EQ(std::set<std::string>(c0.begin(), c0.end()),
            std::set<std::string>(c1.begin(), c1.end()));
}
