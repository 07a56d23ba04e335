// The body of a node process; see node_main.hpp.
#include "apps/node/node_main.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <iostream>
#include <set>

#include <CLI/CLI.hpp>

#include "actors/errors.hpp"
#include "actors/node.hpp"
#include "persistence/stable_store.hpp"

namespace ftsr {

void add_node_options(CLI::App& app, node_process_options& opts) {
  app.add_option("--config", opts.config_path, "cluster file (TOML)")
    ->required();
  app.add_option("--name", opts.name, "this node's name in the cluster file")
    ->required();
  app.add_option("--threads", opts.threads,
                 "scheduler threads (0 = CAF default)");
  app.add_option("--data-dir", opts.data_dir,
                 "stable storage directory (default: ftsr-data/<name>)");
  app.add_flag("--rejoin", opts.rejoin,
               "when the cluster removes this incarnation, start over as a "
               "new one instead of exiting with code 3");
}

int node_main(int argc, char** argv, type_registration add_types) {
  std::string prog = argc > 0 ? argv[0] : "ftsr-node";
  if (auto slash = prog.rfind('/'); slash != std::string::npos)
    prog.erase(0, slash + 1);
  CLI::App app{prog + ": one node of an ftsr cluster"};
  node_process_options opts;
  add_node_options(app, opts);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    auto rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  opts.argv = argv;
  return run_node_process(prog, std::move(opts), std::move(add_types));
}

int run_node_process(const std::string& prog, node_process_options po,
                     type_registration add_types) {
  auto cluster = load_cluster_config(po.config_path);
  if (!cluster) {
    std::cerr << prog << ": " << describe(cluster.error()) << "\n";
    return 2;
  }
  if (po.data_dir.empty())
    po.data_dir = "ftsr-data/" + po.name;
  if (auto err = prepare_data_dir(po.data_dir)) {
    std::cerr << prog << ": " << describe(err) << "\n";
    return 2;
  }
  // Block the stop signals before any thread exists, then wait for them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  auto name = po.name;
  node_options opts;
  opts.cluster = std::move(*cluster);
  opts.name = name;
  opts.scheduler_threads = po.threads;
  opts.data_dir = po.data_dir;
  opts.add_types = std::move(add_types);
  opts.on_fenced = [prog, name, rejoin = po.rejoin,
                    argv = po.argv](const std::string& reason) {
    std::cerr << prog << " " << name << ": fenced (" << reason << "); "
              << (rejoin ? "rejoining as a new incarnation"
                         : "stopping as fail-stop")
              << std::endl;
    std::fflush(nullptr);
    if (rejoin && argv != nullptr) {
      // Nothing of this incarnation may survive into the next: every
      // descriptor (sockets, the data directory lock, LMDB) closes at the
      // exec. Not before it: CAF's threads still use them until then.
      if (auto* d = opendir("/proc/self/fd")) {
        std::vector<int> fds;
        while (auto* e = readdir(d))
          if (auto fd = std::atoi(e->d_name); fd > 2)
            fds.push_back(fd);
        closedir(d);
        for (auto fd : fds)
          fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC);
      }
      execv("/proc/self/exe", argv);
      std::cerr << prog << " " << name << ": cannot restart: "
                << std::strerror(errno) << std::endl;
    }
    std::_Exit(3);
  };
  opts.on_refused = [prog, name](const std::string& reason) {
    std::cerr << prog << " " << name << ": cannot join: " << reason
              << std::endl;
    std::_Exit(2);
  };
  // Membership changes and unreachable peers go to stderr as they happen.
  opts.span_observer = [prog, name](const span& s) {
    static const std::set<std::string> logged{
      "node_up", "failure_detected", "peer_unreachable", "fenced",
      "view_installed", "refused", "catalog_error", "actor_failed", "restart", "escalate"};
    if (logged.count(s.kind) != 0)
      std::cerr << prog << " " << name << ": " << s.kind << " " << s.name
                << (s.detail.empty() ? "" : ": " + s.detail) << std::endl;
  };
  auto n = node::start(std::move(opts));
  if (!n) {
    std::cerr << prog << ": " << describe(n.error()) << std::endl;
    // Without the actor system's orderly shutdown: nothing was started
    // that needs it, and it can wait on connection attempts in flight.
    std::_Exit(2);
  }
  auto* addr = (*n)->context().cluster.find(name);
  std::cout << prog << " " << to_string((*n)->self()) << " listening on "
            << addr->host << ":" << addr->port << std::endl;
  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::cout << prog << " " << name << ": stopping on signal " << sig
            << std::endl;
  return 0;
}

} // namespace ftsr
