// dedup_table (replication/dedup_table.hpp): recording, the first reply
// winning, the bound, and the round trip of a state transfer.
#include <gtest/gtest.h>

#include "caf/all.hpp"

#include "replication/dedup_table.hpp"

using ftsr::dedup_table;

namespace {

caf::message reply(int x) {
  return caf::make_message(x);
}

TEST(dedup_table, remembers_the_first_reply_of_each_request) {
  dedup_table t;
  t.remember(7, reply(1));
  t.remember(7, reply(2)); // a second delivery changes nothing
  ASSERT_TRUE(t.find(7).has_value());
  EXPECT_EQ(t.find(7)->get_as<int>(0), 1);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_FALSE(t.find(8).has_value());
}

TEST(dedup_table, request_zero_has_no_id_and_is_not_recorded) {
  dedup_table t;
  t.remember(0, reply(1));
  EXPECT_EQ(t.size(), 0u);
  EXPECT_FALSE(t.contains(0));
}

TEST(dedup_table, forgets_the_oldest_request_beyond_its_capacity) {
  dedup_table t{2};
  t.remember(1, reply(1));
  t.remember(2, reply(2));
  t.remember(3, reply(3));
  EXPECT_FALSE(t.contains(1));
  EXPECT_TRUE(t.contains(2));
  EXPECT_TRUE(t.contains(3));
  EXPECT_EQ(t.size(), 2u);
}

TEST(dedup_table, transfer_round_trip_keeps_order_and_replies) {
  dedup_table a{3};
  for (uint64_t r = 1; r <= 4; ++r)
    a.remember(r, reply(static_cast<int>(r * 10)));
  std::vector<uint64_t> requests;
  std::vector<caf::message> replies;
  a.export_to(requests, replies);
  EXPECT_EQ(requests, (std::vector<uint64_t>{2, 3, 4}));
  dedup_table b{3};
  b.remember(99, reply(0)); // replaced by the import
  b.import_from(requests, replies);
  EXPECT_FALSE(b.contains(99));
  EXPECT_EQ(b.find(3)->get_as<int>(0), 30);
  // Oldest first: the next request evicts the same one at both.
  a.remember(5, reply(50));
  b.remember(5, reply(50));
  EXPECT_FALSE(a.contains(2));
  EXPECT_FALSE(b.contains(2));
  EXPECT_TRUE(b.contains(3));
}

TEST(dedup_table, import_of_unequal_lists_takes_only_the_pairs) {
  dedup_table t;
  t.import_from({1, 2, 3}, {reply(1)});
  EXPECT_EQ(t.size(), 1u);
  EXPECT_TRUE(t.contains(1));
}

} // namespace
