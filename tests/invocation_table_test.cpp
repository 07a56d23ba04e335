// Exactly-once invocations: the invocation table core step by step, and
// the invocation log's stored form (round trip, a damaged blob refused).
#include <gtest/gtest.h>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"

#include "actors/errors.hpp"
#include "persistence/invocation_log.hpp"
#include "persistence/invocation_table.hpp"

using namespace ftsr;
using verdict = invocation_table::verdict;

TEST(invocation_table, new_invocation_runs_and_a_resend_replays_its_reply) {
  invocation_table t;
  EXPECT_EQ(t.admit({7, 1}, 1).what, verdict::run);
  t.record({7, 1}, "r1");
  auto again = t.admit({7, 1}, 1);
  ASSERT_EQ(again.what, verdict::replay);
  EXPECT_EQ(*again.reply, "r1");
  // Same seq from another caller is another invocation.
  EXPECT_EQ(t.admit({8, 1}, 1).what, verdict::run);
}

TEST(invocation_table, unrecorded_resend_runs_again) {
  // An operation that recorded nothing (a read) is at least once.
  invocation_table t;
  EXPECT_EQ(t.admit({7, 3}, 1).what, verdict::run);
  EXPECT_EQ(t.admit({7, 3}, 1).what, verdict::run);
}

TEST(invocation_table, caller_floor_trims_answered_replies) {
  invocation_table t;
  for (uint64_t s = 1; s <= 5; ++s)
    t.record({7, s}, "r" + std::to_string(s));
  t.record({9, 1}, "other");
  EXPECT_EQ(t.size(), 6u);
  // The caller has answers for 1..3: their replies go, 4 and 5 stay.
  EXPECT_EQ(t.admit({7, 6}, 4).what, verdict::run);
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.admit({7, 4}, 4).what, verdict::replay);
  // Below the floor and forgotten: refused, never run again.
  EXPECT_EQ(t.admit({7, 2}, 4).what, verdict::stale);
  // A lower floor arriving late changes nothing.
  EXPECT_EQ(t.admit({7, 5}, 1).what, verdict::replay);
  EXPECT_EQ(t.admit({7, 2}, 1).what, verdict::stale);
  // Recording below the floor is ignored.
  t.record({7, 1}, "late");
  EXPECT_EQ(t.admit({7, 1}, 1).what, verdict::stale);
  // Other callers are untouched.
  EXPECT_EQ(t.admit({9, 1}, 1).what, verdict::replay);
}

TEST(invocation_table, per_caller_bound_drops_the_oldest_and_refuses_it) {
  invocation_table t{3, 16};
  for (uint64_t s = 1; s <= 5; ++s)
    t.record({7, s}, "r");
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.admit({7, 1}, 1).what, verdict::stale);
  EXPECT_EQ(t.admit({7, 2}, 1).what, verdict::stale);
  EXPECT_EQ(t.admit({7, 3}, 1).what, verdict::replay);
  EXPECT_EQ(t.admit({7, 6}, 1).what, verdict::run);
}

TEST(invocation_table, caller_bound_forgets_the_least_recently_seen) {
  invocation_table t{8, 2};
  t.record({1, 1}, "a");
  t.record({2, 1}, "b");
  EXPECT_EQ(t.admit({1, 1}, 1).what, verdict::replay); // 1 seen last
  t.record({3, 1}, "c");                                // evicts caller 2
  EXPECT_EQ(t.callers(), 2u);
  EXPECT_EQ(t.admit({1, 1}, 1).what, verdict::replay);
  EXPECT_EQ(t.admit({3, 1}, 1).what, verdict::replay);
  EXPECT_EQ(t.callers(), 2u);
  EXPECT_EQ(t.admit({2, 1}, 1).what, verdict::run);
  EXPECT_EQ(t.callers(), 2u);
}

TEST(invocation_log, round_trip_keeps_replies_and_floors) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  invocation_log log{sys};
  log.record({7, 1}, caf::make_message(int64_t{42}));
  log.record({7, 2}, caf::make_message(std::string{"x"}));
  ASSERT_EQ(log.admit({7, 3}, 2).what, verdict::run); // forgets seq 1
  invocation_log copy{sys};
  ASSERT_FALSE(copy.decode(log.encode()));
  auto a = copy.admit({7, 2}, 2);
  ASSERT_EQ(a.what, verdict::replay);
  ASSERT_FALSE(a.error);
  ASSERT_TRUE(a.reply.match_elements<std::string>());
  EXPECT_EQ(a.reply.get_as<std::string>(0), "x");
  auto stale = copy.admit({7, 1}, 2);
  EXPECT_EQ(stale.what, verdict::stale);
  EXPECT_TRUE(is(stale.error, errc::invalid_argument));
}

TEST(invocation_log, damaged_blob_is_refused_and_content_kept) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  invocation_log log{sys};
  log.record({7, 1}, caf::make_message(int64_t{42}));
  auto blob = log.encode();
  auto err = log.decode(blob.substr(0, blob.size() / 2));
  EXPECT_TRUE(is(err, errc::corrupted)) << describe(err);
  auto a = log.admit({7, 1}, 1);
  ASSERT_EQ(a.what, verdict::replay);
  EXPECT_EQ(a.reply.get_as<int64_t>(0), 42);
}

TEST(invocation_log, current_is_set_only_during_an_invocation) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  invocation_log log{sys};
  log.record_current(int64_t{1}); // no invocation: nothing recorded
  EXPECT_EQ(log.table().size(), 0u);
  log.begin({7, 4});
  log.record_current(int64_t{5});
  log.end();
  EXPECT_FALSE(log.current());
  EXPECT_EQ(log.admit({7, 4}, 1).what, verdict::replay);
}
