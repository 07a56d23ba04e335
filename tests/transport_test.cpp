// Authenticated cluster members (TLS transport): members holding
// certificates of the cluster CA connect and work; a node with another CA's
// certificate, a TLS peer without a certificate and a plain-TCP CAF process
// are refused, each refusal is reported by the node (stderr and a
// "peer_refused" span), and the running members are unharmed (view
// unchanged, calls still work). Certificates are made at test time by
// scripts/make-test-certs.sh in a temporary directory.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "caf/all.hpp"
#include "caf/io/all.hpp"

#include "actors/call.hpp"
#include "actors/errors.hpp"
#include "actors/node.hpp"
#include "actors/transport.hpp"
#include "apps/node/local_cluster.hpp"
#include "apps/node/sample_actors.hpp"
#include "tests/support/wait.hpp"

#ifndef FTSR_SOURCE_DIR
#  error "FTSR_SOURCE_DIR must name the source tree"
#endif

using namespace ftsr;
using namespace ftsr::sample;
using namespace std::chrono_literals;
using ftsr::testing::eventually;

namespace {

#define EXPECT_CONTAINS(haystack, needle)                                      \
  EXPECT_NE(std::string{haystack}.find(needle), std::string::npos)             \
    << "'" << (haystack) << "' does not contain '" << (needle) << "'"

void make_certs(const std::string& dir, const std::string& names) {
  auto cmd = "bash " FTSR_SOURCE_DIR "/scripts/make-test-certs.sh " + dir + " "
             + names;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

// The detail of the first peer_refused span of `n` containing `what`.
std::optional<std::string> refusal(node& n, const std::string& what) {
  for (auto& s : n.context().spans.snapshot())
    if (s.kind == "peer_refused" && s.detail.find(what) != std::string::npos)
      return s.detail;
  return std::nullopt;
}

// Three members host1..host3 in the cluster file; host1 and host2 run (a
// majority), host3's slot is where strangers try to join. [cluster.tls]
// names the CA and the cluster-wide "client" certificate; host1 and host2
// have their own, host3 uses the cluster-wide one.
class tls_cluster : public ::testing::Test {
public:
  void SetUp() override {
    dir = make_temp_dir();
    make_certs(dir + "/ca", "host1 host2 client");
    make_certs(dir + "/other", "intruder");
    ports = free_ports(3);
    cluster_file = write_file("cluster.toml", R"([cluster.tls]
ca = "ca/ca.pem"
cert = "ca/client.pem"
key = "ca/client.key"
)",
                              {R"(cert = "ca/host1.pem")"
                               "\n"
                               R"(key = "ca/host1.key")",
                               R"(cert = "ca/host2.pem")"
                               "\n"
                               R"(key = "ca/host2.key")",
                               ""});
    intruder_file = write_file("intruder.toml", R"([cluster.tls]
ca = "other/ca.pem"
cert = "other/intruder.pem"
key = "other/intruder.key"
)",
                               {"", "", ""});
    auto cfg = load_cluster_config(cluster_file);
    ASSERT_TRUE(cfg) << describe(cfg.error());
    cluster = *cfg;
    for (auto name : {"host1", "host2"}) {
      auto n = start(cluster, name);
      ASSERT_TRUE(n) << describe(n.error());
      members.push_back(std::move(*n));
    }
    for (auto& m : members)
      ASSERT_TRUE(m->await_up({"host1", "host2"}));
    auto c = start(cluster, "");
    ASSERT_TRUE(c) << describe(c.error());
    client = std::move(*c);
    ASSERT_TRUE(client->await_up({"host1", "host2"}));
    auto ref = client->spawn("host2", "echo");
    ASSERT_TRUE(ref) << describe(ref.error());
    echo = *ref;
  }

  caf::expected<std::unique_ptr<node>> start(const cluster_config& cfg,
                                             const std::string& name,
                                             tls_identity tls = {}) {
    node_options opts;
    opts.cluster = cfg;
    opts.name = name;
    opts.tls = std::move(tls);
    // A peer that never starts a handshake is refused after this.
    opts.tls_handshake_timeout = 500ms;
    opts.add_types = add_sample_types;
    return node::start(std::move(opts));
  }

  // The running cluster works: the client's call reaches the echo actor on
  // host2, and both members still see exactly host1 and host2 up.
  void expect_unharmed() {
    caf::scoped_actor self{client->system()};
    ftsr::call(self, capability<echo_actor>{echo}, echo_atom::value,
               std::string{"still here"})
      .receive([](std::string& s) { EXPECT_EQ(s, "still here"); },
               [](caf::error& err) { FAIL() << describe(err); });
    for (auto& m : members) {
      auto v = m->view();
      ASSERT_TRUE(v) << describe(v.error());
      for (auto& s : *v) {
        if (s.name == "host3") {
          EXPECT_NE(s.state, member_state::up) << "host3 admitted";
        } else {
          EXPECT_EQ(s.state, member_state::up) << s.name;
        }
      }
    }
  }

  std::string dir;
  std::vector<uint16_t> ports;
  std::string cluster_file;
  std::string intruder_file;
  cluster_config cluster;
  std::vector<std::unique_ptr<node>> members;
  std::unique_ptr<node> client;
  capability_ref echo;

private:
  std::string write_file(const std::string& file, const std::string& tls,
                         const std::vector<std::string>& node_extra) {
    auto path = dir + "/" + file;
    std::ofstream out{path};
    out << "[cluster]\nname = \"tls\"\nheartbeat_interval_ms = 50\n"
           "failure_timeout_ms = 300\n"
        << tls;
    for (size_t i = 0; i < 3; ++i)
      out << "\n[[node]]\nname = \"host" << i + 1
          << "\"\nhost = \"127.0.0.1\"\nport = " << ports[i] << "\n"
          << node_extra[i] << "\n";
    return path;
  }
};

TEST_F(tls_cluster, members_with_the_cluster_ca_connect_and_work) {
  EXPECT_TRUE(cluster.tls());
  EXPECT_EQ(echo.node, "host2");
  expect_unharmed();
  for (auto& m : members)
    EXPECT_EQ(refusal(*m, ""), std::nullopt) << *refusal(*m, "");
}

TEST_F(tls_cluster, node_with_another_cas_certificate_is_refused) {
  auto cfg = load_cluster_config(intruder_file);
  ASSERT_TRUE(cfg) << describe(cfg.error());
  // Its credentials are consistent (its own CA signed them): it starts.
  auto intruder = start(*cfg, "host3");
  ASSERT_TRUE(intruder) << describe(intruder.error());
  // Both members refuse its connections (and it refuses theirs).
  for (auto& m : members)
    ASSERT_TRUE(eventually([&] { return refusal(*m, "127.0.0.1").has_value(); }))
      << to_string(m->self()) << " reported no refusal";
  ASSERT_TRUE(eventually(
    [&] { return refusal(**intruder, "certificate verify failed").has_value(); }));
  auto detail = *refusal(*members[0], "127.0.0.1");
  EXPECT_CONTAINS(detail, "connection");
  auto v = (*intruder)->view();
  ASSERT_TRUE(v);
  for (auto& s : *v) {
    if (s.name != "host3") {
      EXPECT_NE(s.state, member_state::up) << s.name;
    }
  }
  expect_unharmed();
}

TEST_F(tls_cluster, tls_peer_without_certificate_is_refused) {
  // A TLS client that trusts the cluster CA but has no certificate.
  std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> ctx{SSL_CTX_new(TLS_method()),
                                                   SSL_CTX_free};
  ASSERT_NE(ctx, nullptr);
  ASSERT_EQ(SSL_CTX_load_verify_locations(
              ctx.get(), (dir + "/ca/ca.pem").c_str(), nullptr),
            1);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(ports[0]);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)),
            0);
  std::unique_ptr<SSL, void (*)(SSL*)> ssl{SSL_new(ctx.get()), SSL_free};
  SSL_set_fd(ssl.get(), fd);
  ERR_clear_error();
  EXPECT_NE(SSL_connect(ssl.get()), 1) << "handshake without a certificate "
                                          "succeeded";
  char buf[256] = "";
  ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
  EXPECT_CONTAINS(buf, "alert");
  ::close(fd);
  ASSERT_TRUE(eventually([&] {
    return refusal(*members[0], "peer did not return a certificate")
      .has_value();
  }));
  expect_unharmed();
}

TEST_F(tls_cluster, plain_tcp_caf_process_gets_nothing) {
  caf::actor_system_config cfg;
  cfg.load<caf::io::middleman>();
  cfg.set("logger.file-verbosity", caf::atom("quiet"));
  caf::actor_system sys{cfg};
  auto hdl = sys.middleman().remote_actor(cluster.nodes[0].host,
                                          cluster.nodes[0].port);
  EXPECT_FALSE(hdl) << "a plain-TCP process got the manager's handle";
  ASSERT_TRUE(eventually([&] {
    return refusal(*members[0], "no TLS handshake within 500 ms").has_value()
           || refusal(*members[0], "wrong version number").has_value();
  }));
  expect_unharmed();
}

TEST_F(tls_cluster, client_without_a_certificate_cannot_start) {
  auto cfg = cluster;
  cfg.tls_default = {};
  auto c = start(cfg, "");
  ASSERT_FALSE(c);
  EXPECT_TRUE(is(c.error(), errc::bad_config)) << describe(c.error());
  EXPECT_CONTAINS(describe(c.error()), "needs a certificate and key");
  expect_unharmed();
}

TEST_F(tls_cluster, client_with_another_cas_certificate_cannot_start) {
  auto c = start(cluster, "",
                 {dir + "/other/intruder.pem", dir + "/other/intruder.key"});
  ASSERT_FALSE(c);
  EXPECT_TRUE(is(c.error(), errc::bad_config)) << describe(c.error());
  EXPECT_CONTAINS(describe(c.error()), "is not valid for CA");
  expect_unharmed();
}

TEST_F(tls_cluster, mismatched_key_or_bad_files_are_clear_errors) {
  auto ca = dir + "/ca/ca.pem";
  auto r1 = load_tls_context(ca, {dir + "/ca/host1.pem", dir + "/ca/host2.key"});
  ASSERT_FALSE(r1);
  EXPECT_CONTAINS(describe(r1.error()), "does not belong to certificate");
  auto r2 = load_tls_context(ca, {dir + "/ca/host1.key", dir + "/ca/host1.key"});
  ASSERT_FALSE(r2);
  EXPECT_CONTAINS(describe(r2.error()), "cannot load certificate file");
  auto r3 = load_tls_context(dir + "/ca/host1.key",
                             {dir + "/ca/host1.pem", dir + "/ca/host1.key"});
  ASSERT_FALSE(r3);
  EXPECT_CONTAINS(describe(r3.error()), "cannot load CA file");
  // An encrypted key is refused (OpenSSL would prompt on the terminal).
  auto enc = dir + "/ca/host1.enc.key";
  auto cmd = "openssl pkey -in " + dir + "/ca/host1.key -aes256 -passout "
             + "pass:secret -out " + enc;
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto r4 = load_tls_context(ca, {dir + "/ca/host1.pem", enc});
  ASSERT_FALSE(r4);
  EXPECT_CONTAINS(describe(r4.error()), "(PEM, unencrypted)");
  auto r5 = load_tls_context(ca, {dir + "/ca/host1.pem", dir + "/ca/host1.key"});
  EXPECT_TRUE(r5) << describe(r5.error());
}

TEST(transport, plain_cluster_has_no_tls_transport) {
  auto dir = make_temp_dir();
  auto cfg = load_cluster_config(
    write_cluster_file(dir, {"host1"}, free_ports(1), 50, 300));
  ASSERT_TRUE(cfg) << describe(cfg.error());
  EXPECT_FALSE(cfg->tls());
  node_options opts;
  opts.cluster = *cfg;
  opts.name = "host1";
  auto n = node::start(std::move(opts));
  ASSERT_TRUE(n) << describe(n.error());
  EXPECT_FALSE((*n)->context().transport);
  // Credentials for a cluster without [cluster.tls] are a mistake.
  node_options client;
  client.cluster = *cfg;
  client.tls = {dir + "/x.pem", dir + "/x.key"};
  auto c = node::start(std::move(client));
  ASSERT_FALSE(c);
  EXPECT_CONTAINS(describe(c.error()), "has no [cluster.tls] table");
}

} // namespace
