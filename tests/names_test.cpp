// Named capabilities across three in-process nodes and a client started
// later: registration replicated to every node, conflicts and replacement,
// unregistration, bad names, names of groups (group_spec::name), and names
// that outlive the node that registered them.
#include <gtest/gtest.h>

#include <string>

#include "caf/all.hpp"

#include "actors/call.hpp"
#include "actors/names.hpp"
#include "apps/node/sample_actors.hpp"
#include "apps/node/sample_resources.hpp"
#include "persistence/persistent.hpp"
#include "replication/group.hpp"
#include "tests/support/in_process_cluster.hpp"
#include "tests/support/wait.hpp"

using namespace ftsr;
using namespace ftsr::sample;
using namespace std::chrono_literals;
using ftsr::testing::eventually;

namespace {

/// A persistent actor answering (echo, s) with "<node>:<s>".
persistent_behavior node_echo(caf::event_based_actor* self) {
  persistent_behavior result;
  result.operations = {[self](echo_atom, const std::string& s) {
    return context_of(self->system()).self.name + ":" + s;
  }};
  return result;
}

class names_test : public ftsr::testing::in_process_cluster {
public:
  void add_types(caf::actor_system_config& cfg) override {
    in_process_cluster::add_types(cfg);
    add_persistent_type(cfg, "node_echo", node_echo);
  }

  /// A client node (no member name) started now.
  std::unique_ptr<node> start_client() {
    node_options opts;
    opts.cluster = nodes.back()->context().cluster;
    opts.group_attempt_timeout = 200ms;
    opts.add_types = [this](caf::actor_system_config& c) { add_types(c); };
    auto n = node::start(std::move(opts));
    EXPECT_TRUE(n) << describe(n.error());
    return n ? std::move(*n) : nullptr;
  }

  /// True once every running node resolves `name` to capability `id`.
  bool everywhere(const std::string& name, uint64_t id) {
    return eventually([&] {
      for (auto& n : nodes) {
        if (!n)
          continue;
        auto ref = n->lookup_name(name);
        if (!ref || ref->id != id)
          return false;
      }
      return true;
    });
  }

  /// Echo through the capability registered as `name` at node `n`.
  caf::expected<std::string> echo_via(node& n, const std::string& name) {
    auto ref = n.lookup_name(name);
    if (!ref)
      return ref.error();
    caf::scoped_actor self{n.system()};
    caf::expected<std::string> result{caf::none};
    ftsr::call(self, capability<>{*ref}, echo_atom::value, std::string{"x"})
      .receive([&](std::string& s) { result = std::move(s); },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }
};

} // namespace

TEST_F(names_test, names_outlive_the_registering_node_and_reach_late_clients) {
  auto& host1 = at(0);
  auto tm = host1.spawn_persistent("host1", {"host2"}, "node_echo");
  ASSERT_TRUE(tm) << describe(tm.error());
  ASSERT_TRUE(ftsr::register_name(host1, "bank.tm", *tm));
  group_spec spec{"kv", {"host1", "host2", "host3"}, 1};
  spec.name = "bank.kv";
  auto kv = create_group(host1, spec);
  ASSERT_TRUE(kv) << describe(kv.error());
  ASSERT_TRUE(everywhere("bank.tm", tm->id));
  ASSERT_TRUE(everywhere("bank.kv", kv->id));
  auto put = [](node& n, const capability_ref& g, const std::string& k) {
    caf::scoped_actor self{n.system()};
    caf::expected<bool> r{caf::none};
    ftsr::call(self, capability<>{g}, put_atom::value, k, std::string{"v"})
      .receive([&](bool ok) { r = ok; }, [&](caf::error& e) { r = e; });
    return r;
  };
  ASSERT_TRUE(put(at(1), *at(1).lookup_name("bank.kv"), "before"));
  // host1, which registered both names and hosted the actor, stops.
  nodes[0].reset();
  ASSERT_TRUE(at(1).await_failed("host1"));
  ASSERT_TRUE(eventually([&] {
    auto b = at(1).context().dir.lookup(tm->id);
    return b && b->generation == 1;
  })) << "the persistent actor was not restarted on host2";
  ASSERT_TRUE(eventually([&] {
    auto b = at(2).context().dir.lookup(tm->id);
    return b && b->generation == 1;
  }));
  // A client started now learns the names in the hello answers: they
  // resolve as soon as it sees the members up.
  auto client = start_client();
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->await_up({"host2", "host3"}));
  auto ref = client->lookup_name("bank.tm");
  ASSERT_TRUE(ref) << describe(ref.error());
  EXPECT_EQ(ref->id, tm->id);
  EXPECT_EQ(ref->node, "host2");
  EXPECT_EQ(ref->generation, 1u);
  auto reply = echo_via(*client, "bank.tm");
  ASSERT_TRUE(reply) << describe(reply.error());
  EXPECT_EQ(*reply, "host2:x");
  auto group = client->lookup_name("bank.kv");
  ASSERT_TRUE(group) << describe(group.error());
  EXPECT_EQ(group->id, kv->id);
  EXPECT_EQ(group->members.size(), 3u);
  // The group serves on under its name. The client never heard that
  // host1's replica is gone: its first attempt there goes unanswered
  // (group_attempt_timeout) and the next goes to another member.
  auto written = put(*client, *group, "after");
  ASSERT_TRUE(written) << describe(written.error());
  EXPECT_TRUE(*written);
}

TEST_F(names_test, a_held_name_is_refused_unless_replaced_and_can_be_removed) {
  auto a = spawn("host2", "echo");
  auto b = spawn("host3", "echo");
  ASSERT_TRUE(at(0).register_name("svc", a));
  ASSERT_TRUE(everywhere("svc", a.id));
  // Another capability: refused, naming the holder; nothing changes.
  auto taken = at(1).register_name("svc", b);
  ASSERT_FALSE(taken);
  EXPECT_TRUE(is(taken.error(), errc::invalid_argument))
    << describe(taken.error());
  EXPECT_NE(describe(taken.error()).find("held by " + to_string(a)),
            std::string::npos)
    << describe(taken.error());
  EXPECT_EQ(at(1).lookup_name("svc")->id, a.id);
  // The holder again: fine. Replaced explicitly: every node follows.
  EXPECT_TRUE(at(1).register_name("svc", a));
  ASSERT_TRUE(at(1).register_name("svc", b, replace_name));
  ASSERT_TRUE(everywhere("svc", b.id));
  // Removed: gone everywhere; removing it again is an error.
  ASSERT_TRUE(unregister_name(at(2), "svc"));
  ASSERT_TRUE(eventually([&] {
    for (auto& n : nodes)
      if (n->lookup_name("svc"))
        return false;
    return true;
  }));
  auto gone = at(0).lookup_name("svc");
  ASSERT_FALSE(gone);
  EXPECT_TRUE(is(gone.error(), errc::unknown_name)) << describe(gone.error());
  EXPECT_NE(describe(gone.error()).find("'svc'"), std::string::npos);
  auto again = at(0).unregister_name("svc");
  ASSERT_FALSE(again);
  EXPECT_TRUE(is(again.error(), errc::unknown_name));
  // A removed name can be registered anew.
  ASSERT_TRUE(at(0).register_name("svc", a));
  ASSERT_TRUE(everywhere("svc", a.id));
}

TEST_F(names_test, bad_names_are_refused_with_clear_errors) {
  auto a = spawn("host2", "echo");
  ASSERT_TRUE(at(0).register_name("kept", a));
  auto check = [&](caf::expected<void> r, errc code, const std::string& text) {
    ASSERT_FALSE(r);
    EXPECT_TRUE(is(r.error(), code)) << describe(r.error());
    EXPECT_NE(describe(r.error()).find(text), std::string::npos)
      << describe(r.error());
  };
  check(at(0).register_name("", a), errc::invalid_argument, "is empty");
  check(at(0).register_name(std::string(256, 'n'), a), errc::invalid_argument,
        "of 256 bytes is longer than 255");
  check(at(0).register_name("tab\there", a), errc::invalid_argument,
        "control character");
  check(at(0).register_name("nothing", capability_ref{}),
        errc::invalid_argument, "invalid capability");
  check(at(0).unregister_name("never.registered"), errc::unknown_name,
        "'never.registered'");
  auto unknown = at(1).lookup_name("no.such.name");
  ASSERT_FALSE(unknown);
  EXPECT_TRUE(is(unknown.error(), errc::unknown_name));
  EXPECT_NE(describe(unknown.error()).find("'no.such.name'"),
            std::string::npos);
  EXPECT_TRUE(is(at(1).lookup_name("").error(), errc::invalid_argument));
  // The longest valid name works; the table is otherwise unchanged.
  ASSERT_TRUE(at(0).register_name(std::string(255, 'n'), a));
  EXPECT_TRUE(everywhere(std::string(255, 'n'), a.id));
  EXPECT_EQ(at(0).context().names.all().size(), 2u);
  EXPECT_EQ(at(2).lookup_name("kept")->id, a.id);
}

TEST_F(names_test, group_names_are_checked_before_replicas_are_spawned) {
  auto a = spawn("host2", "echo");
  ASSERT_TRUE(at(0).register_name("taken", a));
  auto bound_before = at(0).context().dir.alive().size();
  group_spec spec{"kv", {"host1", "host2"}, 1};
  spec.name = "taken";
  auto g = create_group(at(0), spec);
  ASSERT_FALSE(g);
  EXPECT_TRUE(is(g.error(), errc::invalid_argument)) << describe(g.error());
  EXPECT_NE(describe(g.error()).find("held by " + to_string(a)),
            std::string::npos)
    << describe(g.error());
  spec.name = std::string(300, 'g');
  g = create_group(at(0), spec);
  ASSERT_FALSE(g);
  EXPECT_TRUE(is(g.error(), errc::invalid_argument)) << describe(g.error());
  EXPECT_EQ(at(0).context().dir.alive().size(), bound_before);
  EXPECT_EQ(at(0).lookup_name("taken")->id, a.id);
}

TEST_F(names_test, clients_and_actors_register_and_look_up_by_message) {
  auto client = start_client();
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->await_up({"host1", "host2", "host3"}));
  auto a = spawn("host3", "echo");
  // A client's registration is made by a member; the client sees it at
  // once, the members soon.
  ASSERT_TRUE(ftsr::register_name(*client, "from.client", a));
  EXPECT_EQ(client->lookup_name("from.client")->id, a.id);
  ASSERT_TRUE(everywhere("from.client", a.id));
  // Actor side: requests to the node's manager.
  caf::scoped_actor self{at(1).system()};
  ftsr::lookup_name(self.ptr(), "from.client")
    .receive([&](capability_ref& ref) { EXPECT_EQ(ref.id, a.id); },
             [](caf::error& err) { FAIL() << describe(err); });
  ftsr::lookup_name(self.ptr(), "missing")
    .receive([](capability_ref&) { FAIL() << "found a missing name"; },
             [](caf::error& err) {
               EXPECT_TRUE(is(err, errc::unknown_name)) << describe(err);
             });
  auto b = spawn("host1", "echo");
  ftsr::register_name(self.ptr(), "by.actor", capability<>{b})
    .receive([&](name_binding& x) { EXPECT_EQ(x.cap.id, b.id); },
             [](caf::error& err) { FAIL() << describe(err); });
  ftsr::register_name(self.ptr(), "by.actor", capability<>{a})
    .receive([](name_binding&) { FAIL() << "a held name was taken"; },
             [](caf::error& err) {
               EXPECT_TRUE(is(err, errc::invalid_argument)) << describe(err);
             });
  ftsr::unregister_name(self.ptr(), "by.actor")
    .receive([](name_binding& x) { EXPECT_EQ(x.cap.id, 0u); },
             [](caf::error& err) { FAIL() << describe(err); });
  EXPECT_TRUE(eventually([&] { return !client->lookup_name("by.actor"); }));
}
