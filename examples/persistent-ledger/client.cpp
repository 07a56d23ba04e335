// ledger-client CONFIG: creates a stable store group on host2 and host3,
// spawns the ledger on host1 with host2 and host3 as backups, deposits,
// prints "ready: kill -9 host1", waits until the cluster declared host1
// failed, then retries a deposit (not applied twice), deposits again and
// checks that the ledger was restarted elsewhere and recovered its state.
// Exit code 0 when every check passed.
#include <iostream>
#include <string>

#include "ledger.hpp"

using namespace std::chrono_literals;

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  std::cout << (ok ? "[ok]   " : "[FAIL] ") << what << std::endl;
  failures += ok ? 0 : 1;
}

/// One call to the ledger. A call cut by the ledger's failure waits for
/// the restarted ledger and is sent again there.
template <class T, class... Ts>
caf::expected<T> ask(ftsr::node& client, const ftsr::capability_ref& cap,
                     Ts&&... xs) {
  caf::scoped_actor self{client.system()};
  caf::expected<T> result{caf::none};
  ftsr::call(self, ftsr::capability<>{cap}, std::forward<Ts>(xs)...)
    .with_timeout(30s)
    .receive([&](T& x) { result = std::move(x); },
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
    std::cerr << "usage: ledger-client CONFIG" << std::endl;
    return 2;
  }
  auto cluster = ftsr::load_cluster_config(argv[1]);
  if (!cluster) {
    std::cerr << ftsr::describe(cluster.error()) << std::endl;
    return 2;
  }
  ftsr::node_options opts;
  opts.cluster = *cluster;
  opts.add_types = ledger::register_types;
  auto client = ftsr::node::start(std::move(opts));
  if (!client || !(*client)->await_up({"host1", "host2", "host3"})) {
    std::cerr << "cluster not up" << std::endl;
    return 1;
  }
  auto& n = **client;

  // The store's replicas live on the nodes that survive.
  auto store = ftsr::create_group(n, {"stable_store", {"host2", "host3"}, 1});
  if (!store) {
    std::cerr << "store: " << ftsr::describe(store.error()) << std::endl;
    return 1;
  }
  auto account = n.spawn_persistent("host1", {"host2", "host3"}, "ledger",
                                    caf::make_message(ftsr::capability<>{*store}));
  if (!account) {
    std::cerr << "ledger: " << ftsr::describe(account.error()) << std::endl;
    return 1;
  }
  using ledger::deposit_atom;
  expect(ask<int64_t>(n, *account, deposit_atom::value, uint64_t{1}, int64_t{10}),
         10, "deposit #1 of 10");
  expect(ask<int64_t>(n, *account, deposit_atom::value, uint64_t{2}, int64_t{20}),
         30, "deposit #2 of 20");

  std::cout << "ready: kill -9 host1" << std::endl;
  if (auto down = n.await_failed("host1", 60s); !down) {
    std::cerr << ftsr::describe(down.error()) << std::endl;
    return 1;
  }
  expect(ask<int64_t>(n, *account, deposit_atom::value, uint64_t{2}, int64_t{20}),
         30, "deposit #2 retried after the failure: applied once");
  expect(ask<int64_t>(n, *account, deposit_atom::value, uint64_t{3}, int64_t{5}),
         35, "deposit #3 of 5");
  auto where = ask<std::string>(n, *account, ledger::where_atom::value);
  check(where && where->rfind("host1", 0) != 0
          && where->find("after 1 recoveries") != std::string::npos,
        "restarted on a backup and recovered once: "
          + (where ? *where : ftsr::describe(where.error())));
  return failures == 0 ? 0 : 1;
}
