// Helper of the browser test (dashboard_browser_test.py): joins a running
// cluster as a client and gives the dashboard something to show: a
// stableStore group on host1 and host3, a persistent counter on host2 with
// host3 as its backup, and a few invocations of it. Prints the counter's
// capability and exits; exit code 1 with the error on stderr otherwise.
#include <cstdio>
#include <iostream>

#include "caf/all.hpp"

#include "actors/call.hpp"
#include "actors/errors.hpp"
#include "apps/dashboard/cluster_probe.hpp"
#include "apps/node/sample_persistent.hpp"
#include "replication/group.hpp"

using namespace ftsr;

namespace {

[[noreturn]] void finish(int code) {
  std::cout.flush();
  std::cerr.flush();
  std::_Exit(code); // no orderly shutdown needed (see ftsr-ctl)
}

[[noreturn]] void fail(const std::string& what, const caf::error& err) {
  std::cerr << "dashboard_seed: " << what << ": " << describe(err) << "\n";
  finish(1);
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: dashboard_seed CLUSTER_FILE\n";
    return 2;
  }
  auto probe = dashboard::cluster_probe::connect(argv[1],
                                                 std::chrono::seconds(20));
  if (!probe)
    fail("connect", probe.error());
  auto& client = (*probe)->client();
  if (auto up = client.await_up({"host1", "host2", "host3"}); !up)
    fail("await_up", up.error());
  group_spec spec{"stable_store", {"host1", "host3"}, 1};
  spec.name = "seed.store";
  auto store = create_group(client, spec);
  if (!store)
    fail("create_group", store.error());
  auto counter = client.spawn_persistent(
    "host2", {"host3"}, "counter", caf::make_message(capability<>{*store}));
  if (!counter)
    fail("spawn_persistent", counter.error());
  caf::scoped_actor self{client.system()};
  for (uint64_t token = 1; token <= 5; ++token) {
    caf::error err;
    call(self, capability<>{*counter}, sample::add_atom::value, token,
         int64_t{10})
      .receive([](int64_t) {}, [&](caf::error& e) { err = std::move(e); });
    if (err)
      fail("add", err);
  }
  std::cout << to_string(*counter) << std::endl;
  finish(0);
}
