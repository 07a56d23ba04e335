// CBCAST and ABCAST (multicast_core.hpp, multicast.hpp): the pure cores
// under many seeded random delivery orders (causal order never violated,
// also across a view change; one total order at every member), the classic
// examples, bad input, and endpoint actors in one actor system and across
// three in-process nodes.
#include <gtest/gtest.h>

#include <algorithm>
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
class total_sim {
public:
  total_sim(uint64_t seed, size_t n, bool fifo)
    : rng_(seed), fifo_(fifo), members_(ids(n)) {
    for (auto m : members_)
      cores_.emplace_back(m, members_);
    log_.resize(n);
  }

  void run(size_t sends) {
    size_t sent = 0;
    while (!::testing::Test::HasFailure()) {
      bool idle = links_.empty();
      if (sent < sends && (idle || pick(3) == 0)) {
        auto from = pick(members_.size());
        auto d = cores_[from].submit(text(std::to_string(members_[from]) + "#"
                                          + std::to_string(++sent_by_[from])));
        ++sent;
        for (size_t to = 0; to < members_.size(); ++to)
          post(from, to, d);
      } else if (!idle) {
        deliver_one();
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

private:
  using wire = std::variant<abcast_data, abcast_proposal, abcast_final>;

  size_t pick(size_t n) {
    return std::uniform_int_distribution<size_t>(0, n - 1)(rng_);
  }

  void post(size_t from, size_t to, wire w) {
    links_[{from, to}].push_back(std::move(w));
  }

  size_t index_of(uint64_t member) const {
    return static_cast<size_t>(
      std::find(members_.begin(), members_.end(), member) - members_.begin());
  }

  void deliver_one() {
    auto link = links_.begin();
    std::advance(link, pick(links_.size()));
    auto& q = link->second;
    auto at = fifo_ ? 0 : pick(q.size());
    auto w = q[at];
    if (fifo_ || pick(10) != 0)
      q.erase(q.begin() + static_cast<std::ptrdiff_t>(at));
    // else: a duplicate stays in flight
    auto [from, to] = link->first;
    if (q.empty())
      links_.erase(link);
    auto& core = cores_[to];
    if (auto d = std::get_if<abcast_data>(&w)) {
      auto p = core.on_data(*d);
      ASSERT_TRUE(p) << describe(p.error());
      if (*p)
        post(to, index_of(d->sender), **p);
    } else if (auto p = std::get_if<abcast_proposal>(&w)) {
      auto f = core.on_proposal(*p);
      ASSERT_TRUE(f) << describe(f.error());
      if (*f)
        for (size_t i = 0; i < members_.size(); ++i)
          post(to, i, **f);
    } else {
      auto out = core.on_final(std::get<abcast_final>(w));
      ASSERT_TRUE(out) << describe(out.error());
      for (auto& x : texts(*out))
        log_[to].push_back(x);
    }
    (void) from;
  }

  std::mt19937_64 rng_;
  bool fifo_;
  std::vector<uint64_t> members_;
  std::vector<total_order> cores_;
  std::map<std::pair<size_t, size_t>, std::vector<wire>> links_;
  std::vector<std::vector<std::string>> log_;
  std::map<size_t, size_t> sent_by_;
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
};

} // namespace

TEST_F(multicast_cluster, endpoints_on_three_nodes_agree_and_keep_causality) {
  std::vector<uint64_t> group;
  for (auto on : {"host1", "host2", "host3"}) {
    auto ref = spawn(on, multicast_actor_type);
    ASSERT_TRUE(ref.id != 0);
    group.push_back(ref.id);
  }
  // Each node's owner and endpoint handle belong to that node's system.
  std::vector<std::unique_ptr<caf::scoped_actor>> owners;
  std::vector<caf::actor> eps;
  for (size_t i = 0; i < 3; ++i) {
    owners.push_back(std::make_unique<caf::scoped_actor>(at(i).system()));
    eps.push_back(ref_at(i, group[i]).handle);
    ASSERT_TRUE(eps.back());
  }
  // A multicast before init waits in the endpoint's mailbox.
  (*owners[0])->send(eps[0], mcast_atom::value, ordering::total, text("t0"));
  for (size_t i = 0; i < 3; ++i)
    (*owners[i])
      ->request(eps[i], bound, mcast_init_atom::value, group[i], group,
                caf::actor{*owners[i]})
      .receive([] {}, [](caf::error& err) { FAIL() << describe(err); });
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
  (*owners[2])
    ->request(eps[2], bound, mcast_init_atom::value, group[2], group,
              caf::actor{*owners[2]})
    .receive([] { FAIL() << "initialized twice"; },
             [](caf::error& err) {
               EXPECT_TRUE(contains(describe(err), "already initialized"));
             });
  for (size_t i = 0; i < 3; ++i) {
    auto st = status(*owners[i], eps[i]);
    EXPECT_EQ(st.rejected, 0u) << st.last_error;
    EXPECT_EQ(st.delivered, 30u);
  }
}
