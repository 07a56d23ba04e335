// Dashboard server: poller, state and HTTP endpoints.
#include "apps/dashboard/dashboard_server.hpp"

#include <algorithm>
#include <charconv>

#include <httplib.h>

#include "actors/errors.hpp"
#include "apps/dashboard/assets.hpp"
#include "apps/dashboard/trace_export.hpp"

namespace ftsr::dashboard {

namespace {

using nlohmann::json;

void send_error(httplib::Response& res, int status, const std::string& what) {
  res.status = status;
  res.set_content(json{{"error", what}}.dump(), "application/json");
}

void send_json(httplib::Response& res, const json& body) {
  res.set_content(body.dump(), "application/json");
}

/// Rejects parameters the endpoint does not know (a typo should not be
/// silently ignored); returns false after answering 400.
bool only_params(const httplib::Request& req, httplib::Response& res,
                 std::initializer_list<const char*> known) {
  for (auto& [key, value] : req.params)
    if (std::none_of(known.begin(), known.end(),
                     [&](const char* k) { return key == k; })) {
      send_error(res, 400,
                 "unknown query parameter '" + key + "' for " + req.path);
      return false;
    }
  return true;
}

/// Reads unsigned parameter `key` in [lo, hi], or `fallback` if absent;
/// nullopt after answering 400.
std::optional<uint64_t> uint_param(const httplib::Request& req,
                                   httplib::Response& res, const char* key,
                                   uint64_t fallback, uint64_t lo,
                                   uint64_t hi) {
  if (!req.has_param(key))
    return fallback;
  auto text = req.get_param_value(key);
  uint64_t x = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), x);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size()
      || x < lo || x > hi) {
    send_error(res, 400,
               std::string{"query parameter '"} + key + "' must be an integer "
                 "from " + std::to_string(lo) + " to " + std::to_string(hi)
                 + ", got '" + text + "'");
    return std::nullopt;
  }
  return x;
}

/// Reads the hex trace id parameter `key`; nullopt after answering 400.
std::optional<uint64_t> trace_param(const httplib::Request& req,
                                    httplib::Response& res, const char* key) {
  auto text = req.get_param_value(key);
  auto id = parse_hex_id(text);
  if (!id || *id == 0)
    send_error(res, 400,
               std::string{"query parameter '"} + key
                 + "' must be a trace id (1-16 hex digits), got '" + text
                 + "'");
  return id && *id != 0 ? id : std::nullopt;
}

json span_json(const span& s) {
  return {{"trace", hex_id(s.trace_id)}, {"span", hex_id(s.span_id)},
          {"parent", hex_id(s.parent_id)}, {"kind", s.kind},
          {"name", s.name},             {"node", s.node},
          {"start_ns", s.start_ns},     {"end_ns", s.end_ns},
          {"detail", s.detail},         {"outcome", s.outcome},
          {"group_view", s.group_view}, {"failed", span_failed(s)}};
}

} // namespace

std::optional<std::pair<std::string, int>>
parse_listen_address(const std::string& text, std::string& error) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    error = "listen address '" + text + "' is not HOST:PORT";
    return std::nullopt;
  }
  auto port_text = text.substr(colon + 1);
  int port = 0;
  auto [end, ec] = std::from_chars(port_text.data(),
                                   port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc{}
      || end != port_text.data() + port_text.size() || port < 0
      || port > 65535) {
    error = "listen address '" + text + "': port '" + port_text
            + "' is not a number from 0 to 65535";
    return std::nullopt;
  }
  return std::make_pair(text.substr(0, colon), port);
}

dashboard_server::dashboard_server(cluster_probe& probe,
                                   dashboard_options opts)
  : probe_(probe), opts_(opts), http_(std::make_unique<httplib::Server>()) {
  routes();
}

dashboard_server::~dashboard_server() {
  stop();
}

caf::expected<int> dashboard_server::start(const std::string& host,
                                           int port) {
  int bound = port == 0 ? http_->bind_to_any_port(host)
                        : (http_->bind_to_port(host, port) ? port : -1);
  if (bound < 0)
    return make_error(errc::bad_config,
                      "cannot listen on " + host + ":" + std::to_string(port));
  collect_state(); // the first page load has a model
  poll_thread_ = std::thread{[this] { poll_loop(); }};
  server_thread_ = std::thread{[this] { http_->listen_after_bind(); }};
  return bound;
}

void dashboard_server::stop() {
  if (stopping_.exchange(true))
    return;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    changed_.notify_all();
  }
  http_->stop();
  if (server_thread_.joinable())
    server_thread_.join();
  if (poll_thread_.joinable())
    poll_thread_.join();
}

uint64_t dashboard_server::version() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return version_;
}

void dashboard_server::poll_loop() {
  while (!stopping_) {
    {
      std::unique_lock<std::mutex> guard{mtx_};
      changed_.wait_for(guard, opts_.poll_interval,
                        [this] { return stopping_.load(); });
    }
    if (!stopping_)
      collect_state();
  }
}

void dashboard_server::collect_state() {
  introspect_query q;
  q.max_spans = 0;
  std::map<std::string, uint64_t> after;
  bool first = false;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    first = version_ == 0;
    for (auto& [name, pos] : journal_pos_)
      after[name] = pos.second;
  }
  // Not waiting for unconnected members: a member just killed stays in the
  // view until it is removed, and waiting for it would delay the news.
  auto answers = probe_.collect(q, opts_.poll_timeout, first, after);
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<event_row> fresh;
  for (auto& a : answers) {
    if (!a.report)
      continue;
    auto& pos = journal_pos_[a.node];
    if (pos.first != a.report->self.incarnation) {
      // A new incarnation numbers its journal from 1 again: take all of it
      // at the next collection.
      bool filtered = pos.second > 0;
      pos = {a.report->self.incarnation, 0};
      if (filtered)
        continue;
    }
    auto who = to_string(a.report->self);
    for (auto& e : a.report->events)
      if (e.seq > pos.second) {
        fresh.push_back({who, e.event});
        pos.second = e.seq;
      }
  }
  std::stable_sort(fresh.begin(), fresh.end(), [](auto& x, auto& y) {
    return x.event.start_ns < y.event.start_ns;
  });
  for (auto& e : fresh) {
    // Keep the whole journal ordered by time across nodes.
    auto at = std::upper_bound(events_.begin(), events_.end(), e,
                               [](auto& x, auto& y) {
                                 return x.event.start_ns < y.event.start_ns;
                               });
    events_.insert(at, std::move(e));
  }
  while (events_.size() > opts_.max_events) {
    events_.erase(events_.begin());
    ++first_event_;
  }
  auto model = build_model(probe_.cluster(), answers, events_);
  auto body = to_json(model);
  body["first_event"] = first_event_;
  body["version"] = version_ + 1;
  model_json_ = body.dump();
  ++version_;
  changed_.notify_all();
}

void dashboard_server::collect_spans() {
  // One fetch at a time: concurrent page loads share the result.
  std::lock_guard<std::mutex> fetching{span_fetch_mtx_};
  introspect_query q;
  q.max_events = 0;
  auto answers = probe_.collect(q, opts_.poll_timeout, false);
  auto fresh = merge_spans(answers);
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& s : fresh)
    if (span_ids_.emplace(s.trace_id, s.span_id).second)
      spans_.push_back(std::move(s));
  while (spans_.size() > opts_.max_spans) {
    span_ids_.erase({spans_.front().trace_id, spans_.front().span_id});
    spans_.pop_front();
  }
}

void dashboard_server::routes() {
  auto& svr = *http_;
  auto asset = [&svr](const std::string& path, const char* body,
                      const char* type) {
    svr.Get(path, [body, type](const httplib::Request& req,
                               httplib::Response& res) {
      if (only_params(req, res, {}))
        res.set_content(body, type);
    });
  };
  asset("/", asset_index_html, "text/html; charset=utf-8");
  asset("/index.html", asset_index_html, "text/html; charset=utf-8");
  asset("/app.js", asset_app_js, "application/javascript");
  asset("/style.css", asset_style_css, "text/css");
  svr.Get("/api/cluster", [this](const httplib::Request& req,
                                 httplib::Response& res) {
    if (!only_params(req, res, {}))
      return;
    std::lock_guard<std::mutex> guard{mtx_};
    res.set_content(model_json_, "application/json");
  });
  svr.Get("/api/events", [this](const httplib::Request& req,
                                httplib::Response& res) {
    if (!only_params(req, res, {"after", "limit"}))
      return;
    auto after = uint_param(req, res, "after", 0, 0, UINT64_MAX);
    auto limit = after ? uint_param(req, res, "limit", 100, 1, 5000)
                       : std::nullopt;
    if (!after || !limit)
      return;
    std::lock_guard<std::mutex> guard{mtx_};
    json out = json::array();
    for (size_t i = 0; i < events_.size() && out.size() < *limit; ++i) {
      auto number = first_event_ + i;
      if (number <= *after)
        continue;
      auto& e = events_[i];
      auto j = span_json(e.event);
      j["number"] = number;
      j["reporter"] = e.reporter;
      out.push_back(std::move(j));
    }
    send_json(res, {{"events", out}});
  });
  svr.Get("/api/traces", [this](const httplib::Request& req,
                                httplib::Response& res) {
    if (!only_params(req, res, {"limit"}))
      return;
    auto limit = uint_param(req, res, "limit", 50, 1, 1000);
    if (!limit)
      return;
    collect_spans();
    struct summary {
      const span* root = nullptr;
      int64_t start = INT64_MAX;
      int64_t end = 0;
      size_t count = 0;
      std::set<std::string> nodes;
      bool failed = false;
    };
    std::lock_guard<std::mutex> guard{mtx_};
    std::map<uint64_t, summary> traces;
    for (auto& s : spans_) {
      auto& t = traces[s.trace_id];
      // The root: the earliest span without a parent (else the earliest).
      bool is_root = s.parent_id == 0;
      if (t.root == nullptr || (is_root && t.root->parent_id != 0)
          || (is_root == (t.root->parent_id == 0)
              && s.start_ns < t.root->start_ns))
        t.root = &s;
      t.start = std::min(t.start, s.start_ns);
      t.end = std::max(t.end, std::max(s.end_ns, s.start_ns));
      ++t.count;
      t.nodes.insert(s.node);
      t.failed |= span_failed(s);
    }
    std::vector<std::pair<uint64_t, const summary*>> order;
    for (auto& [id, t] : traces)
      order.emplace_back(id, &t);
    std::sort(order.begin(), order.end(), [](auto& x, auto& y) {
      return x.second->start > y.second->start;
    });
    json out = json::array();
    for (size_t i = 0; i < order.size() && i < *limit; ++i) {
      auto& t = *order[i].second;
      out.push_back({{"trace", hex_id(order[i].first)},
                     {"kind", t.root->kind},
                     {"name", t.root->name},
                     {"start_ns", t.start},
                     {"duration_ns", t.end - t.start},
                     {"spans", t.count},
                     {"nodes", t.nodes},
                     {"failed", t.failed}});
    }
    send_json(res, {{"traces", out}});
  });
  svr.Get("/api/trace", [this](const httplib::Request& req,
                               httplib::Response& res) {
    if (!only_params(req, res, {"id"}))
      return;
    if (!req.has_param("id")) {
      send_error(res, 400, "query parameter 'id' (a trace id) is required");
      return;
    }
    auto id = trace_param(req, res, "id");
    if (!id)
      return;
    collect_spans();
    std::lock_guard<std::mutex> guard{mtx_};
    json out = json::array();
    for (auto& s : spans_)
      if (s.trace_id == *id)
        out.push_back(span_json(s));
    if (out.empty()) {
      send_error(res, 404, "no spans of trace " + hex_id(*id)
                             + " on any member (unknown, or dropped from "
                               "their span buffers)");
      return;
    }
    send_json(res, {{"trace", hex_id(*id)}, {"spans", out}});
  });
  svr.Get("/api/export", [this](const httplib::Request& req,
                                httplib::Response& res) {
    if (!only_params(req, res, {"format", "trace"}))
      return;
    auto text = req.get_param_value("format");
    auto format = parse_trace_format(text);
    if (!format) {
      send_error(res, 400, "query parameter 'format' must be 'chrome' or "
                           "'otlp', got '" + text + "'");
      return;
    }
    std::optional<uint64_t> only;
    if (req.has_param("trace") && !(only = trace_param(req, res, "trace")))
      return;
    collect_spans();
    std::vector<span> spans;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      spans.assign(spans_.begin(), spans_.end());
    }
    if (only) {
      spans = spans_of_trace(spans, *only);
      if (spans.empty()) {
        send_error(res, 404, "no spans of trace " + hex_id(*only));
        return;
      }
    }
    res.set_header("Content-Disposition",
                   std::string{"attachment; filename=\"ftsr-trace-"} + text
                     + ".json\"");
    send_json(res, export_trace(spans, *format));
  });
  svr.Get("/api/stream", [this](const httplib::Request& req,
                                httplib::Response& res) {
    if (!only_params(req, res, {}))
      return;
    res.set_header("Cache-Control", "no-cache");
    auto sent = std::make_shared<uint64_t>(0);
    res.set_chunked_content_provider(
      "text/event-stream", [this, sent](size_t, httplib::DataSink& sink) {
        std::string msg;
        {
          std::unique_lock<std::mutex> guard{mtx_};
          changed_.wait_for(guard, std::chrono::seconds(10), [&] {
            return stopping_.load() || version_ > *sent;
          });
          if (stopping_)
            return false;
          if (version_ > *sent) {
            *sent = version_;
            msg = "event: model\ndata: " + model_json_ + "\n\n";
          } else {
            msg = ": keep-alive\n\n";
          }
        }
        return sink.write(msg.data(), msg.size());
      });
  });
  svr.set_error_handler([](const httplib::Request& req,
                           httplib::Response& res) {
    // Only errors no handler answered yet (unknown paths, bad methods).
    if (!res.body.empty())
      return;
    if (res.status == 404)
      send_error(res, 404, "no such page or endpoint: " + req.path);
    else
      send_error(res, res.status, "bad request: " + req.method + " "
                                    + req.path);
  });
}

} // namespace ftsr::dashboard
