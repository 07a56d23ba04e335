// Local ZooKeeper ensemble: configuration files, child processes, `srvr`.
#include "apps/bench/zk/zk_ensemble.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "apps/bench/zk/zk_load.hpp"

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

namespace ftsr::bench::zk {

namespace {

// PIDs of running servers of every ensemble, for the signal handler.
constexpr size_t registry_size = 64;
std::array<std::atomic<pid_t>, registry_size> registry{};

void register_pid(pid_t pid) {
  for (auto& slot : registry) {
    pid_t expected = 0;
    if (slot.compare_exchange_strong(expected, pid))
      return;
  }
}

void unregister_pid(pid_t pid) {
  for (auto& slot : registry) {
    pid_t expected = pid;
    if (slot.compare_exchange_strong(expected, 0))
      return;
  }
}

/// Binds `count` sockets to 127.0.0.1:0 at once (so the ports differ) and
/// returns their ports; the sockets are closed before returning.
std::vector<int> free_ports(size_t count) {
  std::vector<int> fds;
  std::vector<int> ports;
  auto close_all = [&] {
    for (auto fd : fds)
      ::close(fd);
  };
  for (size_t i = 0; i < count; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
      close_all();
      throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
    }
    fds.push_back(fd);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0
        || ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      close_all();
      throw std::runtime_error("cannot reserve a loopback port: "
                               + std::string(std::strerror(errno)));
    }
    ports.push_back(ntohs(addr.sin_port));
  }
  close_all();
  return ports;
}

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out)
    throw std::runtime_error("cannot write " + path.string());
}

std::string env_or(const char* name, const std::string& fallback) {
  auto v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

std::string default_classpath() {
  // zookeeper.jar's manifest Class-Path names its dependencies in
  // /usr/share/java (jute, netty, jetty, jackson, slf4j-api, ...); the
  // Debian package ships no slf4j binding for the server, so add log4j 1.2.
  std::string cp = "/usr/share/java/zookeeper.jar";
  for (auto jar : {"/usr/share/java/slf4j-log4j12.jar",
                   "/usr/share/java/log4j-1.2.jar"})
    if (fs::exists(jar))
      cp += std::string(":") + jar;
  return cp;
}

} // namespace

void kill_all_servers_from_signal_handler() noexcept {
  for (auto& slot : registry) {
    auto pid = slot.load();
    if (pid > 0)
      ::kill(pid, SIGKILL);
  }
}

std::string four_letter(int port, const std::string& word,
                        std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  auto left_ms = [&] {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - clock_type::now());
    return static_cast<int>(std::max<long long>(left.count(), 0));
  };
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return {};
  std::string reply;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  auto rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  if (rc != 0 && errno != EINPROGRESS) {
    ::close(fd);
    return {};
  }
  pollfd p{fd, POLLOUT, 0};
  if (rc != 0) {
    if (::poll(&p, 1, left_ms()) != 1) {
      ::close(fd);
      return {};
    }
    int err = 0;
    socklen_t len = sizeof(err);
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      ::close(fd);
      return {};
    }
  }
  if (::send(fd, word.data(), word.size(), MSG_NOSIGNAL)
      != static_cast<ssize_t>(word.size())) {
    ::close(fd);
    return {};
  }
  char buf[4096];
  for (;;) {
    p = pollfd{fd, POLLIN, 0};
    if (::poll(&p, 1, left_ms()) != 1)
      break; // timeout: return what we have
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0)
      break; // EOF: the server closes after the reply
    reply.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return reply;
}

ensemble::ensemble(ensemble_options opts) : opts_(std::move(opts)) {
  if (opts_.servers == 0)
    throw std::runtime_error("an ensemble needs at least one server");
  java_ = !opts_.java.empty() ? opts_.java
                              : env_or("FTSR_ZK_JAVA", "/usr/bin/java");
  classpath_ = !opts_.classpath.empty()
                 ? opts_.classpath
                 : env_or("FTSR_ZK_CLASSPATH", default_classpath());
  if (!fs::exists(java_))
    throw std::runtime_error(java_ + " not found: install a Java runtime "
                             "(Debian: default-jre-headless) or set "
                             "FTSR_ZK_JAVA");
  if (classpath_.find("zookeeper") == std::string::npos
      || (opts_.classpath.empty() && !std::getenv("FTSR_ZK_CLASSPATH")
          && !fs::exists("/usr/share/java/zookeeper.jar")))
    throw std::runtime_error("/usr/share/java/zookeeper.jar not found: "
                             "install the Debian `zookeeper` package or set "
                             "FTSR_ZK_CLASSPATH");
  char tmpl[] = "/tmp/ftsr-zk-XXXXXX";
  if (!::mkdtemp(tmpl))
    throw std::runtime_error("mkdtemp: " + std::string(std::strerror(errno)));
  dir_ = tmpl;
  try {
    auto n = opts_.servers;
    auto ports = free_ports(3 * n);
    servers_.resize(n);
    for (size_t i = 0; i < n; ++i) {
      servers_[i].client_port = ports[3 * i];
      servers_[i].quorum_port = ports[3 * i + 1];
      servers_[i].election_port = ports[3 * i + 2];
    }
    write_file(fs::path(dir_) / "log4j.properties",
               "log4j.rootLogger=" + opts_.log_level + ", CONSOLE\n"
               "log4j.appender.CONSOLE=org.apache.log4j.ConsoleAppender\n"
               "log4j.appender.CONSOLE.layout=org.apache.log4j.PatternLayout\n"
               "log4j.appender.CONSOLE.layout.ConversionPattern="
               "%d{ISO8601} [myid:%X{myid}] - %-5p [%t:%C{1}@%L] - %m%n\n");
    std::ostringstream members;
    for (size_t i = 0; i < n; ++i)
      members << "server." << i + 1 << "=127.0.0.1:" << servers_[i].quorum_port
              << ':' << servers_[i].election_port << '\n';
    for (size_t i = 0; i < n; ++i) {
      auto sdir = fs::path(dir_) / ("s" + std::to_string(i + 1));
      fs::create_directories(sdir / "data");
      write_file(sdir / "data" / "myid", std::to_string(i + 1) + "\n");
      std::ostringstream cfg;
      cfg << "# written by ftsr-bench-zk (apps/bench/zk/zk_ensemble.cpp)\n"
          << "tickTime=" << opts_.tick_ms << '\n'
          << "initLimit=" << opts_.init_limit << '\n'
          << "syncLimit=" << opts_.sync_limit << '\n'
          << "dataDir=" << (sdir / "data").string() << '\n'
          << "clientPort=" << servers_[i].client_port << '\n'
          << "clientPortAddress=127.0.0.1\n"
          << "maxClientCnxns=0\n"
          << "maxSessionTimeout=" << opts_.max_session_timeout_ms << '\n'
          // fsync of the transaction log off (the setting).
          << "forceSync=no\n"
          << "4lw.commands.whitelist=*\n"
          // Unknown keys become zookeeper.* system properties.
          << "admin.enableServer=false\n"
          << "autopurge.purgeInterval=0\n"
          << members.str();
      servers_[i].cfg = (sdir / "zoo.cfg").string();
      write_file(servers_[i].cfg, cfg.str());
    }
  } catch (...) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
    throw;
  }
}

ensemble::~ensemble() {
  stop();
  if (!opts_.keep_dir && !dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

std::string ensemble::connect_string() const {
  std::string result;
  for (size_t i = 0; i < servers_.size(); ++i) {
    if (i > 0)
      result += ',';
    result += address_of(i);
  }
  return result;
}

std::string ensemble::address_of(size_t i) const {
  return "127.0.0.1:" + std::to_string(servers_.at(i).client_port);
}

pid_t ensemble::pid(size_t i) const {
  auto& proc = servers_.at(i).proc;
  return proc ? proc->pid() : -1;
}

bool ensemble::running(size_t i) {
  auto& proc = servers_.at(i).proc;
  return proc && proc->running();
}

std::vector<pid_t> ensemble::pids() const {
  std::vector<pid_t> result;
  for (auto& s : servers_)
    if (s.proc)
      result.push_back(s.proc->pid());
  return result;
}

std::string ensemble::log_path(size_t i) const {
  return (fs::path(dir_) / ("s" + std::to_string(i + 1)) / "server.log")
    .string();
}

std::string ensemble::log_tail(size_t i, size_t max_bytes) const {
  std::ifstream in(log_path(i), std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  if (text.size() > max_bytes)
    text = text.substr(text.size() - max_bytes);
  return text;
}

void ensemble::start_server(size_t i) {
  auto& s = servers_.at(i);
  if (s.proc && s.proc->running())
    return;
  if (s.proc)
    unregister_pid(s.proc->pid());
  std::vector<std::string> argv{java_,
                                "-Dlog4j.configuration=file:" + dir_
                                  + "/log4j.properties",
                                "-Dzookeeper.admin.enableServer=false",
                                "-Dzookeeper.log.dir=" + dir_};
  argv.insert(argv.end(), opts_.jvm_options.begin(), opts_.jvm_options.end());
  argv.insert(argv.end(), {"-cp", classpath_,
                           "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                           s.cfg});
  auto proc = child_process::start(argv, log_path(i));
  if (!proc)
    throw std::runtime_error("cannot start " + java_ + " for ZooKeeper server "
                             + std::to_string(i + 1));
  register_pid(proc->pid());
  s.proc = std::move(proc);
}

void ensemble::start(std::chrono::milliseconds timeout) {
  for (size_t i = 0; i < servers_.size(); ++i)
    start_server(i);
  if (!wait_serving(timeout)) {
    std::string logs;
    for (size_t i = 0; i < servers_.size(); ++i)
      logs += "\n--- server " + std::to_string(i + 1) + " (" + log_path(i)
              + ", mode '" + mode(i) + "') ---\n" + log_tail(i);
    throw std::runtime_error("ZooKeeper ensemble in " + dir_
                             + " does not serve within "
                             + std::to_string(timeout.count()) + " ms" + logs);
  }
}

std::string ensemble::mode(size_t i) const {
  auto reply = four_letter(servers_.at(i).client_port, "srvr",
                           std::chrono::milliseconds(500));
  auto pos = reply.find("Mode: ");
  if (pos == std::string::npos)
    return {};
  auto end = reply.find('\n', pos);
  return reply.substr(pos + 6, end == std::string::npos ? end : end - pos - 6);
}

std::optional<size_t> ensemble::leader() const {
  std::optional<size_t> result;
  for (size_t i = 0; i < servers_.size(); ++i) {
    if (!servers_[i].proc)
      continue;
    if (mode(i) == "leader") {
      if (result)
        return std::nullopt; // two claim leadership (stale old leader)
      result = i;
    }
  }
  return result;
}

std::optional<size_t>
ensemble::wait_leader(std::chrono::milliseconds timeout) const {
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    if (auto l = leader())
      return l;
    if (clock_type::now() >= deadline)
      return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

bool ensemble::wait_quorum(std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  for (;;) {
    size_t leaders = 0;
    bool all = true;
    for (size_t i = 0; i < servers_.size(); ++i) {
      if (!servers_[i].proc)
        continue;
      if (!running(i))
        return false; // a server died (bad configuration, port clash)
      auto m = mode(i);
      if (m == "leader")
        ++leaders;
      else if (m != "follower")
        all = false;
    }
    if (all && leaders == 1)
      return true;
    if (clock_type::now() >= deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

bool ensemble::wait_serving(std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  if (!wait_quorum(timeout))
    return false;
  // The servers say they serve; check that a client write commits.
  auto left = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - clock_type::now());
  };
  while (left().count() > 0) {
    client c(connect_string(), std::chrono::milliseconds(10000));
    if (c.wait_connected(left())) {
      auto rc = zoo_create(c.handle(), "/ftsr-ready", "", 0,
                           &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
      if (rc == ZOK || rc == ZNODEEXISTS)
        return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

bool ensemble::kill9(size_t i) {
  auto& proc = servers_.at(i).proc;
  if (!proc || !proc->running())
    return false;
  auto pid = proc->pid();
  if (!proc->signal(SIGKILL))
    return false;
  if (!proc->wait_for(std::chrono::seconds(10)))
    return false; // still registered: stop() and the destructor retry
  unregister_pid(pid);
  proc.reset(); // deliberately down: wait_quorum skips it until restart
  return true;
}

void ensemble::restart(size_t i) {
  start_server(i);
}

void ensemble::stop() {
  for (auto& s : servers_) {
    if (!s.proc)
      continue;
    auto pid = s.proc->pid();
    if (s.proc->running()) {
      s.proc->signal(SIGKILL);
      s.proc->wait_for(std::chrono::seconds(10));
    }
    unregister_pid(pid);
    s.proc.reset();
  }
}

} // namespace ftsr::bench::zk
