// Partition tests: ftsr-node processes, each in its own network namespace
// (tests/support/netns.hpp), under real network faults, with clients on both
// sides of the cut (partition_client processes, one inside a node's
// namespace, one elsewhere) recording every operation. After the heal, each
// test waits (bounded) until every node serves again and checks the
// histories (tests/support/history_check.hpp): every acknowledged write
// present exactly once, no stale read, one incarnation of each actor at a
// time, identical replicas, every node back in the view.
//
// These are the acceptance tests of majority-agreed membership: a node that
// exits (fenced) after a heal fails the test, naming its exit code and log.
// Needs root and `ip netns`; skipped otherwise. The fault durations (how
// long a node stays isolated) are the scenarios' shape, not waits for an
// event.
#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <set>
#include <thread>

#include "tests/support/history_check.hpp"
#include "tests/support/netns.hpp"
#include "tests/support/wait.hpp"

using namespace ftsr;
using namespace ftsr::testing;
using namespace std::chrono_literals;

namespace {

/// Keeps a fault in place for `d` (the scenario's shape).
void hold_fault(std::chrono::milliseconds d) {
  std::this_thread::sleep_for(d);
}

std::string join(const std::vector<std::string>& xs) {
  std::string out;
  for (auto& x : xs)
    out += (out.empty() ? "" : ",") + x;
  return out;
}

/// Calls `f` with each complete operation of a history file being written
/// (its last line may be incomplete).
template <class F>
void for_each_op(const std::string& path, F f) {
  std::ifstream in{path};
  std::string line;
  while (std::getline(in, line)) {
    try {
      f(op_from_json_line(line));
    } catch (const std::runtime_error&) {
      // a line still being written
    }
  }
}

/// Counts the ok operations that started at or after `since_ns`.
size_t acked_since(const std::string& path, int64_t since_ns) {
  size_t n = 0;
  for_each_op(path, [&](const op_record& op) {
    n += op.outcome == op_outcome::ok && op.start_ns >= since_ns;
  });
  return n;
}

/// End of the first ok operation that started at or after `since_ns`.
int64_t first_ack_since(const std::string& path, int64_t since_ns) {
  auto first = std::numeric_limits<int64_t>::max();
  for_each_op(path, [&](const op_record& op) {
    if (op.outcome == op_outcome::ok && op.start_ns >= since_ns)
      first = std::min(first, op.end_ns);
  });
  return first;
}

/// The longest time a client went without an acknowledgement, up to its
/// last operation (how long the fault kept it unserved; printed, not
/// asserted).
int64_t longest_gap_ms(const std::vector<op_record>& h) {
  std::vector<int64_t> ends;
  int64_t last = 0;
  for (auto& op : h) {
    last = std::max(last, op.end_ns);
    if (op.outcome == op_outcome::ok)
      ends.push_back(op.end_ns);
  }
  if (ends.empty())
    return 0;
  ends.push_back(last);
  std::sort(ends.begin(), ends.end());
  int64_t gap = 0;
  for (size_t k = 1; k < ends.size(); ++k)
    gap = std::max(gap, ends[k] - ends[k - 1]);
  return gap / 1000000;
}

class partition : public ::testing::Test {
protected:
  struct client {
    std::string name;
    size_t netns; // 0: root namespace
    std::string history;
    std::string log;
    std::optional<child_process> proc;
  };

  void SetUp() override {
    if (auto why = netns_cluster::unavailable(); !why.empty())
      GTEST_SKIP() << why;
  }

  void TearDown() override {
    if (c && HasFailure()) {
      c->keep_files();
      std::cerr << "partition test files (logs, histories) kept in "
                << c->dir() << "\n";
    }
    clients.clear();
    c.reset();
  }

  void make_cluster(size_t nodes) {
    netns_options opts;
    opts.node_bin = FTSR_NODE_BIN;
    opts.nodes = nodes;
    c = std::make_unique<netns_cluster>(opts);
    c->start_all();
  }

  /// Runs a partition_client command in the root namespace to completion.
  void run_client(std::vector<std::string> args, const std::string& what,
                  std::chrono::seconds bound = 40s) {
    args.insert(args.begin(), FTSR_PARTITION_CLIENT_BIN);
    auto log = c->dir() + "/" + what + ".log";
    auto proc = c->spawn(0, args, log);
    auto rc = proc.wait_for(bound);
    ASSERT_TRUE(rc.has_value()) << what << " did not finish within "
                                << bound.count() << " s; log " << log;
    ASSERT_EQ(*rc, 0) << what << " failed: " << read_log(log);
  }

  static std::string read_log(const std::string& path) {
    std::ifstream in{path};
    return std::string{std::istreambuf_iterator<char>{in}, {}};
  }

  void create_kv(const std::vector<std::string>& nodes, size_t max_sf) {
    ids = c->dir() + "/ids.json";
    run_client({"create-kv", "--config", c->config_path(), "--nodes",
                join(nodes), "--max-sf", std::to_string(max_sf), "--out",
                ids},
               "create-kv");
  }

  void create_counter(const std::string& on, const std::vector<std::string>& backups,
                      const std::vector<std::string>& store) {
    ids = c->dir() + "/ids.json";
    run_client({"create-counter", "--config", c->config_path(), "--on", on,
                "--backups", join(backups), "--store", join(store), "--out",
                ids},
               "create-counter");
  }

  /// Starts a load client in node `netns`'s namespace (0: root). It runs
  /// until stop_clients() (at most 3 minutes). Two threads make one read
  /// in four operations, a third only reads: a continuous probe while the
  /// others wait for the timeouts of calls into a cut.
  void start_load(const std::string& name, size_t netns) {
    client cl;
    cl.name = name;
    cl.netns = netns;
    cl.history = c->dir() + "/history-" + name + ".jsonl";
    cl.log = c->dir() + "/client-" + name + ".log";
    cl.proc.emplace(c->spawn(
      netns,
      {FTSR_PARTITION_CLIENT_BIN, "load", "--config", c->config_path(),
       "--ids", ids, "--history", cl.history, "--client", name,
       "--client-id", std::to_string(clients.size() + 1), "--threads",
       "3", "--readers", "1", "--duration-ms",
       "180000", "--interval-ms", "5", "--op-timeout-ms", "3000"},
      cl.log));
    clients.push_back(std::move(cl));
  }

  /// Waits until client `k` has `n` operations acknowledged that started
  /// at or after `since` (bounded): the cluster serves that client.
  bool serves(size_t k, size_t n, int64_t since,
              std::chrono::milliseconds bound = 15s) {
    auto deadline = std::chrono::steady_clock::now() + bound;
    while (acked_since(clients[k].history, since) < n) {
      if (std::chrono::steady_clock::now() >= deadline
          || !clients[k].proc->running())
        return false;
      std::this_thread::sleep_for(50ms);
    }
    return true;
  }

  /// Progress of every client before a fault.
  void expect_progress(const std::string& when) {
    auto since = monotonic_ns();
    for (size_t k = 0; k < clients.size(); ++k)
      ASSERT_TRUE(serves(k, 50, since))
        << "client " << clients[k].name << " got no 50 acknowledged "
        << "operations " << when << "; its log:\n" << read_log(clients[k].log);
  }

  /// After the heal, the clients outside the partitioned node are served
  /// again (bounded; reported, then the test goes on to the checks).
  void expect_served_after(int64_t healed, const std::string& what) {
    for (size_t k = 0; k < clients.size(); ++k)
      EXPECT_TRUE(serves(k, 20, healed))
        << "client " << clients[k].name << " (namespace "
        << (clients[k].netns == 0 ? std::string{"root"}
                                  : c->netns(clients[k].netns))
        << ") got no 20 acknowledged operations within 15 s after " << what;
  }

  void stop_clients() {
    for (auto& cl : clients)
      cl.proc->signal(SIGTERM);
    for (auto& cl : clients) {
      auto rc = cl.proc->wait_for(20s);
      EXPECT_TRUE(rc.has_value()) << "client " << cl.name << " ignored SIGTERM";
      if (rc) {
        EXPECT_EQ(*rc, 0) << "client " << cl.name << ": " << read_log(cl.log);
      }
    }
  }

  /// Every node process still runs; names those that exited, with their
  /// exit code and last log lines.
  bool expect_nodes_running() {
    bool all = true;
    for (size_t i = 1; i <= c->size(); ++i) {
      if (auto rc = c->exit_code(i)) {
        all = false;
        ADD_FAILURE() << c->name(i) << " exited with code " << *rc
                      << (*rc == 3 ? " (fenced)" : "") << "; last lines:\n"
                      << c->log_tail(i, 12);
      }
    }
    return all;
  }

  /// Waits until every node serves again (bounded), reads the final state
  /// and checks the histories against it; returns the merged history.
  std::vector<op_record> settle_and_check() {
    // A node that exited does not come back by itself: settle briefly, only
    // to read what survived.
    auto bound = expect_nodes_running() ? "15000" : "2000";
    auto final_path = c->dir() + "/final.json";
    std::vector<op_record> history;
    run_client({"settle", "--config", c->config_path(), "--ids", ids, "--out",
                final_path, "--bound-ms", bound, "--op-timeout-ms", "3000"},
               "settle", 90s);
    if (HasFatalFailure())
      return history;
    for (auto& cl : clients) {
      auto h = read_history(cl.history);
      std::cout << "client " << cl.name << ": longest time without an "
                << "acknowledged operation " << longest_gap_ms(h) << " ms\n";
      history.insert(history.end(), h.begin(), h.end());
    }
    auto report = check(history, read_final(final_path));
    auto summary = report.summary();
    std::cout << "history: " << summary.substr(0, summary.find('\n')) << "\n";
    EXPECT_TRUE(report.ok()) << report.summary();
    return history;
  }

  std::unique_ptr<netns_cluster> c;
  std::string ids;
  std::vector<client> clients;
};

const std::vector<std::string> three{"host1", "host2", "host3"};

} // namespace

// -- the harness itself --------------------------------------------------

TEST_F(partition, harness_primitives_cut_what_they_say) {
  netns_options opts;
  opts.node_bin = FTSR_NODE_BIN;
  netns_cluster net{opts}; // no nodes started
  auto all_reachable = [&] {
    for (size_t from = 0; from <= 3; ++from)
      for (size_t to = 0; to <= 3; ++to)
        if (from != to && !net.reachable(from, to, 1s))
          return from * 10 + to;
    return size_t{0};
  };
  ASSERT_EQ(all_reachable(), 0u) << "from*10+to unreachable before any fault";
  net.isolate(2);
  EXPECT_FALSE(net.reachable(0, 2));
  EXPECT_FALSE(net.reachable(2, 0));
  EXPECT_FALSE(net.reachable(1, 2));
  EXPECT_FALSE(net.reachable(2, 3));
  EXPECT_TRUE(net.reachable(1, 3, 1s));
  EXPECT_TRUE(net.reachable(0, 1, 1s));
  net.heal(2);
  EXPECT_EQ(all_reachable(), 0u) << "from*10+to unreachable after heal(2)";
  net.cut(1, 3);
  EXPECT_FALSE(net.reachable(1, 3));
  EXPECT_FALSE(net.reachable(3, 1));
  EXPECT_TRUE(net.reachable(1, 2, 1s));
  EXPECT_TRUE(net.reachable(2, 3, 1s));
  EXPECT_TRUE(net.reachable(0, 1, 1s));
  EXPECT_TRUE(net.reachable(3, 0, 1s));
  // Cuts outlive an isolation of one of their ends.
  net.cut(1, 2);
  net.isolate(1);
  EXPECT_FALSE(net.reachable(0, 1));
  net.heal(1);
  EXPECT_TRUE(net.reachable(0, 1, 1s));
  EXPECT_FALSE(net.reachable(1, 2));
  EXPECT_FALSE(net.reachable(3, 1));
  EXPECT_TRUE(net.reachable(2, 3, 1s));
  net.heal_cut(1, 3);
  EXPECT_TRUE(net.reachable(3, 1, 1s));
  EXPECT_FALSE(net.reachable(2, 1));
  net.heal_all();
  EXPECT_EQ(all_reachable(), 0u) << "from*10+to unreachable after heal_all";
}

TEST_F(partition, harness_signals_the_program_itself_and_cleans_up) {
  netns_options opts;
  opts.node_bin = FTSR_NODE_BIN;
  // A leftover of a run that died (a namespace named like the harness's,
  // of another pid) is removed by the next cluster.
  auto [rc, out] = run_command({"ip", "netns", "add", "ftsp1n1"});
  ASSERT_EQ(rc, 0) << out;
  std::string ns, dir;
  {
    netns_cluster net{opts};
    ns = net.netns(1);
    dir = net.dir();
    auto listed = run_command({"ip", "netns", "list"}).second;
    EXPECT_EQ(listed.find("ftsp1n1"), std::string::npos) << listed;
    EXPECT_NE(listed.find(ns), std::string::npos) << listed;
    // Inside a namespace, the PID we hold is the program's (ip netns exec
    // replaces itself), so signals reach it.
    auto pid_file = net.dir() + "/pid";
    auto proc = net.spawn(1, {"/bin/sh", "-c", "echo $$ > " + pid_file
                                                 + "; exec sleep 30"},
                          net.dir() + "/sh.log");
    ASSERT_TRUE(eventually([&] {
      std::ifstream in{pid_file};
      std::string line;
      return std::getline(in, line) && !line.empty();
    })) << "the child wrote no pid";
    std::ifstream in{pid_file};
    pid_t reported = 0;
    in >> reported;
    EXPECT_EQ(reported, proc.pid());
    auto netns_of = [](pid_t pid) {
      char buf[64] = {};
      auto link = "/proc/" + std::to_string(pid) + "/ns/net";
      auto n = ::readlink(link.c_str(), buf, sizeof(buf) - 1);
      return std::string{buf, n > 0 ? static_cast<size_t>(n) : 0};
    };
    EXPECT_NE(netns_of(proc.pid()), netns_of(::getpid()))
      << "the child runs in the root namespace";
    ASSERT_TRUE(proc.signal(SIGKILL));
    EXPECT_EQ(proc.wait_for(5s), 128 + SIGKILL);
  }
  auto listed = run_command({"ip", "netns", "list"}).second;
  EXPECT_EQ(listed.find(ns), std::string::npos) << listed;
  auto links = run_command({"ip", "-o", "link", "show"}).second;
  EXPECT_EQ(links.find("ftsp" + std::to_string(::getpid())), std::string::npos)
    << links;
  EXPECT_FALSE(std::ifstream{dir + "/cluster.toml"}.good())
    << "the temporary directory was kept";
}

// -- controls: the pipeline passes where today's membership copes -------

// No fault: load, settle, check. A failure here is the harness's.
TEST_F(partition, no_fault_passes_every_check) {
  ASSERT_NO_FATAL_FAILURE(make_cluster(3));
  ASSERT_NO_FATAL_FAILURE(create_kv(three, 1));
  start_load("ns2", 2);
  start_load("root", 0);
  ASSERT_NO_FATAL_FAILURE(expect_progress("without a fault"));
  stop_clients();
  settle_and_check();
}

// kill -9 of a backup (host3) under load, restarted on its data directory:
// a new incarnation, back in every view, and the group replaces its
// replica there.
TEST_F(partition, kill9_and_restart_of_a_backup) {
  ASSERT_NO_FATAL_FAILURE(make_cluster(3));
  ASSERT_NO_FATAL_FAILURE(create_kv(three, 1));
  start_load("ns3", 3);
  start_load("root", 0);
  ASSERT_NO_FATAL_FAILURE(expect_progress("before the fault"));
  c->kill9(3);
  c->start(3);
  expect_served_after(monotonic_ns(), "the restart");
  stop_clients();
  settle_and_check();
}

// kill -9 of the persistent counter's node (host1) under load, restarted:
// the counter comes back on host2 with every acknowledged add, its two
// incarnations answer one after the other.
TEST_F(partition, kill9_of_the_counters_node) {
  ASSERT_NO_FATAL_FAILURE(make_cluster(3));
  ASSERT_NO_FATAL_FAILURE(
    create_counter("host1", {"host2", "host3"}, {"host2", "host3"}));
  start_load("ns3", 3);
  start_load("root", 0);
  ASSERT_NO_FATAL_FAILURE(expect_progress("before the fault"));
  c->kill9(1);
  c->start(1);
  expect_served_after(monotonic_ns(), "the restart");
  stop_clients();
  auto history = settle_and_check();
  std::set<std::string> answered_by;
  for (auto& op : history)
    if (op.outcome == op_outcome::ok)
      answered_by.insert(op.incarnation);
  EXPECT_EQ(answered_by.size(), 2u)
    << "the old and the restarted counter should both have answered";
}

// -- scenarios -------------------------------------------------------------

// The primary (host1) cut off from everyone for 4 s, clients inside its
// namespace and in the root namespace.
TEST_F(partition, isolate_the_primary) {
  ASSERT_NO_FATAL_FAILURE(make_cluster(3));
  ASSERT_NO_FATAL_FAILURE(create_kv(three, 1));
  start_load("iso", 1);
  start_load("root", 0);
  ASSERT_NO_FATAL_FAILURE(expect_progress("before the fault"));
  c->isolate(1);
  hold_fault(4s);
  c->heal(1);
  expect_served_after(monotonic_ns(), "the heal");
  stop_clients();
  settle_and_check();
}

// The same under kill -9: the isolated primary is killed before the heal
// and started again on its data directory. The majority must not wait for
// it, and its new incarnation is admitted.
TEST_F(partition, isolate_then_kill9_the_primary) {
  ASSERT_NO_FATAL_FAILURE(make_cluster(3));
  ASSERT_NO_FATAL_FAILURE(create_kv(three, 1));
  start_load("iso", 1);
  start_load("root", 0);
  ASSERT_NO_FATAL_FAILURE(expect_progress("before the fault"));
  c->isolate(1);
  hold_fault(2s);
  c->kill9(1);
  c->heal(1);
  c->start(1);
  expect_served_after(monotonic_ns(), "the restart");
  stop_clients();
  settle_and_check();
}

// A backup (host3) cut off for 4 s.
TEST_F(partition, isolate_a_backup) {
  ASSERT_NO_FATAL_FAILURE(make_cluster(3));
  ASSERT_NO_FATAL_FAILURE(create_kv(three, 1));
  start_load("iso", 3);
  start_load("root", 0);
  ASSERT_NO_FATAL_FAILURE(expect_progress("before the fault"));
  c->isolate(3);
  hold_fault(4s);
  c->heal(3);
  expect_served_after(monotonic_ns(), "the heal");
  stop_clients();
  settle_and_check();
}

// Only the link host1 <-> host3 is cut (both still reach host2) for 4 s.
TEST_F(partition, asymmetric_cut_between_two_nodes) {
  ASSERT_NO_FATAL_FAILURE(make_cluster(3));
  ASSERT_NO_FATAL_FAILURE(create_kv(three, 1));
  start_load("ns3", 3);
  start_load("root", 0);
  ASSERT_NO_FATAL_FAILURE(expect_progress("before the fault"));
  c->cut(1, 3);
  hold_fault(4s);
  c->heal_cut(1, 3);
  expect_served_after(monotonic_ns(), "the heal");
  stop_clients();
  settle_and_check();
}

// Five nodes split 2 | 3 for 4 s; the group (primary host1) has replicas on
// all five, so its majority is on the larger side.
TEST_F(partition, five_nodes_split_two_three) {
  ASSERT_NO_FATAL_FAILURE(make_cluster(5));
  ASSERT_NO_FATAL_FAILURE(
    create_kv({"host1", "host2", "host3", "host4", "host5"}, 2));
  start_load("minority", 1);
  start_load("majority", 4);
  ASSERT_NO_FATAL_FAILURE(expect_progress("before the fault"));
  for (size_t a : {1, 2})
    for (size_t b : {3, 4, 5})
      c->cut(a, b);
  hold_fault(4s);
  c->heal_all();
  expect_served_after(monotonic_ns(), "the heal");
  stop_clients();
  settle_and_check();
}

// The link host1 (primary) <-> host2 cut and healed every few hundred ms
// for 10 s: cuts of 300, 500 and 700 ms (around the 500 ms failure
// timeout), 250 ms healed in between.
TEST_F(partition, flapping_link) {
  ASSERT_NO_FATAL_FAILURE(make_cluster(3));
  ASSERT_NO_FATAL_FAILURE(create_kv(three, 1));
  start_load("ns2", 2);
  start_load("root", 0);
  ASSERT_NO_FATAL_FAILURE(expect_progress("before the fault"));
  auto end = std::chrono::steady_clock::now() + 10s;
  const std::chrono::milliseconds cuts[] = {300ms, 500ms, 700ms};
  for (size_t k = 0; std::chrono::steady_clock::now() < end; ++k) {
    c->cut(1, 2);
    hold_fault(cuts[k % 3]);
    c->heal_cut(1, 2);
    hold_fault(250ms);
  }
  expect_served_after(monotonic_ns(), "the link stopped flapping");
  stop_clients();
  settle_and_check();
}

// The primary's process frozen (SIGSTOP) for 2 s, then continued.
TEST_F(partition, sigstop_of_the_primary) {
  ASSERT_NO_FATAL_FAILURE(make_cluster(3));
  ASSERT_NO_FATAL_FAILURE(create_kv(three, 1));
  start_load("ns1", 1);
  start_load("root", 0);
  ASSERT_NO_FATAL_FAILURE(expect_progress("before the fault"));
  c->sigstop(1);
  hold_fault(2s);
  c->sigcont(1);
  expect_served_after(monotonic_ns(), "SIGCONT");
  stop_clients();
  settle_and_check();
}

// A persistent counter on host1 (stableStore on host2, host3; restarts on
// host2, host3) while host1 is isolated for 4 s: a client in host1's
// namespace, one in the root namespace.
TEST_F(partition, persistent_actor_whose_node_is_isolated) {
  ASSERT_NO_FATAL_FAILURE(make_cluster(3));
  ASSERT_NO_FATAL_FAILURE(
    create_counter("host1", {"host2", "host3"}, {"host2", "host3"}));
  start_load("iso", 1);
  start_load("root", 0);
  ASSERT_NO_FATAL_FAILURE(expect_progress("before the fault"));
  c->isolate(1);
  hold_fault(4s);
  c->heal(1);
  expect_served_after(monotonic_ns(), "the heal");
  stop_clients();
  settle_and_check();
}

// kill -9 of every node under load, then all started again on their data
// directories: the counter and its stableStore come back with every
// acknowledged add.
// Disabled: does not pass yet. The persistent catalog now brings the
// counter back (restarted at generation 1 on host1, its recovery handler
// runs), but its stableStore group is not re-created after a cold restart
// (the group records and replica positions are kept on disk, nothing acts
// on them yet), so the recovery fails with "has no reachable primary" and
// the client gets no answer; run with --gtest_also_run_disabled_tests while
// fixing.
TEST_F(partition, DISABLED_cold_restart_of_every_node) {
  ASSERT_NO_FATAL_FAILURE(make_cluster(3));
  ASSERT_NO_FATAL_FAILURE(
    create_counter("host1", {"host2", "host3"}, {"host2", "host3"}));
  start_load("root", 0);
  ASSERT_NO_FATAL_FAILURE(expect_progress("before the fault"));
  for (size_t i = 1; i <= 3; ++i)
    c->kill9(i);
  c->start_all();
  expect_served_after(monotonic_ns(), "the restart of every node");
  stop_clients();
  settle_and_check();
}

// -- benchmark (scripts/bench.sh partition; not part of the suite) --------

// Isolates the kv group's current primary FTSR_PARTITION_ROUNDS times
// (default 20), each for 3 s, under load from a client in the root
// namespace (on the majority's side). Prints, over the rounds, the time
// from the cut to that client's first acknowledged operation started after
// it (p50, p99, max), and checks the whole history at the end: a stale read
// or a lost write would be a split brain.
TEST_F(partition, DISABLED_bench_failover_of_an_isolated_primary) {
  auto* env = std::getenv("FTSR_PARTITION_ROUNDS");
  size_t rounds = env != nullptr ? std::strtoul(env, nullptr, 10) : 20;
  ASSERT_NO_FATAL_FAILURE(make_cluster(3));
  ASSERT_NO_FATAL_FAILURE(create_kv(three, 1));
  start_load("root", 0);
  ASSERT_NO_FATAL_FAILURE(expect_progress("before the first fault"));
  std::vector<int64_t> served_ms;
  auto primary = std::string{"host1"};
  for (size_t r = 0; r < rounds; ++r) {
    size_t victim = std::stoul(primary.substr(4));
    auto cut = monotonic_ns();
    c->isolate(victim);
    ASSERT_TRUE(serves(0, 1, cut, 30s))
      << "round " << r << ": the majority did not serve within 30 s";
    served_ms.push_back((first_ack_since(clients[0].history, cut) - cut)
                        / 1000000);
    hold_fault(3s);
    c->heal(victim);
    // Every node back, every replica serving: the next primary is known.
    auto state = c->dir() + "/round.json";
    ASSERT_NO_FATAL_FAILURE(
      run_client({"settle", "--config", c->config_path(), "--ids", ids,
                  "--out", state, "--bound-ms", "30000", "--op-timeout-ms",
                  "3000"},
                 "settle-round", 90s));
    auto end = read_final(state);
    ASSERT_TRUE(end.settled) << "round " << r << ": " << end.reason;
    ASSERT_FALSE(end.groups.empty() || end.groups.front().primary.empty())
      << "round " << r << ": the settled group's primary is unknown";
    primary = end.groups.front().primary;
    std::cout << "round " << r << ": isolated host" << victim
              << ", majority served after " << served_ms.back() << " ms\n";
  }
  stop_clients();
  settle_and_check();
  std::sort(served_ms.begin(), served_ms.end());
  auto at = [&](double q) {
    return served_ms[std::min(served_ms.size() - 1,
                              static_cast<size_t>(q * served_ms.size()))];
  };
  std::cout << "partition of the primary, " << rounds
            << " rounds: majority serves again after p50 " << at(0.5)
            << " ms, p99 " << at(0.99) << " ms, max " << served_ms.back()
            << " ms\n";
}
