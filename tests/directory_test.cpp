// Unit tests of the directory: bindings, exactly-once failure notification
// of pending calls and monitors, fencing of failed incarnations.
#include <gtest/gtest.h>

#include "caf/all.hpp"

#include "actors/directory.hpp"
#include "actors/errors.hpp"

using namespace ftsr;
using namespace std::chrono_literals;

namespace {

caf::behavior silent(caf::event_based_actor*) {
  return {[](int) -> caf::result<int> { return caf::delegated<int>{}; }};
}

struct directory_test : ::testing::Test {
  directory_test() : sys(cfg), dir(spans), self(sys) {
    add_error_category(cfg);
    callee = sys.spawn(silent);
    ref = capability_ref{7, "silent", "host3", 5, callee, {}};
  }

  ~directory_test() override {
    caf::anon_send_exit(callee, caf::exit_reason::kill);
  }

  caf::actor_system_config cfg;
  caf::actor_system sys;
  span_buffer spans;
  directory dir;
  caf::scoped_actor self;
  caf::actor callee;
  capability_ref ref;
};

} // namespace

TEST_F(directory_test, pending_call_gets_fail_stop_exactly_once) {
  auto h = self->request(callee, caf::infinite, 1);
  dir.watch_call(ref, self->ctrl(), h.id());
  EXPECT_EQ(dir.pending_calls(), 1u);
  dir.actor_failed(ref.id, 0, "crashed", false);
  dir.actor_failed(ref.id, 0, "crashed again", false);
  dir.node_failed("host3", 5, "timeout");
  caf::error got;
  h.receive([](int) { FAIL() << "unexpected reply"; },
            [&](caf::error& err) { got = err; });
  EXPECT_TRUE(is(got, errc::fail_stop)) << describe(got);
  EXPECT_NE(describe(got).find("silent#7@host3"), std::string::npos);
  EXPECT_NE(describe(got).find("crashed"), std::string::npos);
  EXPECT_EQ(dir.pending_calls(), 0u);
  bool second = false;
  self->receive([&](caf::error&) { second = true; }, caf::after(50ms) >> [] {});
  EXPECT_FALSE(second);
}

TEST_F(directory_test, unwatched_call_is_not_notified) {
  auto h = self->request(callee, caf::infinite, 1);
  auto token = dir.watch_call(ref, self->ctrl(), h.id());
  dir.unwatch_call(ref.id, token);
  EXPECT_EQ(dir.pending_calls(), 0u);
  dir.actor_failed(ref.id, 0, "crashed", false);
  EXPECT_EQ(dir.failure_of(ref).code(), static_cast<uint8_t>(errc::fail_stop));
}

TEST_F(directory_test, call_past_its_deadline_gets_no_answer_once) {
  auto now = std::chrono::steady_clock::now();
  auto late = self->request(callee, caf::infinite, 1);
  dir.watch_call(ref, self->ctrl(), late.id(), now + 10ms);
  auto open = self->request(callee, caf::infinite, 2);
  auto token = dir.watch_call(ref, self->ctrl(), open.id());
  EXPECT_EQ(dir.expire_calls(now), 0u); // not yet
  EXPECT_EQ(dir.expire_calls(now + 20ms), 1u);
  EXPECT_EQ(dir.expire_calls(now + 40ms), 0u); // forgotten: once only
  caf::error got;
  late.receive([](int) { FAIL() << "unexpected reply"; },
               [&](caf::error& err) { got = err; });
  EXPECT_TRUE(is(got, errc::no_answer)) << describe(got);
  EXPECT_NE(describe(got).find("silent#7@host3"), std::string::npos);
  // A call without deadline is still watched, and still fails over.
  EXPECT_EQ(dir.pending_calls(), 1u);
  dir.actor_failed(ref.id, 0, "crashed", false);
  open.receive([](int) { FAIL() << "unexpected reply"; },
               [&](caf::error& err) { got = err; });
  EXPECT_TRUE(is(got, errc::fail_stop)) << describe(got);
  dir.unwatch_call(ref.id, token);
}

TEST_F(directory_test, call_to_a_generation_restarted_meanwhile_fails_at_once) {
  // The request went to generation 0; before the watch was registered its
  // node failed and generation 1 was bound: nothing would report the loss.
  auto restarted = ref;
  restarted.generation = 1;
  dir.bind(restarted);
  auto h = self->request(callee, caf::infinite, 1);
  dir.watch_call(ref, self->ctrl(), h.id(),
                 std::chrono::steady_clock::time_point::max(), 0);
  caf::error got;
  h.receive([](int) { FAIL() << "unexpected reply"; },
            [&](caf::error& err) { got = err; });
  EXPECT_TRUE(is(got, errc::fail_stop)) << describe(got);
  EXPECT_NE(describe(got).find("generation 1"), std::string::npos);
  EXPECT_EQ(dir.pending_calls(), 0u);
  // A request to the current generation is watched as usual.
  auto current = self->request(callee, caf::infinite, 2);
  auto token = dir.watch_call(ref, self->ctrl(), current.id(),
                              std::chrono::steady_clock::time_point::max(), 1);
  EXPECT_EQ(dir.pending_calls(), 1u);
  dir.unwatch_call(ref.id, token);
}

TEST_F(directory_test, a_restart_seen_before_the_failure_fails_the_old_generation) {
  // The backup node's binding of generation 1 can arrive before this node
  // learns that generation 0's node failed: the call and the monitor of
  // generation 0 are told then, and the later node failure leaves
  // generation 1 alive. (Before, they waited for generation 1 to fail:
  // persistent_test's queued callers hung forever.)
  dir.bind(ref);
  // Bounded: without the notification nothing would ever answer.
  auto h = self->request(callee, 5s, 1);
  dir.watch_call(ref, self->ctrl(), h.id(),
                 std::chrono::steady_clock::time_point::max(), 0);
  dir.add_monitor(ref, caf::actor_cast<caf::actor>(self),
                  caf::make_message(std::string{"m"}, 1));
  auto restarted = ref;
  restarted.node = "host2";
  restarted.incarnation = 9;
  restarted.generation = 1;
  dir.bind(restarted);
  caf::error got;
  h.receive([](int) { FAIL() << "unexpected reply"; },
            [&](caf::error& err) { got = err; });
  EXPECT_TRUE(is(got, errc::fail_stop)) << describe(got);
  EXPECT_NE(describe(got).find("restarted as generation 1"), std::string::npos)
    << describe(got);
  bool fired = false;
  self->receive([&](const std::string& tag, int) { fired = tag == "m"; },
                caf::after(1s) >> [] {});
  EXPECT_TRUE(fired) << "the monitor of generation 0 did not fire";
  EXPECT_EQ(dir.pending_calls(), 0u);
  EXPECT_EQ(dir.monitors(), 0u);
  dir.node_failed("host3", 5, "no heartbeat");
  auto bound = dir.lookup(ref.id);
  ASSERT_TRUE(bound);
  EXPECT_EQ(bound->generation, 1u);
  EXPECT_FALSE(dir.failure_of(*bound));
}

TEST_F(directory_test, call_to_failed_capability_fails_at_once) {
  dir.bind(ref);
  dir.actor_failed(ref.id, 0, "gone", true);
  auto h = self->request(callee, caf::infinite, 1);
  dir.watch_call(ref, self->ctrl(), h.id());
  caf::error got;
  h.receive([](int) {}, [&](caf::error& err) { got = err; });
  EXPECT_TRUE(is(got, errc::destroyed)) << describe(got);
}

TEST_F(directory_test, monitor_fires_once_and_monitorend_cancels) {
  auto m1 = dir.add_monitor(ref, caf::actor_cast<caf::actor>(self),
                            caf::make_message(std::string{"m1"}, 42));
  auto m2 = dir.add_monitor(ref, caf::actor_cast<caf::actor>(self),
                            caf::make_message(std::string{"m2"}, 43));
  EXPECT_TRUE(dir.remove_monitor(m2));
  EXPECT_FALSE(dir.remove_monitor(m2));
  dir.node_failed("host3", 5, "no heartbeat");
  dir.actor_failed(ref.id, 0, "again", false);
  std::vector<std::string> fired;
  for (;;) {
    bool got = false;
    self->receive(
      [&](const std::string& tag, int arg) {
        fired.push_back(tag + ":" + std::to_string(arg));
        got = true;
      },
      caf::after(50ms) >> [] {});
    if (!got)
      break;
  }
  EXPECT_EQ(fired, std::vector<std::string>{"m1:42"});
  EXPECT_FALSE(dir.remove_monitor(m1));
  EXPECT_EQ(dir.monitors(), 0u);
  auto kinds = spans.snapshot();
  ASSERT_EQ(kinds.size(), 1u);
  EXPECT_EQ(kinds[0].kind, "monitor_fired");
}

TEST_F(directory_test, monitor_on_failed_capability_fires_immediately) {
  dir.node_failed("host3", 5, "killed");
  dir.add_monitor(ref, caf::actor_cast<caf::actor>(self),
                  caf::make_message(1));
  bool fired = false;
  self->receive([&](int x) { fired = x == 1; },
                caf::after(1s) >> [] {});
  EXPECT_TRUE(fired);
}

TEST_F(directory_test, bindings_of_fenced_incarnations_are_failed_on_arrival) {
  dir.node_failed("host3", 5, "killed");
  dir.bind(ref);
  EXPECT_TRUE(is(dir.failure_of(ref), errc::fail_stop));
  EXPECT_TRUE(dir.alive().empty());
  // A newer incarnation of host3 is alive.
  capability_ref fresh{8, "silent", "host3", 6, callee, {}};
  dir.bind(fresh);
  EXPECT_FALSE(dir.failure_of(fresh));
  ASSERT_EQ(dir.alive().size(), 1u);
  EXPECT_EQ(dir.alive()[0].id, 8u);
}

TEST_F(directory_test, a_group_member_list_from_an_older_view_is_ignored) {
  capability_ref a{11, "kv", "host1", 1, callee, {}};
  capability_ref b{12, "kv", "host2", 1, callee, {}};
  capability_ref c{13, "kv", "host3", 1, callee, {}};
  capability_ref group{10, "kv", "host1", 1, callee, {a, b}};
  group.generation = 3;
  dir.bind(group);
  // A list of view 2 arrives late (a restarted node relays what it had).
  auto stale = group;
  stale.members = {a, c};
  stale.generation = 2;
  dir.bind(stale);
  auto bound = dir.lookup(10);
  ASSERT_TRUE(bound);
  ASSERT_EQ(bound->members.size(), 2u);
  EXPECT_EQ(bound->members[1].id, 12u);
  EXPECT_EQ(bound->generation, 3u);
  // View 4 replaces it.
  auto newer = stale;
  newer.generation = 4;
  dir.bind(newer);
  bound = dir.lookup(10);
  ASSERT_TRUE(bound);
  EXPECT_EQ(bound->members[1].id, 13u);
}

TEST_F(directory_test, a_newer_view_brings_back_a_group_counted_as_lost) {
  // This node saw both replicas of view 3 fail before it learned that view
  // 4 replaced one (a chaos run: a data manager's recovery then failed on
  // "quorum lost" for a store that served).
  capability_ref a{11, "kv", "host1", 1, callee, {}};
  capability_ref b{12, "kv", "host3", 1, callee, {}};
  capability_ref c{13, "kv", "host2", 2, callee, {}};
  capability_ref group{10, "kv", "host1", 1, callee, {a, b}};
  group.generation = 3;
  dir.bind(group);
  dir.node_failed("host1", 1, "killed");
  dir.node_failed("host3", 1, "killed");
  ASSERT_TRUE(is(dir.failure_of(group), errc::fail_stop));
  // A list of the same view changes nothing.
  dir.bind(group);
  EXPECT_TRUE(dir.failure_of(group));
  // View 4 with a live majority: alive again, with its members.
  auto newer = group;
  newer.members = {c, b};
  newer.generation = 4;
  dir.bind(newer);
  EXPECT_FALSE(dir.failure_of(group)) << describe(dir.failure_of(group));
  auto bound = dir.lookup(10);
  ASSERT_TRUE(bound);
  EXPECT_EQ(bound->generation, 4u);
  EXPECT_EQ(bound->members[0].id, 13u);
  // View 5 still lists only failed replicas: lost again.
  auto lost = group;
  lost.generation = 5;
  dir.bind(lost);
  EXPECT_TRUE(is(dir.failure_of(group), errc::fail_stop));
}

TEST(span_buffer, bounded_and_keeps_newest) {
  span_buffer buf{3};
  trace_context root;
  for (int i = 0; i < 5; ++i)
    root = buf.event(root, "k", std::to_string(i));
  auto xs = buf.snapshot();
  ASSERT_EQ(xs.size(), 3u);
  EXPECT_EQ(xs[0].name, "2");
  EXPECT_EQ(xs[2].name, "4");
  EXPECT_EQ(buf.dropped(), 2u);
  // Children stay in their parent's trace.
  EXPECT_EQ(xs[1].trace_id, xs[2].trace_id);
  EXPECT_EQ(xs[2].parent_id, xs[1].span_id);
  EXPECT_EQ(buf.snapshot(1).size(), 1u);
}

TEST(span_buffer, spans_written_in_place_start_from_a_cleared_slot) {
  span_buffer buf{2};
  buf.set_node("host1/7");
  buf.record(span{1, 2, 0, "recovery", "counter#1@host1", {}, 10, 20,
                  "failed: store gone", "error", 4});
  buf.record(span{1, 3, 2, "restart", "counter#1@host2", "host2/3", 30, 30,
                  {}, {}, 0});
  // The ring is full: each span reuses the oldest one's slot, several
  // times round; nothing of the slot's earlier span shows through.
  for (uint64_t i = 4; i < 9; ++i)
    buf.record_with([i](span& s) {
      s.trace_id = 1;
      s.span_id = i;
      s.kind = "invocation";
      s.name = "echo#" + std::to_string(i) + "@host1";
    });
  auto xs = buf.snapshot();
  ASSERT_EQ(xs.size(), 2u);
  EXPECT_EQ(xs[0].span_id, 7u);
  EXPECT_EQ(xs[1].span_id, 8u);
  for (auto& s : xs) {
    EXPECT_EQ(s.kind, "invocation");
    EXPECT_EQ(s.name, "echo#" + std::to_string(s.span_id) + "@host1");
    EXPECT_EQ(s.node, "host1/7"); // filled in when read
    EXPECT_EQ(s.parent_id, 0u);
    EXPECT_EQ(s.start_ns, 0);
    EXPECT_TRUE(s.detail.empty()) << s.detail;
    EXPECT_TRUE(s.outcome.empty()) << s.outcome;
    EXPECT_EQ(s.group_view, 0u);
  }
  EXPECT_EQ(buf.dropped(), 5u);
  EXPECT_EQ(buf.size(), 2u);
}

TEST(span_buffer, observer_sees_the_kinds_its_filter_accepts) {
  span_buffer buf{8};
  buf.set_node("host1/7");
  std::vector<span> seen;
  buf.set_observer([&](const span& s) { seen.push_back(s); },
                   [](const std::string& kind) { return kind == "restart"; });
  buf.event({}, "restart", "counter#1@host1", "generation 2");
  buf.record_with([](span& s) { s.kind = "invocation"; });
  buf.event({}, "monitor_fired", "counter#1@host1");
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].kind, "restart");
  EXPECT_EQ(seen[0].detail, "generation 2");
  EXPECT_EQ(seen[0].node, "host1/7");
  EXPECT_EQ(buf.size(), 3u); // every span is buffered, observed or not
  // Without a filter the observer sees every span.
  seen.clear();
  buf.set_observer([&](const span& s) { seen.push_back(s); });
  buf.record_with([](span& s) { s.kind = "invocation"; });
  buf.event({}, "monitor_fired", "counter#1@host1");
  EXPECT_EQ(seen.size(), 2u);
}

TEST(span_buffer, capacity_zero_keeps_the_newest_span) {
  span_buffer buf{0};
  buf.event({}, "k", "a");
  buf.event({}, "k", "b");
  auto xs = buf.snapshot();
  ASSERT_EQ(xs.size(), 1u);
  EXPECT_EQ(xs[0].name, "b");
  EXPECT_EQ(buf.dropped(), 1u);
}
