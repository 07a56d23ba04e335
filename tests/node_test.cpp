// Multi-node tests in one process: three member nodes (three actor systems)
// talking BASP over loopback. They cover each primitive and its failure
// paths quickly; tests/system_test.cpp repeats the essentials with real
// processes and kill -9.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "caf/all.hpp"

#include "actors/call.hpp"
#include "actors/errors.hpp"
#include "actors/membership.hpp"
#include "actors/monitor.hpp"
#include "apps/node/local_cluster.hpp"
#include "apps/node/sample_actors.hpp"
#include "tests/support/in_process_cluster.hpp"
#include "tests/support/wait.hpp"

using namespace ftsr;
using namespace ftsr::sample;
using namespace std::chrono_literals;
using ftsr::testing::eventually;

namespace {

using whoami_atom = caf::atom_constant<caf::atom("whoami")>;

// Replies with the id of its own capability (FT-SR myresource()).
caf::behavior whoami(caf::event_based_actor* self) {
  return {
    [self](whoami_atom) -> uint64_t {
      auto me = myresource(self);
      return me ? me->id() : 0;
    },
  };
}

// Destroys the capability it is given (FT-SR destroy from inside an actor).
caf::behavior destroyer(caf::event_based_actor* self) {
  return {
    [self](destroy_atom, const capability_ref& ref) {
      auto rp = self->make_response_promise<bool>();
      ftsr::destroy(self, capability<>{ref})
        .then([rp]() mutable { rp.deliver(true); },
              [rp](caf::error&) mutable { rp.deliver(false); });
      return rp;
    },
  };
}

// Answers every echo with the fail_stop error of a (pretend) callee of its
// own: an error it passes on while alive itself.
caf::behavior passer(caf::event_based_actor*) {
  return {
    [](echo_atom, const std::string&) -> caf::result<std::string> {
      return make_error(errc::fail_stop, "capability store#7@host9 failed");
    },
  };
}

// Never answers an echo (a live callee that hangs).
caf::behavior mute(caf::event_based_actor*) {
  return {
    [](echo_atom, const std::string&) -> caf::result<std::string> {
      return caf::delegated<std::string>{};
    },
  };
}

/// Outcome of a call: the reply or the error, rendered.
using outcome = std::pair<std::string, caf::error>;

/// An echo call: payload, reply delay, call timeout (0: none).
struct echo_call {
  std::string payload;
  uint32_t delay_ms;
  std::chrono::milliseconds timeout;
};

/// Makes the calls `xs` one after the other from one event-based actor on
/// `n` and returns their outcomes.
std::vector<outcome> event_based_calls(node& n,
                                       const capability<echo_actor>& cap,
                                       std::vector<echo_call> xs) {
  caf::scoped_actor self{n.system()};
  auto client = caf::actor_cast<caf::actor>(self);
  auto results = std::make_shared<std::vector<outcome>>();
  auto next = std::make_shared<std::function<void(caf::event_based_actor*)>>();
  *next = [=](caf::event_based_actor* a) {
    if (results->size() == xs.size()) {
      a->send(client, *results);
      return;
    }
    auto& x = xs[results->size()];
    auto c = ftsr::call(a, cap, echo_atom::value, x.payload, x.delay_ms);
    if (x.timeout.count() > 0)
      c.with_timeout(x.timeout);
    c.then(
      [=](std::string& reply) {
        results->emplace_back(reply, caf::error{});
        (*next)(a);
      },
      [=](caf::error& err) {
        results->emplace_back("", err);
        (*next)(a);
      });
  };
  n.system().spawn([next](caf::event_based_actor* a) { (*next)(a); });
  std::vector<outcome> got;
  self->receive([&](const std::vector<outcome>& r) { got = r; },
                caf::after(std::chrono::seconds(10)) >> [] {});
  *next = nullptr; // breaks the cycle
  return got;
}

struct cluster_in_process : ftsr::testing::in_process_cluster {
  void add_types(caf::actor_system_config& cfg) override {
    in_process_cluster::add_types(cfg);
    cfg.add_actor_type("whoami", whoami);
    cfg.add_actor_type("destroyer", destroyer);
    cfg.add_actor_type("passer", passer);
    cfg.add_actor_type("mute", mute);
  }
};

} // namespace

TEST_F(cluster_in_process, remote_spawn_and_call_from_every_node) {
  auto echo = capability<echo_actor>{spawn("host3", "echo")};
  EXPECT_EQ(echo.ref().node, "host3");
  EXPECT_EQ(echo.ref().incarnation, at(2).self().incarnation);
  // The binding was replicated to every node's directory; every node can
  // call through it.
  for (size_t i = 0; i < nodes.size(); ++i) {
    caf::scoped_actor self{at(i).system()};
    ftsr::call(self, capability<echo_actor>{ref_at(i, echo.id())},
               echo_atom::value, std::string{"ping"})
      .receive([](std::string& s) { EXPECT_EQ(s, "ping"); },
               [](caf::error& err) { FAIL() << describe(err); });
  }
}

TEST_F(cluster_in_process, spawn_errors_name_what_is_wrong) {
  auto r1 = at(0).spawn("host9", "echo");
  ASSERT_FALSE(r1);
  EXPECT_TRUE(is(r1.error(), errc::unknown_node));
  EXPECT_NE(describe(r1.error()).find("host9"), std::string::npos);
  auto r2 = at(0).spawn("host2", "no_such_type");
  ASSERT_FALSE(r2);
  EXPECT_TRUE(is(r2.error(), errc::unknown_actor_type)) << describe(r2.error());
  EXPECT_NE(describe(r2.error()).find("no_such_type"), std::string::npos);
  // The cluster is intact afterwards.
  EXPECT_TRUE(at(0).spawn("host2", "echo"));
}

TEST_F(cluster_in_process, destroy_fires_monitors_and_later_calls_fail) {
  auto id = spawn("host3", "echo").id;
  auto echo = capability<echo_actor>{ref_at(1, id)};
  caf::scoped_actor self{at(1).system()};
  ftsr::monitor(self.ptr(), echo, caf::actor_cast<caf::actor>(self),
                std::string{"echo down"}, echo.id());
  auto destroyed = at(0).destroy(echo.ref());
  ASSERT_TRUE(destroyed) << describe(destroyed.error());
  self->receive(
    [&](const std::string& what, uint64_t id) {
      EXPECT_EQ(what, "echo down");
      EXPECT_EQ(id, echo.id());
    },
    caf::after(bound) >> [] { FAIL() << "monitor did not fire"; });
  ftsr::call(self, echo, echo_atom::value, std::string{"x"})
    .receive([](std::string&) { FAIL() << "destroyed actor answered"; },
             [&](caf::error& err) {
               EXPECT_TRUE(is(err, errc::destroyed)) << describe(err);
               EXPECT_NE(describe(err).find(to_string(echo.ref())),
                         std::string::npos);
             });
  auto again = at(0).destroy(echo.ref());
  ASSERT_FALSE(again);
  EXPECT_TRUE(is(again.error(), errc::destroyed));
}

TEST_F(cluster_in_process, destroy_from_inside_an_actor) {
  auto echo = spawn("host2", "echo");
  auto d = spawn("host1", "destroyer");
  caf::scoped_actor self{at(0).system()};
  self->request(d.handle, bound, destroy_atom::value, echo)
    .receive([](bool ok) { EXPECT_TRUE(ok); },
             [](caf::error& err) { FAIL() << describe(err); });
  EXPECT_TRUE(is(at(0).context().dir.failure_of(echo), errc::destroyed));
}

TEST_F(cluster_in_process, crash_fails_pending_call_or_switches_to_backup) {
  auto primary = capability<echo_actor>{spawn("host3", "echo")};
  auto backup = capability<echo_actor>{spawn("host2", "echo")};
  // Event-based caller with backup on host1; primary crashes mid-call.
  auto caller = spawn("host1", "caller");
  caf::scoped_actor self{at(0).system()};
  auto pending = self->request(caller.handle, bound, call_atom::value,
                               primary.ref(), backup.ref(), std::string{"a"},
                               uint32_t{1000});
  ASSERT_TRUE(eventually(
    [&] { return at(0).context().dir.pending_calls() == 1; }));
  caf::anon_send_exit(primary.handle(), caf::exit_reason::kill);
  pending.receive([](std::string& s) { EXPECT_EQ(s, "host2:a"); },
                  [](caf::error& err) { FAIL() << describe(err); });
  // Spans: the invocation, the backup switch and the failure are recorded.
  std::set<std::string> kinds;
  for (auto& s : at(0).context().spans.snapshot())
    kinds.insert(s.kind);
  EXPECT_TRUE(kinds.count("backup_switch"));
  EXPECT_TRUE(kinds.count("invocation"));
  EXPECT_TRUE(at(2).context().spans.snapshot().size() > 0);
  // Blocking call without backup to the crashed actor: fail_stop at once.
  ftsr::call(self, primary, echo_atom::value, std::string{"b"})
    .receive([](std::string&) { FAIL(); },
             [](caf::error& err) {
               EXPECT_TRUE(is(err, errc::fail_stop)) << describe(err);
               EXPECT_NE(describe(err).find("terminated"), std::string::npos);
             });
  EXPECT_EQ(at(0).context().dir.pending_calls(), 0u);
}

TEST_F(cluster_in_process, error_reply_is_not_a_failure_of_the_callee) {
  // The callee replies fail_stop (passing on another capability's failure)
  // but is alive: the caller gets that reply, the backup is not invoked.
  auto passing = capability<echo_actor>{spawn("host3", "passer")};
  auto backup = capability<echo_actor>{spawn("host2", "echo")};
  caf::scoped_actor self{at(0).system()};
  ftsr::call(self, passing, echo_atom::value, std::string{"x"})
    .with_backup(backup)
    .receive([](std::string& s) { FAIL() << "backup answered: " << s; },
             [](caf::error& err) {
               EXPECT_TRUE(is(err, errc::fail_stop)) << describe(err);
               EXPECT_NE(describe(err).find("store#7@host9"),
                         std::string::npos)
                 << describe(err);
             });
  EXPECT_FALSE(at(0).context().dir.failure_of(passing.ref()));
  EXPECT_EQ(at(0).context().dir.pending_calls(), 0u);
  auto spans = at(0).context().spans.snapshot();
  EXPECT_TRUE(std::none_of(spans.begin(), spans.end(), [](const span& s) {
    return s.kind == "backup_switch";
  }));
}

TEST_F(cluster_in_process, call_timeout_ends_the_wait_for_a_silent_callee) {
  auto silent = capability<echo_actor>{spawn("host2", "mute")};
  caf::scoped_actor self{at(0).system()};
  auto check = [&](const caf::error& err) {
    EXPECT_TRUE(is(err, errc::timeout)) << describe(err);
    auto text = describe(err);
    EXPECT_NE(text.find(to_string(silent.ref()) + " (echo)"),
              std::string::npos)
      << text;
    EXPECT_NE(text.find("timed out after 100 ms"), std::string::npos) << text;
  };
  ftsr::call(self, silent, echo_atom::value, std::string{"x"})
    .with_timeout(100ms)
    .receive([](std::string&) { FAIL() << "a mute actor answered"; }, check);
  EXPECT_EQ(at(0).context().dir.pending_calls(), 0u);
  // Event-based: the same.
  caf::scoped_actor waiter{at(0).system()};
  auto client = caf::actor_cast<caf::actor>(waiter);
  at(0).system().spawn([=](caf::event_based_actor* a) {
    ftsr::call(a, silent, echo_atom::value, std::string{"y"})
      .with_timeout(100ms)
      .then([=](std::string&) { a->send(client, caf::error{}); },
            [=](caf::error& err) { a->send(client, err); });
  });
  waiter->receive([&](const caf::error& err) { check(err); },
                  caf::after(bound) >> [] { FAIL() << "no outcome"; });
  EXPECT_FALSE(at(0).context().dir.failure_of(silent.ref()));
  // A timeout that is not positive is refused at once.
  ftsr::call(self, silent, echo_atom::value, std::string{"z"})
    .with_timeout(0ms)
    .receive([](std::string&) { FAIL(); },
             [](caf::error& err) {
               EXPECT_TRUE(is(err, errc::invalid_argument)) << describe(err);
               EXPECT_NE(describe(err).find("must be positive, got 0 ms"),
                         std::string::npos)
                 << describe(err);
             });
}

TEST_F(cluster_in_process, call_timeout_leaves_timely_answers_and_drops_late_ones) {
  auto echo = capability<echo_actor>{spawn("host2", "echo")};
  caf::scoped_actor self{at(0).system()};
  // Answered in time: unaffected.
  ftsr::call(self, echo, echo_atom::value, std::string{"hi"})
    .with_timeout(10s)
    .receive([](std::string& s) { EXPECT_EQ(s, "hi"); },
             [](caf::error& err) { FAIL() << describe(err); });
  // Answered after 300 ms, timeout 50 ms: timeout. The next call (answered
  // after 600 ms, long after that late answer arrived) gets its own reply.
  ftsr::call(self, echo, echo_atom::value, std::string{"late"}, uint32_t{300})
    .with_timeout(50ms)
    .receive([](std::string& s) { FAIL() << "late answer delivered: " << s; },
             [](caf::error& err) {
               EXPECT_TRUE(is(err, errc::timeout)) << describe(err);
             });
  ftsr::call(self, echo, echo_atom::value, std::string{"next"}, uint32_t{600})
    .receive([](std::string& s) { EXPECT_EQ(s, "host2:next"); },
             [](caf::error& err) { FAIL() << describe(err); });
  // Event-based: the same sequence from one actor.
  auto got = event_based_calls(at(0), echo,
                               {{"late", 300, 50ms}, {"next", 600, 0ms}});
  ASSERT_EQ(got.size(), 2u);
  EXPECT_TRUE(is(got[0].second, errc::timeout)) << describe(got[0].second);
  EXPECT_EQ(got[1].first, "host2:next") << describe(got[1].second);
  EXPECT_EQ(at(0).context().dir.pending_calls(), 0u);
}

TEST_F(cluster_in_process, failed_backup_is_reported) {
  auto primary = capability<echo_actor>{spawn("host3", "echo")};
  auto backup = capability<echo_actor>{spawn("host2", "echo")};
  ASSERT_TRUE(at(0).destroy(backup.ref()));
  ASSERT_TRUE(at(0).destroy(primary.ref()));
  caf::scoped_actor self{at(0).system()};
  ftsr::call(self, primary, echo_atom::value, std::string{"x"})
    .with_backup(backup)
    .receive([](std::string&) { FAIL(); },
             [&](caf::error& err) {
               EXPECT_NE(describe(err).find(to_string(backup.ref())),
                         std::string::npos)
                 << describe(err);
             });
}

TEST_F(cluster_in_process, monitorend_cancels_notification) {
  auto echo = capability<>{spawn("host3", "echo")};
  caf::scoped_actor self{at(0).system()};
  auto id = ftsr::monitor(self, echo, caf::actor_cast<caf::actor>(self),
                          std::string{"cancelled"});
  EXPECT_TRUE(ftsr::monitorend(self, id));
  EXPECT_FALSE(ftsr::monitorend(self, id));
  ASSERT_TRUE(at(0).destroy(echo.ref()));
  bool fired = false;
  self->receive([&](const std::string&) { fired = true; },
                caf::after(200ms) >> [] {});
  EXPECT_FALSE(fired);
}

TEST_F(cluster_in_process, monitor_accepts_a_scoped_actor) {
  // Like ftsr::call: the scoped actor itself, no .ptr().
  auto id = spawn("host2", "echo").id;
  auto echo = capability<>{ref_at(0, id)};
  caf::scoped_actor self{at(0).system()};
  ftsr::monitor(self, echo, caf::actor_cast<caf::actor>(self),
                std::string{"echo killed"}, echo.id());
  caf::anon_send_exit(ref_at(1, id).handle, caf::exit_reason::kill);
  self->receive(
    [&](const std::string& what, uint64_t cap) {
      EXPECT_EQ(what, "echo killed");
      EXPECT_EQ(cap, echo.id());
    },
    caf::after(bound) >> [] { FAIL() << "monitor did not fire"; });
}

TEST_F(cluster_in_process, myresource_names_the_actor) {
  auto w = spawn("host2", "whoami");
  caf::scoped_actor self{at(0).system()};
  self->request(w.handle, bound, whoami_atom::value)
    .receive([&](uint64_t id) { EXPECT_EQ(id, w.id); },
             [](caf::error& err) { FAIL() << describe(err); });
}

TEST_F(cluster_in_process, node_shutdown_is_a_node_event_and_fails_its_actors) {
  auto echo = capability<>{spawn("host3", "echo")};
  caf::scoped_actor self{at(0).system()};
  self->send(at(0).context().manager, subscribe_atom::value,
             caf::actor_cast<caf::actor>(self));
  ftsr::monitor(self.ptr(), echo, caf::actor_cast<caf::actor>(self),
                std::string{"echo lost"});
  auto inc = at(2).self().incarnation;
  nodes.pop_back(); // host3 goes away
  bool event = false, fired = false;
  for (int i = 0; i < 2; ++i)
    self->receive(
      [&](node_event& ev) {
        event = !ev.up && ev.member.name == "host3"
                && ev.member.incarnation == inc;
      },
      [&](const std::string& s) { fired = s == "echo lost"; },
      caf::after(bound) >> [] {});
  EXPECT_TRUE(event);
  EXPECT_TRUE(fired);
  EXPECT_TRUE(at(1).await_failed("host3"));
}

// A client learns from a member's view that a node is up again before it
// has a connection to that node's manager (the old one was dropped when the
// node failed). A spawn there is refused with a clear error; it used to be
// delegated to the missing manager and crashed the client (SIGSEGV of the
// bank's chaos client after a kill -9). The view is forged here, naming an
// incarnation that never runs, so the client cannot reconnect meanwhile.
TEST_F(cluster_in_process, spawn_on_a_node_up_but_not_connected_is_refused) {
  node_options opts;
  opts.cluster = at(0).context().cluster;
  opts.add_types = [this](caf::actor_system_config& c) { add_types(c); };
  auto client = node::start(std::move(opts));
  ASSERT_TRUE(client) << describe(client.error());
  auto& c = **client;
  ASSERT_TRUE(c.await_up({"host1", "host2", "host3"}));
  auto inc = at(2).self().incarnation;
  nodes.pop_back(); // host3 goes away
  ASSERT_TRUE(c.await_failed("host3"));
  cluster_view forged{1000, {at(0).self(), at(1).self(), {"host3", inc + 1}},
                      {}};
  caf::anon_send(c.context().manager, cluster_view_atom::value, forged);
  ASSERT_TRUE(c.await_up({"host3"}));
  auto ref = c.spawn("host3", "echo");
  ASSERT_FALSE(ref) << "spawned on a node without a connection";
  EXPECT_TRUE(is(ref.error(), errc::node_unavailable)) << describe(ref.error());
  EXPECT_NE(describe(ref.error()).find("'host3' is up but not connected"),
            std::string::npos)
    << describe(ref.error());
  // Arguments of registered types are first checked on the target node:
  // that request is refused alike, and so is a report of the node.
  auto echo = c.spawn("host2", "echo");
  ASSERT_TRUE(echo) << describe(echo.error());
  ref = c.spawn("host3", "echo", caf::make_message(capability<>{*echo}));
  ASSERT_FALSE(ref) << "spawned on a node without a connection";
  EXPECT_TRUE(is(ref.error(), errc::node_unavailable)) << describe(ref.error());
  auto report = c.introspect(introspect_query{"host3"});
  ASSERT_FALSE(report) << "a report from a node without a connection";
  EXPECT_NE(describe(report.error()).find("'host3' is up but not connected"),
            std::string::npos)
    << describe(report.error());
  // The client still serves: a spawn on a connected member works.
  EXPECT_TRUE(c.spawn("host2", "echo")) << "a spawn on host2 after the refusals";
}
