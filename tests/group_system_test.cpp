// Resource groups across three real ftsr-node processes under load: kill -9
// the primary, rejoin a replica on the restarted node (state transfer),
// kill -9 a backup; afterwards every surviving replica has the same state
// and delivery log, and every acknowledged invocation is applied exactly
// once. A group shrunk under load (its primary leaves) survives the kill
// of its new primary. A persistent group gets back to N replicas on its
// backup node.
#include <gtest/gtest.h>

#include <csignal>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "caf/all.hpp"

#include "actors/call.hpp"
#include "apps/node/local_cluster.hpp"
#include "apps/node/sample_resources.hpp"
#include "replication/group.hpp"
#include "tests/support/call_load.hpp"
#include "tests/support/wait.hpp"

using namespace ftsr;
using namespace ftsr::sample;
using namespace std::chrono_literals;
using ftsr::testing::eventually;

namespace {

local_cluster_options cluster_options() {
  local_cluster_options opts;
  opts.node_bin = FTSR_NODE_BIN;
  return opts;
}

/// Clients appending unique tokens to their own key through the group.
class load : public ftsr::testing::call_load<std::string> {
public:
  load(node& client, capability_ref group, size_t clients)
    : call_load(std::vector<node*>(clients, &client),
                [group](caf::scoped_actor& self, size_t c, uint64_t i) {
                  auto token = "c" + std::to_string(c) + "-"
                               + std::to_string(i) + ";";
                  auto err = ftsr::testing::call_outcome<uint64_t>(
                    self, group, append_atom::value, "k" + std::to_string(c),
                    token);
                  return std::make_pair(token, err);
                }) {
    // nop
  }
};

std::vector<std::string> split_tokens(const std::string& s) {
  std::vector<std::string> result;
  std::istringstream in{s};
  std::string tok;
  while (std::getline(in, tok, ';'))
    if (!tok.empty())
      result.push_back(tok + ";");
  return result;
}

/// Waits until the two replicas of `g` serve with the same delivery log and
/// state; their statuses end up in `st`.
bool two_replicas_agree(node& client, const capability_ref& g,
                        std::vector<group_status>& st) {
  return eventually([&] {
    st = group_members_status(client, g);
    if (st.size() != 2)
      return false;
    return st[0].digest == st[1].digest && st[0].delivered == st[1].delivered
           && st[0].state == st[1].state && st[0].serving && st[1].serving;
  });
}

/// Reads every client's key through the group: each token at most once,
/// each acknowledged one exactly once.
void expect_acked_once(node& client, const capability_ref& g, load& l) {
  caf::scoped_actor self{client.system()};
  for (size_t k = 0; k < l.clients(); ++k) {
    std::string value;
    ftsr::call(self, capability<>{g}, get_atom::value,
               "k" + std::to_string(k))
      .receive([&](std::string& v) { value = v; },
               [](caf::error& err) { FAIL() << describe(err); });
    std::map<std::string, int> applied;
    for (auto& tok : split_tokens(value))
      ++applied[tok];
    for (auto& [tok, n] : applied)
      EXPECT_EQ(n, 1) << "token applied twice: " << tok;
    for (auto& tok : l.acked_tokens(k))
      EXPECT_EQ(applied.count(tok), 1u) << "acknowledged token lost: " << tok;
  }
}

/// A kv group across the cluster with four clients appending to it.
class group_under_load : public ::testing::Test {
protected:
  void start(const group_spec& spec) {
    auto created = create_group(client, spec);
    ASSERT_TRUE(created) << describe(created.error());
    g = *created;
    l = std::make_unique<load>(client, g, 4);
    ASSERT_TRUE(progress(200)) << "no progress before the faults";
  }

  bool progress(size_t more) {
    return l->progress(more, 20s);
  }

  local_cluster c{cluster_options()};
  node& client = c.client();
  capability_ref g;
  std::unique_ptr<load> l;
};

group_spec kv3() {
  return {"kv", {"host1", "host2", "host3"}, 1};
}

} // namespace

TEST_F(group_under_load, kill_primary_then_backup_loses_nothing) {
  ASSERT_NO_FATAL_FAILURE(start(kv3()));
  // 1. kill -9 the primary's node.
  c.kill9("host1");
  ASSERT_TRUE(progress(200)) << "no progress after killing the primary";
  // 2. restart host1 as a new incarnation; a new replica joins there.
  c.start("host1");
  ASSERT_TRUE(client.await_up({"host1"}));
  auto joined = add_replica(client, g, "host1");
  ASSERT_TRUE(joined) << describe(joined.error());
  auto grown_so_far = g;
  grown_so_far.members.push_back(*joined);
  auto describe_members = [&] {
    std::string out;
    for (auto& st : group_members_status(client, grown_so_far))
      out += "\n  member " + std::to_string(st.member) + " view "
             + std::to_string(st.view) + " primary "
             + std::to_string(st.primary) + " delivered "
             + std::to_string(st.delivered) + " serving "
             + std::to_string(st.serving) + " members "
             + std::to_string(st.members.size()) + " waiting "
             + std::to_string(st.waiting) + " stashed "
             + std::to_string(st.stashed);
    return out;
  };
  ASSERT_TRUE(progress(200)) << "no progress after the join:"
                             << describe_members();
  // 3. kill -9 a backup.
  c.kill9("host3");
  ASSERT_TRUE(progress(200)) << "no progress after killing a backup";
  l->stop();

  auto grown = g;
  grown.members.push_back(*joined);
  std::vector<group_status> st;
  ASSERT_TRUE(two_replicas_agree(client, grown, st)) << "survivors diverged";
  EXPECT_EQ(st[0].view, st[1].view);
  EXPECT_GE(st[0].view, 4u); // initial, failure, join, failure

  expect_acked_once(client, g, *l);
}

// Restart with another size, then a fault: the primary leaves (resize to
// two replicas) under load, and the new primary's node is killed -9.
TEST_F(group_under_load, shrink_then_kill_the_new_primary_loses_nothing) {
  ASSERT_NO_FATAL_FAILURE(start(kv3()));
  auto two = resize_group(client, g, {"host2", "host3"});
  ASSERT_TRUE(two) << describe(two.error());
  ASSERT_EQ(two->members.size(), 2u);
  ASSERT_TRUE(progress(200)) << "no progress after the primary left";
  c.kill9("host2");
  ASSERT_TRUE(progress(200)) << "no progress after killing the new primary";
  l->stop();
  auto st = group_members_status(client, *two);
  ASSERT_EQ(st.size(), 1u);
  EXPECT_TRUE(st[0].serving);
  EXPECT_EQ(st[0].member, two->members[1].id);
  EXPECT_GE(st[0].view, 4u); // initial, leave, its settling flush, failure
  expect_acked_once(client, *two, *l);
}

// No split brain: with the primary and a backup frozen (SIGSTOP), the last
// node is a minority: it removes nobody (the frozen nodes stay merely
// suspected) and its lease runs out, so it serves nothing alone. When the
// frozen nodes resume, the cluster serves again (the first to wake may
// remove the other together with host3: that one then rejoins as a new
// incarnation).
TEST(group_system, majority_frozen_means_refusal_not_split_brain) {
  auto opts = cluster_options();
  opts.node_args.push_back("--rejoin");
  local_cluster c{opts};
  auto& client = c.client();
  auto g = create_group(client, {"kv", {"host1", "host2", "host3"}, 1});
  ASSERT_TRUE(g) << describe(g.error());
  caf::scoped_actor self{client.system()};
  auto put = [&](const std::string& k) {
    caf::error result;
    ftsr::call(self, capability<>{*g}, put_atom::value, k, std::string{"v"})
      .receive([](bool) {}, [&](caf::error& err) { result = err; });
    return result;
  };
  ASSERT_FALSE(put("before"));
  auto mgr3 = c.manager_of("host3");
  auto state_at_host3 = [&](const std::string& name) {
    caf::expected<member_state> result{member_state::unknown};
    self->request(mgr3, std::chrono::seconds(5), view_atom::value)
      .receive(
        [&](member_id&, std::vector<member_status>& xs) {
          for (auto& m : xs)
            if (m.name == name)
              result = m.state;
        },
        [&](caf::error& err) { result = err; });
    return result;
  };
  ASSERT_TRUE(c.process("host1").signal(SIGSTOP));
  ASSERT_TRUE(c.process("host2").signal(SIGSTOP));
  ASSERT_TRUE(eventually([&] {
    return state_at_host3("host1") == member_state::suspected
           && state_at_host3("host2") == member_state::suspected;
  })) << "host3 does not suspect the frozen nodes";
  // Several failure timeouts later they are still only suspected: a
  // minority removes nobody.
  auto until = std::chrono::steady_clock::now() + 4 * c.config().failure_timeout;
  while (std::chrono::steady_clock::now() < until) {
    EXPECT_EQ(state_at_host3("host1"), member_state::suspected);
    EXPECT_EQ(state_at_host3("host2"), member_state::suspected);
    self->receive(caf::after(c.config().heartbeat_interval) >> [] {});
  }
  ASSERT_TRUE(c.process("host1").signal(SIGCONT));
  ASSERT_TRUE(c.process("host2").signal(SIGCONT));
  ASSERT_TRUE(eventually([&] {
    return state_at_host3("host1") == member_state::up
           && state_at_host3("host2") == member_state::up;
  })) << "the woken nodes are not back in the view";
  // Whether the in-memory kv group survives depends on how many of its
  // replicas' nodes the woken side removed (one removal per node that woke
  // late); what matters here is that the lone node served nothing alone
  // and that every node is back in the view.
}

// Persistent group (group_spec::backups): kill -9 the primary's node of a
// 2-replica kv group under load; the survivor serves alone (its node is in
// the cluster's primary partition), restarts a replica on the backup node
// by state transfer, and the group is back to 2 identical replicas with
// every acknowledged token applied exactly once.
TEST_F(group_under_load, persistent_group_restarts_a_replica_on_the_backup_node) {
  group_spec spec{"kv", {"host1", "host2"}, 1};
  spec.backups = {"host3"};
  ASSERT_NO_FATAL_FAILURE(start(spec));
  c.kill9("host1");
  ASSERT_TRUE(progress(200)) << "no progress after killing the primary";
  // The survivor's view lists a new member, hosted on host3.
  auto& dir = client.context().dir;
  auto survivor = g.members[1];
  capability_ref restarted;
  ASSERT_TRUE(eventually(
    [&] {
      auto st = group_members_status(client, g);
      if (st.size() != 1 || st[0].members.size() != 2 || !st[0].serving)
        return false;
      auto ref = dir.lookup(st[0].members[1]);
      if (!ref || ref->node != "host3")
        return false;
      restarted = *ref;
      return true;
    },
    20s))
    << "no replica restarted on host3, see " << c.log_of("host2");
  ASSERT_TRUE(progress(200)) << "no progress after the restart";
  l->stop();
  auto now = g;
  now.members = {survivor, restarted};
  std::vector<group_status> st;
  ASSERT_TRUE(two_replicas_agree(client, now, st)) << "replicas differ";
  expect_acked_once(client, g, *l);
}
