// ftsr-bench-restart: failover time of a persistent actor against
// ZooKeeper leader failover, in the same run.
//
//   ftsr-bench-restart [--rounds 50] [--zk-rounds 50] [--jitter-ms 100]
//                      [--seed 1]
//
// ftsr side: a local 3-node cluster (real ftsr-node processes on loopback,
// default timing: 100 ms heartbeat, 500 ms failure timeout), a stableStore
// group on host1 and host2. Each round spawns the persistent "counter"
// sample on host3 with host1 as its backup and adds once (stored), then,
// after a random 0..jitter-ms pause: t0, kill -9 host3; the client calls
// the counter's (old) capability at once; t1 when that call is answered by
// the restarted incarnation on host1 (restart, recovery handler reading its
// snapshot from the stableStore group, the call re-sent). The reply is
// checked (the stored total). Then host3 is restarted and awaited.
// ZooKeeper side (when built with the C client): a 3-server ensemble
// (zk/zk_ensemble.hpp, tickTime 200 ms, forceSync=no); each round kills -9
// the leader and times the first successful setData (zk::measure_failover),
// then restarts the server and waits until the ensemble serves again.
// Prints every sample, median/p99 per side and the ratios.
// Exit code: 0 on success, 1 when a round fails (message on stderr).
#include <chrono>
#include <cstdio>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "caf/all.hpp"

#include "actors/call.hpp"
#include "apps/bench/latency.hpp"
#include "apps/node/local_cluster.hpp"
#include "apps/node/sample_persistent.hpp"
#include "replication/group.hpp"

#ifdef FTSR_WITH_ZK
#  include "apps/bench/zk/zk_ensemble.hpp"
#  include "apps/bench/zk/zk_load.hpp"
#endif

using namespace ftsr;
using namespace ftsr::sample;
using clock_type = std::chrono::steady_clock;

namespace {

void print_stats(const char* what, const bench::latency_summary& s) {
  std::printf("%-40s n=%-3zu median=%8.2f ms  p99=%8.2f ms  min=%8.2f ms  "
              "max=%8.2f ms\n",
              what, s.n, s.p50_ms, s.p99_ms, s.min_ms, s.max_ms);
}

/// One ftsr round; returns kill -9 -> first successful reply, in ms.
double ftsr_round(local_cluster& c, const capability_ref& store, int jitter_ms,
                  std::mt19937& rng) {
  auto& client = c.client();
  auto counter = client.spawn_persistent("host3", {"host1"}, "counter",
                                         caf::make_message(capability<>{store}));
  if (!counter)
    throw std::runtime_error("cannot spawn the persistent counter: "
                             + describe(counter.error()));
  caf::scoped_actor self{client.system()};
  caf::error err;
  int64_t total = 0;
  call(self, capability<>{*counter}, add_atom::value, uint64_t{1}, int64_t{42})
    .receive([&](int64_t x) { total = x; }, [&](caf::error& e) { err = e; });
  if (err)
    throw std::runtime_error("first add failed: " + describe(err));
  if (jitter_ms > 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(
      std::uniform_int_distribution<int>{0, jitter_ms - 1}(rng)));
  auto t0 = clock_type::now();
  c.kill9("host3");
  call(self, capability<>{*counter}, total_atom::value)
    .receive([&](int64_t x) { total = x; }, [&](caf::error& e) { err = e; });
  auto t1 = clock_type::now();
  if (err)
    throw std::runtime_error("call after kill -9 failed: " + describe(err)
                             + "; host1 log: " + c.log_of("host1"));
  if (total != 42)
    throw std::runtime_error("restarted counter has total "
                             + std::to_string(total) + ", expected 42");
  c.restart_and_await("host3");
  return std::chrono::duration<double, std::milli>(t1 - t0).count();
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"ftsr-bench-restart: persistent actor failover vs ZooKeeper "
               "leader failover"};
  int rounds = 50;
  int zk_rounds = 50;
  int jitter_ms = 100;
  unsigned seed = 1;
  app.add_option("--rounds", rounds, "ftsr kill -9 rounds (default 50)")
    ->check(CLI::Range(1, 100000));
  app.add_option("--zk-rounds", zk_rounds,
                 "ZooKeeper leader kill -9 rounds (default 50, 0 = skip)")
    ->check(CLI::Range(0, 100000));
  app.add_option("--jitter-ms", jitter_ms,
                 "random pause 0..N ms before each kill (default 100)")
    ->check(CLI::Range(0, 100000));
  app.add_option("--seed", seed, "seed of the jitter (default 1)");
  CLI11_PARSE(app, argc, argv);
  try {
    bench::latency_summary ftsr_stats;
    {
      local_cluster_options opts;
      opts.node_bin = FTSR_NODE_BIN;
      local_cluster c{opts};
      std::printf("ftsr: 3 ftsr-node processes, heartbeat %lld ms, failure "
                  "timeout %lld ms; stableStore group on host1+host2\n",
                  static_cast<long long>(c.config().heartbeat_interval.count()),
                  static_cast<long long>(c.config().failure_timeout.count()));
      auto store = create_group(c.client(),
                                {"stable_store", {"host1", "host2"}, 1});
      if (!store)
        throw std::runtime_error("cannot create the store: "
                                 + describe(store.error()));
      std::mt19937 rng{seed};
      std::vector<double> samples;
      for (int i = 1; i <= rounds; ++i) {
        samples.push_back(ftsr_round(c, *store, jitter_ms, rng));
        std::printf("ftsr round %3d: kill -9 -> reply from restarted actor "
                    "%8.2f ms\n", i, samples.back());
        std::fflush(stdout);
      }
      ftsr_stats = bench::summarize(samples);
    }
    std::printf("\n");
    print_stats("ftsr persistent actor: kill -9 -> reply", ftsr_stats);
#ifdef FTSR_WITH_ZK
    if (zk_rounds > 0) {
      namespace zk = ftsr::bench::zk;
      zk::ensemble ens;
      // Connection errors during elections are expected: keep them out of
      // the report.
      zk::set_client_log(ens.dir() + "/client.log", ZOO_LOG_LEVEL_ERROR);
      ens.start();
      std::vector<double> samples;
      for (int i = 1; i <= zk_rounds; ++i) {
        auto r = zk::measure_failover(ens, "/failover");
        if (!r.ok)
          throw std::runtime_error("ZooKeeper failover round "
                                   + std::to_string(i) + ": " + r.error);
        samples.push_back(r.write_ms);
        std::printf("zk round %3d: kill -9 leader -> write %8.2f ms\n", i,
                    r.write_ms);
        std::fflush(stdout);
        ens.restart(r.old_leader);
        if (!ens.wait_serving(std::chrono::seconds(60)))
          throw std::runtime_error("ensemble does not serve again; log:\n"
                                   + ens.log_tail(r.old_leader));
      }
      auto z = bench::summarize(samples);
      print_stats("ftsr persistent actor: kill -9 -> reply", ftsr_stats);
      print_stats("ZooKeeper: kill -9 leader -> write", z);
      std::printf("ratio ftsr/zk: median %.3f, p99 %.3f\n",
                  ftsr_stats.p50_ms / z.p50_ms, ftsr_stats.p99_ms / z.p99_ms);
    }
#else
    (void) zk_rounds;
    std::printf("ZooKeeper peer not built (needs libzookeeper-mt-dev; "
                "scripts/bench.sh installs it)\n");
#endif
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ftsr-bench-restart: %s\n", e.what());
    return 1;
  }
  return 0;
}
