// Test fixture: three member nodes (three actor systems; node_names() for
// another number) in one process, talking BASP over loopback on ephemeral
// ports, hosting the sample actors and resources. Fast to start; real
// sockets, no real process faults.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
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

  /// The member nodes' names (the cluster file's order); override for
  /// another cluster size.
  virtual std::vector<std::string> node_names() const {
    return {"host1", "host2", "host3"};
  }

  void SetUp() override {
    auto names = node_names();
    auto ports = free_ports(names.size());
    auto dir = make_temp_dir();
    auto cfg = load_cluster_config(write_cluster_file(dir, names, ports, 50,
                                                      300));
    ASSERT_TRUE(cfg) << describe(cfg.error());
    for (auto& name : names) {
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
      ASSERT_TRUE(n->await_up(names));
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
