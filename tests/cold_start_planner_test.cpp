// cold_start_planner (replication/cold_start_planner.hpp): after every node
// stopped, when a group can come back, from which replica's state, and
// that it is planned once.
#include <gtest/gtest.h>

#include "replication/cold_start_planner.hpp"

using namespace ftsr;

namespace {

group_record store(uint64_t view, std::vector<replica_place> members,
                   uint64_t max_sf = 1) {
  group_record g;
  g.id = 9;
  g.type = "stable_store";
  g.max_sf = max_sf;
  g.view = view;
  g.members = std::move(members);
  return g;
}

replica_report report(replica_place r, std::optional<replica_position> p) {
  return {9, std::move(r), p};
}

const replica_place r1{11, "host1"};
const replica_place r2{12, "host2"};
const replica_place r3{13, "host3"};

} // namespace

TEST(cold_start_planner, nothing_known_plans_nothing) {
  cold_start_planner p;
  EXPECT_TRUE(p.ready().empty());
  p.add_report(report(r1, replica_position{1, 5}));
  EXPECT_TRUE(p.ready().empty()) << "a report without a catalog record";
}

TEST(cold_start_planner, freshest_replica_is_the_source_and_comes_first) {
  cold_start_planner p;
  p.add_records({store(2, {r1, r2, r3})});
  p.add_report(report(r1, replica_position{2, 40}));
  EXPECT_TRUE(p.ready().empty()) << "1 of 3 with max_sf 1 is not enough";
  p.add_report(report(r3, replica_position{2, 41}));
  auto plans = p.ready();
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(plans[0].source, r3);
  EXPECT_EQ(plans[0].position, (replica_position{2, 41}));
  EXPECT_EQ(plans[0].members, (std::vector<replica_place>{r3, r1}));
  EXPECT_EQ(plans[0].group.type, "stable_store");
}

TEST(cold_start_planner, each_group_is_planned_once) {
  cold_start_planner p;
  p.add_records({store(1, {r1, r2})});
  p.add_report(report(r2, replica_position{1, 3}));
  ASSERT_EQ(p.ready().size(), 1u);
  p.add_report(report(r1, replica_position{1, 7}));
  EXPECT_TRUE(p.ready().empty());
  EXPECT_TRUE(p.waiting().empty());
  EXPECT_TRUE(p.unreported().empty());
}

TEST(cold_start_planner, tie_goes_to_the_replica_ranked_first) {
  cold_start_planner p;
  p.add_records({store(1, {r1, r2, r3})});
  p.add_report(report(r3, replica_position{1, 8}));
  p.add_report(report(r2, replica_position{1, 8}));
  auto plans = p.ready();
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(plans[0].source, r2);
  EXPECT_EQ(plans[0].members, (std::vector<replica_place>{r2, r3}));
}

TEST(cold_start_planner, newest_record_names_the_members) {
  cold_start_planner p;
  // host3 was down when the group replaced r2 by r4 on host4: its record
  // is older and must not bring r2 back.
  replica_place r4{14, "host4"};
  p.add_records({store(1, {r1, r2, r3})});
  p.add_records({store(3, {r1, r3, r4})});
  p.add_records({store(2, {r1, r3})});
  p.add_report(report(r2, replica_position{1, 99}));
  p.add_report(report(r1, replica_position{3, 20}));
  EXPECT_TRUE(p.ready().empty()) << "r2's report must not count";
  p.add_report(report(r4, replica_position{3, 21}));
  auto plans = p.ready();
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(plans[0].group.view, 3u);
  EXPECT_EQ(plans[0].source, r4);
  EXPECT_EQ(plans[0].members, (std::vector<replica_place>{r4, r1}));
}

TEST(cold_start_planner, report_from_another_node_is_ignored) {
  cold_start_planner p;
  p.add_records({store(1, {r1, r2})});
  p.add_report(report(replica_place{12, "host3"}, replica_position{1, 50}));
  EXPECT_TRUE(p.ready().empty());
  EXPECT_EQ(p.unreported().at(9), (std::vector<replica_place>{r1, r2}));
}

TEST(cold_start_planner, replicas_without_state_wait_for_every_report) {
  cold_start_planner p;
  p.add_records({store(1, {r1, r2, r3})});
  p.add_report(report(r1, std::nullopt));
  p.add_report(report(r2, replica_position{1, 4}));
  EXPECT_TRUE(p.ready().empty())
    << "one with state of 3: r3 may hold a newer write";
  EXPECT_NE(p.waiting().at(9).find("2 of 3 replicas reported"),
            std::string::npos)
    << p.waiting().at(9);
  EXPECT_EQ(p.unreported().at(9), (std::vector<replica_place>{r3}));
  p.add_report(report(r3, std::nullopt));
  auto plans = p.ready();
  ASSERT_EQ(plans.size(), 1u) << "all reported: the only state there is";
  EXPECT_EQ(plans[0].source, r2);
  EXPECT_EQ(plans[0].members, (std::vector<replica_place>{r2, r1, r3}));
}

TEST(cold_start_planner, no_state_anywhere_is_never_planned) {
  cold_start_planner p;
  p.add_records({store(1, {r1, r2})});
  p.add_report(report(r1, std::nullopt));
  p.add_report(report(r2, std::nullopt));
  EXPECT_TRUE(p.ready().empty());
  EXPECT_EQ(p.waiting().size(), 1u);
}

TEST(cold_start_planner, later_report_replaces_an_earlier_one) {
  cold_start_planner p;
  p.add_records({store(1, {r1, r2})});
  p.add_report(report(r1, std::nullopt));
  p.add_report(report(r1, replica_position{1, 2}));
  auto plans = p.ready();
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(plans[0].source, r1);
}
