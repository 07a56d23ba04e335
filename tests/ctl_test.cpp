// The real ftsr-ctl and ftsr-trace binaries against real ftsr-node
// processes: what they print about a cluster before and after a kill -9 of
// the node hosting a persistent actor, the exported trace files' shape,
// and their bad input (exit code and a clear message on stderr).
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/errors.hpp"
#include "apps/node/child_process.hpp"
#include "apps/node/local_cluster.hpp"
#include "apps/node/sample_persistent.hpp"
#include "replication/group.hpp"
#include "tests/support/wait.hpp"

#ifndef FTSR_NODE_BIN
#  error "FTSR_NODE_BIN must name the ftsr-node binary"
#endif
#ifndef FTSR_CTL_BIN
#  error "FTSR_CTL_BIN must name the ftsr-ctl binary"
#endif
#ifndef FTSR_TRACE_BIN
#  error "FTSR_TRACE_BIN must name the ftsr-trace binary"
#endif

using namespace ftsr;
using namespace std::chrono_literals;

namespace {

#define EXPECT_CONTAINS(haystack, needle)                                      \
  EXPECT_NE(std::string{haystack}.find(needle), std::string::npos)             \
    << "'" << (haystack) << "' does not contain '" << (needle) << "'"

struct run_result {
  int code = -1;
  std::string output; // stdout and stderr
};

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Runs `argv` to completion (bounded) and returns its exit code and output.
run_result run(std::vector<std::string> argv) {
  static int counter = 0;
  static const auto dir = make_temp_dir();
  auto log = dir + "/run-" + std::to_string(++counter) + ".log";
  auto p = child_process::start(std::move(argv), log);
  if (!p)
    return {};
  auto code = p->wait_for(30s);
  return {code.value_or(-1), read_file(log)};
}

run_result ctl(std::vector<std::string> args) {
  args.insert(args.begin(), FTSR_CTL_BIN);
  return run(std::move(args));
}

/// A cluster file naming three nodes on free ports where nothing listens.
std::string silent_cluster_file() {
  return write_cluster_file(make_temp_dir(), {"host1", "host2", "host3"},
                            free_ports(3), 100, 500);
}

TEST(ctl_bad_input, missing_config_option) {
  auto r = ctl({"status"});
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_CONTAINS(r.output, "--config");
}

TEST(ctl_bad_input, missing_config_file) {
  auto r = ctl({"--config", "/nonexistent/cluster.toml", "status"});
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_CONTAINS(r.output, "/nonexistent/cluster.toml");
}

TEST(ctl_bad_input, invalid_config_file) {
  auto path = make_temp_dir() + "/bad.toml";
  std::ofstream{path} << "[cluster]\nname = \"x\"\nbogus = 1\n";
  auto r = ctl({"--config", path, "status"});
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_CONTAINS(r.output, "bogus");
}

TEST(ctl_bad_input, unknown_or_missing_subcommand) {
  auto path = silent_cluster_file();
  auto r = ctl({"--config", path, "frobnicate"});
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_CONTAINS(r.output, "frobnicate");
  r = ctl({"--config", path});
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_CONTAINS(r.output, "subcommand");
  r = ctl({"--config", path, "status", "--follow"});
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_CONTAINS(r.output, "--follow");
}

TEST(ctl_bad_input, unreachable_cluster) {
  auto path = silent_cluster_file();
  auto r = ctl({"--config", path, "--timeout", "500", "status"});
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_CONTAINS(r.output, "unreachable");
  EXPECT_CONTAINS(r.output, "host1 at 127.0.0.1:");
}

TEST(trace_bad_input, bad_format_trace_id_and_output) {
  auto path = silent_cluster_file();
  auto r = run({FTSR_TRACE_BIN, "--config", path, "--format", "xml", "-o",
                make_temp_dir() + "/t.json"});
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_CONTAINS(r.output, "xml");
  r = run({FTSR_TRACE_BIN, "--config", path, "--format", "chrome", "-o",
           make_temp_dir() + "/t.json", "--trace", "xyz"});
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_CONTAINS(r.output, "'xyz' is not a trace id");
  r = run({FTSR_TRACE_BIN, "--config", path, "--format", "chrome", "-o",
           "/nonexistent/dir/t.json"});
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_CONTAINS(r.output, "/nonexistent/dir/t.json");
  auto out = make_temp_dir() + "/t.json";
  r = run({FTSR_TRACE_BIN, "--config", path, "--format", "otlp", "-o", out,
           "--timeout", "500"});
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_CONTAINS(r.output, "unreachable");
  EXPECT_FALSE(std::ifstream{out}.good()) << "no file is left behind";
}

class ctl_cluster_test : public ::testing::Test {
public:
  void SetUp() override {
    config = write_cluster_file(make_temp_dir(), {"host1", "host2", "host3"},
                                free_ports(3), 100, 500);
    local_cluster_options opts;
    opts.node_bin = FTSR_NODE_BIN;
    opts.config_path = config;
    cluster = std::make_unique<local_cluster>(opts);
  }

  std::string config;
  std::unique_ptr<local_cluster> cluster;
};

TEST_F(ctl_cluster_test, prints_status_groups_actors_events_and_traces) {
  auto& client = cluster->client();
  group_spec kv{"kv", {"host1", "host2", "host3"}, 1};
  kv.name = "ctl.kv";
  auto g = create_group(client, kv);
  ASSERT_TRUE(g) << describe(g.error());
  auto store = create_group(client, {"stable_store", {"host1", "host3"}, 1});
  ASSERT_TRUE(store) << describe(store.error());
  auto counter = client.spawn_persistent(
    "host2", {"host3"}, "counter", caf::make_message(capability<>{*store}));
  ASSERT_TRUE(counter) << describe(counter.error());

  auto r = ctl({"--config", config, "status"});
  ASSERT_EQ(r.code, 0) << r.output;
  for (auto name : {"host1", "host2", "host3"})
    EXPECT_CONTAINS(r.output, name);
  EXPECT_CONTAINS(r.output, "INCARNATION");
  EXPECT_CONTAINS(r.output, std::to_string(cluster->incarnation("host2")));
  EXPECT_CONTAINS(r.output, "up");

  r = ctl({"--config", config, "groups"});
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_CONTAINS(r.output, "ctl.kv");
  EXPECT_CONTAINS(r.output, "host1 host2 host3");
  EXPECT_CONTAINS(r.output, "stable_store");

  r = ctl({"--config", config, "actors"});
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_CONTAINS(r.output, "counter");
  EXPECT_CONTAINS(r.output, "host2 host3");

  cluster->kill9("host2");
  // The counter comes back on host3 at generation 1.
  ASSERT_TRUE(ftsr::testing::eventually(
    [&] {
      auto x = ctl({"--config", config, "actors"});
      return x.code == 0 && x.output.find("alive") != std::string::npos
             && x.output.find("  host3  ") != std::string::npos;
    },
    20s))
    << ctl({"--config", config, "actors"}).output;
  r = ctl({"--config", config, "status"});
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_CONTAINS(r.output, "failed");
  r = ctl({"--config", config, "events"});
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_CONTAINS(r.output, "failure_detected  host2/");
  EXPECT_CONTAINS(r.output, "restart  counter#");
  EXPECT_CONTAINS(r.output, "recovery  counter#");

  auto out = make_temp_dir() + "/trace.json";
  r = run({FTSR_TRACE_BIN, "--config", config, "--format", "chrome", "-o",
           out});
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_CONTAINS(r.output, "from 2 nodes");
  auto chrome = nlohmann::json::parse(read_file(out));
  ASSERT_TRUE(chrome["traceEvents"].is_array());
  EXPECT_FALSE(chrome["traceEvents"].empty());
  r = run({FTSR_TRACE_BIN, "--config", config, "--format", "otlp", "-o", out});
  ASSERT_EQ(r.code, 0) << r.output;
  auto otlp = nlohmann::json::parse(read_file(out));
  ASSERT_EQ(otlp["resourceSpans"].size(), 2u) << "one resource per live node";
}

TEST_F(ctl_cluster_test, events_follow_prints_a_failure_as_it_happens) {
  auto log = make_temp_dir() + "/follow.log";
  auto follow = child_process::start(
    {FTSR_CTL_BIN, "--config", config, "events", "--follow"}, log);
  ASSERT_TRUE(follow);
  // The journal so far first (every node installed view 1), then only
  // what happens next.
  ASSERT_TRUE(ftsr::testing::eventually(
    [&] { return read_file(log).find("view_installed") != std::string::npos; },
    20s))
    << read_file(log);
  ASSERT_EQ(read_file(log).find("failure_detected"), std::string::npos)
    << read_file(log);
  cluster->kill9("host2");
  ASSERT_TRUE(ftsr::testing::eventually(
    [&] {
      return read_file(log).find("failure_detected  host2/")
             != std::string::npos;
    },
    20s))
    << read_file(log);
  EXPECT_TRUE(follow->running()) << read_file(log);
  // SIGTERM ends the follow with exit code 0.
  ASSERT_TRUE(follow->signal(SIGTERM));
  auto code = follow->wait_for(10s);
  ASSERT_TRUE(code) << "ftsr-ctl events --follow ignored SIGTERM";
  EXPECT_EQ(*code, 0) << read_file(log);
}

} // namespace
