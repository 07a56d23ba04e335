// Test fixture: three member nodes (three actor systems) in one process,
// talking BASP over loopback on ephemeral ports, hosting the sample actors
// and resources. Fast to start; real sockets, no real process faults.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "actors/errors.hpp"
#include "actors/node.hpp"
#include "apps/node/local_cluster.hpp"
#include "apps/node/sample_actors.hpp"
#include "tests/support/wait.hpp"

namespace ftsr::testing {

class in_process_cluster : public ::testing::Test {
public:
  static constexpr auto bound = std::chrono::seconds(10);

  /// Actor and resource types of every node; extend in a subclass.
  virtual void add_types(caf::actor_system_config& cfg) {
    sample::add_sample_types(cfg);
  }

  /// Last changes to a node's options before it starts.
  virtual void adjust(node_options& opts) {
    (void) opts;
  }

  void SetUp() override {
    auto ports = free_ports(3);
    auto dir = make_temp_dir();
    auto cfg = load_cluster_config(write_cluster_file(
      dir, {"host1", "host2", "host3"}, ports, 50, 300));
    ASSERT_TRUE(cfg) << describe(cfg.error());
    for (auto name : {"host1", "host2", "host3"}) {
      node_options opts;
      opts.cluster = *cfg;
      opts.name = name;
      opts.data_dir = dir + "/data-" + name;
      opts.add_types = [this](caf::actor_system_config& c) { add_types(c); };
      adjust(opts);
      auto n = node::start(std::move(opts));
      ASSERT_TRUE(n) << describe(n.error());
      nodes.push_back(std::move(*n));
    }
    for (auto& n : nodes)
      ASSERT_TRUE(n->await_up({"host1", "host2", "host3"}));
  }

  node& at(size_t i) {
    return *nodes.at(i);
  }

  capability_ref spawn(const std::string& on, const std::string& type) {
    auto ref = at(0).spawn(on, type);
    EXPECT_TRUE(ref) << describe(ref.error());
    return ref ? *ref : capability_ref{};
  }

  /// The binding of `id` as node `i` knows it. Handles belong to one actor
  /// system: in-process tests must not pass them between nodes.
  capability_ref ref_at(size_t i, uint64_t id) {
    EXPECT_TRUE(eventually(
      [&] { return at(i).context().dir.lookup(id).has_value(); }));
    return at(i).context().dir.lookup(id).value_or(capability_ref{});
  }

  std::vector<std::unique_ptr<node>> nodes;
};

} // namespace ftsr::testing
