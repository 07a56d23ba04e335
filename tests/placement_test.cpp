// Placement of declared groups (replication/placement.hpp), as a pure
// function: each CMSL property (replicas, tolerate, model, hosts, disjoint,
// backups), placement on the live nodes only, and the refusals with their
// messages. The declaration's record in an actor_system_config too.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "actors/errors.hpp"
#include "replication/group_declaration.hpp"
#include "replication/placement.hpp"
#include "replication/replica.hpp"
#include "apps/node/sample_resources.hpp"

namespace ftsr {
namespace {

using names = std::vector<std::string>;

cluster_config cluster_of(size_t n) {
  cluster_config result;
  result.name = "test";
  for (size_t i = 1; i <= n; ++i)
    result.nodes.push_back(
      {"host" + std::to_string(i), "127.0.0.1", static_cast<uint16_t>(i)});
  return result;
}

std::set<std::string> all_of(const cluster_config& cluster) {
  std::set<std::string> result;
  for (auto& entry : cluster.nodes)
    result.insert(entry.name);
  return result;
}

/// The one group of `decl` on `live` nodes of a cluster of `n`.
group_spec place_one(const group_declaration& decl, size_t n,
                     std::set<std::string> live = {}) {
  auto cluster = cluster_of(n);
  if (live.empty())
    live = all_of(cluster);
  auto specs = place_groups("kv", decl, 1, cluster, live);
  EXPECT_TRUE(specs) << describe(specs.error());
  if (!specs)
    return {};
  EXPECT_EQ(specs->size(), 1u);
  return specs->front();
}

TEST(placement, defaults_are_one_replica) {
  auto spec = place_one(group_declaration{}, 3);
  EXPECT_EQ(spec.type, "kv");
  EXPECT_EQ(spec.nodes, (names{"host1"}));
  EXPECT_EQ(spec.max_sf, 0u);
  EXPECT_TRUE(spec.backups.empty());
}

TEST(placement, replicas_sets_the_size_and_max_sf_follows) {
  auto spec = place_one(group_declaration{}.replicas(4), 5);
  EXPECT_EQ(spec.nodes, (names{"host1", "host2", "host3", "host4"}));
  EXPECT_EQ(spec.max_sf, 1u); // a majority of 4 survives 1 crash
}

TEST(placement, tolerate_raises_replicas_to_a_majority) {
  // 2f+1: the group serves only with a majority of its view.
  EXPECT_EQ(place_one(group_declaration{}.tolerate(1), 5).nodes.size(), 3u);
  EXPECT_EQ(place_one(group_declaration{}.tolerate(2), 5).nodes.size(), 5u);
  auto raised = place_one(group_declaration{}.replicas(2).tolerate(1), 5);
  EXPECT_EQ(raised.nodes.size(), 3u);
  EXPECT_EQ(raised.max_sf, 1u);
  // More replicas than needed are kept (CMSL: replicas(5) tolerate(1)).
  auto more = place_one(group_declaration{}.replicas(5).tolerate(1), 5);
  EXPECT_EQ(more.nodes.size(), 5u);
  EXPECT_EQ(more.max_sf, 2u);
  EXPECT_EQ(group_declaration{}.replicas(2).tolerate(3).replica_count(), 7u);
}

TEST(placement, model_other_than_crash_is_refused) {
  auto cluster = cluster_of(3);
  auto crash = place_groups("kv", group_declaration{}.model(failure_model::crash),
                            1, cluster, all_of(cluster));
  EXPECT_TRUE(crash) << describe(crash.error());
  for (auto model : {failure_model::byzantine, failure_model::correct}) {
    auto specs = place_groups("kv", group_declaration{}.tolerate(1).model(model),
                              1, cluster, all_of(cluster));
    ASSERT_FALSE(specs);
    EXPECT_TRUE(is(specs.error(), errc::invalid_argument));
    auto msg = describe(specs.error());
    EXPECT_NE(msg.find(std::string{"model("} + to_string(model)
                       + ") is refused: ftsr tolerates crash failures"),
              std::string::npos)
      << msg;
    EXPECT_NE(msg.find("group of 'kv'"), std::string::npos) << msg;
  }
}

TEST(placement, hosts_are_preferences_in_order) {
  auto spec = place_one(group_declaration{}.tolerate(1).hosts({"host4", "host2"}),
                        5);
  // The first named live host is the first primary; the runtime picks the
  // rest in cluster order, never a node twice.
  EXPECT_EQ(spec.nodes, (names{"host4", "host2", "host1"}));
  // More hosts than replicas: the earlier ones win.
  auto few = place_one(
    group_declaration{}.replicas(2).hosts({"host5", "host3", "host1"}), 5);
  EXPECT_EQ(few.nodes, (names{"host5", "host3"}));
}

TEST(placement, hosts_not_live_are_skipped) {
  auto spec = place_one(group_declaration{}.tolerate(1).hosts({"host2", "host4"}),
                        5, {"host1", "host3", "host4", "host5"});
  EXPECT_EQ(spec.nodes, (names{"host4", "host1", "host3"}));
  // Without preferences: the live nodes in cluster order.
  auto plain = place_one(group_declaration{}.tolerate(1), 5,
                         {"host2", "host4", "host5"});
  EXPECT_EQ(plain.nodes, (names{"host2", "host4", "host5"}));
}

TEST(placement, bad_host_lists_are_refused) {
  auto cluster = cluster_of(3);
  auto unknown = place_groups("kv", group_declaration{}.hosts({"host1", "hostX"}),
                              1, cluster, all_of(cluster));
  ASSERT_FALSE(unknown);
  EXPECT_TRUE(is(unknown.error(), errc::unknown_node));
  EXPECT_NE(describe(unknown.error()).find("hosts node 'hostX' is not part of "
                                           "cluster 'test'"),
            std::string::npos)
    << describe(unknown.error());
  auto twice = place_groups("kv", group_declaration{}.hosts({"host2", "host2"}),
                            1, cluster, all_of(cluster));
  ASSERT_FALSE(twice);
  EXPECT_TRUE(is(twice.error(), errc::invalid_argument));
  EXPECT_NE(describe(twice.error()).find("'host2' is listed twice"),
            std::string::npos)
    << describe(twice.error());
  auto backup = place_groups("kv", group_declaration{}.backups({"host9"}), 1,
                             cluster, all_of(cluster));
  ASSERT_FALSE(backup);
  EXPECT_TRUE(is(backup.error(), errc::unknown_node));
  EXPECT_NE(describe(backup.error()).find("backups node 'host9'"),
            std::string::npos)
    << describe(backup.error());
}

TEST(placement, backups_make_a_persistent_group) {
  auto spec = place_one(
    group_declaration{}.tolerate(1).hosts({"host1", "host2", "host3"}).backups(
      {"host4", "host5"}),
    5);
  EXPECT_EQ(spec.nodes, (names{"host1", "host2", "host3"}));
  EXPECT_EQ(spec.backups, (names{"host4", "host5"}));
}

/// Every two groups share all their nodes or none (CMSL `disjoint`).
void expect_same_or_disjoint(const std::vector<group_spec>& specs) {
  for (auto& x : specs) {
    std::set<std::string> xs{x.nodes.begin(), x.nodes.end()};
    EXPECT_EQ(xs.size(), x.nodes.size()) << "a node hosts two replicas";
    for (auto& y : specs) {
      std::set<std::string> ys{y.nodes.begin(), y.nodes.end()};
      size_t shared = 0;
      for (auto& name : xs)
        shared += ys.count(name);
      EXPECT_TRUE(xs == ys || shared == 0);
    }
  }
}

TEST(placement, disjoint_arrays_use_nodes_of_their_own) {
  auto cluster = cluster_of(6);
  auto decl = group_declaration{}.replicas(2).disjoint();
  auto specs = place_groups("kv", decl, 3, cluster, all_of(cluster));
  ASSERT_TRUE(specs) << describe(specs.error());
  ASSERT_EQ(specs->size(), 3u);
  EXPECT_EQ((*specs)[0].nodes, (names{"host1", "host2"}));
  EXPECT_EQ((*specs)[1].nodes, (names{"host3", "host4"}));
  EXPECT_EQ((*specs)[2].nodes, (names{"host5", "host6"}));
  // Not enough live nodes for all: groups share all their nodes or none.
  auto fewer = place_groups("kv", decl, 3, cluster,
                            {"host1", "host2", "host3", "host4", "host5"});
  ASSERT_TRUE(fewer) << describe(fewer.error());
  EXPECT_EQ((*fewer)[0].nodes, (names{"host1", "host2"}));
  EXPECT_EQ((*fewer)[1].nodes, (names{"host3", "host4"}));
  EXPECT_EQ((*fewer)[2].nodes, (names{"host1", "host2"}));
  expect_same_or_disjoint(*fewer);
  // Every size of array and number of live nodes keeps that rule.
  for (size_t live = 3; live <= 6; ++live) {
    std::set<std::string> up;
    for (size_t i = 1; i <= live; ++i)
      up.insert("host" + std::to_string(i));
    for (size_t count = 1; count <= 4; ++count) {
      auto xs = place_groups("kv", group_declaration{}.tolerate(1).disjoint(),
                             count, cluster, up);
      ASSERT_TRUE(xs) << describe(xs.error());
      EXPECT_EQ(xs->size(), count);
      expect_same_or_disjoint(*xs);
    }
  }
}

TEST(placement, without_disjoint_an_array_shares_its_nodes) {
  auto cluster = cluster_of(6);
  auto specs = place_groups("kv", group_declaration{}.replicas(2).hosts({"host5"}),
                            3, cluster, all_of(cluster));
  ASSERT_TRUE(specs) << describe(specs.error());
  for (auto& spec : *specs)
    EXPECT_EQ(spec.nodes, (names{"host5", "host1"}));
}

TEST(placement, too_few_live_nodes_names_what_is_missing) {
  auto cluster = cluster_of(5);
  auto specs = place_groups("kv", group_declaration{}.replicas(4), 1, cluster,
                            {"host1", "host3", "host5"});
  ASSERT_FALSE(specs);
  EXPECT_TRUE(is(specs.error(), errc::node_unavailable));
  auto msg = describe(specs.error());
  EXPECT_NE(msg.find("needs 4 replicas on distinct live nodes; live: host1, "
                     "host3, host5; not live: host2, host4 (1 more needed)"),
            std::string::npos)
    << msg;
  auto none = place_groups("kv", group_declaration{}, 1, cluster, {});
  ASSERT_FALSE(none);
  EXPECT_NE(describe(none.error()).find("live: none"), std::string::npos)
    << describe(none.error());
}

TEST(placement, a_cluster_too_small_says_how_many_nodes_to_add) {
  auto cluster = cluster_of(3);
  auto specs = place_groups("kv", group_declaration{}.tolerate(2), 1, cluster,
                            all_of(cluster));
  ASSERT_FALSE(specs);
  EXPECT_TRUE(is(specs.error(), errc::invalid_argument));
  auto msg = describe(specs.error());
  EXPECT_NE(msg.find("needs 5 replicas on distinct live nodes, but cluster "
                     "'test' has 3 nodes: add 2 more"),
            std::string::npos)
    << msg;
}

TEST(placement, empty_requests_are_refused) {
  auto cluster = cluster_of(3);
  auto zero = place_groups("kv", group_declaration{}, 0, cluster,
                           all_of(cluster));
  ASSERT_FALSE(zero);
  EXPECT_TRUE(is(zero.error(), errc::invalid_argument));
  auto no_replicas = place_groups("kv", group_declaration{}.replicas(0), 1,
                                  cluster, all_of(cluster));
  ASSERT_FALSE(no_replicas);
  EXPECT_TRUE(is(no_replicas.error(), errc::invalid_argument));
  EXPECT_NE(describe(no_replicas.error()).find("replicas(0)"), std::string::npos)
    << describe(no_replicas.error());
}

struct declared_kv : sample::kv_store {
  static group_declaration declaration() {
    return group_declaration{}.tolerate(1).hosts({"host2"}).backups({"host3"});
  }
};

TEST(group_declaration, recorded_in_the_config) {
  caf::actor_system_config cfg;
  EXPECT_FALSE(declared_group(cfg, "kv"));
  // A type with a declaration() records it as it is registered.
  static_assert(has_group_declaration<declared_kv>::value);
  static_assert(!has_group_declaration<sample::kv_store>::value);
  add_resource_type<declared_kv>(cfg, "declared_kv");
  add_resource_type<sample::kv_store>(cfg, "kv");
  EXPECT_EQ(declared_group(cfg, "declared_kv"), declared_kv::declaration());
  EXPECT_FALSE(declared_group(cfg, "kv"));
  // declare_group replaces it; every property survives the record.
  auto decl = group_declaration{}
                .replicas(4)
                .tolerate(1)
                .model(failure_model::byzantine)
                .hosts({"host3", "host1"})
                .disjoint()
                .backups({"host5"});
  declare_group(cfg, "declared_kv", decl);
  EXPECT_EQ(declared_group(cfg, "declared_kv"), decl);
  EXPECT_EQ(decl.to_string(), "replicas(4) tolerate(1) model(byzantine) "
                              "hosts(host3, host1) disjoint backups(host5)");
}

} // namespace
} // namespace ftsr
