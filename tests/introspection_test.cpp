// Node introspection (actors/introspection.hpp) across three in-process
// nodes: the report a node manager answers to introspect_atom (cluster
// view, groups and their replicas, persistent actors, journal, spans),
// asked locally and through another node's manager, its bad input, and the
// journal of a node failure with the restart and recovery it caused.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "caf/all.hpp"

#include "actors/call.hpp"
#include "actors/introspection.hpp"
#include "apps/node/sample_persistent.hpp"
#include "apps/node/sample_resources.hpp"
#include "replication/group.hpp"
#include "tests/support/in_process_cluster.hpp"

using namespace ftsr;
using namespace ftsr::sample;
using namespace std::chrono_literals;
using ftsr::testing::eventually;

namespace {

class introspection_test : public ftsr::testing::in_process_cluster {
public:
  /// The report of `on` asked through node `i`; fails the test on error.
  node_report report(size_t i, const std::string& on = {},
                     uint64_t events_after = 0) {
    introspect_query q;
    q.node = on;
    q.events_after = events_after;
    auto r = at(i).introspect(q);
    EXPECT_TRUE(r) << describe(r.error());
    return r ? std::move(*r) : node_report{};
  }

  static bool has_event(const node_report& r, const std::string& kind,
                        const std::string& name_part) {
    return std::any_of(r.events.begin(), r.events.end(), [&](auto& e) {
      return e.event.kind == kind
             && e.event.name.find(name_part) != std::string::npos;
    });
  }
};

TEST_F(introspection_test, reports_the_cluster_view_locally_and_remotely) {
  auto r = report(0);
  EXPECT_EQ(r.self.name, "host1");
  EXPECT_TRUE(r.member);
  EXPECT_FALSE(r.fenced);
  EXPECT_GT(r.view_number, 0u);
  ASSERT_EQ(r.members.size(), 3u);
  for (auto& m : r.members) {
    EXPECT_EQ(m.state, member_state::up) << m.name;
    EXPECT_GT(m.incarnation, 0u) << m.name;
  }
  EXPECT_GT(r.now_ns, 0);
  // The first view was journaled.
  EXPECT_TRUE(has_event(r, "view_installed", ""));
  // Through host1's manager: host2 answers about itself.
  auto r2 = report(0, "host2");
  EXPECT_EQ(r2.self, at(1).self());
  EXPECT_EQ(r2.view_number, r.view_number);
}

TEST_F(introspection_test, bad_queries_name_what_is_wrong) {
  introspect_query q;
  q.node = "hostX";
  auto r = at(0).introspect(q);
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), errc::unknown_node));
  EXPECT_NE(describe(r.error()).find("hostX"), std::string::npos);
  // A node that is gone: a clear error, not a hang.
  auto name = at(2).self().name;
  nodes.at(2).reset();
  ASSERT_TRUE(at(0).await_failed(name));
  q.node = "host3";
  r = at(0).introspect(q);
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), errc::node_unavailable)) << describe(r.error());
  EXPECT_NE(describe(r.error()).find("host3"), std::string::npos);
  // The manager still answers.
  auto ok = report(0, "host2");
  EXPECT_EQ(ok.self.name, "host2");
}

TEST_F(introspection_test, reports_groups_with_view_primary_and_seqno) {
  group_spec spec{"kv", {"host1", "host2", "host3"}, 1};
  spec.name = "test.kv";
  auto g = create_group(at(0), spec);
  ASSERT_TRUE(g) << describe(g.error());
  caf::scoped_actor self{at(0).system()};
  for (int i = 0; i < 5; ++i) {
    bool ok = false;
    call(self, capability<>{*g}, put_atom::value, "k" + std::to_string(i),
         std::string{"v"})
      .receive([&](bool) { ok = true; }, [](caf::error&) {});
    ASSERT_TRUE(ok);
  }
  auto r = report(0);
  auto gi = std::find_if(r.groups.begin(), r.groups.end(),
                         [&](auto& x) { return x.id == g->id; });
  ASSERT_NE(gi, r.groups.end());
  EXPECT_EQ(gi->type, "kv");
  EXPECT_EQ(gi->name, "test.kv");
  ASSERT_EQ(gi->members.size(), 3u);
  // Each node hosts one replica; every one shows the same view, and the
  // primary (first member) delivered the five puts.
  uint64_t primary = gi->members.front().id;
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(eventually([&] {
      auto ri = report(0, "host" + std::to_string(i + 1));
      return std::any_of(ri.replicas.begin(), ri.replicas.end(), [&](auto& x) {
        return x.group == g->id && x.members.size() == 3
               && x.members.front() == primary && x.view > 0 && x.serving
               && (x.replica != primary || x.seqno >= 5);
      });
    })) << "replica on host" << i + 1;
  }
}

TEST_F(introspection_test, journals_a_failure_its_restart_and_recovery) {
  auto store = create_group(at(0), group_spec{"stable_store",
                                              {"host1", "host3"}, 1});
  ASSERT_TRUE(store) << describe(store.error());
  auto counter = at(0).spawn_persistent("host2", {"host3"}, "counter",
                                        caf::make_message(capability<>{*store}));
  ASSERT_TRUE(counter) << describe(counter.error());
  auto before = report(0);
  auto pi = std::find_if(before.persistent.begin(), before.persistent.end(),
                         [&](auto& x) { return x.id == counter->id; });
  ASSERT_NE(pi, before.persistent.end());
  EXPECT_EQ(pi->node, "host2");
  EXPECT_EQ(pi->generation, 0u);
  EXPECT_EQ(pi->state, "alive");
  EXPECT_EQ(pi->nodes, (std::vector<std::string>{"host2", "host3"}));
  uint64_t seen = before.events.empty() ? 0 : before.events.back().seq;
  nodes.at(1).reset();
  // host1 journals the detection and the removal taking effect; host3
  // restarts the counter and journals its recovery.
  ASSERT_TRUE(eventually([&] {
    auto r = report(0, {}, seen);
    return has_event(r, "failure_detected", "host2")
           && has_event(r, "node_failed", "host2");
  })) << "host1 journaled no failure of host2";
  ASSERT_TRUE(eventually([&] {
    auto r = report(0, "host3");
    return has_event(r, "restart", "counter#")
           && has_event(r, "recovery", "counter#");
  })) << "host3 journaled no restart and recovery of the counter";
  ASSERT_TRUE(eventually([&] {
    auto r = report(0);
    auto p = std::find_if(r.persistent.begin(), r.persistent.end(),
                          [&](auto& x) { return x.id == counter->id; });
    return p != r.persistent.end() && p->node == "host3"
           && p->generation == 1 && p->state == "alive";
  })) << "host1 does not show the counter restarted on host3";
  // Only entries after `seen` come back, in order.
  auto r = report(0, {}, seen);
  ASSERT_FALSE(r.events.empty());
  EXPECT_GT(r.events.front().seq, seen);
  EXPECT_TRUE(std::is_sorted(r.events.begin(), r.events.end(),
                             [](auto& x, auto& y) { return x.seq < y.seq; }));
  // host2 is failed in host1's view.
  auto m = std::find_if(r.members.begin(), r.members.end(),
                        [](auto& x) { return x.name == "host2"; });
  ASSERT_NE(m, r.members.end());
  EXPECT_EQ(m->state, member_state::failed);
}

TEST(event_journal, keeps_failure_events_only_and_drops_the_oldest) {
  event_journal j{3};
  auto ev = [](std::string kind, std::string name) {
    span s;
    s.kind = std::move(kind);
    s.name = std::move(name);
    return s;
  };
  j.observe(ev("invocation", "echo#1@host1"));
  EXPECT_TRUE(j.since(0, 10).empty());
  for (auto name : {"a", "b", "c", "d"})
    j.observe(ev("failure_detected", name));
  auto all = j.since(0, 10);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all.front().event.name, "b");
  EXPECT_EQ(all.front().seq, 2u);
  EXPECT_EQ(all.back().seq, 4u);
  auto after = j.since(3, 10);
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after.front().event.name, "d");
  auto newest = j.since(0, 2);
  ASSERT_EQ(newest.size(), 2u);
  EXPECT_EQ(newest.front().event.name, "c");
}

} // namespace
