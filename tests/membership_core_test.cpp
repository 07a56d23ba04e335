// membership_core: step tests and a seeded simulator of several nodes with
// partitions, cuts, crashes and restarts (simulated time and network, no
// actors). Checked at every step: one view per number, and no removed
// member still holding a lease when the others act on its removal; at the
// end, after healing: every node is back in one view.
#include "actors/membership_core.hpp"

#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <set>

#include <gtest/gtest.h>

using namespace ftsr;
using namespace std::chrono_literals;

namespace {

using time_point = membership_core::time_point;

constexpr auto heartbeat = 100ms;
constexpr auto timeout = 500ms;
constexpr auto lease = 500ms;

/// One simulated process: its core and what it wrote to "disk".
struct sim_node {
  std::string name;
  std::unique_ptr<membership_core> core;
  std::optional<membership_state> disk;
  bool up = true;
  bool fenced = false;
  bool refused = false;
  uint64_t next_incarnation = 1;
  time_point next_tick;
};

struct in_flight {
  time_point at;
  std::string from;
  std::string to;
  gms_msg msg;
};

class sim {
public:
  sim(size_t n, uint64_t seed) : rng_(seed) {
    if (trace_)
      std::fprintf(stderr, "=== sim of %zu nodes, seed %llu\n", n,
                   static_cast<unsigned long long>(seed));
    for (size_t i = 0; i < n; ++i)
      names_.push_back("host" + std::to_string(i + 1));
    for (auto& name : names_) {
      auto& node = nodes_[name];
      node.name = name;
      start(node);
    }
  }

  // -- faults -----------------------------------------------------------------

  void cut(const std::string& a, const std::string& b) {
    cuts_.insert({a, b});
    cuts_.insert({b, a});
  }

  void isolate(const std::string& a) {
    for (auto& n : names_)
      if (n != a)
        cut(a, n);
  }

  void heal() {
    cuts_.clear();
  }

  void crash(const std::string& name) {
    nodes_[name].up = false;
  }

  /// Starts a new incarnation with what the node had on disk (or nothing).
  void restart(const std::string& name, bool with_disk = true) {
    auto& node = nodes_[name];
    if (!with_disk)
      node.disk.reset();
    start(node);
  }

  // -- running ----------------------------------------------------------------

  void run_for(std::chrono::milliseconds d) {
    auto until = now_ + d;
    while (now_ < until) {
      now_ += 1ms;
      deliver();
      for (auto& [name, node] : nodes_)
        if (node.up && now_ >= node.next_tick) {
          node.next_tick = now_ + heartbeat;
          apply(node, node.core->on_tick(now_));
        }
      check_leases();
    }
  }

  /// Runs until every node is up in one view (bounded).
  bool converge(std::chrono::milliseconds bound = 20s) {
    auto until = now_ + bound;
    while (now_ < until) {
      run_for(100ms);
      if (all_in_one_view())
        return true;
    }
    return false;
  }

  bool all_in_one_view() const {
    std::optional<cluster_view> v;
    for (auto& [name, node] : nodes_) {
      if (!node.up || !node.core->is_member()
          || !node.core->serving(now_))
        return false;
      if (!v)
        v = node.core->view();
      else if (!(*v == node.core->view()))
        return false;
    }
    return v && v->members.size() == nodes_.size();
  }

  membership_core& core(const std::string& name) {
    return *nodes_.at(name).core;
  }

  sim_node& node(const std::string& name) {
    return nodes_.at(name);
  }

  time_point now() const {
    return now_;
  }

  const std::vector<std::string>& names() const {
    return names_;
  }

  std::mt19937_64& rng() {
    return rng_;
  }

  /// Every view installed anywhere, by number.
  const std::map<uint64_t, cluster_view>& chosen() const {
    return chosen_;
  }

  /// Every violation found so far (empty: none).
  const std::vector<std::string>& violations() const {
    return violations_;
  }

private:
  void start(sim_node& node) {
    member_id self{node.name, node.next_incarnation++};
    auto st = node.disk.value_or(membership_state{});
    node.core = std::make_unique<membership_core>(
      self, names_, membership_options{heartbeat, timeout, lease}, st,
      node.disk.has_value(), now_);
    node.up = true;
    node.refused = false;
    // Nodes tick out of phase, as real processes do.
    node.next_tick = now_ + std::chrono::milliseconds{rng_() % 100};
  }

  void apply(sim_node& node, gms_step step) {
    if (step.persist)
      node.disk = node.core->state();
    for (auto& [to, msg] : step.send) {
      auto delay = std::chrono::milliseconds{1 + rng_() % 5};
      flight_.push_back({now_ + delay, node.name, to, std::move(msg)});
    }
    for (auto& v : step.installed)
      installed(node, v);
    if (!step.fenced.empty()) {
      // What ftsr-node --rejoin does: start over as a new incarnation.
      node.fenced = true;
      start(node);
    }
    if (!step.refused.empty())
      node.refused = true;
  }

  void installed(sim_node& node, const cluster_view& v) {
    auto [i, added] = chosen_.emplace(v.number, v);
    if (!added && !(i->second == v))
      violations_.push_back("two views numbered " + std::to_string(v.number)
                            + ": " + to_string(i->second) + " and "
                            + to_string(v));
    // The first install of a view starts the clock of every removal in it:
    // once it ran out, the removed member must no longer serve.
    if (added) {
      auto prev = chosen_.find(v.number - 1);
      if (prev != chosen_.end())
        for (auto& m : prev->second.members)
          if (!v.contains(m))
            deadlines_.push_back({m, now_ + node.core->removal_delay(v, m),
                                  to_string(v)});
    }
  }

  void deliver() {
    // Delivery sends more messages: take the due ones out first.
    std::vector<in_flight> due;
    for (auto i = flight_.begin(); i != flight_.end();) {
      if (i->at > now_) {
        ++i;
      } else {
        due.push_back(std::move(*i));
        i = flight_.erase(i);
      }
    }
    for (auto& f : due) {
      if (cuts_.count({f.from, f.to}) != 0)
        continue; // dropped by the cut
      auto& node = nodes_[f.to];
      if (!node.up)
        continue;
      if (trace_)
        std::fprintf(stderr, "%lld %s -> %s: %s n=%llu bal=%llu/%s seq=%llu echo=%llu %s\n",
                     static_cast<long long>(
                       (now_.time_since_epoch() - std::chrono::hours{1})
                       / 1ms),
                     to_string(f.msg.from).c_str(),
                     to_string(node.core->self()).c_str(),
                     to_string(f.msg.kind),
                     static_cast<unsigned long long>(f.msg.number),
                     static_cast<unsigned long long>(f.msg.bal.round),
                     f.msg.bal.node.c_str(),
                     static_cast<unsigned long long>(f.msg.seq),
                     static_cast<unsigned long long>(f.msg.echo),
                     f.msg.has_value || f.msg.kind == gms_kind::accept
                         || f.msg.kind == gms_kind::commit
                       ? to_string(f.msg.value).c_str()
                       : "");
      // A message to a name reaches whichever incarnation runs there now.
      apply(node, node.core->on_message(f.msg, now_));
    }
  }

  void check_leases() {
    for (auto& d : deadlines_) {
      if (now_ < d.at)
        continue;
      auto& node = nodes_[d.member.name];
      if (node.up && node.core->self() == d.member
          && node.core->serving(now_)) {
        auto ms = [](auto dt) {
          return std::to_string(
            std::chrono::duration_cast<std::chrono::milliseconds>(dt).count());
        };
        violations_.push_back(
          to_string(d.member) + " still serves " + ms(now_ - d.at)
          + " ms after its removal by " + d.view + " took effect (it holds "
          + to_string(node.core->view()) + ", lease for "
          + ms(node.core->lease_expiry() - now_) + " ms more)");
      }
    }
  }

  std::mt19937_64 rng_;
  std::vector<std::string> names_;
  std::map<std::string, sim_node> nodes_;
  std::vector<in_flight> flight_;
  std::set<std::pair<std::string, std::string>> cuts_;
  time_point now_{std::chrono::hours{1}};
  std::map<uint64_t, cluster_view> chosen_;
  struct deadline {
    member_id member;
    time_point at;
    std::string view;
  };
  std::vector<deadline> deadlines_;
  std::vector<std::string> violations_;
  bool trace_ = std::getenv("FTSR_MEMBERSHIP_SIM_TRACE") != nullptr;
};

/// Each node's view and whether it serves, for failure messages.
std::string dump(sim& s) {
  std::string result;
  for (auto& n : s.names()) {
    auto& c = s.core(n);
    result += to_string(c.self()) + ": " + to_string(c.view())
              + (c.is_member() ? " member" : " outside")
              + (c.serving(s.now()) ? " serving" : "") + "\n";
  }
  return result;
}

std::string violations_of(const sim& s) {
  std::string result;
  for (auto& v : s.violations())
    result += v + "\n";
  return result;
}

} // namespace

TEST(membership_core, three_nodes_agree_on_a_first_view_and_serve) {
  sim s{3, 1};
  ASSERT_TRUE(s.converge()) << "no common view of all three";
  EXPECT_GE(s.core("host1").view().number, 1u);
  EXPECT_TRUE(s.violations().empty()) << violations_of(s);
}

TEST(membership_core, a_lone_node_forms_no_view_and_never_serves) {
  sim s{3, 2};
  s.isolate("host1");
  s.isolate("host2");
  s.isolate("host3");
  s.run_for(5s);
  for (auto& n : s.names()) {
    EXPECT_EQ(s.core(n).view().number, 0u) << n;
    EXPECT_FALSE(s.core(n).serving(s.now())) << n;
  }
}

TEST(membership_core, an_isolated_member_is_removed_only_by_the_majority) {
  sim s{3, 3};
  ASSERT_TRUE(s.converge());
  auto before = s.core("host1").view();
  auto old1 = s.core("host1").self();
  s.isolate("host1");
  s.run_for(3s);
  // host1 alone could not change the view; it stopped serving.
  EXPECT_EQ(s.core("host1").view(), before);
  EXPECT_FALSE(s.core("host1").serving(s.now()));
  // host2 and host3 removed it and serve.
  auto& v2 = s.core("host2").view();
  EXPECT_GT(v2.number, before.number);
  EXPECT_FALSE(v2.contains(old1));
  EXPECT_TRUE(s.core("host2").serving(s.now()));
  EXPECT_EQ(v2, s.core("host3").view());
  // After the heal the old incarnation learns of its removal and comes
  // back as a new one.
  s.heal();
  ASSERT_TRUE(s.converge()) << "host1 did not rejoin:\n" << dump(s);
  EXPECT_TRUE(s.node("host1").fenced);
  EXPECT_GT(s.core("host1").self().incarnation, old1.incarnation);
  EXPECT_TRUE(s.violations().empty()) << violations_of(s);
}

TEST(membership_core, a_minority_of_five_cannot_fence_anyone) {
  sim s{5, 4};
  ASSERT_TRUE(s.converge());
  auto before = s.core("host1").view();
  for (auto& a : {"host1", "host2"})
    for (auto& b : {"host3", "host4", "host5"})
      s.cut(a, b);
  s.run_for(4s);
  EXPECT_EQ(s.core("host1").view(), before);
  EXPECT_EQ(s.core("host2").view(), before);
  EXPECT_FALSE(s.core("host1").serving(s.now()));
  EXPECT_GT(s.core("host3").view().number, before.number);
  EXPECT_EQ(s.core("host3").view().members.size(), 3u);
  EXPECT_TRUE(s.core("host4").serving(s.now()));
  s.heal();
  ASSERT_TRUE(s.converge());
  EXPECT_TRUE(s.violations().empty()) << violations_of(s);
}

TEST(membership_core, a_removed_incarnation_is_never_readmitted) {
  sim s{3, 5};
  ASSERT_TRUE(s.converge());
  auto old3 = s.core("host3").self();
  s.isolate("host3");
  s.run_for(2s);
  ASSERT_FALSE(s.core("host1").view().contains(old3));
  // host1's disk says host3's old incarnation is fenced; a restart of
  // host1 keeps that.
  s.crash("host1");
  s.restart("host1");
  s.run_for(2s);
  EXPECT_GE(s.core("host1").state().fenced_of("host3"), old3.incarnation);
  // The old host3 comes back: it must not be admitted; it rejoins as new.
  s.heal();
  ASSERT_TRUE(s.converge());
  EXPECT_GT(s.core("host2").view().find("host3")->incarnation,
            old3.incarnation);
  EXPECT_TRUE(s.violations().empty()) << violations_of(s);
}

// The nodes that fenced an incarnation all restart from their disks while
// the fenced one still runs (cut off): the restarted cluster keeps it out,
// in every view it chooses, and it comes back only as a new incarnation.
TEST(membership_core, a_cluster_whose_every_member_restarted_keeps_a_fenced_incarnation_out) {
  sim s{3, 9};
  ASSERT_TRUE(s.converge());
  auto old3 = s.core("host3").self();
  s.isolate("host3");
  s.run_for(2s);
  ASSERT_FALSE(s.core("host1").view().contains(old3));
  auto fenced_at = s.chosen().rbegin()->first;
  for (auto n : {"host1", "host2"})
    s.crash(n);
  for (auto n : {"host1", "host2"})
    s.restart(n);
  s.run_for(2s);
  for (auto n : {"host1", "host2"})
    EXPECT_GE(s.core(n).state().fenced_of("host3"), old3.incarnation) << n;
  s.heal();
  ASSERT_TRUE(s.converge());
  for (auto& [number, v] : s.chosen())
    if (number > fenced_at) {
      EXPECT_FALSE(v.contains(old3)) << to_string(v);
    }
  EXPECT_GT(s.core("host1").view().find("host3")->incarnation,
            old3.incarnation);
  EXPECT_TRUE(s.violations().empty()) << violations_of(s);
}

TEST(membership_core, a_restart_with_its_disk_replaces_the_predecessor_at_once) {
  sim s{3, 6};
  ASSERT_TRUE(s.converge());
  auto old2 = s.core("host2").self();
  s.crash("host2");
  s.restart("host2");
  ASSERT_TRUE(s.converge());
  auto& v = s.core("host1").view();
  EXPECT_GT(v.find("host2")->incarnation, old2.incarnation);
  // Its data directory proves the predecessor gone: the view that removed
  // it says so, and nobody waits for its lease.
  const cluster_view* removal = nullptr;
  for (auto& [n, cv] : s.chosen())
    if (removal == nullptr && n > 0 && !cv.contains(old2)
        && s.chosen().count(n - 1) != 0
        && s.chosen().at(n - 1).contains(old2))
      removal = &cv;
  ASSERT_NE(removal, nullptr);
  EXPECT_EQ(s.core("host1").removal_delay(*removal, old2).count(), 0)
    << to_string(*removal);
  EXPECT_TRUE(s.violations().empty()) << violations_of(s);
}

TEST(membership_core, every_node_restarting_from_disk_forms_a_new_view) {
  sim s{3, 7};
  ASSERT_TRUE(s.converge());
  auto before = s.core("host1").view();
  for (auto& n : s.names())
    s.crash(n);
  for (auto& n : s.names())
    s.restart(n);
  ASSERT_TRUE(s.converge()) << "cold restart did not form a view";
  auto& v = s.core("host1").view();
  EXPECT_GT(v.number, before.number);
  for (auto& m : before.members)
    EXPECT_FALSE(v.contains(m)) << to_string(m);
  EXPECT_TRUE(s.violations().empty()) << violations_of(s);
}

TEST(membership_core, a_second_process_with_a_live_name_gives_up) {
  sim s{3, 8};
  ASSERT_TRUE(s.converge());
  auto live = s.core("host2").self();
  // The duplicate has no disk of its own (another machine): it may not
  // replace a member that answers.
  membership_core dup{member_id{"host2", live.incarnation + 100},
                      s.names(),
                      membership_options{heartbeat, timeout, lease},
                      membership_state{},
                      false,
                      s.now()};
  auto join = dup.on_tick(s.now());
  gms_msg j;
  for (auto& [to, m] : join.send)
    if (m.kind == gms_kind::join && to == "host1")
      j = m;
  ASSERT_EQ(j.kind, gms_kind::join);
  auto answer = s.core("host1").on_message(j, s.now());
  bool refused = false;
  for (auto& [to, m] : answer.send)
    refused = refused || (m.kind == gms_kind::join_refused && to == "host2");
  ASSERT_TRUE(refused) << "the coordinator did not refuse the duplicate";
  gms_msg r;
  r.kind = gms_kind::join_refused;
  r.from = s.core("host1").self();
  dup.on_message(r, s.now());
  auto later = dup.on_tick(s.now() + 4 * timeout);
  EXPECT_FALSE(later.refused.empty());
  EXPECT_NE(later.refused.find("in use"), std::string::npos) << later.refused;
}

TEST(membership_core, messages_from_an_older_incarnation_are_ignored) {
  sim s{3, 9};
  ASSERT_TRUE(s.converge());
  auto& c = s.core("host1");
  auto v = c.view();
  gms_msg forged;
  forged.kind = gms_kind::commit;
  forged.from = member_id{"host2", 0};
  forged.value = cluster_view{v.number + 1, {c.self()}, {}};
  forged.number = v.number;
  auto step = c.on_message(forged, s.now());
  EXPECT_TRUE(step.installed.empty());
  EXPECT_EQ(c.view(), v);
}

// -- seeded runs ----------------------------------------------------------------

namespace {

/// Random faults for `duration`, then heal and converge.
void random_run(uint64_t seed, size_t n, std::string& failure) {
  sim s{n, seed};
  if (!s.converge()) {
    failure = "no initial view";
    return;
  }
  auto& rng = s.rng();
  auto pick = [&] { return s.names()[rng() % n]; };
  for (int step = 0; step < 30; ++step) {
    switch (rng() % 6) {
      case 0: s.isolate(pick()); break;
      case 1: s.cut(pick(), pick()); break;
      case 2: s.heal(); break;
      case 3: {
        auto victim = pick();
        s.crash(victim);
        s.run_for(std::chrono::milliseconds{rng() % 800});
        s.restart(victim);
        break;
      }
      default: break;
    }
    s.run_for(std::chrono::milliseconds{50 + rng() % 700});
    if (!s.violations().empty())
      break;
  }
  s.heal();
  if (!s.violations().empty()) {
    failure = violations_of(s);
    return;
  }
  if (!s.converge(30s))
    failure = "did not converge after the heal:\n" + dump(s);
  else if (!s.violations().empty())
    failure = violations_of(s);
}

size_t seeds_from_env(size_t fallback) {
  if (auto s = std::getenv("FTSR_MEMBERSHIP_SIM_SEEDS"))
    return std::strtoull(s, nullptr, 10);
  return fallback;
}

} // namespace

TEST(membership_sim, random_partitions_crashes_and_restarts) {
  auto seeds = seeds_from_env(60);
  for (uint64_t seed = 1; seed <= seeds; ++seed)
    for (size_t n : {3u, 5u}) {
      std::string failure;
      random_run(seed, n, failure);
      ASSERT_TRUE(failure.empty())
        << "seed " << seed << ", " << n << " nodes: " << failure;
    }
}
