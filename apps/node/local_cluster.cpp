// Local multi-process clusters on loopback.
#include "apps/node/local_cluster.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "caf/all.hpp"
#include "caf/io/all.hpp"

#include "actors/errors.hpp"
#include "actors/transport.hpp"
#include "apps/node/sample_actors.hpp"

namespace ftsr {

std::vector<uint16_t> free_ports(size_t n) {
  std::vector<int> socks;
  std::vector<uint16_t> ports;
  for (size_t i = 0; i < n; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0
        || ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("cannot reserve a free port");
    socks.push_back(fd);
    ports.push_back(ntohs(addr.sin_port));
  }
  // Held open until all are chosen, so the ports are distinct.
  for (auto fd : socks)
    ::close(fd);
  return ports;
}

std::string write_cluster_file(const std::string& dir,
                               const std::vector<std::string>& names,
                               const std::vector<uint16_t>& ports,
                               int heartbeat_ms, int timeout_ms) {
  auto path = dir + "/cluster.toml";
  std::ofstream out{path};
  out << "[cluster]\nname = \"test\"\nheartbeat_interval_ms = " << heartbeat_ms
      << "\nfailure_timeout_ms = " << timeout_ms << "\n";
  for (size_t i = 0; i < names.size(); ++i)
    out << "\n[[node]]\nname = \"" << names[i]
        << "\"\nhost = \"127.0.0.1\"\nport = " << ports[i] << "\n";
  return path;
}

std::string make_temp_dir() {
  char tmpl[] = "/tmp/ftsr-cluster-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr)
    throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

local_cluster::local_cluster(local_cluster_options opts)
  : opts_(std::move(opts)) {
  dir_ = make_temp_dir();
  config_path_ = opts_.config_path;
  if (config_path_.empty()) {
    std::vector<std::string> names;
    for (size_t i = 1; i <= opts_.nodes; ++i)
      names.push_back("host" + std::to_string(i));
    config_path_ = write_cluster_file(dir_, names, free_ports(opts_.nodes),
                                      opts_.heartbeat_ms, opts_.timeout_ms);
  }
  auto cfg = load_cluster_config(config_path_);
  if (!cfg)
    throw std::runtime_error(describe(cfg.error()));
  config_ = *cfg;
  std::vector<std::string> names;
  for (auto& n : config_.nodes)
    names.push_back(n.name);
  for (auto& name : names)
    start(name);
  node_options client_opts;
  client_opts.cluster = config_;
  client_opts.add_types = sample::add_sample_types;
  auto client = node::start(std::move(client_opts));
  if (!client)
    throw std::runtime_error(describe(client.error()));
  client_ = std::move(*client);
  if (auto res = client_->await_up(names); !res)
    throw std::runtime_error(describe(res.error()));
}

local_cluster::~local_cluster() {
  client_.reset();
  for (auto& [name, proc] : procs_) {
    proc.signal(SIGCONT);
    proc.signal(SIGTERM);
  }
  for (auto& [name, proc] : procs_)
    proc.wait_for(std::chrono::seconds(10));
}

void local_cluster::start(const std::string& name) {
  procs_.erase(name);
  // Stable storage survives restarts of the node, as on a real host.
  std::vector<std::string> argv{opts_.node_bin, "--config", config_path_,
                                "--name", name, "--data-dir",
                                dir_ + "/data-" + name};
  argv.insert(argv.end(), opts_.node_args.begin(), opts_.node_args.end());
  auto proc = child_process::start(std::move(argv), log_of(name));
  if (!proc)
    throw std::runtime_error("cannot start ftsr-node " + name);
  procs_.emplace(name, std::move(*proc));
}

void local_cluster::kill9(const std::string& name) {
  auto& proc = procs_.at(name);
  proc.signal(SIGKILL);
  proc.wait_for(std::chrono::seconds(10));
}

namespace {

bool sees_up(const std::vector<member_status>& v, const std::string& name,
             uint64_t incarnation) {
  for (auto& m : v)
    if (m.name == name)
      return m.state == member_state::up && m.incarnation == incarnation;
  return false;
}

} // namespace

void local_cluster::restart_and_await(const std::string& name,
                                      std::chrono::milliseconds bound) {
  auto old = incarnation(name);
  start(name);
  caf::scoped_actor self{client_->system()};
  auto member_sees = [&](const std::string& member, uint64_t inc) {
    bool up = false;
    self->request(manager_of(member), std::chrono::seconds(5), view_atom::value)
      .receive([&](member_id&, std::vector<member_status>& v) {
                 up = sees_up(v, name, inc);
               },
               [](caf::error&) {});
    return up;
  };
  auto deadline = std::chrono::steady_clock::now() + bound;
  for (;;) {
    auto inc = incarnation(name);
    if (inc != 0 && inc != old) {
      auto v = client_->view();
      bool all = v && sees_up(*v, name, inc);
      for (auto& [member, proc] : procs_)
        if (all && member != name && proc.running())
          all = member_sees(member, inc);
      if (all)
        return;
    }
    if (std::chrono::steady_clock::now() >= deadline)
      throw std::runtime_error("restarted " + name + " not seen up everywhere "
                               "within " + std::to_string(bound.count())
                               + " ms; log: " + log_of(name));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

uint64_t local_cluster::incarnation(const std::string& name) {
  if (auto v = client_->view())
    for (auto& m : *v)
      if (m.name == name)
        return m.incarnation;
  return 0;
}

caf::actor local_cluster::manager_of(const std::string& name) {
  auto addr = config_.find(name);
  auto hdl = remote_actor(client_->system(), addr->host, addr->port,
                         std::chrono::seconds(10));
  if (!hdl)
    throw std::runtime_error("cannot reach manager of " + name + ": "
                             + client_->system().render(hdl.error()));
  return *hdl;
}

std::string local_cluster::log_of(const std::string& name) const {
  return dir_ + "/" + name + ".log";
}

} // namespace ftsr
