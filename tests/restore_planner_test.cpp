// restore_planner (replication/restore_planner.hpp): which backup nodes a
// persistent group's primary tries, one replacement at a time, and how
// failures and joins change the plan.
#include <gtest/gtest.h>

#include "replication/restore_planner.hpp"

using ftsr::restore_planner;

namespace {

using nodes = std::vector<std::string>;

TEST(restore_planner, full_group_or_no_backups_plans_nothing) {
  restore_planner full{{"b1", "b2"}, 3};
  EXPECT_TRUE(full.plan({"n1", "n2", "n3"}, 3).empty());
  EXPECT_FALSE(full.restoring());
  restore_planner none{{}, 3};
  EXPECT_TRUE(none.plan({"n1"}, 1).empty());
  EXPECT_FALSE(none.restoring());
}

TEST(restore_planner, tries_backups_in_order_that_host_no_member) {
  restore_planner p{{"b1", "n2", "b2"}, 3};
  EXPECT_EQ(p.plan({"n1", "n2"}, 2), (nodes{"b1", "b2"}));
  EXPECT_TRUE(p.restoring());
  // One replacement at a time.
  EXPECT_TRUE(p.plan({"n1", "n2"}, 2).empty());
}

TEST(restore_planner, node_failing_too_often_is_skipped) {
  restore_planner p{{"b1", "b2"}, 2};
  for (size_t i = 0; i < restore_planner::max_failures_per_node; ++i) {
    ASSERT_EQ(p.plan({"n1"}, 1).front(), "b1");
    p.spawn_failed("b1", false);
    p.given_up();
  }
  EXPECT_EQ(p.plan({"n1"}, 1), (nodes{"b2"}));
}

TEST(restore_planner, node_that_is_down_is_tried_again) {
  restore_planner p{{"b1"}, 2};
  for (size_t i = 0; i < 2 * restore_planner::max_failures_per_node; ++i) {
    ASSERT_EQ(p.plan({"n1"}, 1), (nodes{"b1"}));
    p.spawn_failed("b1", true);
    p.given_up();
  }
}

TEST(restore_planner, join_outcome_ends_the_restoration) {
  restore_planner p{{"b1", "b2"}, 3};
  ASSERT_FALSE(p.plan({"n1"}, 1).empty());
  p.spawned(42, "b1");
  EXPECT_EQ(p.joining(), (std::vector<uint64_t>{42}));
  EXPECT_FALSE(p.finished(7, true).has_value()); // not a replacement
  EXPECT_TRUE(p.restoring());
  EXPECT_EQ(p.finished(42, true), std::optional<std::string>{"b1"});
  EXPECT_FALSE(p.restoring());
  EXPECT_TRUE(p.joining().empty());
  // The next one (the view still lacks a member).
  EXPECT_EQ(p.plan({"n1", "b1"}, 2), (nodes{"b2"}));
}

TEST(restore_planner, lost_join_counts_against_its_node) {
  restore_planner p{{"b1", "b2"}, 2};
  for (size_t i = 0; i < restore_planner::max_failures_per_node; ++i) {
    ASSERT_EQ(p.plan({"n1"}, 1).front(), "b1");
    p.spawned(i + 1, "b1");
    ASSERT_TRUE(p.finished(i + 1, false).has_value());
  }
  EXPECT_EQ(p.plan({"n1"}, 1), (nodes{"b2"}));
}

} // namespace
