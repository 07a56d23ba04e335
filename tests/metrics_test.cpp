// The metrics registry's Prometheus rendering, the /metrics HTTP endpoint
// (404 and 405 with a clear body) and its address parsing.
#include <gtest/gtest.h>

#include <httplib.h>

#include "actors/errors.hpp"
#include "actors/metrics.hpp"
#include "apps/node/metrics_server.hpp"

using namespace ftsr;
using namespace std::chrono_literals;

namespace {

#define EXPECT_CONTAINS(haystack, needle)                                      \
  EXPECT_NE(std::string{haystack}.find(needle), std::string::npos)             \
    << "'" << (haystack) << "' does not contain '" << (needle) << "'"

} // namespace

TEST(metrics, counters_gauges_and_labels_render_in_text_format) {
  metrics_registry reg;
  auto& ok = reg.get_counter("x_total", "Things", {{"outcome", "ok"}});
  auto& bad = reg.get_counter("x_total", "ignored",
                              {{"outcome", "a\"b\\c\nd"}});
  ok.inc(3);
  bad.inc();
  // The same series again is the same counter.
  reg.get_counter("x_total", "", {{"outcome", "ok"}}).inc();
  reg.get_gauge("y", "Level").set(-7);
  reg.add_callback_gauge("z", "Computed", [] { return 2.5; });
  reg.add_callback_counter("w_total", "Kept elsewhere", [] { return 11.0; });
  auto text = reg.render();
  EXPECT_EQ(text, "# HELP x_total Things\n"
                  "# TYPE x_total counter\n"
                  "x_total{outcome=\"ok\"} 4\n"
                  "x_total{outcome=\"a\\\"b\\\\c\\nd\"} 1\n"
                  "# HELP y Level\n"
                  "# TYPE y gauge\n"
                  "y -7\n"
                  "# HELP z Computed\n"
                  "# TYPE z gauge\n"
                  "z 2.5\n"
                  "# HELP w_total Kept elsewhere\n"
                  "# TYPE w_total counter\n"
                  "w_total 11\n");
}

TEST(metrics, histogram_buckets_are_cumulative) {
  metrics_registry reg;
  auto& h = reg.get_histogram("lat_seconds", "Latency", {{"op", "get"}});
  h.observe(30us);  // first bucket (50 us)
  h.observe(3ms);   // 5 ms bucket
  h.observe(20s);   // beyond the last bound: +Inf only
  h.observe(-1ms);  // a clock step back counts as 0
  EXPECT_EQ(h.count(), 4u);
  EXPECT_EQ(h.cumulative(0), 2u);
  EXPECT_EQ(h.cumulative(5), 2u);  // 2.5 ms
  EXPECT_EQ(h.cumulative(6), 3u);  // 5 ms
  EXPECT_EQ(h.cumulative(histogram::bucket_count - 1), 3u);
  EXPECT_EQ(h.cumulative(histogram::bucket_count), 4u);
  auto text = reg.render();
  EXPECT_CONTAINS(text, "# TYPE lat_seconds histogram\n");
  EXPECT_CONTAINS(text, "lat_seconds_bucket{op=\"get\",le=\"5e-05\"} 2\n");
  EXPECT_CONTAINS(text, "lat_seconds_bucket{op=\"get\",le=\"0.005\"} 3\n");
  EXPECT_CONTAINS(text, "lat_seconds_bucket{op=\"get\",le=\"+Inf\"} 4\n");
  EXPECT_CONTAINS(text, "lat_seconds_sum{op=\"get\"} 20.00303\n");
  EXPECT_CONTAINS(text, "lat_seconds_count{op=\"get\"} 4\n");
}

TEST(metrics, node_metrics_register_every_family_once) {
  metrics_registry reg;
  node_metrics m{reg};
  m.node_failures.inc();
  m.invocation_latency.observe(1ms);
  auto text = reg.render();
  for (auto family : {"ftsr_invocations_total", "ftsr_failures_detected_total",
                      "ftsr_restarts_total", "ftsr_view_changes_total",
                      "ftsr_store_writes_total"}) {
    auto help = std::string{"# HELP "} + family + " ";
    auto first = text.find(help);
    ASSERT_NE(first, std::string::npos) << family;
    EXPECT_EQ(text.find(help, first + 1), std::string::npos) << family;
  }
  EXPECT_CONTAINS(text, "ftsr_failures_detected_total{kind=\"node\"} 1\n");
  EXPECT_CONTAINS(text, "ftsr_invocation_latency_seconds_count 1\n");
}

TEST(metrics, endpoint_parsing_defaults_to_loopback_and_refuses_the_rest) {
  auto p = parse_http_endpoint("9100", false);
  ASSERT_TRUE(p) << describe(p.error());
  EXPECT_EQ(p->host, "127.0.0.1");
  EXPECT_EQ(p->port, 9100);
  p = parse_http_endpoint("localhost:0", false);
  ASSERT_TRUE(p) << describe(p.error());
  EXPECT_EQ(p->host, "localhost");
  p = parse_http_endpoint("[::1]:9100", false);
  ASSERT_TRUE(p) << describe(p.error());
  EXPECT_EQ(p->host, "::1");
  auto remote = parse_http_endpoint("0.0.0.0:9100", false);
  ASSERT_FALSE(remote);
  EXPECT_TRUE(is(remote.error(), errc::invalid_argument));
  EXPECT_CONTAINS(describe(remote.error()), "--metrics-any-address");
  p = parse_http_endpoint("0.0.0.0:9100", true);
  ASSERT_TRUE(p) << describe(p.error());
  for (auto bad : {"", ":80", "host:", "127.0.0.1:65536", "127.0.0.1:x1",
                   "1234567"}) {
    auto r = parse_http_endpoint(bad, false);
    ASSERT_FALSE(r) << bad;
    EXPECT_TRUE(is(r.error(), errc::invalid_argument)) << bad;
    EXPECT_CONTAINS(describe(r.error()), "expected HOST:PORT or PORT");
  }
}

TEST(metrics, server_answers_metrics_and_rejects_bad_requests_clearly) {
  metrics_registry reg;
  reg.get_counter("ftsr_probe_total", "Probe").inc(5);
  auto srv = metrics_server::start({"127.0.0.1", 0}, reg);
  ASSERT_TRUE(srv) << describe(srv.error());
  httplib::Client cli{"127.0.0.1", (*srv)->port()};
  cli.set_connection_timeout(5s);
  cli.set_read_timeout(5s);
  auto ok = cli.Get("/metrics");
  ASSERT_TRUE(ok) << "no answer from the metrics server";
  EXPECT_EQ(ok->status, 200);
  EXPECT_CONTAINS(ok->get_header_value("Content-Type"), "version=0.0.4");
  EXPECT_CONTAINS(ok->body, "ftsr_probe_total 5\n");
  auto missing = cli.Get("/nope");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_CONTAINS(missing->body, "unknown path '/nope'");
  auto post = cli.Post("/metrics", "x", "text/plain");
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 405);
  EXPECT_EQ(post->get_header_value("Allow"), "GET");
  EXPECT_CONTAINS(post->body, "method POST not allowed on /metrics");
  // Still serving after the bad requests.
  auto again = cli.Get("/metrics");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
}

TEST(metrics, server_reports_an_address_it_cannot_bind) {
  metrics_registry reg;
  auto first = metrics_server::start({"127.0.0.1", 0}, reg);
  ASSERT_TRUE(first) << describe(first.error());
  auto port = (*first)->port();
  auto second = metrics_server::start({"127.0.0.1", port}, reg);
  ASSERT_FALSE(second);
  EXPECT_TRUE(is(second.error(), errc::invalid_argument));
  EXPECT_CONTAINS(describe(second.error()),
                  "cannot serve metrics on 127.0.0.1:" + std::to_string(port));
}
