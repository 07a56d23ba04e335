// ftsr-bench-group: ordered replicated writes per second and latency,
// ftsr resource group (N=3, max_sf=1, one replica per ftsr-node process on
// loopback) against a 3-server ZooKeeper ensemble (setData, forceSync=no),
// both in the same run: 1 synchronous client, then 16 outstanding
// requests. Prints both sides and the ratios.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>

#include <CLI/CLI.hpp>

#include "caf/all.hpp"

#include "actors/call.hpp"
#include "apps/bench/latency.hpp"
#include "apps/node/local_cluster.hpp"
#include "apps/node/sample_resources.hpp"
#include "replication/group.hpp"

#ifdef FTSR_WITH_ZK
#  include "apps/bench/zk/zk_ensemble.hpp"
#  include "apps/bench/zk/zk_load.hpp"
#endif

using namespace ftsr;
using namespace ftsr::sample;
using clock_type = std::chrono::steady_clock;

namespace {

struct options {
  size_t requests = 20000;
  size_t window = 16;
  size_t payload = 16;
  std::chrono::milliseconds max_time{20000};
};

struct run_result {
  double ops_per_s = 0;
  bench::latency_summary latency;
  size_t errors = 0;
};

double ms(clock_type::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

run_result finish(std::vector<double> lat, size_t errors,
                  clock_type::time_point start) {
  run_result r;
  r.errors = errors;
  auto secs = ms(clock_type::now() - start) / 1000.0;
  r.ops_per_s = static_cast<double>(lat.size()) / secs;
  r.latency = bench::summarize(std::move(lat));
  return r;
}

run_result ftsr_sync(node& client, const capability_ref& g,
                     const options& opts) {
  caf::scoped_actor self{client.system()};
  std::string value(opts.payload, 'x');
  std::vector<double> lat;
  size_t errors = 0;
  auto start = clock_type::now();
  for (size_t i = 0;
       i < opts.requests && clock_type::now() - start < opts.max_time; ++i) {
    auto t0 = clock_type::now();
    ftsr::call(self, capability<>{g}, put_atom::value, std::string{"bench"},
               value)
      .receive([&](bool) { lat.push_back(ms(clock_type::now() - t0)); },
               [&](caf::error&) { ++errors; });
  }
  return finish(std::move(lat), errors, start);
}

using done_atom = caf::atom_constant<caf::atom("done")>;

// Keeps `window` invocations outstanding until `total` completed or time is
// up; then sends (done, latencies, errors) to `report`.
struct pipeline_state {
  std::vector<double> lat;
  size_t issued = 0;
  size_t completed = 0;
  size_t errors = 0;
  clock_type::time_point start;
};

caf::behavior pipeline(caf::stateful_actor<pipeline_state>* self,
                       capability_ref g, options opts, caf::actor report) {
  auto value = std::make_shared<std::string>(opts.payload, 'x');
  auto issue = std::make_shared<std::function<void()>>();
  *issue = [=] {
    auto& st = self->state;
    if (st.issued >= opts.requests
        || clock_type::now() - st.start >= opts.max_time) {
      if (st.completed == st.issued) {
        self->send(report, done_atom::value, st.lat, uint64_t{st.errors});
        self->quit();
      }
      return;
    }
    ++st.issued;
    auto t0 = clock_type::now();
    auto next = [=] {
      ++self->state.completed;
      (*issue)();
    };
    ftsr::call(self, capability<>{g}, put_atom::value, std::string{"bench"},
               *value)
      .then(
        [=](bool) {
          self->state.lat.push_back(ms(clock_type::now() - t0));
          next();
        },
        [=](caf::error&) {
          ++self->state.errors;
          next();
        });
  };
  self->state.start = clock_type::now();
  for (size_t i = 0; i < opts.window; ++i)
    (*issue)();
  return {[](caf::unit_t) {}};
}

run_result ftsr_async(node& client, const capability_ref& g,
                      const options& opts) {
  caf::scoped_actor self{client.system()};
  auto start = clock_type::now();
  client.system().spawn(pipeline, g, opts, caf::actor_cast<caf::actor>(self));
  run_result r;
  self->receive(
    [&](done_atom, std::vector<double>& lat, uint64_t errors) {
      r = finish(std::move(lat), errors, start);
    },
    caf::after(opts.max_time + std::chrono::seconds(30)) >>
      [] { std::cerr << "ftsr pipeline did not finish\n"; });
  return r;
}

void print(const char* side, const char* mode, const run_result& r) {
  std::printf("  %-10s %-16s %10.1f ops/s  p50 %7.3f ms  p99 %7.3f ms  "
              "(n=%zu, errors=%zu)\n",
              side, mode, r.ops_per_s, r.latency.p50_ms, r.latency.p99_ms,
              r.latency.n, r.errors);
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"ftsr-bench-group: ftsr group vs ZooKeeper ordered writes"};
  options opts;
  std::string node_bin = FTSR_NODE_BIN;
  int max_ms = 20000;
  app.add_option("--requests", opts.requests, "writes per workload (bound)");
  app.add_option("--max-ms", max_ms, "time per workload (bound)");
  app.add_option("--window", opts.window, "outstanding requests, async run");
  app.add_option("--payload", opts.payload, "bytes per write");
  app.add_option("--node-bin", node_bin, "ftsr-node executable");
  std::string config_path;
  app.add_option("--config", config_path,
                 "cluster file naming host1..host3 (default: plain TCP on "
                 "free ports), e.g. one with [cluster.tls]");
  size_t node_threads = 0;
  app.add_option("--node-threads", node_threads,
                 "scheduler threads per ftsr-node (0 = CAF default)");
  CLI11_PARSE(app, argc, argv);
  opts.max_time = std::chrono::milliseconds{max_ms};
  run_result f_sync, f_async;
  {
    local_cluster_options copts;
    copts.node_bin = node_bin;
    copts.config_path = config_path;
    if (node_threads > 0)
      copts.node_args = {"--threads", std::to_string(node_threads)};
    local_cluster c{copts};
    auto g = create_group(c.client(), {"kv", {"host1", "host2", "host3"}, 1});
    if (!g) {
      std::cerr << "create_group: " << describe(g.error()) << "\n";
      return 1;
    }
    // Warm-up: connections, allocators.
    options warm = opts;
    warm.requests = std::min<size_t>(2000, opts.requests);
    ftsr_sync(c.client(), *g, warm);
    f_sync = ftsr_sync(c.client(), *g, opts);
    f_async = ftsr_async(c.client(), *g, opts);
  }
  std::printf("ordered replicated writes, 3 replicas on loopback, %zu-byte "
              "values\n",
              opts.payload);
  print("ftsr", "sync (1)", f_sync);
  print("ftsr", "async (window)", f_async);
#ifdef FTSR_WITH_ZK
  namespace zk = ftsr::bench::zk;
  zk::load_result z_sync, z_async;
  {
    zk::set_client_log({}, ZOO_LOG_LEVEL_ERROR);
    zk::ensemble ens;
    ens.start();
    zk::client cl{ens.connect_string()};
    if (!cl.wait_connected(std::chrono::seconds(30))
        || !cl.ensure_znode("/bench")) {
      std::cerr << "ZooKeeper client did not connect\n";
      return 1;
    }
    zk::load_options lo;
    lo.requests = std::min<size_t>(2000, opts.requests);
    lo.max_time = opts.max_time;
    lo.window = opts.window;
    lo.payload = opts.payload;
    zk::run_sync(cl, lo); // warm-up (JIT)
    lo.requests = opts.requests;
    z_sync = zk::run_sync(cl, lo);
    z_async = zk::run_async(cl, lo);
  }
  auto as_run = [](const zk::load_result& z) {
    run_result r;
    r.ops_per_s = z.ops_per_s;
    r.latency = z.latency;
    r.errors = z.errors;
    return r;
  };
  print("zookeeper", "sync (1)", as_run(z_sync));
  print("zookeeper", "async (window)", as_run(z_async));
  std::printf("ratios ftsr/zookeeper: sync throughput %.2fx, p99 %.2fx; "
              "async throughput %.2fx, p99 %.2fx\n",
              f_sync.ops_per_s / z_sync.ops_per_s,
              f_sync.latency.p99_ms / z_sync.latency.p99_ms,
              f_async.ops_per_s / z_async.ops_per_s,
              f_async.latency.p99_ms / z_async.latency.p99_ms);
#else
  std::printf("ZooKeeper side not built (needs libzookeeper-mt-dev)\n");
#endif
  return 0;
}
