// ftsr-bench-zk: the ZooKeeper side of the ordered-write comparison.
//
//   ftsr-bench-zk [--requests 2000] [--seconds 20] [--window 16]
//                 [--payload 16] [--warmup 2000] [--target follower]
//                 [--failover-rounds 0] [--stall-nudge-ms 20]
//                 [--session-timeout-ms 10000] [--tick-ms 200] [--keep-dir]
//
// Starts a 3-server ZooKeeper ensemble (Debian `zookeeper` package, one JVM
// per server, 127.0.0.1 with ephemeral ports, forceSync=no, tickTime 200 ms,
// data and logs under /tmp/ftsr-zk-XXXXXX), waits until a client write
// commits, then, with one ZooKeeper session (C client, libzookeeper_mt)
// connected to a follower (--target: the typical client, 2 of 3 servers;
// writes take the hop follower -> leader) or to the leader, or to any:
//   warmup  --warmup async setData writes, not measured (JIT of the JVMs);
//   (a)     synchronous zoo_set2, one outstanding write;
//   (b)     zoo_aset with --window outstanding writes;
// each bounded by --requests writes AND --seconds. All writes go to the
// znode /bench (setData, version -1): ZooKeeper orders them (FIFO per
// session, one total order through the leader); the driver checks that the
// znode versions returned by successive completions strictly increase.
// A stall watchdog (--stall-nudge-ms) works around ZOOKEEPER-4537, a lost
// wake-up in ZooKeeper 3.8.0's CommitProcessor that otherwise parks a
// committed write until the client times out (README.md).
// Then --failover-rounds rounds: kill -9 the leader, write until a write
// succeeds (time from the kill), restart the killed server, wait until the
// ensemble serves again.
// Prints a table, then `zk.<metric>=<value>` lines for scripts. Stops every
// server on exit (also on SIGINT/SIGTERM). Exit code 0 on success, 1 on
// failure (message on stderr).
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

#include <CLI/CLI.hpp>

#include "apps/bench/zk/zk_ensemble.hpp"
#include "apps/bench/zk/zk_load.hpp"

using namespace ftsr::bench::zk;

namespace {

extern "C" void on_fatal_signal(int sig) {
  kill_all_servers_from_signal_handler();
  ::_exit(128 + sig);
}

void print_header() {
  std::printf("%-16s %6s %8s %6s %8s %10s %8s %8s %8s %8s %7s %6s\n",
              "workload", "window", "writes", "errors", "seconds", "writes/s",
              "p50 ms", "p99 ms", "mean ms", "max ms", "ordered", "nudges");
}

void print_row(const char* name, size_t window, const load_result& r) {
  std::printf("%-16s %6zu %8zu %6zu %8.3f %10.1f %8.3f %8.3f %8.3f %8.3f %7s"
              " %6zu%s\n",
              name, window, r.ok, r.errors, r.seconds, r.ops_per_s,
              r.latency.p50_ms, r.latency.p99_ms, r.latency.mean_ms,
              r.latency.max_ms, r.ordered ? "yes" : "NO", r.nudges,
              r.hit_time_limit ? "  (time limit)" : "");
  if (r.errors > 0)
    std::printf("  first error: %s; version gaps (failed but applied "
                "writes): %zu\n",
                zerror(r.first_error), r.version_gaps);
  if (r.first_error == ZOPERATIONTIMEOUT)
    std::printf("  note: a write got no reply for 2/3 of the session "
                "timeout. ZooKeeper 3.8.0 (Debian 12) has ZOOKEEPER-4537 "
                "(CommitProcessor misses a wake-up; fixed in 3.8.1): with a "
                "single client and one outstanding write a committed request "
                "can sit until the client times out. --stall-nudge-ms (on by "
                "default) works around it; see apps/bench/zk/README.md.\n");
}

void print_keys(const char* name, size_t window, const load_result& r) {
  std::printf("zk.%s.window=%zu\nzk.%s.writes=%zu\nzk.%s.errors=%zu\n"
              "zk.%s.seconds=%.4f\nzk.%s.ops_per_s=%.1f\nzk.%s.p50_ms=%.4f\n"
              "zk.%s.p99_ms=%.4f\nzk.%s.max_ms=%.4f\nzk.%s.ordered=%d\n"
              "zk.%s.nudges=%zu\n",
              name, window, name, r.ok, name, r.errors, name, r.seconds, name,
              r.ops_per_s, name, r.latency.p50_ms, name, r.latency.p99_ms, name,
              r.latency.max_ms, name, r.ordered ? 1 : 0, name, r.nudges);
}

std::string role_of(ensemble& ens, const std::string& address) {
  for (size_t i = 0; i < ens.size(); ++i)
    if (ens.address_of(i) == address)
      return "server " + std::to_string(i + 1) + ", " + ens.mode(i);
  return "?";
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"ftsr-bench-zk: ordered setData writes on a 3-server "
               "ZooKeeper ensemble (peer of the ftsr group benchmark)"};
  size_t requests = 2000;
  int seconds = 20;
  size_t window = 16;
  size_t payload = 16;
  size_t warmup = 2000;
  int failover_rounds = 0;
  int tick_ms = 200;
  int session_ms = 10000;
  std::string target = "follower";
  bool keep_dir = false;
  int nudge_ms = 20;
  app.add_option("--requests", requests,
                 "max writes per workload; 0 skips the workloads "
                 "(default 2000)");
  app.add_option("--seconds", seconds,
                 "max seconds per workload (default 20)")
    ->check(CLI::Range(1, 3600));
  app.add_option("--window", window,
                 "outstanding writes of the async workload (default 16)")
    ->check(CLI::Range(1, 100000));
  app.add_option("--payload", payload, "bytes per setData (default 16)")
    ->check(CLI::Range(1, 1 << 20));
  app.add_option("--warmup", warmup,
                 "unmeasured async writes before the workloads (default 2000)");
  app.add_option("--failover-rounds", failover_rounds,
                 "leader kill -9 rounds (default 0)")
    ->check(CLI::Range(0, 1000));
  app.add_option("--target", target,
                 "servers the load client may connect to: any (connect "
                 "string of all three), leader, follower (default follower)")
    ->check(CLI::IsMember({"any", "leader", "follower"}));
  app.add_option("--tick-ms", tick_ms, "zoo.cfg tickTime (default 200)")
    ->check(CLI::Range(10, 10000));
  app.add_option("--session-timeout-ms", session_ms,
                 "ZooKeeper session timeout requested by clients "
                 "(default 10000)")
    ->check(CLI::Range(400, 30000));
  app.add_option("--stall-nudge-ms", nudge_ms,
                 "stall watchdog: writes outstanding and no completion for "
                 "N ms -> one exists() read through a second session on the "
                 "same server (works around ZOOKEEPER-4537 in ZooKeeper "
                 "3.8.0); 0 disables (default 20)")
    ->check(CLI::Range(0, 60000));
  app.add_flag("--keep-dir", keep_dir,
               "keep /tmp/ftsr-zk-* (configs, server and client logs)");
  CLI11_PARSE(app, argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0); // progress visible when piped

  std::signal(SIGINT, on_fatal_signal);
  std::signal(SIGTERM, on_fatal_signal);
  std::signal(SIGHUP, on_fatal_signal);
  // Crashes too: the JVMs are not our process group's children to clean up
  // otherwise.
  std::signal(SIGABRT, on_fatal_signal);
  std::signal(SIGSEGV, on_fatal_signal);

  try {
    ensemble_options eo;
    eo.tick_ms = tick_ms;
    eo.keep_dir = keep_dir;
    ensemble ens{eo};
    set_client_log(ens.dir() + "/client.log");
    auto t_start = std::chrono::steady_clock::now();
    ens.start(std::chrono::seconds(60));
    auto start_ms = std::chrono::duration<double, std::milli>(
                      std::chrono::steady_clock::now() - t_start)
                      .count();
    auto leader = ens.wait_leader(std::chrono::seconds(10));
    if (!leader)
      throw std::runtime_error("no leader after start");
    std::printf("ZooKeeper ensemble: %zu servers (Debian zookeeper, one JVM "
                "each), 127.0.0.1, tickTime %d ms, forceSync=no, dir %s%s\n",
                ens.size(), tick_ms, ens.dir().c_str(),
                keep_dir ? " (kept)" : "");
    for (size_t i = 0; i < ens.size(); ++i)
      std::printf("  server %zu: pid %d, client port %d, %s\n", i + 1,
                  static_cast<int>(ens.pid(i)), ens.client_port(i),
                  ens.mode(i).c_str());
    std::printf("  serving %.0f ms after launch\n", start_ms);

    if (requests > 0) {
      std::string hosts = ens.connect_string();
      if (target == "leader")
        hosts = ens.address_of(*leader);
      else if (target == "follower")
        hosts = ens.address_of((*leader + 1) % ens.size());
      client c{hosts, std::chrono::milliseconds(session_ms)};
      if (!c.wait_connected(std::chrono::seconds(10)))
        throw std::runtime_error("client cannot connect to " + hosts);
      if (!c.ensure_znode("/bench"))
        throw std::runtime_error("cannot create /bench");
      auto server = c.current_server();
      std::printf("client: ZooKeeper C client %s (libzookeeper_mt), session "
                  "%d ms, connected to %s (%s), znode /bench, payload %zu B, "
                  "limits %zu writes / %d s per workload, stall watchdog "
                  "%s\n",
                  ZOO_VERSION, session_ms, server.c_str(),
                  role_of(ens, server).c_str(), payload, requests, seconds,
                  nudge_ms > 0 ? (std::to_string(nudge_ms) + " ms").c_str()
                               : "off");
      load_options lo;
      lo.path = "/bench";
      lo.payload = payload;
      lo.max_time = std::chrono::seconds(seconds);
      lo.stall_nudge = std::chrono::milliseconds(nudge_ms);
      if (warmup > 0) {
        lo.requests = warmup;
        lo.window = window;
        auto w = run_async(c, lo);
        std::printf("warmup: %zu async writes (%zu errors), %.0f writes/s\n",
                    w.ok, w.errors, w.ops_per_s);
      }
      lo.requests = requests;
      auto sync = run_sync(c, lo);
      lo.window = window;
      auto async = run_async(c, lo);
      std::printf("\n");
      print_header();
      print_row("sync zoo_set", 1, sync);
      print_row("async zoo_aset", window, async);
      std::printf("\n");
      print_keys("sync", 1, sync);
      print_keys("async", window, async);
      if (sync.errors > 0 || async.errors > 0 || !sync.ordered
          || !async.ordered)
        throw std::runtime_error("write errors or out-of-order versions");
    }

    if (failover_rounds > 0) {
      std::printf("\nleader failover: kill -9 leader -> first successful "
                  "setData (client on the connect string of all servers, "
                  "session %d ms)\n",
                  session_ms);
      std::printf("%5s %7s %-28s %10s %12s %8s %8s %4s\n", "round", "killed",
                  "client was on", "write ms", "election ms", "attempts",
                  "sessions", "new");
      std::vector<double> writes, elections;
      for (int round = 1; round <= failover_rounds; ++round) {
        auto r = measure_failover(ens, "/failover",
                                  std::chrono::seconds(30),
                                  std::chrono::milliseconds(session_ms));
        if (!r.ok)
          throw std::runtime_error("failover round " + std::to_string(round)
                                   + ": " + r.error);
        writes.push_back(r.write_ms);
        if (r.election_ms >= 0)
          elections.push_back(r.election_ms);
        auto on = r.client_server
                  + (r.client_on_leader ? " (leader)" : " (follower)");
        std::printf("%5d %7zu %-28s %10.1f %12.1f %8zu %8zu %4s\n", round,
                    r.old_leader + 1, on.c_str(), r.write_ms, r.election_ms,
                    r.attempts, r.sessions,
                    r.new_leader ? std::to_string(*r.new_leader + 1).c_str()
                                 : "?");
        ens.restart(r.old_leader);
        if (!ens.wait_serving(std::chrono::seconds(60)))
          throw std::runtime_error("ensemble does not serve again after "
                                   "restarting server "
                                   + std::to_string(r.old_leader + 1) + "; log:\n"
                                   + ens.log_tail(r.old_leader));
      }
      auto w = summarize(writes);
      auto e = summarize(elections);
      std::printf("write after kill:  n=%zu p50=%.1f ms p99=%.1f ms "
                  "min=%.1f ms max=%.1f ms\n",
                  w.n, w.p50_ms, w.p99_ms, w.min_ms, w.max_ms);
      std::printf("new leader seen:   n=%zu p50=%.1f ms p99=%.1f ms "
                  "min=%.1f ms max=%.1f ms\n",
                  e.n, e.p50_ms, e.p99_ms, e.min_ms, e.max_ms);
      std::printf("zk.failover.rounds=%zu\nzk.failover.write_p50_ms=%.1f\n"
                  "zk.failover.write_p99_ms=%.1f\nzk.failover.write_max_ms=%.1f\n"
                  "zk.failover.election_p50_ms=%.1f\n",
                  w.n, w.p50_ms, w.p99_ms, w.max_ms, e.p50_ms);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::cerr << "ftsr-bench-zk: " << e.what() << '\n';
    return 1;
  }
}
