// Cluster file loading and validation: the shipped topology loads, and every
// bad input is rejected with errc::bad_config and a message naming what is
// wrong (file, table/entry and field).
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "actors/cluster_config.hpp"
#include "actors/errors.hpp"

#ifndef FTSR_SOURCE_DIR
#  error "FTSR_SOURCE_DIR must name the source tree"
#endif

using namespace ftsr;
using namespace std::chrono_literals;

namespace {

constexpr const char* origin = "test.toml";

// A valid cluster header; tests append [[node]] entries to it.
const std::string header = R"([cluster]
name = "c"
heartbeat_interval_ms = 100
failure_timeout_ms = 500
)";

std::string node_entry(const std::string& name, const std::string& host,
                       const std::string& port) {
  return "\n[[node]]\nname = \"" + name + "\"\nhost = \"" + host
         + "\"\nport = " + port + "\n";
}

const std::string two_nodes = node_entry("a", "127.0.0.1", "4101")
                              + node_entry("b", "127.0.0.1", "4102");

// Parses `text`, expects a bad_config error and returns its rendering.
std::string error_of(const std::string& text) {
  auto cfg = parse_cluster_config(text, origin);
  if (cfg) {
    ADD_FAILURE() << "accepted invalid config:\n" << text;
    return {};
  }
  EXPECT_TRUE(is(cfg.error(), errc::bad_config)) << describe(cfg.error());
  return describe(cfg.error());
}

#define EXPECT_CONTAINS(haystack, needle)                                      \
  EXPECT_NE(std::string{haystack}.find(needle), std::string::npos)             \
    << "'" << (haystack) << "' does not contain '" << (needle) << "'"

} // namespace

TEST(cluster_config, shipped_local_3_loads) {
  auto cfg = load_cluster_config(FTSR_SOURCE_DIR "/config/local-3.toml");
  ASSERT_TRUE(cfg) << describe(cfg.error());
  EXPECT_EQ(cfg->name, "local-3");
  ASSERT_EQ(cfg->nodes.size(), 3u);
  EXPECT_EQ(cfg->heartbeat_interval, 100ms);
  EXPECT_EQ(cfg->failure_timeout, 500ms);
  for (size_t i = 0; i < 3; ++i) {
    auto& n = cfg->nodes[i];
    EXPECT_EQ(n.name, "host" + std::to_string(i + 1));
    EXPECT_EQ(n.host, "127.0.0.1");
    EXPECT_EQ(n.port, 4101 + i);
  }
  ASSERT_NE(cfg->find("host2"), nullptr);
  EXPECT_EQ(cfg->find("host2")->port, 4102);
  EXPECT_EQ(cfg->find("host9"), nullptr);
}

TEST(cluster_config, timing_defaults_apply_when_omitted) {
  auto cfg = parse_cluster_config("[cluster]\nname = \"c\"\n" + two_nodes,
                                  origin);
  ASSERT_TRUE(cfg) << describe(cfg.error());
  EXPECT_EQ(cfg->heartbeat_interval, 100ms);
  EXPECT_EQ(cfg->failure_timeout, 500ms);
  EXPECT_EQ(cfg->nodes.size(), 2u);
}

TEST(cluster_config, extreme_valid_ports_accepted) {
  auto cfg = parse_cluster_config(header + node_entry("a", "h", "1")
                                    + node_entry("b", "h", "65535"),
                                  origin);
  ASSERT_TRUE(cfg) << describe(cfg.error());
  EXPECT_EQ(cfg->nodes[0].port, 1);
  EXPECT_EQ(cfg->nodes[1].port, 65535);
}

TEST(cluster_config, malformed_toml_names_line_and_column) {
  // Line 2 lacks the closing quote.
  auto msg = error_of("[cluster]\nname = \"oops\n");
  EXPECT_CONTAINS(msg, "ftsr: bad_config: ");
  EXPECT_CONTAINS(msg, "test.toml:2:");
  EXPECT_TRUE(std::regex_search(msg, std::regex{R"(test\.toml:2:[0-9]+: )"}))
    << msg;
  // Garbage in the middle of an otherwise valid file.
  msg = error_of(header + "this is not toml\n" + two_nodes);
  EXPECT_TRUE(std::regex_search(msg, std::regex{R"(test\.toml:5:[0-9]+: )"}))
    << msg;
  // A key given twice is a TOML error, reported where it is redefined.
  msg = error_of(header + node_entry("a", "h", "1") + "port = 2\n");
  EXPECT_TRUE(std::regex_search(msg, std::regex{R"(test\.toml:10:[0-9]+: )"}))
    << msg;
  EXPECT_CONTAINS(msg, "'port'");
}

TEST(cluster_config, missing_cluster_table) {
  auto msg = error_of(two_nodes);
  EXPECT_CONTAINS(msg, "test.toml: missing [cluster] table");
}

TEST(cluster_config, cluster_not_a_table) {
  auto msg = error_of("cluster = \"c\"\n" + two_nodes);
  EXPECT_CONTAINS(msg, "[cluster]");
}

TEST(cluster_config, missing_cluster_name) {
  auto msg = error_of("[cluster]\nheartbeat_interval_ms = 100\n" + two_nodes);
  EXPECT_CONTAINS(msg, "test.toml: [cluster]: missing field 'name'");
}

TEST(cluster_config, invalid_cluster_name) {
  auto msg = error_of("[cluster]\nname = \"\"\n" + two_nodes);
  EXPECT_CONTAINS(msg, "test.toml: [cluster]: invalid cluster name ''");
  msg = error_of("[cluster]\nname = \"my cluster\"\n" + two_nodes);
  EXPECT_CONTAINS(msg, "[cluster]: invalid cluster name 'my cluster'");
}

TEST(cluster_config, cluster_name_not_a_string) {
  auto msg = error_of("[cluster]\nname = 3\n" + two_nodes);
  EXPECT_CONTAINS(msg, "[cluster]: field 'name' must be a string");
}

TEST(cluster_config, unknown_key_in_cluster_is_a_typo) {
  auto msg = error_of("[cluster]\nname = \"c\"\nheartbeat_interval = 100\n"
                      + two_nodes);
  EXPECT_CONTAINS(msg, "[cluster]: unknown key 'heartbeat_interval'");
}

TEST(cluster_config, unknown_key_in_node) {
  auto msg = error_of(header
                      + "\n[[node]]\nname = \"a\"\nhost = \"h\"\nprot = 1\n");
  EXPECT_CONTAINS(msg, "[[node]] #1");
  EXPECT_CONTAINS(msg, "unknown key 'prot'");
}

TEST(cluster_config, unknown_top_level_table) {
  auto msg = error_of(header + two_nodes + "\n[nodes]\nx = 1\n");
  EXPECT_CONTAINS(msg, "test.toml: unknown key 'nodes'");
}

TEST(cluster_config, non_integer_port) {
  auto msg = error_of(header + node_entry("a", "h", "\"4101\""));
  EXPECT_CONTAINS(msg, "[[node]] #1 ('a'): field 'port' must be an integer");
  msg = error_of(header + node_entry("a", "h", "4101.5"));
  EXPECT_CONTAINS(msg, "field 'port' must be an integer");
}

TEST(cluster_config, port_zero) {
  auto msg = error_of(header + node_entry("a", "h", "0"));
  EXPECT_CONTAINS(msg, "[[node]] #1 ('a'): port 0 out of range 1..65535");
}

TEST(cluster_config, port_too_large) {
  auto msg = error_of(header + node_entry("a", "h", "1")
                      + node_entry("b", "h", "70000"));
  EXPECT_CONTAINS(msg, "[[node]] #2 ('b'): port 70000 out of range 1..65535");
}

TEST(cluster_config, negative_port) {
  auto msg = error_of(header + node_entry("a", "h", "-1"));
  EXPECT_CONTAINS(msg, "port -1 out of range 1..65535");
}

TEST(cluster_config, duplicate_node_names) {
  auto msg = error_of(header + node_entry("a", "127.0.0.1", "1")
                      + node_entry("a", "127.0.0.1", "2"));
  EXPECT_CONTAINS(msg, "[[node]] #2 ('a'): duplicate node name 'a'");
}

TEST(cluster_config, duplicate_host_and_port) {
  auto msg = error_of(header + node_entry("a", "127.0.0.1", "4101")
                      + node_entry("b", "127.0.0.1", "4101"));
  EXPECT_CONTAINS(msg,
                  "[[node]] #2 ('b'): duplicate address 127.0.0.1:4101");
}

TEST(cluster_config, same_port_on_different_hosts_is_fine) {
  auto cfg = parse_cluster_config(header + node_entry("a", "10.0.0.1", "4101")
                                    + node_entry("b", "10.0.0.2", "4101"),
                                  origin);
  ASSERT_TRUE(cfg) << describe(cfg.error());
}

TEST(cluster_config, invalid_node_name_characters) {
  for (auto bad : {"host 1", "host/1", "h\xC3\xA9", "a.b", "x;rm"}) {
    auto msg = error_of(header + node_entry(bad, "h", "1"));
    EXPECT_CONTAINS(msg, "[[node]] #1: invalid node name '"
                           + std::string{bad} + "'");
    EXPECT_CONTAINS(msg, "letters, digits, '-' or '_'");
  }
}

TEST(cluster_config, empty_and_overlong_node_names) {
  auto msg = error_of(header + node_entry("", "h", "1"));
  EXPECT_CONTAINS(msg, "invalid node name ''");
  msg = error_of(header + node_entry(std::string(65, 'x'), "h", "1"));
  EXPECT_CONTAINS(msg, "invalid node name");
  EXPECT_CONTAINS(msg, "1-64");
  auto cfg = parse_cluster_config(header
                                    + node_entry(std::string(64, 'x'), "h",
                                                 "1"),
                                  origin);
  EXPECT_TRUE(cfg);
}

TEST(cluster_config, missing_node_name) {
  auto msg = error_of(header + "\n[[node]]\nhost = \"h\"\nport = 1\n");
  EXPECT_CONTAINS(msg, "[[node]] #1: missing field 'name'");
}

TEST(cluster_config, missing_node_host) {
  auto msg = error_of(header + node_entry("a", "h", "1")
                      + "\n[[node]]\nname = \"b\"\nport = 2\n");
  EXPECT_CONTAINS(msg, "[[node]] #2 ('b'): missing field 'host'");
}

TEST(cluster_config, empty_node_host) {
  auto msg = error_of(header + node_entry("a", "", "1"));
  EXPECT_CONTAINS(msg, "[[node]] #1 ('a'): empty host");
}

TEST(cluster_config, missing_node_port) {
  auto msg = error_of(header + "\n[[node]]\nname = \"a\"\nhost = \"h\"\n");
  EXPECT_CONTAINS(msg, "[[node]] #1 ('a'): missing field 'port'");
}

TEST(cluster_config, no_node_entries) {
  auto msg = error_of(header);
  EXPECT_CONTAINS(msg, "test.toml: no [[node]] entries");
  msg = error_of("node = []\n" + header);
  EXPECT_CONTAINS(msg, "no [[node]] entries");
}

TEST(cluster_config, node_as_single_table_instead_of_array) {
  auto msg = error_of(header + "\n[node]\nname = \"a\"\nhost = \"h\"\n"
                               "port = 1\n");
  EXPECT_CONTAINS(msg, "test.toml: 'node' must be an array of tables");
  EXPECT_CONTAINS(msg, "[[node]]");
}

TEST(cluster_config, node_entry_not_a_table) {
  auto msg = error_of("node = [1]\n" + header);
  EXPECT_CONTAINS(msg, "[[node]] #1: must be a table");
}

TEST(cluster_config, heartbeat_not_positive) {
  for (auto hb : {"0", "-5"}) {
    auto msg = error_of("[cluster]\nname = \"c\"\nheartbeat_interval_ms = "
                        + std::string{hb} + "\n" + two_nodes);
    EXPECT_CONTAINS(msg, "[cluster]: heartbeat_interval_ms must be in "
                         "1..60000");
  }
}

TEST(cluster_config, heartbeat_not_an_integer) {
  auto msg = error_of("[cluster]\nname = \"c\"\nheartbeat_interval_ms = "
                      "\"100\"\n"
                      + two_nodes);
  EXPECT_CONTAINS(msg, "field 'heartbeat_interval_ms' must be an integer");
}

TEST(cluster_config, failure_timeout_below_twice_heartbeat) {
  auto msg = error_of("[cluster]\nname = \"c\"\nheartbeat_interval_ms = 100\n"
                      "failure_timeout_ms = 199\n"
                      + two_nodes);
  EXPECT_CONTAINS(msg, "[cluster]: failure_timeout_ms must be at least twice "
                       "heartbeat_interval_ms");
  // Exactly twice is the smallest accepted value.
  auto cfg = parse_cluster_config("[cluster]\nname = \"c\"\n"
                                  "heartbeat_interval_ms = 100\n"
                                  "failure_timeout_ms = 200\n"
                                    + two_nodes,
                                  origin);
  ASSERT_TRUE(cfg) << describe(cfg.error());
  EXPECT_EQ(cfg->failure_timeout, 200ms);
}

TEST(cluster_config, failure_timeout_too_large) {
  auto msg = error_of("[cluster]\nname = \"c\"\nfailure_timeout_ms = "
                      "9999999999\n"
                      + two_nodes);
  EXPECT_CONTAINS(msg, "failure_timeout_ms must be");
}

TEST(cluster_config, nonexistent_file) {
  auto cfg = load_cluster_config("/nonexistent/ftsr/cluster.toml");
  ASSERT_FALSE(cfg);
  EXPECT_TRUE(is(cfg.error(), errc::bad_config));
  EXPECT_EQ(describe(cfg.error()),
            "ftsr: bad_config: cannot open cluster file "
            "'/nonexistent/ftsr/cluster.toml'");
}

TEST(cluster_config, directory_instead_of_file) {
  auto cfg = load_cluster_config(FTSR_SOURCE_DIR "/config");
  ASSERT_FALSE(cfg);
  EXPECT_TRUE(is(cfg.error(), errc::bad_config));
  EXPECT_EQ(describe(cfg.error()), "ftsr: bad_config: cannot read cluster "
                                   "file '" FTSR_SOURCE_DIR
                                   "/config': is a directory");
}

TEST(cluster_config, errors_in_a_loaded_file_name_its_path) {
  char tmpl[] = "/tmp/ftsr-config-test-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string path = std::string{tmpl} + "/bad.toml";
  {
    std::ofstream out{path};
    out << header << node_entry("a", "h", "0");
  }
  auto cfg = load_cluster_config(path);
  ::unlink(path.c_str());
  ::rmdir(tmpl);
  ASSERT_FALSE(cfg);
  EXPECT_EQ(describe(cfg.error()),
            "ftsr: bad_config: " + path
              + ": [[node]] #1 ('a'): port 0 out of range 1..65535");
}

// -- [cluster.tls] ------------------------------------------------------------

namespace {

// A directory with (empty) files standing for the TLS files: parsing checks
// only that they exist; their contents are checked when a node starts
// (transport_test).
class tls_config : public ::testing::Test {
public:
  void SetUp() override {
    char tmpl[] = "/tmp/ftsr-config-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir = tmpl;
    for (auto f : {"ca.pem", "all.pem", "all.key", "a.pem", "a.key"})
      std::ofstream{dir + "/" + f} << "x";
  }

  void TearDown() override {
    std::filesystem::remove_all(dir);
  }

  caf::expected<cluster_config> parse(const std::string& text) {
    return parse_cluster_config(text, origin, dir);
  }

  std::string error_of(const std::string& text) {
    auto cfg = parse(text);
    if (cfg) {
      ADD_FAILURE() << "accepted invalid config:\n" << text;
      return {};
    }
    EXPECT_TRUE(is(cfg.error(), errc::bad_config)) << describe(cfg.error());
    return describe(cfg.error());
  }

  std::string dir;
};

const std::string tls_all = R"(
[cluster.tls]
ca = "ca.pem"
cert = "all.pem"
key = "all.key"
)";

} // namespace

TEST_F(tls_config, no_tls_table_means_plain_tcp) {
  auto cfg = parse(header + two_nodes);
  ASSERT_TRUE(cfg) << describe(cfg.error());
  EXPECT_FALSE(cfg->tls());
  EXPECT_TRUE(cfg->nodes[0].tls.cert.empty());
}

TEST_F(tls_config, relative_paths_resolve_against_the_base_dir) {
  auto cfg = parse(header + tls_all + node_entry("a", "h", "1")
                   + "cert = \"a.pem\"\nkey = \"" + dir + "/a.key\"\n"
                   + node_entry("b", "h", "2"));
  ASSERT_TRUE(cfg) << describe(cfg.error());
  EXPECT_TRUE(cfg->tls());
  EXPECT_EQ(cfg->tls_ca, dir + "/ca.pem");
  EXPECT_EQ(cfg->tls_default.cert, dir + "/all.pem");
  // Its own credentials for a, the cluster-wide ones for b.
  EXPECT_EQ(cfg->nodes[0].tls.cert, dir + "/a.pem");
  EXPECT_EQ(cfg->nodes[0].tls.key, dir + "/a.key");
  EXPECT_EQ(cfg->nodes[1].tls.cert, dir + "/all.pem");
  EXPECT_EQ(cfg->nodes[1].tls.key, dir + "/all.key");
}

TEST_F(tls_config, loaded_file_resolves_against_its_directory) {
  auto path = dir + "/cluster.toml";
  std::ofstream{path} << header << tls_all << two_nodes;
  auto cfg = load_cluster_config(path);
  ASSERT_TRUE(cfg) << describe(cfg.error());
  EXPECT_EQ(cfg->tls_ca, dir + "/ca.pem");
}

TEST_F(tls_config, missing_file_is_named) {
  auto msg = error_of(header + "\n[cluster.tls]\nca = \"nope.pem\"\n"
                      + "cert = \"all.pem\"\nkey = \"all.key\"\n" + two_nodes);
  EXPECT_EQ(msg, "ftsr: bad_config: test.toml: [cluster.tls]: ca file '" + dir
                   + "/nope.pem' not found");
  msg = error_of(header + tls_all + node_entry("a", "h", "1")
                 + "cert = \"a.pem\"\nkey = \"gone.key\"\n");
  EXPECT_CONTAINS(msg, "[[node]] #1 ('a'): key file '" + dir
                         + "/gone.key' not found");
}

TEST_F(tls_config, directory_instead_of_file) {
  auto msg = error_of(header + "\n[cluster.tls]\nca = \".\"\n"
                      + "cert = \"all.pem\"\nkey = \"all.key\"\n" + two_nodes);
  EXPECT_CONTAINS(msg, "is not a regular file");
}

TEST_F(tls_config, unknown_key_in_tls_table) {
  auto msg = error_of(header + tls_all + "cafile = \"ca.pem\"\n" + two_nodes);
  EXPECT_EQ(msg, "ftsr: bad_config: test.toml: [cluster.tls]: unknown key "
                 "'cafile'");
}

TEST_F(tls_config, tls_must_be_a_table_with_a_ca) {
  auto msg = error_of(R"([cluster]
name = "c"
tls = "yes"
)" + two_nodes);
  EXPECT_CONTAINS(msg, "[cluster.tls]: must be a table");
  msg = error_of(header + "\n[cluster.tls]\ncert = \"all.pem\"\n"
                 + "key = \"all.key\"\n" + two_nodes);
  EXPECT_CONTAINS(msg, "[cluster.tls]: missing field 'ca'");
}

TEST_F(tls_config, cert_and_key_go_together) {
  auto msg = error_of(header + "\n[cluster.tls]\nca = \"ca.pem\"\n"
                      + "cert = \"all.pem\"\n" + two_nodes);
  EXPECT_CONTAINS(msg, "[cluster.tls]: 'cert' and 'key' go together "
                       "(missing 'key')");
  msg = error_of(header + tls_all + node_entry("a", "h", "1")
                 + "key = \"a.key\"\n");
  EXPECT_CONTAINS(msg, "('a'): 'cert' and 'key' go together (missing 'cert')");
}

TEST_F(tls_config, every_node_needs_a_certificate) {
  auto msg = error_of(header + "\n[cluster.tls]\nca = \"ca.pem\"\n"
                      + node_entry("a", "h", "1")
                      + "cert = \"a.pem\"\nkey = \"a.key\"\n"
                      + node_entry("b", "h", "2"));
  EXPECT_CONTAINS(msg, "[[node]] #2 ('b'): no certificate");
}

TEST_F(tls_config, node_credentials_without_tls_table) {
  auto msg = error_of(header + node_entry("a", "h", "1")
                      + "cert = \"a.pem\"\nkey = \"a.key\"\n");
  EXPECT_CONTAINS(msg, "('a'): 'cert'/'key' given but the cluster has no "
                       "[cluster.tls] table");
}

TEST_F(tls_config, empty_path) {
  auto msg = error_of(header + "\n[cluster.tls]\nca = \"\"\n" + two_nodes);
  EXPECT_CONTAINS(msg, "[cluster.tls]: field 'ca' is empty");
}
