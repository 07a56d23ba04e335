// Persistent actors across three in-process nodes: automatic restart on a
// backup node after its node failed, recovery before any invocation, calls
// that wait for the restart, explicit restart, and bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "caf/all.hpp"

#include "actors/call.hpp"
#include "apps/node/sample_persistent.hpp"
#include "apps/node/sample_resources.hpp"
#include "persistence/persistent.hpp"
#include "persistence/stable_store_group.hpp"
#include "replication/group.hpp"
#include "tests/support/in_process_cluster.hpp"

using namespace ftsr;
using namespace ftsr::sample;
using namespace std::chrono_literals;

namespace {

class persistent_test : public ftsr::testing::in_process_cluster {
public:
  void adjust(node_options& opts) override {
    opts.restart_wait = 3s;
  }

  /// A stableStore group on host1 and host2 (indexes 0 and 1).
  capability_ref make_store() {
    auto store = create_group(at(0), group_spec{"stable_store",
                                                {"host1", "host2"}, 1});
    EXPECT_TRUE(store) << describe(store.error());
    return store ? *store : capability_ref{};
  }

  /// Blocking call of the counter from node `i`.
  template <class T, class... Ts>
  caf::expected<T> ask(size_t i, const capability_ref& cap, Ts... xs) {
    caf::scoped_actor self{at(i).system()};
    caf::expected<T> result{caf::none};
    call(self, capability<>{cap}, xs...)
      .receive([&](T& x) { result = std::move(x); },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  std::vector<std::string> history(size_t i, const capability_ref& cap) {
    auto h = ask<std::vector<std::string>>(i, cap, history_atom::value);
    EXPECT_TRUE(h) << describe(h.error());
    return h ? *h : std::vector<std::string>{};
  }

  /// Kills node `i` (its actor system shuts down: the others see the
  /// connection drop) and waits until node 0 saw it fail.
  void kill(size_t i) {
    auto name = at(i).self().name;
    nodes.at(i).reset();
    ASSERT_TRUE(at(0).await_failed(name));
  }
};

TEST_F(persistent_test, restarts_on_backup_with_recovery_before_invocations) {
  auto store = make_store();
  auto counter = at(0).spawn_persistent("host3", {"host2"}, "counter",
                                        caf::make_message(capability<>{store}));
  ASSERT_TRUE(counter) << describe(counter.error());
  for (uint64_t token = 1; token <= 5; ++token)
    ASSERT_TRUE(ask<int64_t>(0, *counter, add_atom::value, token, int64_t{10}));
  kill(2);
  // The same capability, held since before the failure, is served by the
  // restarted incarnation with the stored state.
  auto total = ask<int64_t>(0, *counter, total_atom::value);
  ASSERT_TRUE(total) << describe(total.error());
  EXPECT_EQ(*total, 50);
  auto bound = at(0).context().dir.lookup(counter->id);
  ASSERT_TRUE(bound);
  EXPECT_EQ(bound->node, "host2");
  EXPECT_EQ(bound->generation, 1u);
  auto h = history(0, *counter);
  ASSERT_GE(h.size(), 3u);
  EXPECT_EQ(h[0], "start");
  EXPECT_EQ(h[1], "recovery_begin g1");
  EXPECT_EQ(h[2], "recovered g1");
  EXPECT_TRUE(std::all_of(h.begin() + 3, h.end(),
                          [](const std::string& x) { return x == "op"; }));
  // A retried add is answered, not applied again.
  auto again = ask<int64_t>(0, *counter, add_atom::value, uint64_t{3},
                            int64_t{10});
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, 50);
  // Restart and recovery are traced.
  auto spans = at(1).context().spans.snapshot(10000);
  auto has = [&](const std::string& kind) {
    return std::any_of(spans.begin(), spans.end(),
                       [&](const span& s) { return s.kind == kind; });
  };
  EXPECT_TRUE(has("restart"));
  EXPECT_TRUE(has("recovery"));
  // One trace: the failure detected, the restart it caused, the recovery
  // under the restart.
  auto find = [&](const std::string& kind) {
    return std::find_if(spans.begin(), spans.end(), [&](const span& s) {
      return s.kind == kind && s.name.find(std::to_string(counter->id))
                                 != std::string::npos;
    });
  };
  auto restart = find("restart");
  auto recovery = find("recovery");
  ASSERT_NE(restart, spans.end());
  ASSERT_NE(recovery, spans.end());
  EXPECT_EQ(recovery->trace_id, restart->trace_id);
  EXPECT_EQ(recovery->parent_id, restart->span_id);
  EXPECT_EQ(recovery->outcome, "ok");
  EXPECT_TRUE(std::any_of(spans.begin(), spans.end(), [&](const span& s) {
    return s.trace_id == restart->trace_id && s.kind == "node_failed";
  })) << "the restart is not in the trace of host3's failure";
}

TEST_F(persistent_test, invocations_during_recovery_are_queued) {
  auto store = make_store();
  auto counter = at(0).spawn_persistent("host3", {"host2"}, "counter",
                                        caf::make_message(capability<>{store}));
  ASSERT_TRUE(counter) << describe(counter.error());
  ASSERT_TRUE(ask<int64_t>(0, *counter, add_atom::value, uint64_t{1},
                           int64_t{7}));
  // Several callers are waiting when the node dies; all are served after
  // the recovery handler, in some order, exactly once each.
  std::vector<std::thread> callers;
  std::vector<caf::expected<int64_t>> results(4, caf::expected<int64_t>{0});
  for (size_t k = 0; k < 4; ++k)
    callers.emplace_back([&, k] {
      results[k] = ask<int64_t>(0, *counter, add_atom::value, uint64_t{10 + k},
                                int64_t{1});
    });
  kill(2);
  for (auto& t : callers)
    t.join();
  for (auto& r : results)
    EXPECT_TRUE(r) << describe(r.error());
  auto tokens = ask<std::vector<uint64_t>>(0, *counter, tokens_atom::value);
  ASSERT_TRUE(tokens);
  auto sorted = *tokens;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, (std::vector<uint64_t>{1, 10, 11, 12, 13}));
  auto total = ask<int64_t>(0, *counter, total_atom::value);
  ASSERT_TRUE(total);
  EXPECT_EQ(*total, 11);
  auto h = history(0, *counter);
  auto recovered = std::find(h.begin(), h.end(), "recovered g1");
  ASSERT_NE(recovered, h.end());
  EXPECT_EQ(std::count(h.begin(), recovered, "op"), 0);
}

TEST_F(persistent_test, store_failure_passed_on_reaches_the_caller_at_once) {
  // The counter's stableStore group is gone: the counter, alive, answers
  // an add with the store's fail_stop. That is its reply, not its failure:
  // the caller gets it as it is instead of waiting restart_wait (3 s here)
  // for a restart that never comes and then timing out.
  auto store = make_store();
  auto counter = at(0).spawn_persistent("host3", {"host2"}, "counter",
                                        caf::make_message(capability<>{store}));
  ASSERT_TRUE(counter) << describe(counter.error());
  ASSERT_TRUE(ask<int64_t>(0, *counter, add_atom::value, uint64_t{1},
                           int64_t{4}));
  for (auto& m : store.members)
    ASSERT_TRUE(at(0).destroy(m));
  ASSERT_TRUE(ftsr::testing::eventually([&] {
    auto& dir = at(2).context().dir;
    return dir.failure_of(store.members[0]) && dir.failure_of(store.members[1]);
  })) << "the counter's node did not learn that the store is gone";
  auto add = ask<int64_t>(0, *counter, add_atom::value, uint64_t{2},
                          int64_t{4});
  ASSERT_FALSE(add);
  EXPECT_TRUE(is(add.error(), errc::fail_stop)) << describe(add.error());
  EXPECT_NE(describe(add.error()).find(to_string(store)), std::string::npos)
    << describe(add.error());
  // The counter itself is alive and answers.
  EXPECT_FALSE(at(0).context().dir.failure_of(*counter));
  auto total = ask<int64_t>(0, *counter, total_atom::value);
  ASSERT_TRUE(total) << describe(total.error());
}

TEST_F(persistent_test, explicit_restart_after_an_actor_kill) {
  auto store = make_store();
  auto counter = at(0).spawn_persistent("host3", {"host2"}, "counter",
                                        caf::make_message(capability<>{store}));
  ASSERT_TRUE(counter) << describe(counter.error());
  ASSERT_TRUE(ask<int64_t>(0, *counter, add_atom::value, uint64_t{1},
                           int64_t{3}));
  auto args = caf::make_message(capability<>{store});
  // Alive: an explicit restart is refused.
  auto refused = at(0).restart(*counter, args, {"host1"});
  ASSERT_FALSE(refused);
  EXPECT_TRUE(is(refused.error(), errc::invalid_argument))
    << describe(refused.error());
  // Killing the actor (not its node) fails it; nothing restarts it
  // automatically (that is for node failures), FT-SR restart does.
  caf::anon_send_exit(ref_at(2, counter->id).handle, caf::exit_reason::kill);
  ASSERT_TRUE(ftsr::testing::eventually([&] {
    return static_cast<bool>(at(0).context().dir.failure_of(*counter));
  }));
  auto bad = at(0).restart(*counter, args, {"nowhere"});
  ASSERT_FALSE(bad);
  EXPECT_TRUE(is(bad.error(), errc::unknown_node)) << describe(bad.error());
  bad = at(0).restart(*counter, args, {});
  ASSERT_FALSE(bad);
  EXPECT_TRUE(is(bad.error(), errc::invalid_argument));
  bad = at(0).restart(*counter, args, {"host1", "host1"});
  ASSERT_FALSE(bad);
  EXPECT_TRUE(is(bad.error(), errc::invalid_argument));
  EXPECT_NE(describe(bad.error()).find("names node 'host1' twice"),
            std::string::npos)
    << describe(bad.error());
  // Still failed and restartable: the refused requests changed nothing.
  EXPECT_TRUE(at(0).context().dir.failure_of(*counter));
  auto restarted = at(0).restart(*counter, args, {"host1", "host2"});
  ASSERT_TRUE(restarted) << describe(restarted.error());
  EXPECT_EQ(restarted->node, "host1");
  EXPECT_EQ(restarted->generation, 1u);
  auto total = ask<int64_t>(0, *counter, total_atom::value);
  ASSERT_TRUE(total) << describe(total.error());
  EXPECT_EQ(*total, 3);
  auto h = history(0, *counter);
  ASSERT_GE(h.size(), 3u);
  EXPECT_EQ(h[1], "recovery_begin g1");
  // Destroy, unlike a failure, is final.
  ASSERT_TRUE(at(0).destroy(*at(0).context().dir.lookup(counter->id)));
  auto gone = at(0).restart(*counter, args, {"host2"});
  ASSERT_FALSE(gone);
  EXPECT_TRUE(is(gone.error(), errc::destroyed)) << describe(gone.error());
}

TEST_F(persistent_test, restart_of_a_group_with_another_size) {
  auto group = create_group(at(0), group_spec{"kv", {"host1", "host2"}, 1});
  ASSERT_TRUE(group) << describe(group.error());
  ASSERT_TRUE(ask<bool>(0, *group, put_atom::value, std::string{"k"},
                        std::string{"v"}));
  auto bigger = restart(at(0), *group, {}, {"host1", "host2", "host3"});
  ASSERT_TRUE(bigger) << describe(bigger.error());
  EXPECT_EQ(bigger->members.size(), 3u);
  auto smaller = restart(at(0), *bigger, {}, {"host3"});
  ASSERT_TRUE(smaller) << describe(smaller.error());
  ASSERT_EQ(smaller->members.size(), 1u);
  EXPECT_EQ(smaller->members.front().node, "host3");
  auto v = ask<std::string>(0, *smaller, get_atom::value, std::string{"k"});
  ASSERT_TRUE(v) << describe(v.error());
  EXPECT_EQ(*v, "v");
}

TEST_F(persistent_test, bad_spawn_requests) {
  auto no_backup = at(0).spawn_persistent("host1", {}, "counter");
  ASSERT_FALSE(no_backup);
  EXPECT_TRUE(is(no_backup.error(), errc::invalid_argument));
  auto self_backup = at(0).spawn_persistent("host1", {"host1"}, "counter");
  ASSERT_FALSE(self_backup);
  EXPECT_TRUE(is(self_backup.error(), errc::invalid_argument))
    << describe(self_backup.error());
  auto twice = at(0).spawn_persistent("host1", {"host2", "host2"}, "counter");
  ASSERT_FALSE(twice);
  EXPECT_TRUE(is(twice.error(), errc::invalid_argument))
    << describe(twice.error());
  EXPECT_NE(describe(twice.error()).find("'host2' of a persistent 'counter' "
                                         "is listed twice"),
            std::string::npos)
    << describe(twice.error());
  auto unknown = at(0).spawn_persistent("host1", {"mars"}, "counter");
  ASSERT_FALSE(unknown);
  EXPECT_NE(describe(unknown.error()).find("mars"), std::string::npos);
  auto bad_type = at(0).spawn_persistent("host1", {"host2"}, "no-such-type");
  ASSERT_FALSE(bad_type);
  EXPECT_TRUE(is(bad_type.error(), errc::unknown_actor_type));
  // Nothing was bound or recorded for restart.
  EXPECT_TRUE(at(0).context().dir.restart_specs().empty());
}

} // namespace
