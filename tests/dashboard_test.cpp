// The dashboard's pieces: the cluster model and failure timeline (pure
// functions of journal entries), the trace export formats, and every HTTP
// endpoint of the dashboard server against three in-process nodes (answers
// and bad requests: 4xx with a message naming what is wrong, and the
// server still serving afterwards).
#include <gtest/gtest.h>

#include <regex>
#include <string>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "actors/call.hpp"
#include "apps/dashboard/cluster_model.hpp"
#include "apps/dashboard/dashboard_server.hpp"
#include "apps/dashboard/trace_export.hpp"
#include "apps/node/sample_persistent.hpp"
#include "replication/group.hpp"
#include "tests/support/in_process_cluster.hpp"

using namespace ftsr;
using namespace ftsr::dashboard;
using namespace std::chrono_literals;
using ftsr::testing::eventually;
using nlohmann::json;

namespace {

span make_span(uint64_t trace, uint64_t id, uint64_t parent, std::string kind,
               std::string name, std::string node, int64_t start,
               int64_t end, std::string detail = {},
               std::string outcome = {}, uint64_t group_view = 0) {
  return span{trace,           id,       parent, std::move(kind),
              std::move(name), std::move(node), start,  end,
              std::move(detail), std::move(outcome), group_view};
}

TEST(cluster_model, failure_timeline_links_detection_monitors_restart_and_recovery) {
  std::vector<event_row> events{
    {"host1/5", make_span(7, 1, 0, "failure_detected", "host2/4", "host1/5",
                          1000, 1000, "removed by view 3 (process gone)")},
    {"host3/6", make_span(9, 2, 0, "failure_detected", "host2/4", "host3/6",
                          1200, 1200, "removed by view 3")},
    {"host1/5", make_span(7, 3, 1, "node_failed", "host2/4", "host1/5", 1500,
                          1500)},
    {"host1/5", make_span(11, 4, 0, "monitor_fired", "echo#5@host2",
                          "host1/5", 1600, 1600)},
    // A monitor on another node's actor is not this failure's.
    {"host1/5", make_span(12, 5, 0, "monitor_fired", "echo#6@host3",
                          "host1/5", 1650, 1650)},
    // Restarted by host3 under its own detection's trace.
    {"host3/6", make_span(9, 6, 2, "restart", "counter#42@host3", "host3/6",
                          2000, 2000, "generation 1")},
    {"host3/6", make_span(13, 7, 0, "recovery", "counter#42@host3",
                          "host3/6", 2100, 2900, "ok")},
  };
  auto fs = failure_timeline(events);
  ASSERT_EQ(fs.size(), 1u);
  auto& f = fs.front();
  EXPECT_EQ(f.member, "host2/4");
  EXPECT_EQ(f.detected_by, "host1/5");
  EXPECT_EQ(f.detected_ns, 1000);
  EXPECT_EQ(f.removed_ns, 1500);
  EXPECT_EQ(f.monitors_fired, 1u);
  EXPECT_EQ(f.monitors_ns, 1600);
  ASSERT_EQ(f.restarts.size(), 1u);
  EXPECT_EQ(f.restarts[0].actor, "counter#42");
  EXPECT_EQ(f.restarts[0].node, "host3");
  EXPECT_EQ(f.restarts[0].restarted_ns, 2000);
  EXPECT_EQ(f.restarts[0].recovered_ns, 2900);
  EXPECT_EQ(f.restarts[0].outcome, "ok");
}

TEST(cluster_model, a_recovery_still_running_and_a_second_failure) {
  std::vector<event_row> events{
    {"host1/5", make_span(7, 1, 0, "failure_detected", "host2/4", "host1/5",
                          1000, 1000)},
    {"host1/5", make_span(7, 2, 1, "restart", "counter#42@host1", "host1/5",
                          1100, 1100)},
    {"host1/5", make_span(8, 3, 0, "failure_detected", "host2/9", "host1/5",
                          5000, 5000)},
    {"host1/5", make_span(10, 4, 0, "monitor_fired", "echo#5@host2",
                          "host1/5", 5100, 5100)},
  };
  auto fs = failure_timeline(events);
  ASSERT_EQ(fs.size(), 2u);
  ASSERT_EQ(fs[0].restarts.size(), 1u);
  EXPECT_EQ(fs[0].restarts[0].recovered_ns, 0) << "no recovery yet";
  EXPECT_EQ(fs[0].monitors_fired, 0u) << "the monitor fired for the second";
  EXPECT_EQ(fs[1].monitors_fired, 1u);
  EXPECT_TRUE(fs[1].restarts.empty());
}

TEST(cluster_model, a_node_removed_by_the_view_is_failed_before_acted_on) {
  cluster_config cfg;
  cfg.name = "c";
  cfg.nodes = {{"host1", "127.0.0.1", 1}, {"host2", "127.0.0.1", 2}};
  node_report r;
  r.self = {"host1", 5};
  r.member = true;
  r.view_number = 3;
  // host2 left the view; host1 has not acted on it yet (no "failed").
  r.members = {{"host1", 5, member_state::up, {}},
               {"host2", 4, member_state::unknown, {}}};
  std::vector<member_answer> answers{{"host1", r, {}},
                                     {"host2", std::nullopt, "gone"}};
  auto m = build_model(cfg, answers, {});
  EXPECT_EQ(m.nodes[1].state, "unknown") << "no failure known";
  std::vector<event_row> events{
    {"host1/5", make_span(7, 1, 0, "failure_detected", "host2/4", "host1/5",
                          1000, 1000, "removed by view 3")}};
  m = build_model(cfg, answers, events);
  EXPECT_EQ(m.nodes[0].state, "up");
  EXPECT_EQ(m.nodes[1].state, "failed");
  EXPECT_EQ(m.nodes[1].reason, "removed by view 3");
  EXPECT_FALSE(m.nodes[1].answered);
  EXPECT_EQ(m.nodes[1].error, "gone");
  EXPECT_EQ(m.view_source, "host1/5");
}

TEST(cluster_model, hex_ids_round_trip_and_reject_garbage) {
  EXPECT_EQ(hex_id(0xabc), "0000000000000abc");
  EXPECT_EQ(parse_hex_id("0000000000000abc"), 0xabcu);
  EXPECT_EQ(parse_hex_id("FFFFFFFFFFFFFFFF"), UINT64_MAX);
  EXPECT_FALSE(parse_hex_id(""));
  EXPECT_FALSE(parse_hex_id("12345678901234567"));
  EXPECT_FALSE(parse_hex_id("12g4"));
  EXPECT_FALSE(parse_hex_id("-1"));
}

std::vector<span> sample_spans() {
  return {make_span(0x11, 0x21, 0, "invocation", "echo#1@host2", "host1/5",
                    1'000'000, 3'500'000, "ok", "ok"),
          make_span(0x11, 0x24, 0x21, "group_sequence", "group:kv#9@host1",
                    "host1/5", 1'200'000, 1'400'000, {}, "error", 4),
          make_span(0x11, 0x22, 0x21, "recovery", "counter#2@host2",
                    "host2/6", 2'000'000, 3'000'000, "failed: store gone"),
          make_span(0x11, 0x23, 0x21, "monitor_fired", "echo#1@host2",
                    "host2/6", 2'500'000, 2'500'000)};
}

TEST(trace_export, chrome_trace_events_have_processes_durations_and_instants) {
  auto j = chrome_trace(sample_spans());
  ASSERT_TRUE(j["traceEvents"].is_array());
  auto& evs = j["traceEvents"];
  // Two processes (nodes), each named by a metadata event, then its spans.
  ASSERT_EQ(evs.size(), 6u);
  EXPECT_EQ(evs[0]["ph"], "M");
  EXPECT_EQ(evs[0]["name"], "process_name");
  EXPECT_EQ(evs[0]["args"]["name"], "host1/5");
  EXPECT_EQ(evs[1]["ph"], "X");
  EXPECT_EQ(evs[1]["ts"], 1000.0);
  EXPECT_EQ(evs[1]["dur"], 2500.0);
  EXPECT_EQ(evs[1]["pid"], 1);
  EXPECT_EQ(evs[1]["args"]["trace_id"], "0000000000000011");
  EXPECT_EQ(evs[1]["args"]["outcome"], "ok");
  EXPECT_EQ(evs[2]["args"]["outcome"], "error");
  EXPECT_EQ(evs[2]["args"]["group_view"], 4);
  EXPECT_EQ(evs[3]["ph"], "M");
  EXPECT_EQ(evs[3]["args"]["name"], "host2/6");
  EXPECT_EQ(evs[4]["pid"], 2);
  EXPECT_EQ(evs[4]["args"]["parent_id"], "0000000000000021");
  EXPECT_EQ(evs[5]["ph"], "i");
  EXPECT_FALSE(evs[5].contains("dur"));
  for (auto& e : evs) {
    EXPECT_TRUE(e.contains("name") && e.contains("ph") && e.contains("pid")
                && e.contains("tid"))
      << e.dump();
    if (e["ph"] != "M") {
      EXPECT_TRUE(e["ts"].is_number()) << e.dump();
    }
  }
}

TEST(trace_export, otlp_json_has_resources_ids_and_status) {
  auto j = otlp_trace(sample_spans());
  auto& rs = j["resourceSpans"];
  ASSERT_EQ(rs.size(), 2u);
  auto attrs = rs[0]["resource"]["attributes"];
  EXPECT_EQ(attrs[0]["key"], "service.name");
  EXPECT_EQ(attrs[0]["value"]["stringValue"], "ftsr");
  EXPECT_EQ(attrs[1]["value"]["stringValue"], "host1/5");
  auto& root = rs[0]["scopeSpans"][0]["spans"][0];
  EXPECT_EQ(root["traceId"], "00000000000000000000000000000011");
  EXPECT_EQ(root["spanId"], "0000000000000021");
  EXPECT_FALSE(root.contains("parentSpanId"));
  EXPECT_EQ(root["startTimeUnixNano"], "1000000");
  EXPECT_EQ(root["endTimeUnixNano"], "3500000");
  EXPECT_EQ(root["status"]["code"], 0);
  EXPECT_EQ(root["name"], "invocation");
  // A group span that failed: its outcome sets the status, its view is an
  // attribute.
  auto& seq = rs[0]["scopeSpans"][0]["spans"][1];
  EXPECT_EQ(seq["status"]["code"], 2);
  auto attr = [](const json& s, const std::string& key) {
    for (auto& a : s["attributes"])
      if (a["key"] == key)
        return a["value"];
    return json{};
  };
  EXPECT_EQ(attr(seq, "ftsr.group_view")["intValue"], "4");
  EXPECT_EQ(attr(seq, "ftsr.outcome")["stringValue"], "error");
  auto& failed = rs[1]["scopeSpans"][0]["spans"][0];
  EXPECT_EQ(failed["parentSpanId"], "0000000000000021");
  EXPECT_EQ(failed["status"]["code"], 2);
  EXPECT_EQ(failed["status"]["message"], "failed: store gone");
  auto& instant = rs[1]["scopeSpans"][0]["spans"][1];
  EXPECT_EQ(instant["startTimeUnixNano"], instant["endTimeUnixNano"]);
  std::regex hex32{"[0-9a-f]{32}"}, hex16{"[0-9a-f]{16}"};
  for (auto& r : rs)
    for (auto& s : r["scopeSpans"][0]["spans"]) {
      EXPECT_TRUE(std::regex_match(s["traceId"].get<std::string>(), hex32));
      EXPECT_TRUE(std::regex_match(s["spanId"].get<std::string>(), hex16));
    }
}

TEST(trace_export, a_span_failed_by_its_outcome_or_its_detail) {
  auto spans = sample_spans();
  EXPECT_FALSE(span_failed(spans[0])); // invocation, outcome ok
  EXPECT_TRUE(span_failed(spans[1]));  // group sequencing, outcome error
  EXPECT_TRUE(span_failed(spans[2]));  // recovery, "failed: store gone"
  EXPECT_FALSE(span_failed(spans[3])); // an event
}

TEST(dashboard_listen, parses_host_and_port_and_names_bad_ones) {
  std::string err;
  auto a = parse_listen_address("127.0.0.1:8090", err);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->first, "127.0.0.1");
  EXPECT_EQ(a->second, 8090);
  for (auto bad : {"127.0.0.1", ":80", "127.0.0.1:", "127.0.0.1:70000",
                   "127.0.0.1:8x", "127.0.0.1:-1"}) {
    err.clear();
    EXPECT_FALSE(parse_listen_address(bad, err)) << bad;
    EXPECT_NE(err.find(bad), std::string::npos) << err;
  }
}

class dashboard_test : public ftsr::testing::in_process_cluster {
public:
  void SetUp() override {
    in_process_cluster::SetUp();
    auto p = cluster_probe::connect(at(0).context().cluster, "test cluster",
                                    10s);
    ASSERT_TRUE(p) << describe(p.error());
    probe = std::move(*p);
    dashboard_options opts;
    opts.poll_interval = 50ms;
    server = std::make_unique<dashboard_server>(*probe, opts);
    auto port = server->start("127.0.0.1", 0);
    ASSERT_TRUE(port) << describe(port.error());
    http = std::make_unique<httplib::Client>("127.0.0.1", *port);
  }

  void TearDown() override {
    http.reset();
    server.reset();
    probe.reset();
  }

  /// GET `path`: status and body (parsed if JSON).
  std::pair<int, json> get(const std::string& path) {
    auto res = http->Get(path.c_str());
    if (!res)
      return {0, json{}};
    auto body = json::parse(res->body, nullptr, false);
    return {res->status, body.is_discarded() ? json{res->body} : body};
  }

  /// Expects a 4xx whose error names `needle`.
  void expect_bad(const std::string& path, int status,
                  const std::string& needle) {
    auto [code, body] = get(path);
    EXPECT_EQ(code, status) << path;
    ASSERT_TRUE(body.is_object() && body.contains("error"))
      << path << ": " << body.dump();
    EXPECT_NE(body["error"].get<std::string>().find(needle),
              std::string::npos)
      << path << ": " << body["error"];
  }

  json cluster_model_json() {
    auto [code, body] = get("/api/cluster");
    EXPECT_EQ(code, 200);
    return body;
  }

  std::unique_ptr<cluster_probe> probe;
  std::unique_ptr<dashboard_server> server;
  std::unique_ptr<httplib::Client> http;
};

TEST_F(dashboard_test, serves_the_page_and_its_assets) {
  std::vector<std::pair<std::string, std::string>> pages{
    {"/", "Failure timeline"}, {"/index.html", "waterfall"},
    {"/app.js", "EventSource"}, {"/style.css", ".span-bar"}};
  for (auto& [path, needle] : pages) {
    auto res = http->Get(path.c_str());
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 200) << path;
    EXPECT_NE(res->body.find(needle), std::string::npos) << path;
  }
  expect_bad("/?x=1", 400, "unknown query parameter 'x'");
  expect_bad("/nope", 404, "/nope");
  auto res = http->Post("/api/cluster", "", "text/plain");
  ASSERT_TRUE(res);
  EXPECT_GE(res->status, 400);
  EXPECT_LT(res->status, 500);
}

TEST_F(dashboard_test, cluster_model_shows_nodes_groups_and_actors) {
  auto store = create_group(at(0), group_spec{"stable_store",
                                              {"host1", "host3"}, 1});
  ASSERT_TRUE(store) << describe(store.error());
  auto counter = at(0).spawn_persistent("host2", {"host3"}, "counter",
                                        caf::make_message(capability<>{*store}));
  ASSERT_TRUE(counter) << describe(counter.error());
  json m;
  ASSERT_TRUE(eventually([&] {
    m = cluster_model_json();
    return m["groups"].size() == 1 && m["actors"].size() == 1
           && m["groups"][0]["view"].get<uint64_t>() > 0;
  })) << m.dump(1);
  EXPECT_EQ(m["cluster"], at(0).context().cluster.name);
  ASSERT_EQ(m["nodes"].size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    auto& n = m["nodes"][i];
    EXPECT_EQ(n["state"], "up") << n.dump();
    // A string: JavaScript numbers would round a 64-bit incarnation.
    EXPECT_EQ(n["incarnation"], std::to_string(at(i).self().incarnation));
  }
  EXPECT_EQ(m["groups"][0]["type"], "stable_store");
  EXPECT_EQ(m["groups"][0]["primary"], "host1");
  EXPECT_EQ(m["actors"][0]["node"], "host2");
  EXPECT_EQ(m["actors"][0]["generation"], 0);
  expect_bad("/api/cluster?verbose=1", 400, "'verbose'");
  // The failure of host2: detected, the counter restarted on host3 and
  // recovered, all on the model's timeline.
  nodes.at(1).reset();
  ASSERT_TRUE(eventually(
    [&] {
      m = cluster_model_json();
      if (m["failures"].size() != 1)
        return false;
      auto& f = m["failures"][0];
      return f["restarts"].size() == 1
             && f["restarts"][0]["recovered_ns"].get<int64_t>() > 0;
    },
    20s))
    << m.dump(1);
  auto& f = m["failures"][0];
  EXPECT_EQ(f["member"].get<std::string>().rfind("host2/", 0), 0u);
  EXPECT_EQ(f["restarts"][0]["node"], "host3");
  EXPECT_EQ(f["restarts"][0]["outcome"], "ok");
  EXPECT_EQ(m["nodes"][1]["state"], "failed");
  EXPECT_EQ(m["actors"][0]["node"], "host3");
  EXPECT_EQ(m["actors"][0]["generation"], 1);
}

TEST_F(dashboard_test, events_endpoint_pages_and_rejects_bad_numbers) {
  auto [code, body] = get("/api/events?after=0&limit=5");
  ASSERT_EQ(code, 200);
  ASSERT_TRUE(body["events"].is_array());
  ASSERT_FALSE(body["events"].empty()) << "the first views were journaled";
  EXPECT_LE(body["events"].size(), 5u);
  auto first = body["events"][0]["number"].get<uint64_t>();
  auto [code2, later] = get("/api/events?after=" + std::to_string(first));
  ASSERT_EQ(code2, 200);
  for (auto& e : later["events"])
    EXPECT_GT(e["number"].get<uint64_t>(), first);
  expect_bad("/api/events?after=abc", 400, "'after'");
  expect_bad("/api/events?after=-1", 400, "'after'");
  expect_bad("/api/events?limit=0", 400, "'limit'");
  expect_bad("/api/events?limit=99999", 400, "'limit'");
  expect_bad("/api/events?since=1", 400, "'since'");
}

TEST_F(dashboard_test, traces_trace_and_export_endpoints) {
  // A call from host1 to an echo on host2: a trace with spans.
  auto echo = spawn("host2", "echo");
  caf::scoped_actor self{at(0).system()};
  bool ok = false;
  call(self, capability<>{echo}, sample::echo_atom::value, std::string{"hi"})
    .receive([&](std::string&) { ok = true; }, [](caf::error&) {});
  ASSERT_TRUE(ok);
  auto [code, body] = get("/api/traces?limit=1000");
  ASSERT_EQ(code, 200);
  ASSERT_FALSE(body["traces"].empty());
  auto inv = std::find_if(body["traces"].begin(), body["traces"].end(),
                          [](auto& t) { return t["kind"] == "invocation"; });
  ASSERT_NE(inv, body["traces"].end()) << body.dump(1);
  auto id = (*inv)["trace"].get<std::string>();
  auto [tcode, trace] = get("/api/trace?id=" + id);
  ASSERT_EQ(tcode, 200);
  ASSERT_FALSE(trace["spans"].empty());
  for (auto& s : trace["spans"])
    EXPECT_EQ(s["trace"], id);
  expect_bad("/api/traces?limit=0", 400, "'limit'");
  expect_bad("/api/traces?limit=x", 400, "'limit'");
  expect_bad("/api/trace", 400, "'id'");
  expect_bad("/api/trace?id=xyz", 400, "'xyz'");
  expect_bad("/api/trace?id=0", 400, "'0'");
  expect_bad("/api/trace?id=00000000000000ab", 404, "00000000000000ab");
  expect_bad("/api/trace?id=" + id + "&extra=1", 400, "'extra'");

  auto [ccode, chrome] = get("/api/export?format=chrome");
  ASSERT_EQ(ccode, 200);
  EXPECT_FALSE(chrome["traceEvents"].empty());
  auto [ocode, otlp] = get("/api/export?format=otlp&trace=" + id);
  ASSERT_EQ(ocode, 200);
  ASSERT_FALSE(otlp["resourceSpans"].empty());
  for (auto& r : otlp["resourceSpans"])
    for (auto& s : r["scopeSpans"][0]["spans"])
      EXPECT_EQ(s["traceId"], std::string(16, '0') + id);
  expect_bad("/api/export", 400, "'format'");
  expect_bad("/api/export?format=xml", 400, "'xml'");
  expect_bad("/api/export?format=otlp&trace=q", 400, "'q'");
  expect_bad("/api/export?format=otlp&trace=00000000000000ab", 404,
             "00000000000000ab");
  // Still serving after the bad requests.
  EXPECT_EQ(cluster_model_json()["nodes"].size(), 3u);
}

TEST_F(dashboard_test, stream_pushes_the_model_as_server_sent_events) {
  std::string received;
  // The client cancels the transfer itself once it has one whole event.
  http->Get("/api/stream", [&](const char* data, size_t n) {
    received.append(data, n);
    return received.find("\n\n") == std::string::npos;
  });
  ASSERT_NE(received.find("event: model\ndata: {"), std::string::npos)
    << received;
  auto data = received.substr(received.find("data: ") + 6);
  auto m = json::parse(data.substr(0, data.find("\n\n")));
  EXPECT_EQ(m["nodes"].size(), 3u);
  expect_bad("/api/stream?x=1", 400, "'x'");
}

} // namespace
