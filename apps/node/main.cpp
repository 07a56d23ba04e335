// ftsr-node: runs one node of an ftsr cluster.
//
//   ftsr-node --config config/local-3.toml --name host1
//
// Exit codes: 0 after SIGINT/SIGTERM; 2 for a bad command line, config or
// data directory, an address it cannot listen on, or a name in use by a
// live member; 3 when the cluster removed this incarnation (fail-stop: it
// must not act again). With --rejoin the process instead starts over as a
// new incarnation (same PID, same arguments) and asks to join again.
#include <dirent.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <vector>
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
  bool rejoin = false;
  app.add_flag("--rejoin", rejoin,
               "when the cluster removes this incarnation, start over as a "
               "new one instead of exiting with code 3");
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
  opts.on_fenced = [name, rejoin, argv](const std::string& reason) {
    std::cerr << "ftsr-node " << name << ": fenced (" << reason << "); "
              << (rejoin ? "rejoining as a new incarnation"
                         : "stopping as fail-stop")
              << std::endl;
    std::fflush(nullptr);
    if (rejoin) {
      // Nothing of this incarnation may survive into the next: close every
      // descriptor (sockets, the data directory lock, LMDB) and start over.
      if (auto* d = opendir("/proc/self/fd")) {
        std::vector<int> fds;
        while (auto* e = readdir(d))
          if (auto fd = std::atoi(e->d_name); fd > 2)
            fds.push_back(fd);
        closedir(d);
        for (auto fd : fds)
          close(fd);
      }
      execv("/proc/self/exe", argv);
      std::cerr << "ftsr-node " << name << ": cannot restart: "
                << std::strerror(errno) << std::endl;
    }
    std::_Exit(3);
  };
  opts.on_refused = [name](const std::string& reason) {
    std::cerr << "ftsr-node " << name << ": cannot join: " << reason
              << std::endl;
    std::_Exit(2);
  };
  // Membership changes and unreachable peers go to stderr as they happen.
  opts.span_observer = [name](const ftsr::span& s) {
    static const std::set<std::string> logged{
      "node_up", "failure_detected", "peer_unreachable", "fenced",
      "view_installed", "refused", "actor_failed", "restart", "escalate"};
    if (logged.count(s.kind) != 0)
      std::cerr << "ftsr-node " << name << ": " << s.kind << " " << s.name
                << (s.detail.empty() ? "" : ": " + s.detail) << std::endl;
  };
  auto n = ftsr::node::start(std::move(opts));
  if (!n) {
    std::cerr << "ftsr-node: " << ftsr::describe(n.error()) << std::endl;
    // Without the actor system's orderly shutdown: nothing was started
    // that needs it, and it can wait on connection attempts in flight.
    std::_Exit(2);
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
