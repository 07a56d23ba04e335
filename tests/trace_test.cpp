// End-to-end traces: the trace context of a user invocation travels with
// it, so one group invocation yields one connected trace with a span from
// every node that took part (caller, primary, backups), each naming its
// node and incarnation, the group, the group view and an outcome.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include "caf/all.hpp"

#include "actors/call.hpp"
#include "apps/node/sample_resources.hpp"
#include "replication/group.hpp"
#include "tests/support/in_process_cluster.hpp"

using namespace ftsr;
using namespace ftsr::sample;
using ftsr::testing::eventually;
using trace_test = ftsr::testing::in_process_cluster;

namespace {

/// Every span of trace `id` recorded by any of `nodes`.
std::vector<span> spans_of(std::vector<std::unique_ptr<node>>& nodes,
                           uint64_t id) {
  std::vector<span> result;
  for (auto& n : nodes)
    for (auto& s : n->context().spans.snapshot())
      if (s.trace_id == id)
        result.push_back(s);
  return result;
}

std::string dump(const std::vector<span>& xs) {
  std::string out;
  for (auto& s : xs)
    out += s.kind + " " + s.name + " on " + s.node + " id "
           + std::to_string(s.span_id) + " parent "
           + std::to_string(s.parent_id) + " view "
           + std::to_string(s.group_view) + " " + s.outcome + "\n";
  return out;
}

} // namespace

TEST_F(trace_test, group_invocation_yields_one_connected_trace_over_all_nodes) {
  auto g = create_group(at(0), {"kv", {"host1", "host2", "host3"}, 2});
  ASSERT_TRUE(g) << describe(g.error());
  // The caller is the node that hosts the last member, not the primary.
  auto caller_name = g->members.back().node;
  auto& caller = *std::find_if(nodes.begin(), nodes.end(), [&](auto& n) {
    return n->self().name == caller_name;
  });
  caf::scoped_actor self{caller->system()};
  bool ok = false;
  ftsr::call(self, capability<>{*g}, put_atom::value, std::string{"k"},
             std::string{"v"})
    .receive([&](bool) { ok = true; },
             [&](caf::error& err) { FAIL() << describe(err); });
  ASSERT_TRUE(ok);
  // The caller's root span names the group.
  std::vector<span> roots;
  for (auto& s : caller->context().spans.snapshot())
    if (s.kind == "invocation" && s.name == to_string(*g))
      roots.push_back(s);
  ASSERT_EQ(roots.size(), 1u);
  auto root = roots.front();
  EXPECT_EQ(root.parent_id, 0u);
  EXPECT_EQ(root.outcome, "ok");
  EXPECT_EQ(root.node, to_string(caller->self()));
  // Backups deliver after the reply may have left: wait for all three.
  std::vector<span> trace;
  ASSERT_TRUE(eventually([&] {
    trace = spans_of(nodes, root.trace_id);
    std::set<std::string> from;
    for (auto& s : trace)
      from.insert(s.node);
    return from.size() == 3 && trace.size() >= 4;
  })) << "spans of the trace:\n" << dump(trace);
  std::map<uint64_t, const span*> by_id;
  for (auto& s : trace)
    by_id[s.span_id] = &s;
  auto primary = std::find_if(nodes.begin(), nodes.end(), [&](auto& n) {
    return n->self().name == g->members.front().node;
  });
  size_t sequenced = 0;
  std::set<std::string> delivered_on;
  for (auto& s : trace) {
    if (s.span_id == root.span_id)
      continue;
    // Connected: every other span's parent is in the same trace.
    ASSERT_EQ(by_id.count(s.parent_id), 1u) << dump(trace);
    EXPECT_EQ(s.name, to_string(*g)) << dump(trace);
    EXPECT_EQ(s.outcome, "ok") << dump(trace);
    EXPECT_GE(s.group_view, 1u) << dump(trace);
    EXPECT_LE(s.start_ns, s.end_ns);
    if (s.kind == "group_sequence") {
      ++sequenced;
      EXPECT_EQ(s.parent_id, root.span_id) << dump(trace);
      EXPECT_EQ(s.node, to_string((*primary)->self())) << dump(trace);
    } else {
      ASSERT_EQ(s.kind, "group_deliver") << dump(trace);
      EXPECT_EQ(by_id[s.parent_id]->kind, "group_sequence") << dump(trace);
      EXPECT_EQ(s.group_view, by_id[s.parent_id]->group_view);
      delivered_on.insert(s.node);
    }
  }
  EXPECT_EQ(sequenced, 1u) << dump(trace);
  // Each backup delivered it under the primary's span.
  std::set<std::string> backups;
  for (auto& n : nodes)
    if (n->self().name != (*primary)->self().name)
      backups.insert(to_string(n->self()));
  EXPECT_EQ(delivered_on, backups) << dump(trace);
}
