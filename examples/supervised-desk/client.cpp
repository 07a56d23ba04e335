// desk-client CONFIG: spawns a desk on host1 and a backup desk on host2,
// monitors the first, greets, crashes its clerk (the desk's supervisor
// replaces it), prints "ready: kill -9 host1", then waits for the monitor
// to fire and calls <desk@host1, desk@host2>: the backup answers. Exit
// code 0 when every check passed.
#include <iostream>
#include <string>
#include <thread>

#include "desk.hpp"

using namespace std::chrono_literals;

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
  std::cout << (ok ? "[ok]   " : "[FAIL] ") << what << std::endl;
  failures += ok ? 0 : 1;
}

/// A greeting through `desk`, with `backup` if given (FT-SR
/// `call <greet@desk, greet@backup>(who)`).
caf::expected<std::string> greet(caf::scoped_actor& self,
                                 const ftsr::capability_ref& desk,
                                 const std::string& who,
                                 const ftsr::capability_ref* backup = nullptr) {
  caf::expected<std::string> result{caf::none};
  auto c = ftsr::call(self, ftsr::capability<>{desk}, desk::greet_atom::value,
                      who);
  if (backup != nullptr)
    c.with_backup(ftsr::capability<>{*backup});
  c.with_timeout(30s).receive(
    [&](std::string& s) { result = std::move(s); },
    [&](caf::error& err) { result = std::move(err); });
  return result;
}

std::string show(const caf::expected<std::string>& x) {
  return x ? *x : ftsr::describe(x.error());
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: desk-client CONFIG" << std::endl;
    return 2;
  }
  auto cluster = ftsr::load_cluster_config(argv[1]);
  if (!cluster) {
    std::cerr << ftsr::describe(cluster.error()) << std::endl;
    return 2;
  }
  ftsr::node_options opts;
  opts.cluster = *cluster;
  opts.add_types = desk::register_types;
  auto client = ftsr::node::start(std::move(opts));
  if (!client || !(*client)->await_up({"host1", "host2", "host3"})) {
    std::cerr << "cluster not up" << std::endl;
    return 1;
  }
  auto& n = **client;
  auto front = n.spawn("host1", "desk");
  auto spare = n.spawn("host2", "desk");
  if (!front || !spare) {
    std::cerr << "spawn: " << ftsr::describe(!front ? front.error() : spare.error())
              << std::endl;
    return 1;
  }
  caf::scoped_actor self{n.system()};
  // FT-SR `monitor front send desk_down("front desk")`.
  ftsr::monitor(self, ftsr::capability<>{*front},
                caf::actor_cast<caf::actor>(self), desk::desk_down_atom::value,
                std::string{"front desk"});

  auto hello = greet(self, *front, "ada");
  check(hello && hello->find("from host1, clerk #1") != std::string::npos,
        "the front desk answers: " + show(hello));

  ftsr::call(self, ftsr::capability<>{*front}, desk::crash_atom::value)
    .receive([] {}, [&](caf::error& err) {
      check(false, "crash: " + ftsr::describe(err));
    });
  // The supervisor replaces the clerk; greetings during the restart are
  // refused, so ask until the new clerk answers (bounded).
  caf::expected<std::string> again{caf::none};
  for (int i = 0; i < 100; ++i) {
    again = greet(self, *front, "ada");
    if (again && again->find("clerk #2") != std::string::npos)
      break;
    std::this_thread::sleep_for(50ms); // polling a restart, bounded
  }
  check(again && again->find("from host1, clerk #2") != std::string::npos,
        "a new clerk answers after the crash: " + show(again));

  std::cout << "ready: kill -9 host1" << std::endl;
  self->receive(
    [&](desk::desk_down_atom, const std::string& what) {
      check(true, "monitor fired: " + what + " is down");
    },
    caf::after(60s) >> [&] { check(false, "the monitor did not fire"); });
  auto backed = greet(self, *front, "grace", &*spare);
  check(backed && backed->find("from host2") != std::string::npos,
        "the call with backup is answered by the spare desk: " + show(backed));
  return failures == 0 ? 0 : 1;
}
