// replica_machine (replication/replica_machine.hpp) inputs the seeded
// simulator of group_core_test.cpp does not reach: its simulated nodes hold
// no leases, so the primary's lease rules are checked here, step by step.
#include <gtest/gtest.h>

#include <algorithm>

#include "caf/all.hpp"

#include "actors/errors.hpp"
#include "apps/node/sample_resources.hpp"
#include "replication/replica_machine.hpp"

using namespace ftsr;

namespace {

struct lease_fixture : ::testing::Test {
  node_standing standing{true, false, false}; // just admitted
  replica_machine primary{"n1", [this] { return standing; }};

  void SetUp() override {
    auto s = primary.start(1, {1, 2, 3}, 1, {},
                           std::make_unique<sample::kv_store>(), {});
    ASSERT_FALSE(s.quit);
    EXPECT_EQ(s.watch, (std::vector<uint64_t>{2, 3}));
  }

  static invocation put(uint64_t request) {
    return invocation{request, reply_policy::first,
                      caf::make_message(sample::put_atom::value,
                                        std::string{"k"}, std::string{"v"}),
                      {}, {}};
  }

  static size_t count(const std::vector<replica_timer>& ts, replica_timer t) {
    return static_cast<size_t>(std::count(ts.begin(), ts.end(), t));
  }
};

TEST_F(lease_fixture, invocations_wait_for_the_first_lease) {
  auto a = primary.on_invoke(put(1), 11, {});
  EXPECT_TRUE(a.answers.empty());
  EXPECT_TRUE(a.sends.empty());
  EXPECT_EQ(count(a.timers, replica_timer::lease), 1u);
  auto b = primary.on_invoke(put(2), 12, {});
  EXPECT_EQ(count(b.timers, replica_timer::lease), 0u); // one timer at a time
  EXPECT_EQ(primary.holding(), 2u);
  // Still no lease: they keep waiting, and the timer is armed again.
  auto again = primary.on_timer(replica_timer::lease);
  EXPECT_TRUE(again.answers.empty());
  EXPECT_EQ(count(again.timers, replica_timer::lease), 1u);
  standing = {true, true, true};
  auto c = primary.on_timer(replica_timer::lease);
  EXPECT_EQ(count(c.timers, replica_timer::send_orders), 1u);
  auto d = primary.on_timer(replica_timer::send_orders);
  ASSERT_EQ(d.sends.size(), 2u); // one batch per backup
  auto& batch = std::get<order_msg>(d.sends.front().msg);
  EXPECT_EQ(batch.entries.size(), 2u);
  EXPECT_EQ(primary.stats().sequenced, 2u);
}

TEST_F(lease_fixture, primary_that_lost_its_lease_refuses_with_no_quorum) {
  standing = {true, true, false}; // leased once, now outside the majority
  auto s = primary.on_invoke(put(1), 11, {});
  ASSERT_EQ(s.answers.size(), 1u);
  EXPECT_EQ(s.answers[0].ticket, 11u);
  EXPECT_TRUE(is(s.answers[0].err, errc::no_quorum));
  EXPECT_NE(describe(s.answers[0].err).find("n1"), std::string::npos);
  EXPECT_EQ(primary.holding(), 0u);
  EXPECT_EQ(primary.stats().sequenced, 0u);
  // The group itself still serves: back in the majority, it sequences.
  standing = {true, true, true};
  auto t = primary.on_invoke(put(2), 12, {});
  EXPECT_TRUE(t.answers.empty());
  EXPECT_EQ(primary.stats().sequenced, 1u);
}

TEST_F(lease_fixture, client_only_context_needs_no_lease) {
  standing = {false, false, false};
  primary.on_invoke(put(1), 11, {});
  EXPECT_EQ(primary.stats().sequenced, 1u);
}

TEST(replica_machine, newcomer_answers_flushes_without_state) {
  replica_machine m{"n4", [] { return node_standing{}; }};
  ASSERT_FALSE(m.has_state());
  auto s = m.on_flush({5, {2, 3, 4}, 4});
  ASSERT_EQ(s.sends.size(), 1u);
  EXPECT_EQ(s.sends[0].to, 2u); // the coordinator
  auto& f = std::get<flushed_msg>(s.sends[0].msg);
  EXPECT_EQ(f.from, 4u);
  EXPECT_FALSE(f.reply.has_state);
  EXPECT_EQ(f.reply.view, 0u); // no flush answered before
  // A transfer below the flush it answered is stale.
  state_transfer old;
  old.view = 4;
  EXPECT_FALSE(m.wants_state(old));
  old.view = 5;
  EXPECT_TRUE(m.wants_state(old));
  // Malformed (no survivors): ignored.
  EXPECT_TRUE(m.on_flush({6, {}, 4}).sends.empty());
}

} // namespace
