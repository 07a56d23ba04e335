// inventory-client CONFIG: creates the inventory group on host1, host2 and
// host3 (host1 is the first primary), stocks it, prints
// "ready: kill -9 host1", waits until the cluster declared host1 failed,
// and checks that the state survived and that the group, {primary}
// operation included, serves on with a new primary. Exit code 0 when
// every check passed.
#include <iostream>
#include <string>

#include "inventory.hpp"

using namespace std::chrono_literals;

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  std::cout << (ok ? "[ok]   " : "[FAIL] ") << what << std::endl;
  failures += ok ? 0 : 1;
}

/// One call on the group, answered with an int64 or an error.
template <class... Ts>
caf::expected<int64_t> ask(ftsr::node& client, const ftsr::capability_ref& g,
                           Ts&&... xs) {
  caf::scoped_actor self{client.system()};
  caf::expected<int64_t> result{caf::none};
  ftsr::call(self, ftsr::capability<>{g}, std::forward<Ts>(xs)...)
    .with_timeout(30s)
    .receive([&](int64_t n) { result = n; },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

void expect(const caf::expected<int64_t>& got, int64_t want,
            const std::string& what) {
  check(got && *got == want,
        what + ": " + (got ? std::to_string(*got) : ftsr::describe(got.error())));
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: inventory-client CONFIG" << std::endl;
    return 2;
  }
  auto cluster = ftsr::load_cluster_config(argv[1]);
  if (!cluster) {
    std::cerr << ftsr::describe(cluster.error()) << std::endl;
    return 2;
  }
  ftsr::node_options opts;
  opts.cluster = *cluster; // no name: a client
  opts.add_types = inventory::register_types;
  auto client = ftsr::node::start(std::move(opts));
  if (!client || !(*client)->await_up({"host1", "host2", "host3"})) {
    std::cerr << "cluster not up" << std::endl;
    return 1;
  }
  auto& n = **client;

  // Placed by the resource's declaration (inventory.cpp) on live nodes.
  auto g = ftsr::create_group(n, "inventory");
  if (!g) {
    std::cerr << "create_group: " << ftsr::describe(g.error()) << std::endl;
    return 1;
  }
  using inventory::delivery;
  expect(ask(n, *g, inventory::add_atom::value, delivery{"apples", 5}), 5,
         "5 apples delivered");
  expect(ask(n, *g, inventory::add_atom::value, delivery{"pears", 3}), 3,
         "3 pears delivered");
  expect(ask(n, *g, inventory::audit_atom::value), 1, "first audit");

  std::cout << "ready: kill -9 host1" << std::endl;
  if (auto down = n.await_failed("host1", 60s); !down) {
    std::cerr << ftsr::describe(down.error()) << std::endl;
    return 1;
  }
  expect(ask(n, *g, inventory::add_atom::value, delivery{"apples", 2}), 7,
         "2 more apples after the primary's failure");
  expect(ask(n, *g, inventory::count_atom::value, std::string{"pears"}), 3,
         "pears still counted");
  expect(ask(n, *g, inventory::audit_atom::value), 2,
         "second audit by the new primary (the first one's state reached it)");
  return failures == 0 ? 0 : 1;
}
