// ftsr-bench-failover: time from a fault of a node to the FT-SR monitor
// firing at a survivor, on a local 3-node cluster (real ftsr-node
// processes on loopback, default timing: 100 ms heartbeat, 500 ms timeout).
//
//   ftsr-bench-failover [--rounds 20] [--stop-rounds 5] [--jitter-ms 200]
//                       [--seed 1]
//
// Each round spawns "echo" on host3 and watches it with the "observer"
// actor on host1 (FT-SR `monitor ... send`, notifying this process), and
// also with a monitor held by the in-process client's directory. Then:
// Before each fault the driver sleeps a random 0..jitter-ms: the steps
// before it (waiting for the restarted node to be seen up) are driven by
// the members' heartbeat ticks, so without the sleep the fault would land
// at the same phase of the 100 ms tick grid in every round and bias the
// SIGSTOP figures (real faults arrive at random phases).
//   kill -9 round: t0, SIGKILL host3; t1 when host1's observer's message
//                  arrives (and when the client's own monitor fires);
//                  restart host3 and wait until every party sees it up.
//   SIGSTOP round: t0, SIGSTOP host3; t1 likewise; SIGCONT, expect host3 to
//                  exit with code 3 (fenced), restart it.
// The host1 figure includes the hop host1 -> client over loopback that
// reports the firing (tens of microseconds). Prints every sample and
// median, p99 (nearest rank), min and max per fault and observer.
// Exit code: 0 on success, 1 when a round fails (message on stderr).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "caf/all.hpp"

#include "actors/errors.hpp"
#include "actors/monitor.hpp"
#include "actors/protocol.hpp"
#include "apps/bench/latency.hpp"
#include "apps/node/local_cluster.hpp"
#include "apps/node/sample_actors.hpp"

using namespace ftsr;
using namespace ftsr::sample;
using clock_type = std::chrono::steady_clock;

namespace {

/// Handler message of the monitor held by the client's own directory.
using client_fired_atom = caf::atom_constant<caf::atom("cfired")>;

constexpr auto bound = std::chrono::seconds(10);

double ms_since(clock_type::time_point t0, clock_type::time_point t1) {
  return std::chrono::duration<double, std::milli>(t1 - t0).count();
}

void print_stats(const char* what, const std::vector<double>& xs) {
  auto s = bench::summarize(xs);
  std::printf("%-34s n=%-3zu median=%8.2f ms  p99=%8.2f ms  min=%8.2f ms  "
              "max=%8.2f ms\n",
              what, xs.size(), s.p50_ms, s.p99_ms, s.min_ms, s.max_ms);
}

class driver {
public:
  driver(local_cluster& c, int jitter_ms, unsigned seed)
    : c_(c), self_(c.client().system()), jitter_ms_(jitter_ms), rng_(seed) {
    observer_ = spawn("host1", "observer");
  }

  /// One round; returns {host1 observer latency, client monitor latency}.
  std::pair<double, double> round(int sig) {
    auto echo = spawn("host3", "echo");
    watch(echo);
    drain();
    if (jitter_ms_ > 0)
      std::this_thread::sleep_for(std::chrono::milliseconds(
        std::uniform_int_distribution<int>{0, jitter_ms_ - 1}(rng_)));
    auto t0 = clock_type::now();
    if (!c_.process("host3").signal(sig))
      throw std::runtime_error("cannot signal host3");
    double at_host1 = -1;
    double at_client = -1;
    auto deadline = t0 + bound;
    while (at_host1 < 0 || at_client < 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - clock_type::now());
      bool timed_out = left.count() <= 0;
      if (!timed_out)
        self_->receive(
          [&](fired_atom, uint64_t cap, const std::string& node) {
            if (cap == echo.id && node == "host1")
              at_host1 = ms_since(t0, clock_type::now());
          },
          [&](client_fired_atom, uint64_t cap) {
            if (cap == echo.id)
              at_client = ms_since(t0, clock_type::now());
          },
          caf::after(left) >> [&] { timed_out = true; });
      if (timed_out)
        throw std::runtime_error(
          "monitor did not fire within 10 s after signal " + std::to_string(sig)
          + " to host3 (host1 " + (at_host1 < 0 ? "no" : "yes") + ", client "
          + (at_client < 0 ? "no" : "yes") + "); host3 log: " + c_.log_of("host3"));
    }
    if (sig == SIGSTOP) {
      c_.process("host3").signal(SIGCONT);
      auto rc = c_.process("host3").wait_for(bound);
      if (!rc)
        throw std::runtime_error("host3 kept running after SIGCONT (not "
                                 "fenced); log: " + c_.log_of("host3"));
      if (*rc != 3)
        throw std::runtime_error("host3 exited with " + std::to_string(*rc)
                                 + " after SIGCONT, expected 3 (fenced); log: "
                                 + c_.log_of("host3"));
    } else {
      if (!c_.process("host3").wait_for(bound))
        throw std::runtime_error("host3 survived SIGKILL");
    }
    c_.restart_and_await("host3");
    return {at_host1, at_client};
  }

private:
  capability_ref spawn(const std::string& on, const std::string& type) {
    auto ref = c_.client().spawn(on, type);
    if (!ref)
      throw std::runtime_error("cannot spawn " + type + " on " + on + ": "
                               + describe(ref.error()));
    return *ref;
  }

  void watch(const capability_ref& echo) {
    auto me = caf::actor_cast<caf::actor>(self_);
    bool ok = false;
    std::string err_text;
    self_->request(observer_.handle, bound, watch_atom::value, echo, me)
      .receive([&](uint64_t) { ok = true; },
               [&](caf::error& err) { err_text = describe(err); });
    if (!ok)
      throw std::runtime_error("observer on host1 did not watch: " + err_text);
    ftsr::monitor(self_.ptr(), capability<>{echo}, me,
                  client_fired_atom::value, echo.id);
  }

  /// Drops stray messages (nothing is expected between rounds).
  void drain() {
    bool more = true;
    while (more)
      self_->receive(caf::others >> [](caf::message_view&)
                       -> caf::result<caf::message> { return caf::make_message(); },
                     caf::after(std::chrono::seconds(0)) >> [&] { more = false; });
  }

  local_cluster& c_;
  caf::scoped_actor self_;
  capability_ref observer_;
  int jitter_ms_;
  std::mt19937 rng_;
};

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"ftsr-bench-failover: fault -> monitor firing latency"};
  int rounds = 20;
  int stop_rounds = 5;
  app.add_option("--rounds", rounds, "kill -9 rounds (default 20)")
    ->check(CLI::Range(0, 100000));
  app.add_option("--stop-rounds", stop_rounds,
                 "SIGSTOP rounds (default 5)")
    ->check(CLI::Range(0, 100000));
  int jitter_ms = 200;
  unsigned seed = 1;
  app.add_option("--jitter-ms", jitter_ms,
                 "random sleep 0..N ms before each fault (default 200)")
    ->check(CLI::Range(0, 100000));
  app.add_option("--seed", seed, "seed of the jitter (default 1)");
  CLI11_PARSE(app, argc, argv);
  try {
    local_cluster_options opts;
    opts.node_bin = FTSR_NODE_BIN;
    opts.nodes = 3;
    local_cluster c{opts};
    std::printf("cluster: 3 ftsr-node processes, heartbeat %lld ms, "
                "failure timeout %lld ms\n",
                static_cast<long long>(c.config().heartbeat_interval.count()),
                static_cast<long long>(c.config().failure_timeout.count()));
    std::printf("fault phase jitter: 0..%d ms (seed %u)\n", jitter_ms, seed);
    driver d{c, jitter_ms, seed};
    std::vector<double> kill_host1, kill_client, stop_host1, stop_client;
    for (int i = 0; i < rounds; ++i) {
      auto [h1, cl] = d.round(SIGKILL);
      kill_host1.push_back(h1);
      kill_client.push_back(cl);
      std::printf("kill -9 round %2d: fired at host1 %8.2f ms, client %8.2f "
                  "ms\n", i + 1, h1, cl);
      std::fflush(stdout);
    }
    for (int i = 0; i < stop_rounds; ++i) {
      auto [h1, cl] = d.round(SIGSTOP);
      stop_host1.push_back(h1);
      stop_client.push_back(cl);
      std::printf("SIGSTOP round %2d: fired at host1 %8.2f ms, client %8.2f "
                  "ms\n", i + 1, h1, cl);
      std::fflush(stdout);
    }
    std::printf("\n");
    if (rounds > 0) {
      print_stats("kill -9 -> monitor fired at host1", kill_host1);
      print_stats("kill -9 -> monitor fired at client", kill_client);
    }
    if (stop_rounds > 0) {
      print_stats("SIGSTOP -> monitor fired at host1", stop_host1);
      print_stats("SIGSTOP -> monitor fired at client", stop_client);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ftsr-bench-failover: %s\n", e.what());
    return 1;
  }
  return 0;
}
