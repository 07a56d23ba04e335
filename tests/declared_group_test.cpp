// Groups placed by their declaration (replication/group_declaration.hpp)
// on a five-node in-process cluster: create_group(node, type) by the
// type's declaration, a declaration given at the creation, an explicit
// spec overriding both, disjoint arrays, declared backups replacing a
// failed replica, placement after node failures (never on a failed node;
// too few live nodes named), and the refusals.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "caf/all.hpp"

#include "actors/call.hpp"
#include "apps/node/sample_resources.hpp"
#include "replication/group.hpp"
#include "replication/replica.hpp"
#include "tests/support/in_process_cluster.hpp"

namespace ftsr {
namespace {

using names = std::vector<std::string>;
using sample::get_atom;
using sample::put_atom;

/// The sample key-value store, declared where it is defined: one crash
/// tolerated, preferably with host4 as the first primary.
struct declared_kv : sample::kv_store {
  static group_declaration declaration() {
    return group_declaration{}.tolerate(1).hosts({"host4"});
  }
};

class declared_group_test : public testing::in_process_cluster {
public:
  std::vector<std::string> node_names() const override {
    return {"host1", "host2", "host3", "host4", "host5"};
  }

  void add_types(caf::actor_system_config& cfg) override {
    testing::in_process_cluster::add_types(cfg);
    add_resource_type<declared_kv>(cfg, "declared_kv");
  }

  static names nodes_of(const capability_ref& g) {
    names result;
    for (auto& m : g.members)
      result.push_back(m.node);
    return result;
  }

  template <class T, class... Ts>
  caf::expected<T> ask(const capability_ref& g, Ts&&... xs) {
    caf::scoped_actor self{at(0).system()};
    caf::expected<T> result{caf::none};
    ftsr::call(self, capability<>{g}, std::forward<Ts>(xs)...)
      .with_timeout(bound)
      .receive([&](T& x) { result = std::move(x); },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  /// Stops node `i` and waits until node 0 saw it fail.
  void stop(size_t i) {
    auto name = node_names().at(i);
    nodes.at(i).reset();
    ASSERT_TRUE(at(0).await_failed(name)) << name << " not seen failed";
  }
};

TEST_F(declared_group_test, placed_by_the_types_declaration) {
  auto g = create_group(at(0), "declared_kv");
  ASSERT_TRUE(g) << describe(g.error());
  // tolerate(1): 3 replicas on distinct nodes, the declared host first.
  EXPECT_EQ(nodes_of(*g), (names{"host4", "host1", "host2"}));
  EXPECT_EQ(*ask<bool>(*g, put_atom::value, std::string{"k"},
                       std::string{"v"}),
            true);
  EXPECT_EQ(*ask<std::string>(*g, get_atom::value, std::string{"k"}), "v");
}

TEST_F(declared_group_test, placement_after_node_failures) {
  stop(3); // host4, the declared preferred host
  auto g = create_group(at(0), "declared_kv");
  ASSERT_TRUE(g) << describe(g.error());
  // The preference is skipped; no replica on the failed node.
  EXPECT_EQ(nodes_of(*g), (names{"host1", "host2", "host3"}));
  EXPECT_EQ(*ask<bool>(*g, put_atom::value, std::string{"k"},
                       std::string{"v"}),
            true);
  stop(4); // host5: three of five left, still a majority
  auto four = create_group(at(0), "declared_kv",
                           group_declaration{}.replicas(4));
  ASSERT_FALSE(four);
  EXPECT_TRUE(is(four.error(), errc::node_unavailable))
    << describe(four.error());
  auto msg = describe(four.error());
  EXPECT_NE(msg.find("needs 4 replicas on distinct live nodes; live: host1, "
                     "host2, host3; not live: host4, host5 (1 more needed)"),
            std::string::npos)
    << msg;
  // Still placeable on the three live nodes; the first group is intact.
  auto three = create_group(at(0), "declared_kv");
  ASSERT_TRUE(three) << describe(three.error());
  EXPECT_EQ(nodes_of(*three), (names{"host1", "host2", "host3"}));
  EXPECT_EQ(*ask<std::string>(*g, get_atom::value, std::string{"k"}), "v");
}

TEST_F(declared_group_test, a_creation_declaration_replaces_the_types) {
  // CMSL `server declared_kv replicas (2) hosts (host5)`.
  auto g = create_group(at(0), "declared_kv",
                        group_declaration{}.replicas(2).hosts({"host5"}));
  ASSERT_TRUE(g) << describe(g.error());
  EXPECT_EQ(nodes_of(*g), (names{"host5", "host1"}));
  // A type without a declaration, given one at the creation.
  auto kv = create_group(at(0), "kv", group_declaration{}.tolerate(1));
  ASSERT_TRUE(kv) << describe(kv.error());
  EXPECT_EQ(nodes_of(*kv), (names{"host1", "host2", "host3"}));
}

TEST_F(declared_group_test, an_explicit_spec_still_overrides) {
  auto g = create_group(at(0), {"declared_kv", {"host2", "host3"}, 1});
  ASSERT_TRUE(g) << describe(g.error());
  EXPECT_EQ(nodes_of(*g), (names{"host2", "host3"}));
}

TEST_F(declared_group_test, disjoint_arrays) {
  auto pair = group_declaration{}.replicas(2);
  auto apart = create_groups(at(0), "declared_kv", 2,
                             group_declaration{pair}.disjoint());
  ASSERT_TRUE(apart) << describe(apart.error());
  ASSERT_EQ(apart->size(), 2u);
  EXPECT_EQ(nodes_of((*apart)[0]), (names{"host1", "host2"}));
  EXPECT_EQ(nodes_of((*apart)[1]), (names{"host3", "host4"}));
  // Two groups, not one: each has its own state.
  EXPECT_EQ(*ask<bool>((*apart)[0], put_atom::value, std::string{"k"},
                       std::string{"first"}),
            true);
  EXPECT_EQ(*ask<std::string>((*apart)[1], get_atom::value, std::string{"k"}),
            "");
  auto together = create_groups(at(0), "declared_kv", 2, pair);
  ASSERT_TRUE(together) << describe(together.error());
  EXPECT_EQ(nodes_of((*together)[0]), (names{"host1", "host2"}));
  EXPECT_EQ(nodes_of((*together)[1]), (names{"host1", "host2"}));
  EXPECT_NE((*together)[0].id, (*together)[1].id);
}

TEST_F(declared_group_test, declared_backups_replace_a_failed_replica) {
  auto g = create_group(at(0), "declared_kv",
                        group_declaration{}
                          .tolerate(1)
                          .hosts({"host1", "host2", "host3"})
                          .backups({"host5"}));
  ASSERT_TRUE(g) << describe(g.error());
  EXPECT_EQ(nodes_of(*g), (names{"host1", "host2", "host3"}));
  ASSERT_EQ(*ask<bool>(*g, put_atom::value, std::string{"k"},
                       std::string{"v"}),
            true);
  stop(2); // host3
  // The group's binding lists the replacement once it joined.
  auto& dir = at(0).context().dir;
  EXPECT_TRUE(testing::eventually([&] {
    auto ref = dir.lookup(g->id);
    if (!ref)
      return false;
    auto hosts = nodes_of(*ref);
    return std::set<std::string>{hosts.begin(), hosts.end()}
           == std::set<std::string>{"host1", "host2", "host5"};
  })) << "no replacement replica on the declared backup host5";
  EXPECT_EQ(*ask<std::string>(*g, get_atom::value, std::string{"k"}), "v");
}

TEST_F(declared_group_test, refusals_name_the_problem) {
  auto byzantine = create_group(
    at(0), "declared_kv",
    group_declaration{}.tolerate(1).model(failure_model::byzantine));
  ASSERT_FALSE(byzantine);
  EXPECT_TRUE(is(byzantine.error(), errc::invalid_argument));
  EXPECT_NE(describe(byzantine.error()).find("model(byzantine) is refused"),
            std::string::npos)
    << describe(byzantine.error());
  auto undeclared = create_group(at(0), "kv");
  ASSERT_FALSE(undeclared);
  EXPECT_TRUE(is(undeclared.error(), errc::invalid_argument));
  EXPECT_NE(describe(undeclared.error())
              .find("resource type 'kv' declares no replication"),
            std::string::npos)
    << describe(undeclared.error());
  auto unknown = create_group(at(0), "nosuch");
  ASSERT_FALSE(unknown);
  EXPECT_NE(describe(unknown.error())
              .find("resource type 'nosuch' is not registered on this process"),
            std::string::npos)
    << describe(unknown.error());
  auto too_big = create_groups(at(0), "declared_kv", 2,
                               group_declaration{}.tolerate(3));
  ASSERT_FALSE(too_big);
  EXPECT_NE(describe(too_big.error()).find("has 5 nodes: add 2 more"),
            std::string::npos)
    << describe(too_big.error());
  // The cluster is unharmed: the declared group is created and serves.
  auto g = create_group(at(0), "declared_kv");
  ASSERT_TRUE(g) << describe(g.error());
  EXPECT_EQ(nodes_of(*g), (names{"host4", "host1", "host2"}));
  EXPECT_EQ(*ask<bool>(*g, put_atom::value, std::string{"k"},
                       std::string{"v"}),
            true);
}

} // namespace
} // namespace ftsr
