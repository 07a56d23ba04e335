// Multi-process system tests: three real ftsr-node processes on loopback,
// real faults (kill -9, SIGSTOP/SIGCONT, restart), observed from a client.
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <future>
#include <set>
#include <sstream>

#include "caf/all.hpp"

#include "actors/call.hpp"
#include "actors/errors.hpp"
#include "actors/membership.hpp"
#include "replication/group.hpp"
#include "apps/node/sample_actors.hpp"
#include "apps/node/local_cluster.hpp"
#include "tests/support/wait.hpp"

using namespace ftsr;
using namespace ftsr::sample;
using ftsr::testing::eventually;
using namespace std::chrono_literals;

namespace {

constexpr auto bound = std::chrono::seconds(10);

local_cluster_options cluster_options() {
  local_cluster_options opts;
  opts.node_bin = FTSR_NODE_BIN;
  return opts;
}

capability_ref spawn(local_cluster& c, const std::string& on,
                     const std::string& type) {
  auto ref = c.client().spawn(on, type);
  if (!ref)
    throw std::runtime_error("spawn failed: " + describe(ref.error()));
  return *ref;
}

/// Asks a node manager for its stats.
manager_stats stats_of(local_cluster& c, const caf::actor& mgr) {
  caf::scoped_actor self{c.client().system()};
  manager_stats result;
  self->request(mgr, bound, stats_atom::value)
    .receive([&](manager_stats& s) { result = s; },
             [&](caf::error& err) { ADD_FAILURE() << describe(err); });
  return result;
}

std::vector<member_status> view_of(local_cluster& c, const caf::actor& mgr) {
  caf::scoped_actor self{c.client().system()};
  std::vector<member_status> result;
  self->request(mgr, bound, view_atom::value)
    .receive([&](member_id&, std::vector<member_status>& v) { result = v; },
             [&](caf::error& err) { ADD_FAILURE() << describe(err); });
  return result;
}

member_status member_in(const std::vector<member_status>& v,
                        const std::string& name) {
  for (auto& m : v)
    if (m.name == name)
      return m;
  return {};
}

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

} // namespace

// (a) monitors on a killed node's actors fire on both survivors, once.
TEST(system, monitors_fire_on_both_survivors_after_kill9) {
  local_cluster c{cluster_options()};
  auto echo = spawn(c, "host3", "echo");
  auto obs1 = spawn(c, "host1", "observer");
  auto obs2 = spawn(c, "host2", "observer");
  caf::scoped_actor self{c.client().system()};
  for (auto& obs : {obs1, obs2})
    self->request(obs.handle, bound, watch_atom::value, echo,
                  caf::actor_cast<caf::actor>(self))
      .receive([](uint64_t) {},
               [](caf::error& err) { FAIL() << describe(err); });
  c.kill9("host3");
  std::multiset<std::string> fired_at;
  for (int i = 0; i < 2; ++i)
    self->receive(
      [&](fired_atom, uint64_t cap, const std::string& node) {
        EXPECT_EQ(cap, echo.id);
        fired_at.insert(node);
      },
      caf::after(bound) >> [] { FAIL() << "monitor did not fire"; });
  EXPECT_EQ(fired_at, (std::multiset<std::string>{"host1", "host2"}));
  // Exactly once: no further notification arrives.
  bool extra = false;
  self->receive([&](fired_atom, uint64_t, const std::string&) { extra = true; },
                caf::after(300ms) >> [] {});
  EXPECT_FALSE(extra);
}

// (b) a call in flight to a node that is killed completes via the backup.
TEST(system, inflight_call_with_backup_completes_via_backup) {
  local_cluster c{cluster_options()};
  auto primary = spawn(c, "host3", "echo");
  auto backup = spawn(c, "host2", "echo");
  auto caller = spawn(c, "host1", "caller");
  auto mgr1 = c.manager_of("host1");
  caf::scoped_actor self{c.client().system()};
  auto pending = self->request(caller.handle, bound, call_atom::value, primary,
                               backup, std::string{"x"}, uint32_t{1000});
  ASSERT_TRUE(eventually([&] { return stats_of(c, mgr1).pending_calls == 1; }))
    << "the call never left host1";
  c.kill9("host3");
  pending.receive([](std::string& reply) { EXPECT_EQ(reply, "host2:x"); },
                  [](caf::error& err) { FAIL() << describe(err); });
}

// (c) without a backup the caller gets fail_stop naming the capability,
// for a killed node (connection loss) and a frozen one (heartbeats). The
// killed node is restarted in between: a majority of the view must remain
// to remove the frozen one.
TEST(system, call_without_backup_fails_stop_on_kill9_and_sigstop) {
  local_cluster c{cluster_options()};
  for (int sig : {SIGKILL, SIGSTOP}) {
    auto on = sig == SIGKILL ? "host3" : "host2";
    if (sig == SIGSTOP)
      c.restart_and_await("host3");
    auto target = capability<echo_actor>{spawn(c, on, "echo")};
    auto& dir = c.client().context().dir;
    auto before = dir.pending_calls();
    auto fault = std::async(std::launch::async, [&] {
      if (!eventually([&] { return dir.pending_calls() > before; }))
        return false;
      return c.process(on).signal(sig);
    });
    caf::scoped_actor self{c.client().system()};
    caf::error result;
    auto start = std::chrono::steady_clock::now();
    ftsr::call(self, target, echo_atom::value, std::string{"x"},
               uint32_t{30000})
      .receive([](std::string&) { FAIL() << "callee replied after failure"; },
               [&](caf::error& err) { result = err; });
    auto elapsed = std::chrono::steady_clock::now() - start;
    ASSERT_TRUE(fault.get());
    EXPECT_TRUE(is(result, errc::fail_stop)) << describe(result);
    EXPECT_NE(describe(result).find(to_string(target.ref())), std::string::npos)
      << describe(result);
    // The callee would have answered after 30 s; the failure ends the wait
    // within the failure timeout plus the frozen node's lease (a killed
    // node's refused port proves it gone at once) and slack.
    EXPECT_LT(elapsed, c.config().failure_timeout + c.config().lease + 2s);
  }
}

// (d) a restarted node is a new incarnation; the old one's messages are
// dropped.
TEST(system, restarted_node_is_new_incarnation_and_old_messages_dropped) {
  local_cluster c{cluster_options()};
  auto old_inc = c.incarnation("host3");
  ASSERT_NE(old_inc, 0u);
  c.kill9("host3");
  ASSERT_TRUE(c.client().await_failed("host3"));
  c.start("host3");
  ASSERT_TRUE(eventually([&] {
    auto inc = c.incarnation("host3");
    return inc > old_inc
           && member_in(*c.client().view(), "host3").state == member_state::up;
  })) << read_file(c.log_of("host3"));
  auto mgr1 = c.manager_of("host1");
  ASSERT_TRUE(eventually([&] {
    auto m = member_in(view_of(c, mgr1), "host3");
    return m.state == member_state::up && m.incarnation > old_inc;
  }));
  // Forge messages from the old incarnation: a heartbeat and a binding.
  auto dropped = stats_of(c, mgr1).dropped_fenced;
  capability_ref forged{4242, "echo", "host3", old_inc, {}, {}};
  gms_msg forged_hb;
  forged_hb.from = member_id{"host3", old_inc};
  caf::anon_send(mgr1, gms_atom::value, forged_hb);
  caf::anon_send(mgr1, bind_atom::value, member_id{"host3", old_inc}, forged,
                 trace_context{});
  ASSERT_TRUE(eventually(
    [&] { return stats_of(c, mgr1).dropped_fenced >= dropped + 2; }));
  caf::scoped_actor self{c.client().system()};
  self->request(mgr1, bound, lookup_atom::value, uint64_t{4242})
    .receive([](capability_ref&) { FAIL() << "fenced binding was applied"; },
             [](caf::error& err) { EXPECT_TRUE(is(err, errc::invalid_argument)); });
  // The new incarnation hosts actors and answers calls.
  auto echo = capability<echo_actor>{spawn(c, "host3", "echo")};
  ftsr::call(self, echo, echo_atom::value, std::string{"hi"})
    .receive([](std::string& s) { EXPECT_EQ(s, "hi"); },
             [](caf::error& err) { FAIL() << describe(err); });
}

// (e) a frozen (SIGSTOP) node is declared failed within the timeout and,
// after SIGCONT, fences itself instead of acting as its old incarnation.
TEST(system, sigstopped_node_is_declared_failed_and_fenced) {
  local_cluster c{cluster_options()};
  auto echo = spawn(c, "host3", "echo");
  auto mgr1 = c.manager_of("host1");
  auto mgr2 = c.manager_of("host2");
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(c.process("host3").signal(SIGSTOP));
  for (auto& mgr : {mgr1, mgr2})
    ASSERT_TRUE(eventually([&] {
      return member_in(view_of(c, mgr), "host3").state == member_state::failed;
    }));
  auto detected = std::chrono::steady_clock::now() - start;
  // Detection happens after failure_timeout of silence, checked every
  // heartbeat: allow one period plus scheduling slack.
  EXPECT_LT(detected, c.config().failure_timeout
                        + c.config().heartbeat_interval + 1s);
  ASSERT_TRUE(c.process("host3").signal(SIGCONT));
  auto rc = c.process("host3").wait_for(bound);
  ASSERT_TRUE(rc.has_value()) << "fenced node kept running";
  EXPECT_EQ(*rc, 3);
  EXPECT_NE(read_file(c.log_of("host3")).find("fenced"), std::string::npos);
  // Its actors are failed everywhere; calls fail fast.
  caf::scoped_actor self{c.client().system()};
  ftsr::call(self, capability<echo_actor>{echo}, echo_atom::value,
             std::string{"x"})
    .receive([](std::string&) { FAIL() << "zombie answered"; },
             [](caf::error& err) { EXPECT_TRUE(is(err, errc::fail_stop)); });
}

// (f) the survivors' logs tell what a kill -9 did, in order: the view that
// removed the node, its failure with the incarnation, the restart of the
// persistent actor it hosted and that actor's recovery.
TEST(system, survivor_logs_failure_view_restart_and_recovery_in_order) {
  local_cluster c{cluster_options()};
  auto& client = c.client();
  auto store = create_group(client, {"stable_store", {"host1", "host2"}, 1});
  ASSERT_TRUE(store) << describe(store.error());
  auto counter = client.spawn_persistent(
    "host3", {"host1"}, "counter", caf::make_message(capability<>{*store}));
  ASSERT_TRUE(counter) << describe(counter.error());
  auto victim = "host3/" + std::to_string(c.incarnation("host3"));
  c.kill9("host3");
  auto log = c.log_of("host1");
  // Named with the node it now runs on: counter#<id>@host1.
  auto recovered = "recovery of counter#" + std::to_string(counter->id) + "@";
  ASSERT_TRUE(eventually(
    [&] { return read_file(log).find(recovered) != std::string::npos; }))
    << "no '" << recovered << "' in the log of host1:\n" << read_file(log);
  auto text = read_file(log);
  auto removal = "peer " + victim + " removed by view ";
  auto removed = text.find(removal);
  ASSERT_NE(removed, std::string::npos) << text;
  // The view number that removed it, then that view's install line.
  auto number = text.substr(removed + removal.size());
  number = number.substr(0, number.find_first_not_of("0123456789"));
  auto installed = text.find("view " + number + " installed: ");
  auto failed = text.find("peer " + victim + " failed (removed by view "
                          + number);
  auto restarted = text.find("restarted persistent actor ");
  auto recovery = text.find(recovered);
  EXPECT_NE(installed, std::string::npos) << text;
  EXPECT_LT(installed, removed) << text;
  EXPECT_NE(failed, std::string::npos) << text;
  EXPECT_LT(removed, failed) << text;
  EXPECT_NE(restarted, std::string::npos) << text;
  EXPECT_LT(failed, restarted) << text;
  EXPECT_LT(restarted, recovery) << text;
  // Every log line is timestamped: "YYYY-MM-DD HH:MM:SS.mmm level ...".
  auto line = text.substr(text.rfind('\n', failed) + 1);
  line = line.substr(0, line.find('\n'));
  EXPECT_EQ(line.substr(4, 1) + line.substr(7, 1) + line.substr(13, 1)
              + line.substr(19, 1),
            "--:.")
    << line;
  EXPECT_NE(line.find(" warning "), std::string::npos) << line;
}
