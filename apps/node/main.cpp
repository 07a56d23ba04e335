// ftsr-node: runs one node of an ftsr cluster.
//
//   ftsr-node --config config/local-3.toml --name host1
//
// Exit codes: 0 after SIGINT/SIGTERM, 2 for bad command line, config or
// data directory,
// 3 when the cluster fenced this incarnation (fail-stop: it must not act
// again; start a new process to rejoin as a new incarnation).
#include <csignal>
#include <cstdio>
#include <iostream>
#include <set>

#include <CLI/CLI.hpp>

#include "actors/errors.hpp"
#include "actors/node.hpp"
#include "apps/node/sample_actors.hpp"
#include "persistence/stable_store.hpp"

int main(int argc, char** argv) {
  CLI::App app{"ftsr-node: one node of an ftsr cluster"};
  std::string config_path;
  std::string name;
  size_t threads = 0;
  std::string data_dir;
  app.add_option("--config", config_path, "cluster file (TOML)")->required();
  app.add_option("--name", name, "this node's name in the cluster file")
    ->required();
  app.add_option("--threads", threads, "scheduler threads (0 = CAF default)");
  app.add_option("--data-dir", data_dir,
                 "stable storage directory (default: ftsr-data/<name>)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    auto rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  auto cluster = ftsr::load_cluster_config(config_path);
  if (!cluster) {
    std::cerr << "ftsr-node: " << ftsr::describe(cluster.error()) << "\n";
    return 2;
  }
  if (data_dir.empty())
    data_dir = "ftsr-data/" + name;
  if (auto err = ftsr::prepare_data_dir(data_dir)) {
    std::cerr << "ftsr-node: " << ftsr::describe(err) << "\n";
    return 2;
  }
  // Block the stop signals before any thread exists, then wait for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ftsr::node_options opts;
  opts.cluster = std::move(*cluster);
  opts.name = name;
  opts.scheduler_threads = threads;
  opts.data_dir = data_dir;
  opts.add_types = ftsr::sample::add_sample_types;
  opts.on_fenced = [name](const std::string& reason) {
    std::cerr << "ftsr-node " << name << ": fenced (" << reason
              << "); stopping as fail-stop\n";
    std::fflush(nullptr);
    std::_Exit(3);
  };
  // Membership changes and unreachable peers go to stderr as they happen.
  opts.span_observer = [name](const ftsr::span& s) {
    static const std::set<std::string> logged{
      "node_up", "failure_detected", "peer_unreachable", "fenced",
      "actor_failed", "restart", "escalate"};
    if (logged.count(s.kind) != 0)
      std::cerr << "ftsr-node " << name << ": " << s.kind << " " << s.name
                << (s.detail.empty() ? "" : ": " + s.detail) << std::endl;
  };
  auto n = ftsr::node::start(std::move(opts));
  if (!n) {
    std::cerr << "ftsr-node: " << ftsr::describe(n.error()) << "\n";
    return 2;
  }
  auto* addr = (*n)->context().cluster.find(name);
  std::cout << "ftsr-node " << ftsr::to_string((*n)->self()) << " listening on "
            << addr->host << ":" << addr->port << std::endl;
  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::cout << "ftsr-node " << name << ": stopping on signal " << sig
            << std::endl;
  return 0;
}
