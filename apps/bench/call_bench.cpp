// ftsr-bench-call: cost of an ftsr call compared with a raw CAF request to
// the same typed echo actor, from a caf::scoped_actor.
//
//   same-node:  one in-process member node ("host1", 1-node cluster on an
//               ephemeral loopback port); caller and echo share the system.
//   cross-node: a local_cluster with one ftsr-node process; the caller is
//               the in-process client node, echo runs in the child process.
//
// Google Benchmark runs the four benchmarks with repetitions in random
// interleaved order (so noise hits raw and ftsr alike); after the runs the
// binary prints the ftsr/raw ratio of the medians per scenario and payload.
// Defaults (each overridable on the command line):
//   --benchmark_repetitions=10 --benchmark_enable_random_interleaving=true
//   --benchmark_min_time=0.3 --benchmark_display_aggregates_only=true
// Extra option: --trace-sample-every=N sets node_options::trace_sample_every
// of the same-node member (default 1 = ftsr's default: trace every call);
// the cross-node client always uses ftsr's defaults.
//
// Tracing cost: BM_ftsr_call_same_node_untraced runs the same calls on a
// second same-node member with tracing off (trace_sample_every = 0), in the
// same run and interleaved; the summary prints traced / untraced.
#include <benchmark/benchmark.h>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "caf/all.hpp"

#include "actors/call.hpp"
#include "actors/errors.hpp"
#include "apps/node/local_cluster.hpp"
#include "apps/node/sample_actors.hpp"

using namespace ftsr;
using namespace ftsr::sample;

namespace {

uint32_t trace_sample_every = 1;

// -- environments (created on first use, torn down at the end of main) -------

struct same_node_env {
  std::unique_ptr<node> host;
  capability_ref echo;
};

struct cross_node_env {
  std::unique_ptr<local_cluster> cluster;
  capability_ref echo;
};

std::unique_ptr<same_node_env> same_env;
std::unique_ptr<same_node_env> untraced_env;
std::unique_ptr<cross_node_env> cross_env;

capability_ref must_spawn(node& n, const std::string& on) {
  auto ref = n.spawn(on, "echo");
  if (!ref)
    throw std::runtime_error("cannot spawn echo on " + on + ": "
                             + describe(ref.error()));
  return *ref;
}

/// A 1-node cluster in this process, tracing one call in `sample_every`.
std::unique_ptr<same_node_env> make_same_node(uint32_t sample_every) {
  auto env = std::make_unique<same_node_env>();
  cluster_config cfg;
  cfg.name = "bench";
  cfg.nodes.push_back(node_address{"host1", "127.0.0.1", free_ports(1)[0]});
  node_options opts;
  opts.cluster = std::move(cfg);
  opts.name = "host1";
  opts.add_types = sample::add_sample_types;
  opts.trace_sample_every = sample_every;
  auto capacity = opts.span_capacity;
  auto n = node::start(std::move(opts));
  if (!n)
    throw std::runtime_error("cannot start node host1: " + describe(n.error()));
  env->host = std::move(*n);
  env->echo = must_spawn(*env->host, "host1");
  // A node that has run for a while has a full span buffer, where each new
  // span takes the oldest one's slot: start there, so that the benchmark
  // measures that steady state and not the buffer's first spans.
  auto& spans = env->host->context().spans;
  for (uint64_t i = 1; i <= capacity; ++i)
    spans.record(span{1, i, 0, "invocation", to_string(env->echo), {}, 0, 0,
                      "ok", "ok", 0});
  return env;
}

same_node_env& same_node() {
  if (!same_env)
    same_env = make_same_node(trace_sample_every);
  return *same_env;
}

same_node_env& untraced_same_node() {
  if (!untraced_env)
    untraced_env = make_same_node(0);
  return *untraced_env;
}

cross_node_env& cross_node() {
  if (!cross_env) {
    auto env = std::make_unique<cross_node_env>();
    local_cluster_options opts;
    opts.node_bin = FTSR_NODE_BIN;
    opts.nodes = 1;
    env->cluster = std::make_unique<local_cluster>(std::move(opts));
    env->echo = must_spawn(env->cluster->client(), "host1");
    cross_env = std::move(env);
  }
  return *cross_env;
}

// -- the measured loops ------------------------------------------------------

void raw_request(benchmark::State& state, caf::actor_system& sys,
                 const capability_ref& ref) {
  caf::scoped_actor self{sys};
  auto hdl = caf::actor_cast<echo_actor>(ref.handle);
  std::string payload(static_cast<size_t>(state.range(0)), 'x');
  std::string err_text;
  for (auto _ : state) {
    self->request(hdl, caf::infinite, echo_atom::value, payload)
      .receive([](std::string& s) { benchmark::DoNotOptimize(s.data()); },
               [&](caf::error& err) { err_text = describe(err); });
    if (!err_text.empty()) {
      state.SkipWithError(err_text.c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

void ftsr_call(benchmark::State& state, caf::actor_system& sys,
               const capability_ref& ref) {
  caf::scoped_actor self{sys};
  auto cap = capability<echo_actor>{ref};
  std::string payload(static_cast<size_t>(state.range(0)), 'x');
  std::string err_text;
  for (auto _ : state) {
    ftsr::call(self, cap, echo_atom::value, payload)
      .receive([](std::string& s) { benchmark::DoNotOptimize(s.data()); },
               [&](caf::error& err) { err_text = describe(err); });
    if (!err_text.empty()) {
      state.SkipWithError(err_text.c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_raw_request_same_node(benchmark::State& state) {
  auto& env = same_node();
  raw_request(state, env.host->system(), env.echo);
}

void BM_ftsr_call_same_node(benchmark::State& state) {
  auto& env = same_node();
  ftsr_call(state, env.host->system(), env.echo);
}

void BM_ftsr_call_same_node_untraced(benchmark::State& state) {
  auto& env = untraced_same_node();
  ftsr_call(state, env.host->system(), env.echo);
}

void BM_raw_request_cross_node(benchmark::State& state) {
  auto& env = cross_node();
  raw_request(state, env.cluster->client().system(), env.echo);
}

void BM_ftsr_call_cross_node(benchmark::State& state) {
  auto& env = cross_node();
  ftsr_call(state, env.cluster->client().system(), env.echo);
}

// Payload sizes in bytes: 16 (small, worst case for relative overhead) and
// 1024.
#define FTSR_BENCH(fn)                                                         \
  BENCHMARK(fn)->Arg(16)->Arg(1024)->UseRealTime()->Unit(benchmark::kMicrosecond)

FTSR_BENCH(BM_raw_request_same_node);
FTSR_BENCH(BM_ftsr_call_same_node);
FTSR_BENCH(BM_ftsr_call_same_node_untraced);
FTSR_BENCH(BM_raw_request_cross_node);
FTSR_BENCH(BM_ftsr_call_cross_node);

// -- ratio summary -----------------------------------------------------------

/// Console output as usual, plus the per-benchmark real time per iteration
/// (the "median" aggregate when there are repetitions, else the median of
/// the individual runs).
class ratio_reporter : public benchmark::ConsoleReporter {
public:
  ratio_reporter()
    : ConsoleReporter(::isatty(STDOUT_FILENO) ? OO_Color : OO_None) {
    // nop
  }

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (auto& r : runs) {
      if (r.error_occurred)
        continue;
      auto key = r.run_name.function_name + "/" + r.run_name.args;
      if (r.run_type == Run::RT_Aggregate) {
        if (r.aggregate_name == "median")
          medians_[key] = {r.GetAdjustedRealTime(), r.GetAdjustedCPUTime()};
      } else {
        samples_[key].push_back(
          {r.GetAdjustedRealTime(), r.GetAdjustedCPUTime()});
      }
    }
  }

  struct call_times {
    double real = -1; // µs per call, wall clock
    double cpu = -1;  // µs per call, CPU time of the calling thread
  };

  /// Median times of benchmark `key` (negative when it did not run).
  call_times median_of(const std::string& key) const {
    if (auto i = medians_.find(key); i != medians_.end())
      return i->second;
    auto i = samples_.find(key);
    if (i == samples_.end() || i->second.empty())
      return {};
    auto med = [](std::vector<double> xs) {
      std::sort(xs.begin(), xs.end());
      auto n = xs.size();
      return n % 2 == 1 ? xs[n / 2] : (xs[n / 2 - 1] + xs[n / 2]) / 2;
    };
    std::vector<double> real, cpu;
    for (auto& t : i->second) {
      real.push_back(t.real);
      cpu.push_back(t.cpu);
    }
    return {med(real), med(cpu)};
  }

  void print_summary() const {
    std::printf("\nftsr call vs raw CAF request, medians per call "
                "(real = wall clock; cpu = calling thread):\n");
    std::printf("  %-10s %7s %10s %10s %8s %8s | %9s %9s %8s\n", "scenario",
                "payload", "raw [us]", "ftsr [us]", "delta", "ratio",
                "raw cpu", "ftsr cpu", "ratio");
    bool any = false;
    for (auto scenario : {"same_node", "cross_node"}) {
      for (auto arg : {"16", "1024"}) {
        auto raw = median_of(std::string{"BM_raw_request_"} + scenario + "/"
                             + arg);
        auto ftsr = median_of(std::string{"BM_ftsr_call_"} + scenario + "/"
                              + arg);
        if (raw.real <= 0 || ftsr.real <= 0)
          continue;
        any = true;
        std::printf("  %-10s %7s %10.2f %10.2f %8.2f %8.3f | %9.2f %9.2f "
                    "%8.3f%s\n",
                    scenario, arg, raw.real, ftsr.real, ftsr.real - raw.real,
                    ftsr.real / raw.real, raw.cpu, ftsr.cpu,
                    raw.cpu > 0 ? ftsr.cpu / raw.cpu : 0.0,
                    ftsr.real / raw.real > 1.15 ? "  (above 1.15 goal)" : "");
      }
    }
    if (!any)
      std::printf("  (no complete raw/ftsr pair was run)\n");
    std::printf("ratio = ftsr / raw; goal: wall-clock ratio <= 1.15\n");
    std::printf("\nTracing cost, same-node ftsr::call, traced (every %u) vs "
                "untraced, medians per call:\n",
                trace_sample_every);
    std::printf("  %7s %10s %10s %8s | %9s %9s %8s\n", "payload", "off [us]",
                "on [us]", "thr.", "off cpu", "on cpu", "cpu");
    for (auto arg : {"16", "1024"}) {
      auto off = median_of(std::string{"BM_ftsr_call_same_node_untraced/"}
                           + arg);
      auto on = median_of(std::string{"BM_ftsr_call_same_node/"} + arg);
      if (off.real <= 0 || on.real <= 0)
        continue;
      // Throughput of one caller is 1 / latency: on/off throughput is
      // off.real / on.real.
      std::printf("  %7s %10.2f %10.2f %8.3f | %9.2f %9.2f %8.3f\n", arg,
                  off.real, on.real, off.real / on.real, off.cpu, on.cpu,
                  off.cpu > 0 ? on.cpu / off.cpu : 0.0);
    }
    std::printf("thr. = traced throughput / untraced (goal >= 0.95); cpu = "
                "traced caller cpu / untraced (goal <= 1.10)\n");
    std::fflush(stdout);
  }

private:
  std::map<std::string, call_times> medians_;
  std::map<std::string, std::vector<call_times>> samples_;
};

bool has_flag(const std::vector<char*>& args, const char* name) {
  auto len = std::strlen(name);
  return std::any_of(args.begin(), args.end(), [&](const char* a) {
    return std::strncmp(a, name, len) == 0
           && (a[len] == '=' || a[len] == '\0');
  });
}

} // namespace

int main(int argc, char** argv) {
  // Our own option first (Google Benchmark rejects unknown flags).
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    constexpr const char* opt = "--trace-sample-every=";
    if (i > 0 && std::strncmp(argv[i], opt, std::strlen(opt)) == 0) {
      trace_sample_every = static_cast<uint32_t>(
        std::max(1L, std::strtol(argv[i] + std::strlen(opt), nullptr, 10)));
      continue;
    }
    args.push_back(argv[i]);
  }
  static char rep[] = "--benchmark_repetitions=10";
  static char interleave[] = "--benchmark_enable_random_interleaving=true";
  static char min_time[] = "--benchmark_min_time=0.3";
  static char aggregates[] = "--benchmark_display_aggregates_only=true";
  if (!has_flag(args, "--benchmark_repetitions"))
    args.push_back(rep);
  if (!has_flag(args, "--benchmark_enable_random_interleaving"))
    args.push_back(interleave);
  if (!has_flag(args, "--benchmark_min_time"))
    args.push_back(min_time);
  if (!has_flag(args, "--benchmark_display_aggregates_only")
      && !has_flag(args, "--benchmark_report_aggregates_only"))
    args.push_back(aggregates);
  auto n = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data()))
    return 2;
  std::printf("same-node trace_sample_every = %u\n", trace_sample_every);
  int rc = 0;
  try {
    ratio_reporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    reporter.print_summary();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ftsr-bench-call: %s\n", e.what());
    rc = 1;
  }
  cross_env.reset();
  same_env.reset();
  untraced_env.reset();
  benchmark::Shutdown();
  return rc;
}
