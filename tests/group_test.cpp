// Resource groups across three in-process nodes: creation and its bad
// input, ordered invocation through the group capability, {primary}
// operations, group RPC reply counts, failover with flush, joins with state
// transfer, quorum loss and group monitors.
#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <thread>

#include "caf/all.hpp"
#include "caf/io/middleman.hpp"
#include "caf/io/network/multiplexer.hpp"

#include "actors/call.hpp"
#include "actors/monitor.hpp"
#include "apps/node/sample_resources.hpp"
#include "replication/group.hpp"
#include "replication/replica.hpp"
#include "tests/support/call_load.hpp"
#include "tests/support/in_process_cluster.hpp"

using namespace ftsr;
using namespace ftsr::sample;
using namespace std::chrono_literals;
using ftsr::testing::eventually;
using group_test = ftsr::testing::in_process_cluster;

namespace {

group_spec kv3() {
  return {"kv", {"host1", "host2", "host3"}, 1};
}

template <class T, class... Ts>
caf::expected<T> ask(node& n, const capability_ref& g, Ts&&... xs) {
  caf::scoped_actor self{n.system()};
  caf::expected<T> result{caf::none};
  ftsr::call(self, capability<>{g}, std::forward<Ts>(xs)...)
    .receive([&](T& x) { result = std::move(x); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

/// Waits until every live member reports the same digest and state.
bool converged(node& n, const capability_ref& g, size_t members) {
  return eventually([&] {
    auto st = group_members_status(n, g);
    if (st.size() != members)
      return false;
    for (auto& s : st)
      if (s.digest != st[0].digest || s.state != st[0].state
          || s.delivered != st[0].delivered || !s.serving)
        return false;
    return true;
  });
}

} // namespace

namespace {

using where_atom = caf::atom_constant<caf::atom("where")>;

/// (where) -> string: the id of the thread that runs the operation.
struct thread_probe : resource<thread_probe> {
  caf::behavior operations() override {
    return {[](where_atom) {
      std::ostringstream os;
      os << std::this_thread::get_id();
      return os.str();
    }};
  }

  template <class Archive>
  void serialize(Archive&, unsigned) {
    // stateless
  }
};

/// The probe registered for each replica_executor.
class group_executor_test : public ftsr::testing::in_process_cluster {
public:
  void add_types(caf::actor_system_config& cfg) override {
    in_process_cluster::add_types(cfg);
    add_resource_type<thread_probe>(cfg, "probe_on_io",
                                    replica_executor::io_thread);
    add_resource_type<thread_probe>(cfg, "probe_on_scheduler");
  }

  /// The threads that run the replicas of a new 3-replica `type` group.
  std::set<std::string> replica_threads(const std::string& type) {
    std::set<std::string> result;
    auto g = create_group(at(0), {type, {"host1", "host2", "host3"}, 1});
    EXPECT_TRUE(g) << describe(g.error());
    if (!g)
      return result;
    caf::scoped_actor self{at(0).system()};
    ftsr::call(self, capability<>{*g}, where_atom::value)
      .replies(reply_policy::all)
      .receive(
        [&](std::vector<caf::message>& xs) {
          for (auto& x : xs)
            result.insert(x.get_as<std::string>(0));
        },
        [](caf::error& err) { ADD_FAILURE() << describe(err); });
    return result;
  }

  /// The nodes' network I/O threads (CAF multiplexers).
  std::set<std::string> io_threads() {
    std::set<std::string> result;
    for (auto& n : nodes) {
      std::ostringstream os;
      os << n->system().middleman().backend().thread_id();
      result.insert(os.str());
    }
    return result;
  }
};

} // namespace

TEST_F(group_executor_test, replicas_run_on_the_thread_their_type_asks_for) {
  auto io = io_threads();
  ASSERT_EQ(io.size(), 3u);
  EXPECT_EQ(replica_threads("probe_on_io"), io);
  auto on_scheduler = replica_threads("probe_on_scheduler");
  EXPECT_EQ(on_scheduler.size(), 3u) << "one thread per node expected";
  for (auto& t : on_scheduler)
    EXPECT_EQ(io.count(t), 0u) << "scheduler replica on an I/O thread";
}

namespace {

/// Replicas wait 300 ms for their state (node_options::replica_state_timeout).
class group_state_timeout_test : public ftsr::testing::in_process_cluster {
public:
  void adjust(node_options& opts) override {
    opts.replica_state_timeout = 300ms;
  }
};

} // namespace

TEST_F(group_state_timeout_test, replica_without_state_stops_others_serve_on) {
  auto g = create_group(at(0), kv3());
  ASSERT_TRUE(g) << describe(g.error());
  // A replica spawned for a join that never comes (its primary died).
  auto orphan = spawn("host2", "kv");
  ASSERT_TRUE(eventually([&] {
    return static_cast<bool>(at(0).context().dir.failure_of(orphan));
  })) << "a replica without state stayed idle";
  // The group's replicas got their state at once: past the timeout, they
  // serve on.
  EXPECT_TRUE(ask<bool>(at(1), *g, put_atom::value, std::string{"k"},
                        std::string{"v"}));
  EXPECT_TRUE(converged(at(0), *g, 3));
}

TEST_F(group_test, invalid_specs_are_rejected_with_clear_errors) {
  auto& n = at(0);
  auto check = [&](group_spec spec, errc code, const std::string& text) {
    auto g = create_group(n, spec);
    ASSERT_FALSE(g);
    EXPECT_TRUE(is(g.error(), code)) << describe(g.error());
    EXPECT_NE(describe(g.error()).find(text), std::string::npos)
      << describe(g.error());
  };
  check({"kv", {}, 0}, errc::invalid_argument, "N = 0");
  check({"kv", {"host1", "host2"}, 2}, errc::invalid_argument,
        "max_sf = 2 must be below N = 2");
  check({"kv", {"host1", "hostX"}, 1}, errc::unknown_node, "hostX");
  check({"", {"host1"}, 0}, errc::invalid_argument, "empty type");
  check({"no_such_resource", {"host1"}, 0}, errc::unknown_actor_type,
        "no_such_resource");
}

TEST_F(group_test, node_listed_twice_is_refused_and_nothing_is_spawned) {
  auto& dir = at(0).context().dir;
  auto bound_before = dir.alive().size();
  auto twice = create_group(at(0), {"kv", {"host1", "host1", "host2"}, 1});
  ASSERT_FALSE(twice);
  EXPECT_TRUE(is(twice.error(), errc::invalid_argument))
    << describe(twice.error());
  EXPECT_NE(describe(twice.error()).find("node 'host1' is listed twice"),
            std::string::npos)
    << describe(twice.error());
  group_spec spec{"kv", {"host1", "host2"}, 1};
  spec.backups = {"host3", "host3"};
  auto backup_twice = create_group(at(0), spec);
  ASSERT_FALSE(backup_twice);
  EXPECT_TRUE(is(backup_twice.error(), errc::invalid_argument));
  EXPECT_NE(describe(backup_twice.error())
              .find("backup node 'host3' is listed twice"),
            std::string::npos)
    << describe(backup_twice.error());
  // No replica was spawned; a correct spec still works.
  EXPECT_EQ(dir.alive().size(), bound_before);
  auto g = create_group(at(0), kv3());
  ASSERT_TRUE(g) << describe(g.error());
  // Resizing onto a node twice is refused too; the group serves unchanged.
  ASSERT_TRUE(ask<bool>(at(0), *g, put_atom::value, std::string{"k"},
                        std::string{"v"}));
  auto resized = resize_group(at(0), *g, {"host2", "host2"});
  ASSERT_FALSE(resized);
  EXPECT_TRUE(is(resized.error(), errc::invalid_argument))
    << describe(resized.error());
  EXPECT_NE(describe(resized.error()).find("node 'host2' is listed twice"),
            std::string::npos)
    << describe(resized.error());
  EXPECT_TRUE(converged(at(0), *g, 3));
  auto v = ask<std::string>(at(0), *g, get_atom::value, std::string{"k"});
  ASSERT_TRUE(v) << describe(v.error());
  EXPECT_EQ(*v, "v");
}

TEST_F(group_test, ordered_invocations_reach_every_replica) {
  auto g = create_group(at(0), kv3());
  ASSERT_TRUE(g) << describe(g.error());
  EXPECT_EQ(g->members.size(), 3u);
  for (int i = 0; i < 20; ++i) {
    auto r = ask<bool>(at(i % 3), *g, put_atom::value, "k" + std::to_string(i),
                       std::string{"v"});
    ASSERT_TRUE(r) << describe(r.error());
  }
  auto v = ask<std::string>(at(1), *g, get_atom::value, std::string{"k7"});
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, "v");
  // FT-SR mygroup() inside an operation names the group.
  EXPECT_EQ(*ask<uint64_t>(at(2), *g, whoami_atom::value), g->id);
  EXPECT_TRUE(converged(at(0), *g, 3));
}

TEST_F(group_test, first_reply_comes_from_the_first_backup) {
  // client -> primary -> backup -> client: the backup that delivers the
  // invocation answers in the primary's place; collated replies still come
  // from the primary, which collects them.
  auto g = create_group(at(0), kv3());
  ASSERT_TRUE(g) << describe(g.error());
  caf::scoped_actor self{at(2).system()};
  // Actor id and node: the handles here are another node's proxies.
  using address = std::pair<caf::actor_id, caf::node_id>;
  auto address_of = [](const caf::actor& a) {
    return address{a.id(), a.node()};
  };
  auto sender_of = [&](reply_policy p, auto reply) {
    address from;
    ftsr::call(self, capability<>{*g}, put_atom::value, std::string{"k"},
               std::string{"v"})
      .replies(p)
      .receive(
        [&](decltype(reply)&) {
          from = {self->current_sender()->id(), self->current_sender()->node()};
        },
               [&](caf::error& err) { ADD_FAILURE() << describe(err); });
    return from;
  };
  EXPECT_EQ(sender_of(reply_policy::first, bool{}),
            address_of(g->members[1].handle));
  EXPECT_EQ(sender_of(reply_policy::all, std::vector<caf::message>{}),
            address_of(g->members[0].handle));
  // The primary forgets a relayed client once the backup acknowledged.
  EXPECT_TRUE(eventually([&] {
    for (auto& st : group_members_status(at(0), *g))
      if (st.waiting != 0)
        return false;
    return true;
  }));
  EXPECT_TRUE(converged(at(0), *g, 3));
}

TEST_F(group_test, primary_operation_ships_state_to_backups) {
  auto g = create_group(at(0), kv3());
  ASSERT_TRUE(g);
  auto t = ask<int64_t>(at(2), *g, stamp_atom::value, std::string{"t"});
  ASSERT_TRUE(t) << describe(t.error());
  EXPECT_TRUE(converged(at(0), *g, 3));
  auto v = ask<std::string>(at(0), *g, get_atom::value, std::string{"t"});
  EXPECT_EQ(*v, std::to_string(*t));
}

TEST_F(group_test, group_rpc_collates_replies_of_quorum_or_all) {
  auto g = create_group(at(0), kv3());
  ASSERT_TRUE(g);
  caf::scoped_actor self{at(0).system()};
  for (auto p : {reply_policy::quorum, reply_policy::all}) {
    ftsr::call(self, capability<>{*g}, append_atom::value, std::string{"a"},
               std::string{"x"})
      .replies(p)
      .receive(
        [&](std::vector<caf::message>& xs) {
          EXPECT_EQ(xs.size(), p == reply_policy::all ? 3u : 2u);
          for (auto& x : xs)
            EXPECT_EQ(caf::to_string(x), caf::to_string(xs[0]));
        },
        [](caf::error& err) { FAIL() << describe(err); });
  }
  ftsr::call(self, capability<>{*g}, append_atom::value, std::string{"a"},
             std::string{"y"})
    .replies(reply_policy::vote)
    .receive([](uint64_t len) { EXPECT_EQ(len, 3u); },
             [](caf::error& err) { FAIL() << describe(err); });
}

TEST_F(group_test, retried_collated_call_gets_the_same_reply_shape) {
  // A retry of a delivered quorum/all call (the same request id, as
  // ftsr::call retries) is answered from the replicas' de-duplication
  // tables without running again, in the shape of the first answer: the
  // collated replies.
  auto g = create_group(at(0), kv3());
  ASSERT_TRUE(g);
  caf::scoped_actor self{at(0).system()};
  uint64_t id = 0x5eed0000;
  for (auto p : {reply_policy::quorum, reply_policy::all}) {
    ++id;
    std::vector<std::string> answers;
    for (int attempt = 0; attempt < 2; ++attempt)
      ftsr::call(self, capability<>{*g}, append_atom::value, std::string{"r"},
                 std::string{"x"})
        .replies(p)
        .request_id(id)
        .receive(
          [&](std::vector<caf::message>& xs) {
            EXPECT_EQ(xs.size(), p == reply_policy::all ? 3u : 2u);
            for (auto& x : xs)
              EXPECT_EQ(caf::to_string(x), caf::to_string(xs[0]));
            answers.push_back(caf::deep_to_string(xs));
          },
          [](caf::error& err) { FAIL() << describe(err); });
    ASSERT_EQ(answers.size(), 2u);
    EXPECT_EQ(answers[0], answers[1]);
  }
  // Each call ran once.
  auto v = ask<std::string>(at(0), *g, get_atom::value, std::string{"r"});
  ASSERT_TRUE(v) << describe(v.error());
  EXPECT_EQ(*v, "xx");
  // Across a failover: the call reaches the primary, which fails; the
  // retry under the same id at the new primary gets collated replies too,
  // whether the call was delivered before (de-duplication) or not.
  caf::anon_send(at(0).context().dir.resolve(g->members[0]),
                 group_invoke_atom::value,
                 invocation{id + 1, reply_policy::quorum,
                            caf::make_message(append_atom::value,
                                              std::string{"r"},
                                              std::string{"y"}),
                            {},
                            {}});
  caf::anon_send_exit(g->members[0].handle, caf::exit_reason::kill);
  ftsr::call(self, capability<>{*g}, append_atom::value, std::string{"r"},
             std::string{"y"})
    .replies(reply_policy::quorum)
    .request_id(id + 1)
    .receive(
      [&](std::vector<caf::message>& xs) {
        EXPECT_EQ(xs.size(), 2u); // a majority of the view of 2
        for (auto& x : xs)
          EXPECT_EQ(caf::to_string(x), caf::to_string(caf::make_message(
                                         uint64_t{3})));
      },
      [](caf::error& err) { FAIL() << describe(err); });
  EXPECT_TRUE(converged(at(0), *g, 2));
  EXPECT_EQ(*ask<std::string>(at(0), *g, get_atom::value, std::string{"r"}),
            "xxy");
}

TEST_F(group_test, bad_operation_is_refused_without_state_change) {
  auto g = create_group(at(0), kv3());
  ASSERT_TRUE(g);
  ASSERT_TRUE(ask<bool>(at(0), *g, put_atom::value, std::string{"k"},
                        std::string{"v"}));
  ASSERT_TRUE(converged(at(0), *g, 3));
  auto before = group_members_status(at(0), *g);
  auto r = ask<bool>(at(0), *g, std::string{"garbage"}, 42);
  ASSERT_FALSE(r);
  EXPECT_NE(describe(r.error()).find("not understood"), std::string::npos)
    << describe(r.error());
  // A malformed message straight to a replica: refused, nothing changes.
  caf::scoped_actor self{at(0).system()};
  self->request(g->members[1].handle, bound, group_status_atom::value, 7)
    .receive([](group_status&) { FAIL(); }, [](caf::error&) {});
  auto after = group_members_status(at(0), *g);
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].digest, before[i].digest);
    EXPECT_EQ(after[i].state, before[i].state);
  }
}

TEST_F(group_test, primary_failure_installs_new_view_without_losing_calls) {
  auto g = create_group(at(0), kv3());
  ASSERT_TRUE(g);
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(ask<uint64_t>(at(1), *g, append_atom::value, std::string{"l"},
                              std::string{"a"}));
  // Crash the primary (rank 0, on host1).
  caf::anon_send_exit(g->members[0].handle, caf::exit_reason::kill);
  auto r = ask<uint64_t>(at(1), *g, append_atom::value, std::string{"l"},
                         std::string{"b"});
  ASSERT_TRUE(r) << describe(r.error());
  EXPECT_EQ(*r, 11u);
  EXPECT_TRUE(converged(at(1), *g, 2));
  auto st = group_members_status(at(1), *g);
  ASSERT_EQ(st.size(), 2u);
  EXPECT_EQ(st[0].primary, g->members[1].id);
  EXPECT_EQ(st[0].view, 2u);
}

TEST_F(group_test, join_gets_state_transfer_and_takes_part) {
  auto g = create_group(at(0), group_spec{"kv", {"host1", "host2"}, 1});
  ASSERT_TRUE(g);
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(ask<bool>(at(0), *g, put_atom::value, "k" + std::to_string(i),
                          std::string{"v"}));
  auto joined = add_replica(at(0), *g, "host3");
  ASSERT_TRUE(joined) << describe(joined.error());
  ASSERT_TRUE(ask<bool>(at(0), *g, put_atom::value, std::string{"after"},
                        std::string{"join"}));
  auto grown = *g;
  grown.members.push_back(*joined);
  EXPECT_TRUE(converged(at(0), grown, 3));
}

TEST_F(group_test, quorum_loss_refuses_and_fires_group_monitor) {
  auto g = create_group(at(0), kv3());
  ASSERT_TRUE(g);
  caf::scoped_actor self{at(0).system()};
  ftsr::monitor(self.ptr(), capability<>{*g}, caf::actor_cast<caf::actor>(self),
                std::string{"group down"});
  caf::anon_send_exit(g->members[1].handle, caf::exit_reason::kill);
  ASSERT_TRUE(ask<bool>(at(0), *g, put_atom::value, std::string{"k"},
                        std::string{"v"}));
  caf::anon_send_exit(g->members[2].handle, caf::exit_reason::kill);
  bool fired = false;
  self->receive([&](const std::string& s) { fired = s == "group down"; },
                caf::after(bound) >> [] {});
  EXPECT_TRUE(fired);
  auto r = ask<bool>(at(0), *g, put_atom::value, std::string{"k2"},
                     std::string{"v"});
  ASSERT_FALSE(r);
  EXPECT_TRUE(is(r.error(), errc::fail_stop) || is(r.error(), errc::no_quorum))
    << describe(r.error());
  EXPECT_NE(describe(r.error()).find("quorum"), std::string::npos)
    << describe(r.error());
}

TEST_F(group_test, bounded_buffer_sample) {
  auto g = create_group(at(0), group_spec{"bounded_buffer",
                                          {"host1", "host2", "host3"}, 1},
                        caf::make_message(uint64_t{2}));
  ASSERT_TRUE(g);
  EXPECT_EQ(*ask<uint64_t>(at(0), *g, deposit_atom::value, std::string{"a"}),
            1u);
  EXPECT_EQ(*ask<uint64_t>(at(1), *g, deposit_atom::value, std::string{"b"}),
            2u);
  auto full = ask<uint64_t>(at(2), *g, deposit_atom::value, std::string{"c"});
  ASSERT_FALSE(full);
  EXPECT_NE(describe(full.error()).find("full"), std::string::npos);
  EXPECT_EQ(*ask<std::string>(at(2), *g, fetch_atom::value), "a");
  EXPECT_TRUE(converged(at(0), *g, 3));
}

TEST_F(group_test, active_replication_with_voting) {
  group_mode mode;
  mode.active = true;
  mode.vote = true;
  auto g = create_group(at(0), group_spec{"kv", {"host1", "host2", "host3"},
                                          1, mode});
  ASSERT_TRUE(g) << describe(g.error());
  // Voting: a plain call is answered with the majority's reply.
  EXPECT_EQ(*ask<uint64_t>(at(1), *g, append_atom::value, std::string{"a"},
                           std::string{"xy"}),
            2u);
  // Active: even a {primary} operation runs at every replica. This one
  // reads each replica's clock: voting exposes the non-determinism with a
  // clear error instead of answering with one replica's value.
  auto t = ask<int64_t>(at(0), *g, stamp_atom::value, std::string{"t"});
  ASSERT_FALSE(t);
  EXPECT_NE(describe(t.error()).find("no majority"), std::string::npos)
    << describe(t.error());
}

TEST_F(group_test, resize_grows_then_shrinks_with_state) {
  auto g = create_group(at(0), group_spec{"kv", {"host1", "host2"}, 1});
  ASSERT_TRUE(g);
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(ask<bool>(at(0), *g, put_atom::value, "k" + std::to_string(i),
                          std::string{"v"}));
  // 2 -> 3 replicas, then 3 -> 1 (the first primary leaves too).
  auto grown = resize_group(at(0), *g, {"host1", "host2", "host3"});
  ASSERT_TRUE(grown) << describe(grown.error());
  EXPECT_EQ(grown->members.size(), 3u);
  EXPECT_TRUE(converged(at(0), *grown, 3));
  auto shrunk = resize_group(at(0), *grown, {"host3"});
  ASSERT_TRUE(shrunk) << describe(shrunk.error());
  ASSERT_EQ(shrunk->members.size(), 1u);
  EXPECT_EQ(shrunk->members[0].node, "host3");
  // The single remaining replica has every write and keeps serving; the
  // group did not fail although two of its members are gone.
  EXPECT_EQ(*ask<uint64_t>(at(0), *shrunk, size_atom::value), 5u);
  EXPECT_TRUE(ask<bool>(at(0), *shrunk, put_atom::value, std::string{"k9"},
                        std::string{"v"}));
  EXPECT_FALSE(at(0).context().dir.failure_of(*shrunk));
  auto bad = resize_group(at(0), *shrunk, {"hostX"});
  ASSERT_FALSE(bad);
  EXPECT_TRUE(is(bad.error(), errc::unknown_node));
}

TEST_F(group_test, imports_reach_the_target_group_exactly_once) {
  auto a = create_group(at(0), kv3());
  auto b = create_group(at(0), kv3());
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(ask<bool>(at(1), *a, forward_atom::value, *b, std::string{"x"},
                        std::string{"t1;"}));
  EXPECT_TRUE(eventually([&] {
    auto v = ask<std::string>(at(0), *b, get_atom::value, std::string{"x"});
    return v && *v == "t1;";
  }));
  // Kill A's primary right after the call: whether it died before or after
  // sending the import, B applies it exactly once.
  caf::scoped_actor self{at(1).system()};
  auto pending = self->request(
    at(1).context().dir.resolve(a->members[0]), bound, group_invoke_atom::value,
    invocation{4242, reply_policy::first,
               caf::make_message(forward_atom::value, *b, std::string{"y"},
                                 std::string{"t2;"}),
               {},
               {}});
  caf::anon_send_exit(a->members[0].handle, caf::exit_reason::kill);
  pending.receive([](bool) {}, [](caf::error&) {});
  // The client retries under the same request id (as ftsr::call does).
  auto retried = [&] {
    caf::expected<bool> r{caf::none};
    ftsr::call(self, capability<>{*a}, forward_atom::value, *b,
               std::string{"y"}, std::string{"t2;"})
      .request_id(4242)
      .receive([&](bool x) { r = x; }, [&](caf::error& e) { r = e; });
    return r;
  }();
  ASSERT_TRUE(retried) << describe(retried.error());
  EXPECT_TRUE(eventually([&] {
    auto v = ask<std::string>(at(0), *b, get_atom::value, std::string{"y"});
    return v && *v == "t2;";
  }));
  // Settled: nothing arrives twice later on.
  EXPECT_TRUE(converged(at(0), *b, 3));
  EXPECT_EQ(*ask<std::string>(at(0), *b, get_atom::value, std::string{"y"}),
            "t2;");
}

TEST_F(group_test, owns_sends_from_every_replica) {
  auto a = create_group(at(0), kv3());
  ASSERT_TRUE(a);
  caf::scoped_actor self{at(0).system()};
  capability_ref sink{77, "sink", "host1", at(0).self().incarnation,
                      caf::actor_cast<caf::actor>(self), {}};
  ASSERT_TRUE(ask<bool>(at(0), *a, notify_atom::value, sink,
                        std::string{"hello"}));
  int got = 0;
  for (int i = 0; i < 3; ++i)
    self->receive([&](const std::string& s) { got += s == "hello"; },
                  caf::after(bound) >> [] {});
  EXPECT_EQ(got, 3);
}

// -- two replicas: one failure ------------------------------------------------
//
// A 2-replica group (the FT-SR stableStore's size) survives the failure of
// one replica's node when the survivor's node sees a majority of the
// cluster (the primary partition: node_context::in_majority), and stops
// with errc::no_quorum when it does not.

namespace {

/// Clients writing unique keys ("w<client>-<i>") through the group.
class kv_writers : public ftsr::testing::call_load<std::string> {
public:
  kv_writers(std::vector<node*> clients, capability_ref group)
    : call_load(std::move(clients),
                [group](caf::scoped_actor& self, size_t c, uint64_t i) {
                  auto key = "w" + std::to_string(c) + "-" + std::to_string(i);
                  auto err = ftsr::testing::call_outcome<bool>(
                    self, group, put_atom::value, key, std::string{"v"});
                  return std::make_pair(key, err);
                }) {
    // nop
  }
};

/// Nodes can be stopped and started again (a new incarnation).
class group_failure_test : public ftsr::testing::in_process_cluster {
public:
  void stop(size_t i, size_t observer) {
    nodes[i].reset();
    ASSERT_TRUE(at(observer).await_failed(names[i]));
  }

  void start(size_t i, size_t observer) {
    node_options opts;
    opts.cluster = at(observer).context().cluster;
    opts.name = names[i];
    opts.data_dir = make_temp_dir() + "/data-" + names[i];
    opts.add_types = [this](caf::actor_system_config& c) { add_types(c); };
    adjust(opts);
    auto n = node::start(std::move(opts));
    ASSERT_TRUE(n) << describe(n.error());
    nodes[i] = std::move(*n);
    ASSERT_TRUE(at(observer).await_up({names[i]}));
    ASSERT_TRUE(nodes[i]->await_up({names[observer]}));
  }

  /// Every acknowledged key is in the group (read through `n`).
  void expect_acked_present(node& n, const capability_ref& g,
                            const std::set<std::string>& acked) {
    for (auto& k : acked) {
      auto v = ask<std::string>(n, g, get_atom::value, k);
      ASSERT_TRUE(v) << describe(v.error());
      EXPECT_EQ(*v, "v") << "acknowledged write lost: " << k;
    }
  }

  /// The kv sample once more, its replicas on CAF's scheduler ("kv" runs
  /// them on the I/O thread): the protocol runs on both executors.
  void add_types(caf::actor_system_config& cfg) override {
    in_process_cluster::add_types(cfg);
    add_resource_type<kv_store>(cfg, "kv_on_scheduler",
                                replica_executor::scheduler);
  }

  /// 2-replica kv group (resource `type`) on host1, host2 (clients on
  /// host3): the node of replica `victim` stops under writes; the other
  /// serves on; the node comes back and a replica joins there with state
  /// transfer.
  void survive_one_of_two(size_t victim, const std::string& type = "kv") {
    auto& n = at(2);
    auto g = create_group(n, group_spec{type, {"host1", "host2"}, 1});
    ASSERT_TRUE(g) << describe(g.error());
    kv_writers w{{&at(2), &at(2)}, *g};
    ASSERT_TRUE(w.progress(100)) << "no progress before the failure";
    stop(victim, 2);
    ASSERT_TRUE(w.progress(100)) << "no progress after the failure";
    auto survivor = g->members[1 - victim];
    auto st = group_members_status(n, *g);
    ASSERT_EQ(st.size(), 1u);
    EXPECT_EQ(st[0].primary, survivor.id);
    EXPECT_TRUE(st[0].serving);
    start(victim, 2);
    auto rejoined = add_replica(n, *g, names[victim]);
    ASSERT_TRUE(rejoined) << describe(rejoined.error());
    auto grown = *g;
    grown.members.push_back(*rejoined);
    ASSERT_TRUE(w.progress(100)) << "no progress after the join";
    w.stop();
    EXPECT_TRUE(converged(n, grown, 2)) << "replicas differ";
    expect_acked_present(n, grown, w.acked_tokens());
  }

  const std::vector<std::string> names{"host1", "host2", "host3"};
};

} // namespace

TEST_F(group_failure_test, two_replicas_survive_the_primary_node_failure) {
  survive_one_of_two(0);
}

TEST_F(group_failure_test, two_replicas_survive_the_backup_node_failure) {
  survive_one_of_two(1);
}

TEST_F(group_failure_test, shrinking_under_load_loses_no_acknowledged_write) {
  // A backup leaves, then the primary itself: each goes only once the
  // members that stay hold its leave; writes go on throughout.
  auto& n = at(2);
  auto g = create_group(n, kv3());
  ASSERT_TRUE(g) << describe(g.error());
  kv_writers w{{&at(2), &at(1)}, *g};
  ASSERT_TRUE(w.progress(100)) << "no progress before the resize";
  auto two = resize_group(n, *g, {"host1", "host2"});
  ASSERT_TRUE(two) << describe(two.error());
  ASSERT_TRUE(w.progress(100)) << "no progress after a backup left";
  auto one = resize_group(n, *two, {"host2"});
  ASSERT_TRUE(one) << describe(one.error());
  ASSERT_TRUE(w.progress(100)) << "no progress after the primary left";
  w.stop();
  EXPECT_TRUE(converged(n, *one, 1)) << "the replica does not serve";
  expect_acked_present(n, *one, w.acked_tokens());
}

TEST_F(group_failure_test, scheduler_replicas_survive_the_primary_failure) {
  survive_one_of_two(0, "kv_on_scheduler");
}

TEST_F(group_failure_test, two_replicas_on_the_minority_side_refuse) {
  auto& n = at(0);
  auto g = create_group(n, group_spec{"kv", {"host1", "host2"}, 1});
  ASSERT_TRUE(g) << describe(g.error());
  ASSERT_TRUE(ask<bool>(n, *g, put_atom::value, std::string{"k"},
                        std::string{"v"}));
  // host3 (no replica) stops: both replicas serve on.
  stop(2, 0);
  ASSERT_TRUE(ask<bool>(n, *g, put_atom::value, std::string{"k2"},
                        std::string{"v"}));
  // host2 stops: host1 alone is a minority of its view {host1, host2}: it
  // cannot remove host2, and its lease runs out.
  nodes[1].reset();
  caf::expected<bool> r{caf::none};
  ASSERT_TRUE(eventually([&] {
    r = ask<bool>(n, *g, put_atom::value, std::string{"k3"}, std::string{"v"});
    return !r && is(r.error(), errc::no_quorum);
  })) << (r ? "served" : describe(r.error()));
  EXPECT_FALSE(n.context().in_majority());
}

// -- persistent groups ----------------------------------------------------------
//
// group_spec::backups: when a member's node fails, the primary restarts a
// replica on the first backup node that is up and hosts no member, joined
// with state transfer, and binds the new member list.

TEST_F(group_failure_test, persistent_group_spec_checks_its_backups) {
  group_spec spec{"kv", {"host1", "host2"}, 1};
  spec.backups = {"host3", "hostX"};
  auto g = create_group(at(0), spec);
  ASSERT_FALSE(g);
  EXPECT_TRUE(is(g.error(), errc::unknown_node)) << describe(g.error());
  EXPECT_NE(describe(g.error()).find("backup node 'hostX'"), std::string::npos)
    << describe(g.error());
}

TEST_F(group_failure_test, persistent_group_restarts_a_replica_on_a_backup) {
  // Replicas on host1 and host2; host2 is listed as a backup too (it hosts
  // a member: skipped), host3 is the one that takes over. Clients on host2.
  auto& n = at(1);
  group_spec spec{"kv", {"host1", "host2"}, 1};
  spec.backups = {"host2", "host3"};
  auto g = create_group(n, spec);
  ASSERT_TRUE(g) << describe(g.error());
  kv_writers w{{&at(1), &at(1)}, *g};
  ASSERT_TRUE(w.progress(100)) << "no progress before the failure";
  stop(0, 1); // the primary's node
  // Back to two replicas, the new one on host3; the group's binding at the
  // new primary's node lists it.
  auto& dir = n.context().dir;
  capability_ref bound;
  ASSERT_TRUE(eventually([&] {
    auto ref = dir.lookup(g->id);
    if (!ref || ref->members.size() != 2)
      return false;
    bound = *ref;
    return bound.members[0].id == g->members[1].id
           && bound.members[1].node == "host3";
  })) << "no replica restarted on host3";
  ASSERT_TRUE(w.progress(100)) << "no progress after the restart";
  w.stop();
  EXPECT_TRUE(converged(n, bound, 2)) << "replicas differ";
  // Holders of the old capability are served (host2's member remains).
  expect_acked_present(n, *g, w.acked_tokens());
  auto st = group_members_status(n, bound);
  ASSERT_EQ(st.size(), 2u);
  EXPECT_EQ(st[0].members,
            (std::vector<uint64_t>{bound.members[0].id, bound.members[1].id}));
}

namespace {

/// Group call attempts expire after 100 ms without an answer.
class group_attempt_test : public ftsr::testing::in_process_cluster {
public:
  void adjust(node_options& opts) override {
    opts.group_attempt_timeout = 100ms;
  }
};

} // namespace

TEST_F(group_attempt_test, unanswered_attempt_is_sent_again_with_its_id) {
  // A member that never answers the first attempt (an answer lost with a
  // replier that failed as it answered): the attempt expires and the call
  // is sent again under the same request id, which the group would
  // de-duplicate; the second attempt is answered.
  auto& n = at(0);
  auto seen = std::make_shared<std::vector<uint64_t>>();
  auto member = n.system().spawn([seen](caf::event_based_actor*) {
    return caf::behavior{
      [seen](group_invoke_atom,
             const invocation& inv) -> caf::result<uint64_t> {
        seen->push_back(inv.request);
        if (seen->size() == 1)
          return caf::delegated<uint64_t>{}; // never answered
        return inv.request;
      }};
  });
  auto inc = n.context().self.incarnation;
  capability_ref m{900001, "forgetful", "host1", inc, member, {}};
  capability_ref g{900002, "group", "host1", inc, {}, {m}};
  n.context().dir.bind(m);
  n.context().dir.bind(g);
  caf::scoped_actor self{n.system()};
  uint64_t got = 0;
  ftsr::call(self, capability<>{g}, put_atom::value, std::string{"k"},
             std::string{"v"})
    .request_id(4711)
    .receive([&](uint64_t x) { got = x; },
             [&](caf::error& err) { ADD_FAILURE() << describe(err); });
  EXPECT_EQ(got, 4711u);
  EXPECT_EQ(*seen, (std::vector<uint64_t>{4711, 4711}));
  EXPECT_EQ(n.context().dir.pending_calls(), 0u);
  caf::anon_send_exit(member, caf::exit_reason::kill);
}

TEST_F(group_test, call_timeout_bounds_a_group_call) {
  // A one-member group whose member never answers: the call's timeout
  // (100 ms) ends it long before the attempt timeout (2 s) would retry.
  auto& n = at(0);
  auto member = n.system().spawn([](caf::event_based_actor*) {
    return caf::behavior{
      [](group_invoke_atom, const invocation&) -> caf::result<bool> {
        return caf::delegated<bool>{};
      }};
  });
  auto inc = n.context().self.incarnation;
  capability_ref m{900011, "silent", "host1", inc, member, {}};
  capability_ref g{900012, "group:silent", "host1", inc, member, {m}};
  n.context().dir.bind(m);
  n.context().dir.bind(g);
  auto check = [&](const caf::error& err) {
    EXPECT_TRUE(is(err, errc::timeout)) << describe(err);
    EXPECT_NE(describe(err).find(to_string(g) + " (put)"), std::string::npos)
      << describe(err);
    EXPECT_NE(describe(err).find("timed out after 100 ms"), std::string::npos)
      << describe(err);
  };
  caf::scoped_actor self{n.system()};
  ftsr::call(self, capability<>{g}, put_atom::value, std::string{"k"},
             std::string{"v"})
    .with_timeout(100ms)
    .receive([](bool) { ADD_FAILURE() << "a silent member answered"; }, check);
  // Event-based: the same.
  auto client = caf::actor_cast<caf::actor>(self);
  n.system().spawn([=](caf::event_based_actor* a) {
    ftsr::call(a, capability<>{g}, put_atom::value, std::string{"k"},
               std::string{"v"})
      .with_timeout(100ms)
      .then([=](bool) { a->send(client, caf::error{}); },
            [=](caf::error& err) { a->send(client, err); });
  });
  self->receive([&](const caf::error& err) { check(err); },
                caf::after(std::chrono::seconds(10)) >> [] {
                  ADD_FAILURE() << "no outcome";
                });
  EXPECT_EQ(n.context().dir.pending_calls(), 0u);
  caf::anon_send_exit(member, caf::exit_reason::kill);
  // A real group answering in time is unaffected.
  auto kv = create_group(n, kv3());
  ASSERT_TRUE(kv) << describe(kv.error());
  ftsr::call(self, capability<>{*kv}, put_atom::value, std::string{"k"},
             std::string{"v"})
    .with_timeout(10s)
    .receive([](bool ok) { EXPECT_TRUE(ok); },
             [](caf::error& err) { ADD_FAILURE() << describe(err); });
}
