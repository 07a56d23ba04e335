// The real ftsr-node binary: bad command lines and bad cluster files make it
// exit with code 2 and a clear message on stderr; SIGTERM/SIGINT make a
// running node exit with code 0.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#ifndef FTSR_NODE_BIN
#  error "FTSR_NODE_BIN must name the ftsr-node binary"
#endif
#ifndef FTSR_SOURCE_DIR
#  error "FTSR_SOURCE_DIR must name the source tree"
#endif

extern char** environ;

namespace {

using clock_type = std::chrono::steady_clock;

// Upper bound for any single run; a correct binary finishes in milliseconds.
constexpr auto run_limit = std::chrono::seconds{20};

#define EXPECT_CONTAINS(haystack, needle)                                      \
  EXPECT_NE(std::string{haystack}.find(needle), std::string::npos)             \
    << "'" << (haystack) << "' does not contain '" << (needle) << "'"

// A running ftsr-node with its stdout and stderr on pipes.
class node_process {
public:
  explicit node_process(std::vector<std::string> args) {
    args.insert(args.begin(), FTSR_NODE_BIN);
    int out[2];
    int err[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0)
      throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, err[1], STDERR_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY,
                                     0);
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    auto rc = ::posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(),
                            environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(out[1]);
    ::close(err[1]);
    out_fd_ = out[0];
    err_fd_ = err[0];
    if (rc != 0) {
      pid_ = -1;
      throw std::runtime_error(std::string{"posix_spawn failed: "}
                               + std::strerror(rc));
    }
  }

  node_process(const node_process&) = delete;
  node_process& operator=(const node_process&) = delete;

  ~node_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (out_fd_ >= 0)
      ::close(out_fd_);
    if (err_fd_ >= 0)
      ::close(err_fd_);
  }

  /// Reads output until stdout contains `needle` or both pipes close.
  bool wait_for_stdout(const std::string& needle) {
    return wait_for(out, needle);
  }

  bool wait_for_stderr(const std::string& needle) {
    return wait_for(err, needle);
  }

  bool wait_for(const std::string& stream, const std::string& needle) {
    auto deadline = clock_type::now() + run_limit;
    while (stream.find(needle) == std::string::npos) {
      if (!pump(deadline))
        return stream.find(needle) != std::string::npos;
    }
    return true;
  }

  bool signal(int sig) {
    return pid_ > 0 && ::kill(pid_, sig) == 0;
  }

  /// Reads all output and reaps the process; returns its exit code, 128 +
  /// signal number if killed by a signal, or -1 if it outlived run_limit
  /// (then it is killed).
  int wait() {
    auto deadline = clock_type::now() + run_limit;
    while (pump(deadline)) {
      // keep reading until both pipes close
    }
    if (out_fd_ >= 0 || err_fd_ >= 0) {
      // Timed out with pipes still open: the process hangs.
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
      return -1;
    }
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    if (WIFEXITED(status))
      return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
      return 128 + WTERMSIG(status);
    return -1;
  }

  std::string out;
  std::string err;

private:
  // Reads what is available on the open pipes; false once both are closed
  // or the deadline passed.
  bool pump(clock_type::time_point deadline) {
    pollfd fds[2];
    nfds_t n = 0;
    if (out_fd_ >= 0)
      fds[n++] = pollfd{out_fd_, POLLIN, 0};
    if (err_fd_ >= 0)
      fds[n++] = pollfd{err_fd_, POLLIN, 0};
    if (n == 0)
      return false;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - clock_type::now());
    if (left.count() <= 0)
      return false;
    auto rc = ::poll(fds, n, static_cast<int>(left.count()));
    if (rc < 0 && errno == EINTR)
      return true;
    if (rc <= 0)
      return false;
    for (nfds_t i = 0; i < n; ++i) {
      if (fds[i].revents == 0)
        continue;
      auto& fd = fds[i].fd == out_fd_ ? out_fd_ : err_fd_;
      auto& buf = fds[i].fd == out_fd_ ? out : err;
      char chunk[4096];
      auto got = ::read(fd, chunk, sizeof(chunk));
      if (got > 0) {
        buf.append(chunk, static_cast<size_t>(got));
      } else if (got == 0 || errno != EINTR) {
        ::close(fd);
        fd = -1;
      }
    }
    return true;
  }

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
};

struct run_result {
  int code;
  std::string out;
  std::string err;
};

run_result run_node(std::vector<std::string> args) {
  node_process p{std::move(args)};
  auto code = p.wait();
  return {code, p.out, p.err};
}

// A listening TCP socket on 127.0.0.1 with an ephemeral port.
class listener {
public:
  listener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0
        || ::listen(fd_, 1) != 0
        || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("cannot listen on an ephemeral port");
    port_ = ntohs(addr.sin_port);
  }

  ~listener() {
    if (fd_ >= 0)
      ::close(fd_);
  }

  uint16_t port() const {
    return port_;
  }

  /// Closes the socket; its port is free again.
  void release() {
    ::close(fd_);
    fd_ = -1;
  }

private:
  int fd_ = -1;
  uint16_t port_ = 0;
};

class node_cli : public ::testing::Test {
protected:
  void SetUp() override {
    char tmpl[] = "/tmp/ftsr-node-cli-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr) << std::strerror(errno);
    dir_ = tmpl;
  }

  void TearDown() override {
    for (auto& f : files_)
      ::unlink(f.c_str());
    if (!dir_.empty())
      ::rmdir(dir_.c_str());
  }

  std::string write_file(const std::string& name, const std::string& text) {
    auto path = dir_ + "/" + name;
    std::ofstream out{path};
    out << text;
    files_.push_back(path);
    return path;
  }

  /// A cluster file of "solo" on a loopback port free a moment ago.
  struct solo_cluster {
    std::string path;
    uint16_t port = 0;
  };

  solo_cluster solo_on_free_port() {
    listener reserved;
    solo_cluster x{write_solo_cluster(reserved.port()), reserved.port()};
    reserved.release();
    return x;
  }

  // A one-node cluster "solo" on 127.0.0.1:port.
  std::string write_solo_cluster(uint16_t port) {
    return write_file("solo.toml", "[cluster]\nname = \"solo\"\n"
                                   "heartbeat_interval_ms = 100\n"
                                   "failure_timeout_ms = 500\n\n"
                                   "[[node]]\nname = \"solo\"\n"
                                   "host = \"127.0.0.1\"\nport = "
                                     + std::to_string(port) + "\n");
  }

  std::string dir_;
  std::vector<std::string> files_;
};

const std::string shipped_config = FTSR_SOURCE_DIR "/config/local-3.toml";

} // namespace

TEST_F(node_cli, missing_config_option) {
  auto r = run_node({"--name", "host1"});
  EXPECT_EQ(r.code, 2);
  EXPECT_CONTAINS(r.err, "--config is required");
}

TEST_F(node_cli, missing_name_option) {
  auto r = run_node({"--config", shipped_config});
  EXPECT_EQ(r.code, 2);
  EXPECT_CONTAINS(r.err, "--name is required");
}

TEST_F(node_cli, no_arguments_at_all) {
  auto r = run_node({});
  EXPECT_EQ(r.code, 2);
  EXPECT_CONTAINS(r.err, "is required");
}

TEST_F(node_cli, unknown_option) {
  auto r = run_node({"--config", shipped_config, "--name", "host1",
                     "--colour", "red"});
  EXPECT_EQ(r.code, 2);
  EXPECT_CONTAINS(r.err, "--colour");
  EXPECT_CONTAINS(r.err, "not expected");
}

TEST_F(node_cli, non_numeric_threads) {
  auto r = run_node({"--config", shipped_config, "--name", "host1",
                     "--threads", "many"});
  EXPECT_EQ(r.code, 2);
  EXPECT_CONTAINS(r.err, "--threads");
}

TEST_F(node_cli, data_dir_through_a_regular_file) {
  auto file = write_file("plain", "not a directory\n");
  auto r = run_node({"--config", shipped_config, "--name", "host1",
                     "--data-dir", file + "/data"});
  EXPECT_EQ(r.code, 2);
  EXPECT_CONTAINS(r.err, "ftsr-node: ftsr: storage_error: cannot create data "
                         "directory '" + file + "/data'");
}

TEST_F(node_cli, data_dir_on_a_read_only_file_system) {
  // /proc refuses new files even for root.
  auto r = run_node({"--config", shipped_config, "--name", "host1",
                     "--data-dir", "/proc/self"});
  EXPECT_EQ(r.code, 2);
  EXPECT_CONTAINS(r.err, "ftsr-node: ftsr: storage_error: data directory "
                         "'/proc/self' is not writable");
}

TEST_F(node_cli, help_exits_zero) {
  auto r = run_node({"--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_CONTAINS(r.out, "--config");
  EXPECT_CONTAINS(r.out, "--name");
}

TEST_F(node_cli, unknown_node_name_lists_known_nodes) {
  auto r = run_node({"--config", shipped_config, "--name", "host9"});
  EXPECT_EQ(r.code, 2);
  EXPECT_CONTAINS(r.err, "ftsr-node: ftsr: unknown_node: node 'host9' is not "
                         "part of cluster 'local-3' (known: host1, host2, "
                         "host3)");
}

TEST_F(node_cli, nonexistent_config_file) {
  auto path = dir_ + "/missing.toml";
  auto r = run_node({"--config", path, "--name", "host1"});
  EXPECT_EQ(r.code, 2);
  EXPECT_CONTAINS(r.err, "ftsr-node: ftsr: bad_config: cannot open cluster "
                         "file '"
                           + path + "'");
}

TEST_F(node_cli, malformed_config_file) {
  auto path = write_file("bad.toml", "[cluster]\nname = \"c\"\n[[node]\n");
  auto r = run_node({"--config", path, "--name", "a"});
  EXPECT_EQ(r.code, 2);
  EXPECT_CONTAINS(r.err, "ftsr-node: ftsr: bad_config: " + path + ":3:");
}

TEST_F(node_cli, inconsistent_config_file) {
  auto path = write_file("dup.toml",
                         "[cluster]\nname = \"c\"\n"
                         "[[node]]\nname = \"a\"\nhost = \"127.0.0.1\"\n"
                         "port = 70000\n");
  auto r = run_node({"--config", path, "--name", "a"});
  EXPECT_EQ(r.code, 2);
  EXPECT_CONTAINS(r.err, path + ": [[node]] #1 ('a'): port 70000 out of "
                                "range 1..65535");
}

TEST_F(node_cli, port_already_in_use) {
  listener busy;
  auto path = write_solo_cluster(busy.port());
  auto r = run_node({"--config", path, "--name", "solo"});
  EXPECT_EQ(r.code, 2);
  EXPECT_CONTAINS(r.err, "cannot listen on 127.0.0.1:"
                           + std::to_string(busy.port()));
}

TEST_F(node_cli, sigterm_stops_a_running_node_with_code_zero) {
  auto [path, port] = solo_on_free_port();
  node_process p{{"--config", path, "--name", "solo"}};
  ASSERT_TRUE(p.wait_for_stdout("listening on 127.0.0.1:"
                                + std::to_string(port)))
    << "stdout: " << p.out << "\nstderr: " << p.err;
  ASSERT_TRUE(p.signal(SIGTERM));
  EXPECT_EQ(p.wait(), 0) << "stderr: " << p.err;
  EXPECT_CONTAINS(p.out, "stopping on signal " + std::to_string(SIGTERM));
}

TEST_F(node_cli, sigint_stops_a_running_node_with_code_zero) {
  auto [path, port] = solo_on_free_port();
  node_process p{{"--config", path, "--name", "solo"}};
  ASSERT_TRUE(p.wait_for_stdout("listening on"))
    << "stdout: " << p.out << "\nstderr: " << p.err;
  ASSERT_TRUE(p.signal(SIGINT));
  EXPECT_EQ(p.wait(), 0) << "stderr: " << p.err;
}

TEST_F(node_cli, unreachable_peer_is_reported_and_the_node_keeps_running) {
  listener mine;
  auto port = mine.port();
  // b on port 1 (tcpmux): privileged and outside the ephemeral range, so
  // no test of a parallel run can be listening there; connecting is
  // refused at once.
  uint16_t peer_port = 1;
  auto path = write_file(
    "pair.toml",
    "[cluster]\nname = \"pair\"\n\n[[node]]\nname = \"a\"\nhost = "
    "\"127.0.0.1\"\nport = "
      + std::to_string(port)
      + "\n\n[[node]]\nname = \"b\"\nhost = \"127.0.0.1\"\nport = "
      + std::to_string(peer_port) + "\n");
  mine.release();
  node_process p{{"--config", path, "--name", "a"}};
  ASSERT_TRUE(p.wait_for_stderr("peer b unreachable at 127.0.0.1:"
                                + std::to_string(peer_port)))
    << "stderr: " << p.err;
  // Not fatal: the node serves and stops normally.
  ASSERT_TRUE(p.signal(SIGTERM));
  EXPECT_EQ(p.wait(), 0) << "stderr: " << p.err;
}

// -- TLS ([cluster.tls]) --------------------------------------------------

namespace {

// Throw-away certificates under dir/certs, removed with the test.
class tls_certs {
public:
  tls_certs(const std::string& dir, const std::string& names)
    : dir_(dir + "/certs") {
    auto cmd = "bash " FTSR_SOURCE_DIR "/scripts/make-test-certs.sh " + dir_
               + " " + names;
    ok = std::system(cmd.c_str()) == 0;
  }

  ~tls_certs() {
    std::filesystem::remove_all(dir_);
  }

  bool ok;

private:
  std::string dir_;
};

// A one-node TLS cluster "solo" on 127.0.0.1:port with `cert` and `key`.
std::string solo_tls(uint16_t port, const std::string& cert,
                     const std::string& key) {
  return "[cluster]\nname = \"solo\"\n\n[cluster.tls]\nca = \"certs/ca.pem\"\n"
         "\n[[node]]\nname = \"solo\"\nhost = \"127.0.0.1\"\nport = "
         + std::to_string(port) + "\ncert = \"certs/" + cert
         + "\"\nkey = \"certs/" + key + "\"\n";
}

} // namespace

TEST_F(node_cli, tls_key_of_another_certificate_exits_2) {
  tls_certs certs{dir_, "solo other"};
  ASSERT_TRUE(certs.ok);
  auto path = write_file("solo.toml", solo_tls(1, "solo.pem", "other.key"));
  auto r = run_node({"--config", path, "--name", "solo"});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_CONTAINS(r.err, "ftsr-node: ftsr: bad_config: key file '" + dir_
                           + "/certs/other.key' does not belong to "
                             "certificate '"
                           + dir_ + "/certs/solo.pem'");
}

TEST_F(node_cli, tls_node_reports_a_refused_stranger_and_keeps_serving) {
  tls_certs certs{dir_, "solo"};
  ASSERT_TRUE(certs.ok);
  listener reserved;
  auto path = write_file("solo.toml", solo_tls(reserved.port(), "solo.pem",
                                               "solo.key"));
  reserved.release();
  node_process p{{"--config", path, "--name", "solo"}};
  ASSERT_TRUE(p.wait_for_stdout("listening on"))
    << "stdout: " << p.out << "\nstderr: " << p.err;
  // A stranger speaking something else than TLS.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(reserved.port());
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
            0);
  const char junk[] = "GET / HTTP/1.0\r\n\r\n";
  ASSERT_EQ(::send(fd, junk, sizeof(junk) - 1, MSG_NOSIGNAL),
            static_cast<ssize_t>(sizeof(junk) - 1));
  // The node closes the connection without a byte of ftsr, and says why.
  char buf[64];
  auto got = ::recv(fd, buf, sizeof(buf), 0);
  ::close(fd);
  EXPECT_LE(got, 7) << "more than a TLS alert came back";
  ASSERT_TRUE(p.wait_for_stderr("ftsr solo: refused connection from "
                                "127.0.0.1:"))
    << "stderr: " << p.err;
  ASSERT_TRUE(p.signal(SIGTERM));
  EXPECT_EQ(p.wait(), 0) << "stderr: " << p.err;
}

TEST_F(node_cli, bad_log_level_names_the_valid_ones) {
  auto r = run_node({"--config", shipped_config, "--name", "host1",
                     "--log-level", "verbose"});
  EXPECT_EQ(r.code, 2);
  EXPECT_CONTAINS(r.err, "bad log level 'verbose' (expected trace, debug, "
                         "info, warn, error or off)");
}

TEST_F(node_cli, log_level_off_keeps_stderr_quiet_and_still_serves) {
  auto [path, port] = solo_on_free_port();
  node_process p{{"--config", path, "--name", "solo", "--log-level", "off",
                  "--data-dir", dir_ + "/data-off"}};
  ASSERT_TRUE(p.wait_for_stdout("listening on 127.0.0.1:"
                                + std::to_string(port)))
    << "stdout: " << p.out << "\nstderr: " << p.err;
  ASSERT_TRUE(p.signal(SIGTERM));
  EXPECT_EQ(p.wait(), 0) << "stderr: " << p.err;
  EXPECT_EQ(p.err, "");
}

TEST_F(node_cli, info_log_shows_the_view_the_node_installed) {
  auto [path, port] = solo_on_free_port();
  node_process p{{"--config", path, "--name", "solo", "--data-dir",
                  dir_ + "/data-info"}};
  ASSERT_TRUE(p.wait_for_stderr(" info solo/"))
    << "stdout: " << p.out << "\nstderr: " << p.err;
  ASSERT_TRUE(p.wait_for_stderr("installed: "))
    << "stdout: " << p.out << "\nstderr: " << p.err;
  ASSERT_TRUE(p.signal(SIGTERM));
  EXPECT_EQ(p.wait(), 0) << "stderr: " << p.err;
}

TEST_F(node_cli, metrics_on_a_non_loopback_address_is_refused) {
  auto r = run_node({"--config", shipped_config, "--name", "host1",
                     "--metrics", "0.0.0.0:9100"});
  EXPECT_EQ(r.code, 2);
  EXPECT_CONTAINS(r.err, "bad metrics address '0.0.0.0:9100': host '0.0.0.0' "
                         "is not loopback; pass --metrics-any-address");
}

TEST_F(node_cli, malformed_metrics_address_is_refused) {
  auto r = run_node({"--config", shipped_config, "--name", "host1",
                     "--metrics", "127.0.0.1:http"});
  EXPECT_EQ(r.code, 2);
  EXPECT_CONTAINS(r.err, "bad metrics address '127.0.0.1:http': port must be "
                         "a number from 0 to 65535");
}

TEST_F(node_cli, metrics_port_in_use_is_refused) {
  listener busy;
  auto [path, port] = solo_on_free_port();
  auto r = run_node({"--config", path, "--name", "solo", "--metrics",
                     std::to_string(busy.port()), "--data-dir",
                     dir_ + "/data-metrics"});
  EXPECT_EQ(r.code, 2);
  EXPECT_CONTAINS(r.err, "cannot serve metrics on 127.0.0.1:"
                           + std::to_string(busy.port()));
}
