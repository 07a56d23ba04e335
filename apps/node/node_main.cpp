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
#include <memory>
#include <optional>

#include "caf/node_id.hpp"

#include <CLI/CLI.hpp>

#include "actors/errors.hpp"
#include "actors/log.hpp"
#include "actors/node.hpp"
#include "apps/node/metrics_server.hpp"
#include "persistence/stable_store.hpp"

namespace ftsr {

namespace {

/// Environment variable counting the CAF node ids that earlier processes
/// of this PID used (see skip_used_node_ids).
constexpr const char* node_ids_used_env = "FTSR_CAF_NODE_IDS_USED";

/// CAF names a node by host, process id and a per-process counter of actor
/// systems. A rejoining incarnation runs in its predecessor's process (an
/// exec keeps the PID), so without this it would get the same node id, and
/// a peer still holding a connection to the predecessor (its close lost in
/// a partition) would refuse its handshake as a duplicate forever. Advances
/// the counter past the ids used before; returns how many that was.
unsigned skip_used_node_ids() {
  auto* env = std::getenv(node_ids_used_env);
  auto used = env != nullptr ? std::strtoul(env, nullptr, 10) : 0ul;
  caf::actor_system_config probe;
  for (unsigned long i = 0; i < used; ++i)
    (void) caf::node_id::default_data::local(probe);
  return static_cast<unsigned>(used);
}

} // namespace

void add_node_options(CLI::App& app, node_process_options& opts) {
  app.add_option("--config", opts.config_path, "cluster file (TOML)")
    ->required();
  app.add_option("--name", opts.name, "this node's name in the cluster file")
    ->required();
  app.add_option("--threads", opts.threads,
                 "scheduler threads (0 = CAF default)");
  app.add_option("--data-dir", opts.data_dir,
                 "stable storage directory (default: ftsr-data/<name>)");
  app
    .add_option("--log-level", opts.log_level,
                "trace|debug|info|warn|error|off (default info)")
    ->check([](const std::string& x) {
      auto lvl = parse_log_level(x);
      return lvl ? std::string{} : describe(lvl.error());
    });
  app.add_option("--metrics", opts.metrics,
                 "serve GET /metrics (Prometheus) on HOST:PORT, or PORT on "
                 "127.0.0.1");
  app.add_flag("--metrics-any-address", opts.metrics_any_address,
               "allow --metrics on a non-loopback address");
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
  auto lvl = parse_log_level(po.log_level);
  if (!lvl) {
    std::cerr << prog << ": " << describe(lvl.error()) << "\n";
    return 2;
  }
  set_log_level(*lvl);
  std::optional<http_endpoint> metrics_at;
  if (!po.metrics.empty()) {
    auto at = parse_http_endpoint(po.metrics, po.metrics_any_address);
    if (!at) {
      std::cerr << prog << ": " << describe(at.error()) << "\n";
      return 2;
    }
    metrics_at = std::move(*at);
  }
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
  auto node_ids_used = skip_used_node_ids();
  node_options opts;
  opts.cluster = std::move(*cluster);
  opts.name = name;
  opts.scheduler_threads = po.threads;
  opts.data_dir = po.data_dir;
  opts.add_types = std::move(add_types);
  opts.on_fenced = [prog, name, rejoin = po.rejoin, argv = po.argv,
                    node_ids_used](const std::string& reason) {
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
      // This process used one node id more (CAF's counter wraps at 256).
      auto used = std::to_string((node_ids_used + 1) % 256);
      setenv(node_ids_used_env, used.c_str(), 1);
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
  auto n = node::start(std::move(opts));
  if (!n) {
    std::cerr << prog << ": " << describe(n.error()) << std::endl;
    // Without the actor system's orderly shutdown: nothing was started
    // that needs it, and it can wait on connection attempts in flight.
    std::_Exit(2);
  }
  std::unique_ptr<metrics_server> metrics;
  if (metrics_at) {
    auto srv = metrics_server::start(*metrics_at, (*n)->context().metrics);
    if (!srv) {
      std::cerr << prog << ": " << describe(srv.error()) << std::endl;
      return 2;
    }
    metrics = std::move(*srv);
    std::cout << prog << " " << name << ": metrics on http://"
              << metrics_at->host << ":" << metrics->port() << "/metrics"
              << std::endl;
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
