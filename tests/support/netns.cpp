// Network-namespace clusters for partition tests.
#include "tests/support/netns.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace fs = std::filesystem;

namespace ftsr::testing {

namespace {

/// Everything a cluster creates starts with this, then the creating pid.
constexpr const char* name_prefix = "ftsp";
constexpr const char* lock_path = "/tmp/ftsr-netns.lock";
constexpr auto lock_bound = std::chrono::minutes(3);

std::string find_program(const std::string& name) {
  if (name.find('/') != std::string::npos)
    return name;
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
  path += ":/usr/sbin:/sbin:/usr/bin:/bin";
  std::istringstream dirs{path};
  std::string d;
  while (std::getline(dirs, d, ':'))
    if (!d.empty() && ::access((d + "/" + name).c_str(), X_OK) == 0)
      return d + "/" + name;
  return {};
}

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

/// Runs a setup command; throws naming it and its output if it fails.
void must(const std::vector<std::string>& argv) {
  auto [rc, out] = run_command(argv);
  if (rc != 0) {
    std::string cmd;
    for (auto& a : argv)
      cmd += a + " ";
    throw std::runtime_error("netns_cluster: `" + cmd + "` failed (exit "
                             + std::to_string(rc) + "): " + out);
  }
}

/// Best effort (teardown, removing what may already be gone).
void attempt(const std::vector<std::string>& argv) {
  run_command(argv);
}

/// Names in the output of `ip netns list` / `ip -o link show` that start
/// with the harness prefix.
std::vector<std::string> leftovers() {
  std::vector<std::string> result;
  auto [rc1, netns] = run_command({"ip", "netns", "list"});
  std::istringstream ns_lines{netns};
  std::string line;
  while (std::getline(ns_lines, line)) {
    auto name = line.substr(0, line.find(' '));
    if (name.rfind(name_prefix, 0) == 0)
      result.push_back("netns " + name);
  }
  auto [rc2, links] = run_command({"ip", "-o", "link", "show"});
  std::istringstream link_lines{links};
  while (std::getline(link_lines, line)) {
    // "12: name@peer: <FLAGS> ..."
    auto colon = line.find(": ");
    if (colon == std::string::npos)
      continue;
    auto name = line.substr(colon + 2);
    name = name.substr(0, name.find_first_of("@:"));
    if (name.rfind(name_prefix, 0) == 0)
      result.push_back("link " + name);
  }
  return result;
}

} // namespace

int64_t monotonic_ns() {
  // libstdc++'s steady_clock is CLOCK_MONOTONIC, the clock of histories.
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

std::pair<int, std::string> run_command(const std::vector<std::string>& argv,
                                        std::chrono::milliseconds bound) {
  auto args = argv;
  args[0] = find_program(args[0]);
  if (args[0].empty())
    return {127, argv[0] + ": not found"};
  char tmpl[] = "/tmp/ftsr-netns-cmd-XXXXXX";
  int fd = ::mkstemp(tmpl);
  if (fd < 0)
    return {127, "mkstemp failed"};
  ::close(fd);
  std::pair<int, std::string> result{127, "cannot start " + args[0]};
  if (auto proc = child_process::start(args, tmpl)) {
    auto rc = proc->wait_for(bound);
    result.first = rc ? *rc : 124;
    result.second = read_file(tmpl);
    if (!rc)
      result.second += "(still running after "
                       + std::to_string(bound.count()) + " ms: killed)";
  }
  ::unlink(tmpl);
  return result;
}

std::string netns_cluster::unavailable() {
  if (::geteuid() != 0)
    return "partition tests need root (network namespaces, qdiscs)";
  if (find_program("ip").empty() || find_program("tc").empty())
    return "partition tests need `ip` and `tc` (Debian package iproute2)";
  if (find_program("setpriv").empty())
    return "partition tests need `setpriv` (Debian package util-linux)";
  auto [rc, out] = run_command({"ip", "netns", "list"});
  if (rc != 0)
    return "`ip netns list` failed: " + out;
  // The blackhole qdisc is what isolates; probe it on a throwaway namespace.
  auto probe = std::string{name_prefix} + std::to_string(::getpid()) + "probe";
  auto [rc_add, out_add] = run_command({"ip", "netns", "add", probe});
  if (rc_add != 0)
    return "`ip netns add` failed: " + out_add;
  auto [rc_q, out_q] = run_command(
    {"ip", "netns", "exec", probe, "tc", "qdisc", "add", "dev", "lo", "root",
     "blackhole"});
  attempt({"ip", "netns", "del", probe});
  if (rc_q != 0)
    return "the blackhole qdisc is unavailable: " + out_q;
  return {};
}

netns_cluster::netns_cluster(netns_options opts) : opts_(std::move(opts)) {
  if (opts_.nodes == 0 || opts_.nodes > 200)
    throw std::runtime_error("netns_cluster: 1..200 nodes");
  prefix_ = name_prefix + std::to_string(::getpid());
  lock_fd_ = ::open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0)
    throw std::runtime_error(std::string{"netns_cluster: cannot open "}
                             + lock_path);
  auto deadline = std::chrono::steady_clock::now() + lock_bound;
  while (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      ::close(lock_fd_);
      throw std::runtime_error(std::string{"netns_cluster: another partition "
                                           "test held "}
                               + lock_path + " for 3 minutes");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  try {
    // Holding the lock, nothing with the prefix is in use: it is left over
    // from a run that died.
    for (auto& x : leftovers()) {
      auto space = x.find(' ');
      auto kind = x.substr(0, space);
      auto name = x.substr(space + 1);
      if (kind == "netns")
        attempt({"ip", "netns", "del", name});
      else
        attempt({"ip", "link", "del", name});
    }
    char tmpl[] = "/tmp/ftsr-netns-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr)
      throw std::runtime_error("netns_cluster: mkdtemp failed");
    dir_ = tmpl;
    setup_network();
    config_path_ = dir_ + "/cluster.toml";
    std::ofstream out{config_path_};
    out << "[cluster]\nname = \"partition\"\nheartbeat_interval_ms = "
        << opts_.heartbeat_ms << "\nfailure_timeout_ms = " << opts_.timeout_ms
        << "\n";
    for (size_t i = 1; i <= opts_.nodes; ++i)
      out << "\n[[node]]\nname = \"" << name(i) << "\"\nhost = \""
          << address(i) << "\"\nport = 4100\n";
    if (!out)
      throw std::runtime_error("netns_cluster: cannot write " + config_path_);
  } catch (...) {
    teardown();
    throw;
  }
}

netns_cluster::~netns_cluster() {
  teardown();
}

std::string netns_cluster::name(size_t i) const {
  return "host" + std::to_string(i);
}

std::string netns_cluster::address(size_t i) const {
  return "10.77.0." + std::to_string(i);
}

std::string netns_cluster::netns(size_t i) const {
  return prefix_ + "n" + std::to_string(i);
}

namespace {

std::string bridge_of(const std::string& prefix) {
  return prefix + "b";
}

/// Root-namespace end of node i's veth (a bridge port).
std::string host_end(const std::string& prefix, size_t i) {
  return prefix + "h" + std::to_string(i);
}

/// Namespace end of node i's veth.
std::string ns_end(const std::string& prefix, size_t i) {
  return prefix + "v" + std::to_string(i);
}

} // namespace

void netns_cluster::setup_network() {
  auto br = bridge_of(prefix_);
  must({"ip", "link", "add", br, "type", "bridge"});
  must({"ip", "addr", "add", "10.77.0.254/24", "dev", br});
  must({"ip", "link", "set", br, "up"});
  for (size_t i = 1; i <= opts_.nodes; ++i) {
    auto ns = netns(i);
    auto h = host_end(prefix_, i);
    auto v = ns_end(prefix_, i);
    must({"ip", "netns", "add", ns});
    must({"ip", "link", "add", h, "type", "veth", "peer", "name", v});
    must({"ip", "link", "set", h, "master", br, "up"});
    must({"ip", "link", "set", v, "netns", ns});
    must({"ip", "-n", ns, "addr", "add", address(i) + "/24", "dev", v});
    must({"ip", "-n", ns, "link", "set", v, "up"});
    must({"ip", "-n", ns, "link", "set", "lo", "up"});
  }
}

void netns_cluster::teardown() noexcept {
  try {
    for (auto& [i, proc] : procs_)
      proc.signal(SIGKILL);
    for (auto& [i, proc] : procs_)
      proc.wait_for(std::chrono::seconds(10));
    procs_.clear();
    for (size_t i = 1; i <= opts_.nodes; ++i) {
      attempt({"ip", "netns", "del", netns(i)});
      attempt({"ip", "link", "del", host_end(prefix_, i)});
    }
    attempt({"ip", "link", "del", bridge_of(prefix_)});
    if (!dir_.empty() && !keep_files_) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
  } catch (...) {
    // Teardown runs in destructors: never throw; leftovers are removed by
    // the next cluster.
  }
  if (lock_fd_ >= 0) {
    ::close(lock_fd_); // releases the flock
    lock_fd_ = -1;
  }
}

void netns_cluster::check_index(size_t i) const {
  if (i == 0 || i > opts_.nodes)
    throw std::out_of_range("netns_cluster: no node " + std::to_string(i));
}

std::string netns_cluster::log_of(size_t i) const {
  return dir_ + "/" + name(i) + ".log";
}

std::string netns_cluster::log_tail(size_t i, size_t lines) const {
  std::ifstream in{log_of(i)};
  std::deque<std::string> last;
  std::string line;
  while (std::getline(in, line)) {
    last.push_back(line);
    if (last.size() > lines)
      last.pop_front();
  }
  std::string out;
  for (auto& l : last)
    out += "    " + l + "\n";
  return out;
}

child_process netns_cluster::spawn(size_t i, std::vector<std::string> argv,
                                   const std::string& log) {
  // setpriv makes the kernel kill the program if this process dies without
  // its teardown (a crash, a test timeout); like `ip netns exec`, it execs
  // in place, so the PID held is the program's.
  std::vector<std::string> wrapped{find_program("setpriv"), "--pdeathsig",
                                   "KILL", "--"};
  if (i != 0) {
    check_index(i);
    wrapped.insert(wrapped.begin(), {find_program("ip"), "netns", "exec",
                                     netns(i)});
  }
  wrapped.insert(wrapped.end(), argv.begin(), argv.end());
  argv = std::move(wrapped);
  auto proc = child_process::start(argv, log);
  if (!proc)
    throw std::runtime_error("netns_cluster: cannot start " + argv[0]);
  return std::move(*proc);
}

void netns_cluster::start(size_t i) {
  check_index(i);
  if (running(i))
    throw std::logic_error("netns_cluster: " + name(i) + " is running");
  procs_.erase(i);
  auto log = log_of(i);
  auto before = read_file(log).size();
  std::vector<std::string> argv{opts_.node_bin,    "--config", config_path_,
                                "--name",          name(i),    "--data-dir",
                                dir_ + "/data-" + name(i)};
  argv.insert(argv.end(), opts_.node_args.begin(), opts_.node_args.end());
  procs_.emplace(i, spawn(i, argv, log));
  // ftsr-node prints "listening on" once it serves.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  for (;;) {
    if (read_file(log).find("listening on", before) != std::string::npos)
      return;
    if (!running(i) || std::chrono::steady_clock::now() >= deadline)
      throw std::runtime_error("netns_cluster: " + name(i)
                               + " did not start listening; log:\n"
                               + log_tail(i));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void netns_cluster::start_all() {
  for (size_t i = 1; i <= opts_.nodes; ++i)
    start(i);
}

void netns_cluster::kill9(size_t i) {
  check_index(i);
  auto p = procs_.find(i);
  if (p == procs_.end())
    return;
  p->second.signal(SIGKILL);
  if (!p->second.wait_for(std::chrono::seconds(10)))
    throw std::runtime_error("netns_cluster: " + name(i)
                             + " survived SIGKILL for 10 s");
}

void netns_cluster::sigstop(size_t i) {
  check_index(i);
  if (!procs_.at(i).signal(SIGSTOP))
    throw std::runtime_error("netns_cluster: cannot stop " + name(i));
}

void netns_cluster::sigcont(size_t i) {
  check_index(i);
  if (!procs_.at(i).signal(SIGCONT))
    throw std::runtime_error("netns_cluster: cannot continue " + name(i));
}

void netns_cluster::restart(size_t i) {
  kill9(i);
  start(i);
}

bool netns_cluster::running(size_t i) {
  auto p = procs_.find(i);
  return p != procs_.end() && p->second.running();
}

std::optional<int> netns_cluster::exit_code(size_t i) {
  auto p = procs_.find(i);
  if (p == procs_.end())
    return std::nullopt;
  return p->second.wait_for(std::chrono::milliseconds(0));
}

namespace {

/// Runs `f` on a thread that entered network namespace `ns` (empty: the
/// caller's), so the sockets it opens live there; returns f's result.
int in_netns(const std::string& ns, const std::function<int()>& f) {
  if (ns.empty())
    return f();
  int result = -1;
  std::thread t{[&] {
    int fd = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      return;
    if (::setns(fd, CLONE_NEWNET) == 0)
      result = f();
    ::close(fd);
  }};
  t.join();
  return result;
}

sockaddr_in socket_address(const std::string& ip, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  ::inet_pton(AF_INET, ip.c_str(), &sa.sin_addr);
  return sa;
}

} // namespace

bool netns_cluster::reachable(size_t from, size_t to,
                              std::chrono::milliseconds timeout) {
  constexpr uint16_t probe_port = 4200;
  auto ns_of = [&](size_t i) { return i == 0 ? std::string{} : netns(i); };
  auto to_addr = socket_address(to == 0 ? "10.77.0.254" : address(to),
                                probe_port);
  int listener = in_netns(ns_of(to), [&] {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0
        || ::bind(fd, reinterpret_cast<sockaddr*>(&to_addr), sizeof(to_addr))
             != 0
        || ::listen(fd, 4) != 0) {
      if (fd >= 0)
        ::close(fd);
      return -1;
    }
    return fd;
  });
  if (listener < 0)
    throw std::runtime_error("netns_cluster: cannot listen for a probe in "
                             + (to == 0 ? std::string{"the root namespace"}
                                        : netns(to)));
  int conn = in_netns(ns_of(from), [] {
    return ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  });
  bool ok = false;
  if (conn >= 0) {
    auto rc = ::connect(conn, reinterpret_cast<sockaddr*>(&to_addr),
                        sizeof(to_addr));
    if (rc == 0) {
      ok = true;
    } else if (errno == EINPROGRESS) {
      pollfd p{conn, POLLOUT, 0};
      if (::poll(&p, 1, static_cast<int>(timeout.count())) == 1) {
        int err = 0;
        socklen_t len = sizeof(err);
        ::getsockopt(conn, SOL_SOCKET, SO_ERROR, &err, &len);
        ok = err == 0;
      }
    }
    ::close(conn);
  }
  ::close(listener);
  return ok;
}

void netns_cluster::apply(size_t i) {
  auto ns = netns(i);
  auto v = ns_end(prefix_, i);
  auto h = host_end(prefix_, i);
  // Deleting a root qdisc that is not there fails harmlessly.
  attempt({"tc", "-n", ns, "qdisc", "del", "dev", v, "root"});
  attempt({"tc", "qdisc", "del", "dev", h, "root"});
  if (isolated_.count(i) != 0) {
    // Both ends: the namespace's egress and, on the bridge port, its
    // ingress.
    must({"tc", "-n", ns, "qdisc", "add", "dev", v, "root", "blackhole"});
    must({"tc", "qdisc", "add", "dev", h, "root", "blackhole"});
    return;
  }
  std::vector<size_t> peers;
  for (auto& [a, b] : cuts_)
    if (a == i || b == i)
      peers.push_back(a == i ? b : a);
  if (peers.empty())
    return;
  // Unclassified traffic passes (htb's default 0); traffic to a cut peer
  // goes to class 1:1, whose leaf drops everything. One direction per
  // filter: the peer installs the other.
  must({"tc", "-n", ns, "qdisc", "add", "dev", v, "root", "handle", "1:",
        "htb"});
  must({"tc", "-n", ns, "class", "add", "dev", v, "parent", "1:", "classid",
        "1:1", "htb", "rate", "1mbit"});
  must({"tc", "-n", ns, "qdisc", "add", "dev", v, "parent", "1:1", "handle",
        "10:", "blackhole"});
  for (auto j : peers)
    must({"tc", "-n", ns, "filter", "add", "dev", v, "parent", "1:",
          "protocol", "ip", "prio", "1", "u32", "match", "ip", "dst",
          address(j) + "/32", "flowid", "1:1"});
}

void netns_cluster::isolate(size_t i) {
  check_index(i);
  isolated_.insert(i);
  apply(i);
}

void netns_cluster::heal(size_t i) {
  check_index(i);
  isolated_.erase(i);
  apply(i);
}

void netns_cluster::cut(size_t i, size_t j) {
  check_index(i);
  check_index(j);
  if (i == j)
    throw std::invalid_argument("netns_cluster: cut of a node with itself");
  cuts_.emplace(std::min(i, j), std::max(i, j));
  apply(i);
  apply(j);
}

void netns_cluster::heal_cut(size_t i, size_t j) {
  check_index(i);
  check_index(j);
  cuts_.erase({std::min(i, j), std::max(i, j)});
  apply(i);
  apply(j);
}

void netns_cluster::heal_all() {
  std::set<size_t> touched = isolated_;
  for (auto& [a, b] : cuts_) {
    touched.insert(a);
    touched.insert(b);
  }
  isolated_.clear();
  cuts_.clear();
  for (auto i : touched)
    apply(i);
}

} // namespace ftsr::testing
