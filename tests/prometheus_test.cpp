// The real Prometheus server scrapes three ftsr-node processes started with
// --metrics on loopback, from a generated config (short scrape interval,
// temporary storage), and its query API returns the cluster's values.
// Skipped only when the prometheus binary is missing (CI installs it).
#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "caf/all.hpp"

#include "actors/errors.hpp"
#include "apps/node/local_cluster.hpp"
#include "apps/node/sample_actors.hpp"
#include "tests/support/wait.hpp"

using namespace ftsr;
using namespace ftsr::sample;
using ftsr::testing::eventually;
using namespace std::chrono_literals;

namespace {

constexpr const char* prometheus_bin = "/usr/bin/prometheus";

std::string read_file(const std::string& path) {
  std::ifstream in{path};
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

/// The port a node printed in "metrics on http://127.0.0.1:PORT/metrics".
uint16_t metrics_port(const std::string& log) {
  static const std::regex re{"metrics on http://127\\.0\\.0\\.1:([0-9]+)/"};
  std::smatch m;
  auto text = read_file(log);
  return std::regex_search(text, m, re)
           ? static_cast<uint16_t>(std::stoul(m[1].str()))
           : 0;
}

/// The value of an instant query with one result, or "" (no answer yet, no
/// or several series).
std::string query(httplib::Client& cli, const std::string& promql) {
  auto res = cli.Get("/api/v1/query", httplib::Params{{"query", promql}},
                     httplib::Headers{});
  if (!res || res->status != 200)
    return {};
  auto j = nlohmann::json::parse(res->body, nullptr, false);
  if (j.is_discarded() || j.value("status", "") != "success")
    return {};
  auto& result = j["data"]["result"];
  if (!result.is_array() || result.size() != 1)
    return {};
  return result[0]["value"][1].get<std::string>();
}

} // namespace

TEST(prometheus, scrapes_three_nodes_and_answers_cluster_queries) {
  if (::access(prometheus_bin, X_OK) != 0)
    GTEST_SKIP() << prometheus_bin << " not installed (Debian package "
                 << "'prometheus', installed by scripts/install-deps.sh)";
  local_cluster_options opts;
  opts.node_bin = FTSR_NODE_BIN;
  opts.node_args = {"--metrics", "127.0.0.1:0"};
  local_cluster c{opts};
  std::vector<std::string> targets;
  for (auto& n : c.config().nodes) {
    uint16_t port = 0;
    ASSERT_TRUE(eventually(
      [&] { return (port = metrics_port(c.log_of(n.name))) != 0; }))
      << n.name << " printed no metrics address; log:\n"
      << read_file(c.log_of(n.name));
    targets.push_back("'127.0.0.1:" + std::to_string(port) + "'");
  }
  // A known number of invocations made on host1.
  auto echo = c.client().spawn("host2", "echo");
  auto caller = c.client().spawn("host1", "caller");
  ASSERT_TRUE(echo && caller);
  caf::scoped_actor self{c.client().system()};
  constexpr int calls = 7;
  for (int i = 0; i < calls; ++i)
    self->request(caller->handle, 10s, call_atom::value, *echo,
                  capability_ref{}, std::string{"x"}, uint32_t{0})
      .receive([](std::string&) {},
               [](caf::error& err) { FAIL() << describe(err); });
  auto dir = make_temp_dir();
  auto web = free_ports(1).front();
  std::ofstream{dir + "/prometheus.yml"}
    << "global:\n  scrape_interval: 200ms\n  scrape_timeout: 150ms\n"
    << "scrape_configs:\n  - job_name: ftsr\n    static_configs:\n"
    << "      - targets: [" << targets[0] << ", " << targets[1] << ", "
    << targets[2] << "]\n";
  auto log = dir + "/prometheus.log";
  auto prom = child_process::start(
    {prometheus_bin, "--config.file=" + dir + "/prometheus.yml",
     "--storage.tsdb.path=" + dir + "/data",
     "--web.listen-address=127.0.0.1:" + std::to_string(web)},
    log);
  ASSERT_TRUE(prom) << "cannot start " << prometheus_bin;
  httplib::Client cli{"127.0.0.1", web};
  cli.set_connection_timeout(2s);
  cli.set_read_timeout(5s);
  std::string up;
  EXPECT_TRUE(eventually([&] { return (up = query(cli, "sum(up)")) == "3"; },
                         60s))
    << "Prometheus did not scrape the three nodes: sum(up) = '" << up
    << "'; its log:\n" << read_file(log);
  std::string nodes;
  EXPECT_TRUE(eventually(
    [&] { return (nodes = query(cli, "sum(ftsr_nodes_up)")) == "9"; }, 30s))
    << "sum(ftsr_nodes_up) = '" << nodes << "', expected 3 nodes seeing 3";
  std::string invocations;
  auto promql = "sum(ftsr_invocations_total{outcome=\"ok\"})";
  EXPECT_TRUE(eventually(
    [&] {
      return (invocations = query(cli, promql)) == std::to_string(calls);
    },
    30s))
    << promql << " = '" << invocations << "', expected " << calls;
  prom->signal(SIGTERM);
  EXPECT_TRUE(prom->wait_for(20s).has_value()) << "prometheus did not stop";
}
