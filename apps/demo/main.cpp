// ftsr-demo: the 3-node walk-through. Starts three ftsr-node processes on
// loopback, shows a call completing normally, then kills -9 the node under
// an in-flight call: the call completes via its backup, monitors fire on
// both survivors, a call without backup fails with fail_stop, and the
// survivors' spans show the failure timeline. Exit code 0 when every step
// behaved as FT-SR specifies, 1 otherwise, 2 for bad arguments.
#include <chrono>
#include <iomanip>
#include <iostream>
#include <set>
#include <thread>

#include <CLI/CLI.hpp>

#include "caf/all.hpp"

#include "actors/call.hpp"
#include "actors/errors.hpp"
#include "apps/node/local_cluster.hpp"
#include "apps/node/sample_actors.hpp"

using namespace ftsr;
using namespace ftsr::sample;
using namespace std::chrono;

namespace {

constexpr auto bound = seconds(10);

int failures = 0;

void check(bool ok, const std::string& what) {
  std::cout << (ok ? "  [ok]   " : "  [FAIL] ") << what << std::endl;
  if (!ok)
    ++failures;
}

double ms_since(steady_clock::time_point t0) {
  return duration<double, std::milli>(steady_clock::now() - t0).count();
}

std::string fmt_ms(double ms) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(1) << ms << " ms";
  return os.str();
}

capability_ref must_spawn(node& client, const std::string& on,
                          const std::string& type) {
  auto ref = client.spawn(on, type);
  if (!ref)
    throw std::runtime_error("spawn " + type + " on " + on + ": "
                             + describe(ref.error()));
  std::cout << "  spawned " << to_string(*ref) << std::endl;
  return *ref;
}

void print_view(node& client) {
  if (auto v = client.view())
    for (auto& m : *v)
      std::cout << "  " << std::setw(6) << m.name << "  incarnation "
                << m.incarnation << "  " << to_string(m.state)
                << (m.reason.empty() ? "" : " (" + m.reason + ")")
                << std::endl;
}

void print_spans(local_cluster& c, const std::string& name) {
  caf::scoped_actor self{c.client().system()};
  self->request(c.manager_of(name), bound, spans_atom::value, uint64_t{64})
    .receive(
      [&](std::vector<span>& spans) {
        for (auto& s : spans) {
          if (s.kind == "spawn" || s.kind == "node_up" || s.kind == "monitor")
            continue;
          auto t = duration_cast<milliseconds>(nanoseconds{s.start_ns});
          std::cout << "  " << std::setw(8) << t.count() % 100000 << "  "
                    << s.node << "  " << std::setw(16) << s.kind << "  "
                    << s.name << (s.detail.empty() ? "" : "  " + s.detail)
                    << std::endl;
        }
      },
      [&](caf::error& err) { check(false, "spans: " + describe(err)); });
}

void run(local_cluster& c) {
  auto& client = c.client();
  std::cout << "\n== 1. cluster up: three node processes on loopback\n";
  print_view(client);

  std::cout << "\n== 2. actors: echo on host3 (primary) and host2 (backup),"
               " a caller on host1, observers on host1 and host2\n";
  auto primary = must_spawn(client, "host3", "echo");
  auto backup = must_spawn(client, "host2", "echo");
  auto caller = must_spawn(client, "host1", "caller");
  caf::scoped_actor self{client.system()};
  for (auto on : {"host1", "host2"}) {
    auto obs = must_spawn(client, on, "observer");
    self->request(obs.handle, bound, watch_atom::value, primary,
                  caf::actor_cast<caf::actor>(self))
      .receive([&](uint64_t) {
                 std::cout << "  observer on " << on << " monitors "
                           << to_string(primary) << std::endl;
               },
               [&](caf::error& err) { check(false, describe(err)); });
  }

  std::cout << "\n== 3. call <echo@host3, echo@host2>(\"hello\") while "
               "everything is up\n";
  self->request(caller.handle, bound, call_atom::value, primary, backup,
                std::string{"hello"}, uint32_t{0})
    .receive([&](std::string& r) {
               check(r == "host3:hello", "primary answered: " + r);
             },
             [&](caf::error& err) { check(false, describe(err)); });

  std::cout << "\n== 4. kill -9 host3 under an in-flight call\n";
  auto pending = self->request(caller.handle, bound, call_atom::value, primary,
                               backup, std::string{"in-flight"},
                               uint32_t{800});
  // Wait (bounded) until host1 has the call outstanding towards host3.
  auto mgr1 = c.manager_of("host1");
  auto t_wait = steady_clock::now();
  for (bool sent = false; !sent && steady_clock::now() - t_wait < bound;) {
    caf::scoped_actor q{client.system()};
    q->request(mgr1, bound, stats_atom::value)
      .receive([&](manager_stats& s) { sent = s.pending_calls > 0; },
               [](caf::error&) {});
  }
  auto t0 = steady_clock::now();
  c.kill9("host3");
  std::cout << "  host3 killed (pid " << c.process("host3").pid() << ")\n";
  std::set<std::string> fired_at;
  for (int i = 0; i < 2; ++i)
    self->receive(
      [&](fired_atom, uint64_t, const std::string& at) {
        fired_at.insert(at);
        check(true, "monitor fired at " + at + " " + fmt_ms(ms_since(t0))
                      + " after the kill");
      },
      caf::after(bound) >> [&] { check(false, "monitor did not fire"); });
  check(fired_at == std::set<std::string>{"host1", "host2"},
        "monitors fired on both survivors");
  pending.receive(
    [&](std::string& r) {
      check(r == "host2:in-flight", "in-flight call completed via backup: "
                                      + r + " (" + fmt_ms(ms_since(t0))
                                      + " after the kill)");
    },
    [&](caf::error& err) { check(false, describe(err)); });

  std::cout << "\n== 5. call echo@host3 without backup\n";
  ftsr::call(self, capability<echo_actor>{primary}, echo_atom::value,
             std::string{"anyone?"})
    .receive([&](std::string&) { check(false, "a failed actor answered"); },
             [&](caf::error& err) {
               check(is(err, errc::fail_stop), "caller got " + describe(err));
             });

  std::cout << "\n== 6. view of the survivors\n";
  print_view(client);

  std::cout << "\n== 7. failure timeline recorded by host1 "
               "(ms, node, span, subject)\n";
  print_spans(c, "host1");
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"ftsr-demo: fail-stop actors, calls with backup and monitors "
               "on a local 3-node cluster"};
  local_cluster_options opts;
  app.add_option("--config", opts.config_path,
                 "cluster file with three nodes host1..host3")
    ->required();
  app.add_option("--node-bin", opts.node_bin, "path of ftsr-node")->required();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    auto rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  try {
    local_cluster c{opts};
    for (auto name : {"host1", "host2", "host3"})
      if (c.config().find(name) == nullptr) {
        std::cerr << "ftsr-demo: " << opts.config_path << " has no node "
                  << name << "\n";
        return 2;
      }
    run(c);
  } catch (const std::exception& e) {
    std::cerr << "ftsr-demo: " << e.what() << "\n";
    return 1;
  }
  std::cout << "\n" << (failures == 0 ? "demo passed" : "demo FAILED")
            << std::endl;
  return failures == 0 ? 0 : 1;
}
