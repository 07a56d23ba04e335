// The partition tests' history checker on hand-written histories: clean
// ones pass, and each kind of violation (lost or duplicated write, stale
// read, two incarnations answering at once, a final state that did not
// settle) is found and named. JSON round trips and bad input.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>

#include "tests/support/history_check.hpp"

using namespace ftsr::testing;

namespace {

constexpr int64_t ms = 1000000;

op_record write(std::string client, std::string key, std::string token,
                int64_t start_ms, int64_t end_ms,
                op_outcome outcome = op_outcome::ok) {
  op_record op;
  op.client = std::move(client);
  op.kind = "write";
  op.key = std::move(key);
  op.value = std::move(token);
  op.start_ns = start_ms * ms;
  op.end_ns = end_ms * ms;
  op.outcome = outcome;
  return op;
}

op_record read(std::string client, std::string key,
               std::vector<std::string> values, int64_t start_ms,
               int64_t end_ms) {
  op_record op;
  op.client = std::move(client);
  op.kind = "read";
  op.key = std::move(key);
  op.values = std::move(values);
  op.start_ns = start_ms * ms;
  op.end_ns = end_ms * ms;
  op.outcome = op_outcome::ok;
  return op;
}

op_record count_read(std::string client, int64_t count, int64_t start_ms,
                     int64_t end_ms) {
  auto op = read(std::move(client), "counter", {}, start_ms, end_ms);
  op.count = count;
  return op;
}

op_record answered_by(op_record op, std::string incarnation) {
  op.actor = "counter#7";
  op.incarnation = std::move(incarnation);
  return op;
}

/// A settled three-node cluster with one identical kv group.
final_state settled(std::map<std::string, std::vector<std::string>> contents) {
  final_state st;
  st.settled = true;
  st.nodes = {"host1", "host2", "host3"};
  for (auto& n : st.nodes) {
    node_view v;
    v.node = n;
    v.reachable = true;
    v.members = {{"host1", {true, 11}}, {"host2", {true, 12}},
                 {"host3", {true, 13}}};
    st.views.push_back(v);
  }
  group_state g;
  g.name = "kv";
  g.created_replicas = 3;
  for (uint64_t m = 1; m <= 3; ++m)
    g.replicas.push_back({m, 4, 100, 777, true, 99});
  st.groups.push_back(g);
  st.contents = std::move(contents);
  return st;
}

std::vector<op_record> clean_history() {
  return {
    write("a", "k1", "a.1", 0, 10),
    write("b", "k1", "b.1", 5, 12),
    read("a", "k1", {"a.1"}, 11, 13),            // b.1 still in flight
    read("b", "k1", {"a.1", "b.1"}, 13, 14),
    write("a", "k2", "a.2", 20, 30, op_outcome::unknown), // applied anyway
    write("b", "k2", "b.2", 21, 31, op_outcome::fail),    // not applied
    read("a", "k2", {}, 15, 16),
  };
}

bool mentions(const check_report& r, const std::string& what) {
  for (auto& v : r.violations)
    if (v.find(what) != std::string::npos)
      return true;
  return false;
}

} // namespace

TEST(history_check, clean_history_passes) {
  auto r = check(clean_history(),
                 settled({{"k1", {"a.1", "b.1"}}, {"k2", {"a.2"}}}));
  EXPECT_TRUE(r.ok()) << r.summary();
  EXPECT_EQ(r.ok_writes, 2u);
  EXPECT_EQ(r.ok_reads, 3u);
  EXPECT_EQ(r.failed, 1u);
  EXPECT_EQ(r.unknown, 1u);
}

TEST(history_check, lost_acknowledged_write_is_found) {
  auto r = check(clean_history(), settled({{"k1", {"a.1"}}, {"k2", {}}}));
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.lost_writes, 1u) << r.summary();
  EXPECT_TRUE(mentions(r, "b write k1=b.1")) << r.summary();
}

TEST(history_check, token_applied_twice_or_never_written_is_found) {
  auto twice = check(clean_history(),
                     settled({{"k1", {"a.1", "b.1", "a.1"}}, {"k2", {}}}));
  EXPECT_EQ(twice.duplicate_tokens, 1u) << twice.summary();
  EXPECT_TRUE(mentions(twice, "token a.1 is 2 times in k1"));
  auto phantom = check(clean_history(),
                       settled({{"k1", {"a.1", "b.1", "z.9"}}, {"k2", {}}}));
  EXPECT_EQ(phantom.duplicate_tokens, 1u) << phantom.summary();
  EXPECT_TRUE(mentions(phantom, "z.9 in k1 was written by no client"));
}

TEST(history_check, unreadable_key_is_reported_not_counted_as_lost) {
  auto end = settled({{"k2", {"a.2"}}});
  end.unreadable["k1"] = "fail_stop: no reachable primary";
  auto r = check(clean_history(), end);
  EXPECT_EQ(r.lost_writes, 0u);
  EXPECT_TRUE(mentions(r, "1 keys (k1) could not be read at the end, 2 "
                         "acknowledged writes to them unverified: fail_stop"))
    << r.summary();
}

TEST(history_check, read_missing_an_earlier_acknowledged_write_is_stale) {
  auto h = clean_history();
  h.push_back(read("c", "k1", {"b.1"}, 40, 41)); // a.1 ended at 10
  auto r = check_history(h);
  EXPECT_EQ(r.stale_reads, 1u) << r.summary();
  EXPECT_TRUE(mentions(r, "c read k1 [40..41 ms] misses a write k1=a.1"))
    << r.summary();
}

TEST(history_check, read_concurrent_with_a_write_may_miss_it) {
  std::vector<op_record> h{write("a", "k", "a.1", 0, 10),
                           read("b", "k", {}, 10, 11), // starts as it ends
                           read("c", "k", {}, 3, 20)};
  EXPECT_TRUE(check_history(h).ok()) << check_history(h).summary();
}

TEST(history_check, unacknowledged_write_never_makes_a_read_stale) {
  std::vector<op_record> h{write("a", "k", "a.1", 0, 10, op_outcome::unknown),
                           write("a", "k", "a.2", 11, 12, op_outcome::fail),
                           read("b", "k", {}, 20, 21)};
  EXPECT_TRUE(check_history(h).ok());
}

TEST(history_check, count_read_below_earlier_acknowledged_writes_is_stale) {
  std::vector<op_record> h{write("a", "counter", "1", 0, 10),
                           write("a", "counter", "2", 11, 20),
                           write("b", "counter", "3", 15, 40),
                           count_read("c", 2, 21, 22), // 3 still in flight
                           count_read("c", 1, 30, 31)};
  auto r = check_history(h);
  EXPECT_EQ(r.stale_reads, 1u) << r.summary();
  EXPECT_TRUE(mentions(r, "returned 1 but 2 writes were acknowledged"))
    << r.summary();
}

TEST(history_check, failover_from_one_incarnation_to_the_next_passes) {
  std::vector<op_record> h{
    answered_by(count_read("a", 0, 0, 5), "old"),
    answered_by(count_read("b", 0, 4, 30), "old"), // slow reply of the old
    answered_by(count_read("a", 0, 10, 12), "new"),
    answered_by(count_read("b", 0, 31, 33), "new"),
  };
  EXPECT_TRUE(check_history(h).ok()) << check_history(h).summary();
}

TEST(history_check, interleaved_answers_of_two_incarnations_are_found) {
  std::vector<op_record> h{
    answered_by(count_read("a", 0, 0, 5), "old"),
    answered_by(count_read("b", 0, 10, 12), "new"),
    answered_by(count_read("a", 0, 20, 21), "old"), // old still answers
  };
  auto r = check_history(h);
  EXPECT_EQ(r.overlapping_incarnations, 1u) << r.summary();
  EXPECT_TRUE(mentions(r, "incarnations new and old both answered"))
    << r.summary();
  // Failed or unanswered calls say nothing about who serves.
  h[2].outcome = op_outcome::unknown;
  EXPECT_TRUE(check_history(h).ok());
}

TEST(history_check, final_state_must_have_settled) {
  auto end = settled({{"k1", {"a.1", "b.1"}}, {"k2", {"a.2"}}});
  end.settled = false;
  end.reason = "host1 not up in host2's view";
  auto r = check(clean_history(), end);
  EXPECT_TRUE(mentions(r, "did not settle: host1 not up in host2's view"))
    << r.summary();
}

TEST(history_check, every_node_must_see_every_node_up_alike) {
  auto contents = std::map<std::string, std::vector<std::string>>{
    {"k1", {"a.1", "b.1"}}, {"k2", {"a.2"}}};
  auto down = settled(contents);
  down.views[1].members["host1"] = {false, 11};
  EXPECT_TRUE(mentions(check(clean_history(), down),
                       "host2 does not see host1 up"));
  auto silent = settled(contents);
  silent.views[2].reachable = false;
  EXPECT_TRUE(mentions(check(clean_history(), silent),
                       "node host3 did not answer"));
  auto split = settled(contents);
  split.views[2].members["host1"] = {true, 21};
  EXPECT_TRUE(mentions(check(clean_history(), split),
                       "host3 sees host1 as incarnation 21, host1 as 11"))
    << check(clean_history(), split).summary();
}

TEST(history_check, replicas_must_be_identical_serving_and_a_majority) {
  auto contents = std::map<std::string, std::vector<std::string>>{
    {"k1", {"a.1", "b.1"}}, {"k2", {"a.2"}}};
  auto diverged = settled(contents);
  diverged.groups[0].replicas[2].digest = 778;
  EXPECT_TRUE(mentions(check(clean_history(), diverged),
                       "replica 3 (delivered 100, digest 778"));
  auto stale_state = settled(contents);
  stale_state.groups[0].replicas[1].state_hash = 1;
  EXPECT_TRUE(mentions(check(clean_history(), stale_state),
                       "replica 2 (delivered 100, digest 777, state 1)"));
  auto idle = settled(contents);
  idle.groups[0].replicas[0].serving = false;
  EXPECT_TRUE(mentions(check(clean_history(), idle),
                       "replica 1 is not serving"));
  // A failed replica need not be replaced yet; a majority must serve.
  auto shrunk = settled(contents);
  shrunk.groups[0].replicas.pop_back();
  EXPECT_TRUE(check(clean_history(), shrunk).ok());
  shrunk.groups[0].replicas.pop_back();
  EXPECT_TRUE(mentions(check(clean_history(), shrunk),
                       "1 live replicas at the end, created with 3"));
}

TEST(history_check, violations_listed_are_bounded_counts_are_not) {
  std::vector<op_record> h;
  for (int i = 0; i < 50; ++i)
    h.push_back(write("a", "k", "a." + std::to_string(i), i, i + 1));
  auto r = check(h, settled({{"k", {}}}), 5);
  EXPECT_EQ(r.lost_writes, 50u);
  size_t listed = 0;
  for (auto& v : r.violations)
    listed += v.rfind("lost write", 0) == 0;
  EXPECT_EQ(listed, 6u); // five and the "more" line
}

TEST(history_check, json_round_trip) {
  auto op = answered_by(count_read("c", 42, 1, 2), "17@node");
  auto back = op_from_json_line(to_json_line(op));
  EXPECT_EQ(back.client, "c");
  EXPECT_EQ(back.kind, "read");
  EXPECT_EQ(back.count, 42);
  EXPECT_EQ(back.start_ns, 1 * ms);
  EXPECT_EQ(back.incarnation, "17@node");
  auto w = write("a", "k", "a.1", 3, 4, op_outcome::unknown);
  w.error = "timeout";
  auto wb = op_from_json_line(to_json_line(w));
  EXPECT_EQ(wb.value, "a.1");
  EXPECT_EQ(wb.outcome, op_outcome::unknown);
  EXPECT_EQ(wb.error, "timeout");
  auto rb = op_from_json_line(to_json_line(read("b", "k", {"x", "y"}, 5, 6)));
  EXPECT_EQ(rb.values, (std::vector<std::string>{"x", "y"}));
  EXPECT_FALSE(rb.count);
  auto end = settled({{"k", {"a.1"}}});
  end.unreadable["q"] = "timeout";
  auto eb = final_from_json(to_json(end));
  EXPECT_TRUE(eb.settled);
  EXPECT_EQ(eb.views.size(), 3u);
  EXPECT_EQ(eb.views[0].members.at("host2"), (std::pair<bool, uint64_t>{true, 12}));
  EXPECT_EQ(eb.groups[0].replicas[2].digest, 777u);
  EXPECT_EQ(eb.contents.at("k"), std::vector<std::string>{"a.1"});
  EXPECT_EQ(eb.unreadable.at("q"), "timeout");
}

TEST(history_check, bad_lines_are_refused_naming_the_problem) {
  auto refused = [](const std::string& line, const std::string& what) {
    try {
      op_from_json_line(line);
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string{e.what()}.find(what), std::string::npos)
        << line << " -> " << e.what();
      return;
    }
    ADD_FAILURE() << "accepted: " << line;
  };
  refused("{", "not JSON");
  refused("[1]", "not a JSON object");
  refused(R"({"kind":"read","key":"k","start":1,"end":2,"outcome":"ok"})",
          "missing field 'client'");
  refused(R"({"client":"a","kind":"erase","key":"k","start":1,"end":2,"outcome":"ok"})",
          "kind must be write or read");
  refused(R"({"client":"a","kind":"read","key":"k","start":3,"end":2,"outcome":"ok"})",
          "end before start");
  refused(R"({"client":"a","kind":"read","key":"k","start":1,"end":2,"outcome":"maybe"})",
          "outcome must be ok, fail or unknown");
  refused(R"({"client":"a","kind":"write","key":"k","start":1,"end":2,"outcome":"ok"})",
          "needs a non-empty 'value'");
  refused(R"({"client":"a","kind":"read","key":"k","start":"x","end":2,"outcome":"ok"})",
          "field 'start'");
  EXPECT_THROW(final_from_json(R"({"settled":true})"), std::runtime_error);
}

TEST(history_check, read_history_names_file_and_line) {
  auto path = ::testing::TempDir() + "history_check_test.jsonl";
  {
    std::ofstream out{path};
    out << to_json_line(write("a", "k", "a.1", 0, 1)) << "\n\n"
        << "{\"client\":1}\n";
  }
  try {
    read_history(path);
    ADD_FAILURE() << "bad line accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string{e.what()}.find(path + ":3: field 'client'"),
              std::string::npos)
      << e.what();
  }
  std::remove(path.c_str());
  EXPECT_THROW(read_history(path), std::runtime_error);
}
