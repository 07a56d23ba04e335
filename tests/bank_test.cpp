// ftsr-bank end to end: real node processes started by `ftsr-bank up` on
// free loopback ports (failure timeout 500 ms), every subcommand as its own
// client process. Bad input of every subcommand: a clear message, a
// non-zero exit, balances unchanged. A chaos run of 50 faults over every
// role's node and role under 8 clients: the checker passes and every role
// serves at the end. Also the history checker on hand-made histories.
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "actors/errors.hpp"
#include "apps/bank/bank_history.hpp"
#include "apps/node/local_cluster.hpp"

using namespace ftsr;

namespace {

struct run_result {
  int rc = -1;
  std::string out; // stdout and stderr
};

run_result run_bank(const std::string& args) {
  std::string cmd = std::string{FTSR_BANK_BIN} + " " + args + " 2>&1";
  run_result r;
  auto* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr)
    return r;
  char buf[4096];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0)
    r.out.append(buf, n);
  auto status = ::pclose(p);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

class bank_test : public testing::Test {
protected:
  static void SetUpTestSuite() {
    auto tmp = make_temp_dir();
    auto config = write_cluster_file(tmp, {"host1", "host2", "host3"},
                                     free_ports(3), 100, 500);
    dir_ = new std::string(" --dir " + tmp + "/run");
    auto up = run_bank("up --config " + config + *dir_);
    ASSERT_EQ(up.rc, 0) << up.out;
    for (auto args : {"open alice 1000", "open bob 500"}) {
      auto r = run_bank(args + *dir_);
      ASSERT_EQ(r.rc, 0) << args << ": " << r.out;
    }
  }

  static void TearDownTestSuite() {
    if (dir_ != nullptr)
      run_bank("down" + *dir_);
    delete dir_;
    dir_ = nullptr;
  }

  static std::string dir() {
    return *dir_;
  }

  /// `args` fails (exit 1 or `rc`) with `text` in its output and leaves
  /// the audit as it was.
  void expect_refused(const std::string& args, const std::string& text,
                      int rc = 1) {
    auto before = run_bank("audit" + dir());
    ASSERT_EQ(before.rc, 0) << before.out;
    auto r = run_bank(args + dir());
    EXPECT_EQ(r.rc, rc) << args << ": " << r.out;
    EXPECT_NE(r.out.find(text), std::string::npos)
      << args << ": '" << r.out << "' lacks '" << text << "'";
    auto after = run_bank("audit" + dir());
    EXPECT_EQ(after.out, before.out) << args << " changed balances";
  }

  static std::string* dir_;
};

std::string* bank_test::dir_ = nullptr;

} // namespace

TEST_F(bank_test, open_refuses_bad_input) {
  expect_refused("open carol -5", "amount '-5' is not a non-negative integer");
  expect_refused("open carol 12x", "amount '12x' is not a non-negative");
  expect_refused("open alice 7", "account 'alice' exists already");
  expect_refused("open a/b 7", "account name 'a/b' must be");
  expect_refused("open carol", "AMOUNT is required", 2);
}

TEST_F(bank_test, transfer_refuses_bad_input) {
  expect_refused("transfer alice carol 5", "unknown account 'carol'");
  expect_refused("transfer carol alice 5", "unknown account 'carol'");
  expect_refused("transfer alice bob 0", "amount '0' is not a positive");
  expect_refused("transfer alice bob -3", "amount '-3' is not a positive");
  expect_refused("transfer alice bob ten", "amount 'ten' is not a positive");
  expect_refused("transfer alice bob 1000000",
                 "insufficient funds: alice has");
  expect_refused("transfer alice alice 5", "the same account twice");
}

TEST_F(bank_test, balance_audit_load_chaos_check_refuse_bad_input) {
  expect_refused("balance carol", "unknown account 'carol'");
  expect_refused("load --clients 0", "--clients", 2);
  expect_refused("chaos --faults 1 --schedule explode:host1",
                 "bad fault 'explode:host1'");
  // check reads a file, not the cluster.
  auto r = run_bank("check /nonexistent/h.json");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("cannot read /nonexistent/h.json"), std::string::npos)
    << r.out;
  auto tmp = make_temp_dir();
  std::ofstream{tmp + "/bad.json"} << "{\"initial\": 3}";
  r = run_bank("check " + tmp + "/bad.json");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("history: needs"), std::string::npos) << r.out;
}

TEST_F(bank_test, unreachable_cluster_is_reported) {
  auto empty = make_temp_dir();
  for (auto cmd : {"balance alice", "transfer alice bob 1", "audit",
                   "open x 1", "load", "down"}) {
    auto r = run_bank(std::string{cmd} + " --dir " + empty);
    EXPECT_EQ(r.rc, 1) << cmd << ": " << r.out;
    EXPECT_NE(r.out.find("no bank cluster"), std::string::npos)
      << cmd << ": " << r.out;
  }
}

TEST_F(bank_test, operations_move_money) {
  auto r = run_bank("transfer alice bob 100" + dir());
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(run_bank("balance bob" + dir()).out.find("bob: 600"),
            std::string::npos);
  r = run_bank("transfer bob alice 100" + dir());
  ASSERT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(run_bank("audit" + dir()).out.find("total: 1500"), std::string::npos);
}

// The chaos run comes last in the suite (gtest runs tests in order).
// Seed 7 draws kill -9 and SIGSTOP of every host and destroys of every
// role; ftsr-bank chaos waits until every role serves again after each.
TEST_F(bank_test, zz_chaos_with_50_faults_passes_the_check) {
  auto tmp = make_temp_dir();
  auto r = run_bank("chaos --faults 50 --clients 8 --interval 200 --seed 7 "
                "--no-progress --history "
                + tmp + "/h.json" + dir());
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_NE(r.out.find("verdict: PASS"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("faults: 50"), std::string::npos) << r.out;
  auto check = run_bank("check " + tmp + "/h.json");
  EXPECT_EQ(check.rc, 0) << check.out;
}

TEST(bank_history, checker_finds_lost_and_duplicated_transfers) {
  ftsr::bank::history h;
  h.initial = {{"a", 100}, {"b", 0}};
  h.final_ = {{"a", 90}, {"b", 10}};
  h.ops = {{"a", "b", 10, "ok"}, {"a", "b", 5, "fail"}};
  EXPECT_TRUE(ftsr::bank::check(h).pass());
  h.ops[0].outcome = "unknown"; // applied at most once: fine
  EXPECT_TRUE(ftsr::bank::check(h).pass());
  h.ops[1].outcome = "ok"; // an acknowledged transfer that is missing
  auto v = ftsr::bank::check(h);
  EXPECT_FALSE(v.pass());
  EXPECT_TRUE(v.conserved);
  EXPECT_FALSE(v.explained);
  h.ops = {{"a", "b", 5, "ok"}}; // applied twice
  EXPECT_FALSE(ftsr::bank::check(h).pass());
  h.final_ = {{"a", 110}, {"b", -10}};
  h.ops = {{"b", "a", 10, "ok"}};
  v = ftsr::bank::check(h);
  EXPECT_FALSE(v.no_negative);
  EXPECT_FALSE(v.pass());
  auto back = ftsr::bank::history_from_json(ftsr::bank::to_json(h));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->final_, h.final_);
  EXPECT_EQ(back->ops.size(), 1u);
}

// Unknown transfers settled by the TM after the run are checked exactly:
// settled committed means applied once, not committed means not applied.
TEST(bank_history, settled_unknown_transfers_are_checked_exactly) {
  ftsr::bank::history h;
  h.initial = {{"a", 100}, {"b", 0}};
  h.final_ = {{"a", 90}, {"b", 10}};
  h.ops = {{"a", "b", 10, "unknown", "committed"},
           {"a", "b", 7, "unknown", "not_committed"}};
  auto v = ftsr::bank::check(h);
  EXPECT_TRUE(v.pass()) << ftsr::bank::to_string(v);
  EXPECT_EQ(v.settled_committed, 1u);
  EXPECT_EQ(v.settled_not_committed, 1u);
  EXPECT_EQ(v.unknown_applied, 1u);
  // The TM logged no commit, yet the money moved.
  h.ops[0].settled = "not_committed";
  v = ftsr::bank::check(h);
  EXPECT_FALSE(v.pass());
  EXPECT_FALSE(v.explained);
  // Committed, yet not applied.
  h.final_ = h.initial;
  h.ops[0].settled = "committed";
  EXPECT_FALSE(ftsr::bank::check(h).pass());
  // Unsettled, it may or may not have been applied.
  h.ops[0].settled.clear();
  EXPECT_TRUE(ftsr::bank::check(h).pass());
  h.ops[0].settled = "committed";
  auto back = ftsr::bank::history_from_json(ftsr::bank::to_json(h));
  ASSERT_TRUE(back) << describe(back.error());
  EXPECT_EQ(back->ops[0].settled, "committed");
  EXPECT_EQ(back->ops[1].settled, "not_committed");
  auto bad = ftsr::bank::history_from_json(
    R"({"initial": {}, "final": {}, "ops": [{"from": "a", "to": "b",
        "amount": 1, "outcome": "ok", "settled": "committed"}]})");
  ASSERT_FALSE(bad);
  EXPECT_NE(describe(bad.error()).find("only an unknown op can be settled"),
            std::string::npos)
    << describe(bad.error());
  bad = ftsr::bank::history_from_json(
    R"({"initial": {}, "final": {}, "ops": [{"from": "a", "to": "b",
        "amount": 1, "outcome": "unknown", "settled": "maybe"}]})");
  ASSERT_FALSE(bad);
  EXPECT_NE(describe(bad.error()).find("settled 'maybe' is not committed"),
            std::string::npos)
    << describe(bad.error());
}
