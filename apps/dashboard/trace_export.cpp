// Chrome trace-event and OTLP/JSON renderings of spans.
#include "apps/dashboard/trace_export.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "apps/dashboard/cluster_model.hpp"

namespace ftsr::dashboard {

namespace {

using nlohmann::json;

/// Spans by node, in order of the node's first span.
std::vector<std::pair<std::string, std::vector<const span*>>>
by_node(const std::vector<span>& spans) {
  std::vector<std::pair<std::string, std::vector<const span*>>> result;
  std::map<std::string, size_t> index;
  for (auto& s : spans) {
    auto [i, added] = index.emplace(s.node, result.size());
    if (added)
      result.push_back({s.node, {}});
    result[i->second].second.push_back(&s);
  }
  return result;
}

json string_attribute(const std::string& key, const std::string& value) {
  return {{"key", key}, {"value", {{"stringValue", value}}}};
}

} // namespace

bool span_failed(const span& s) {
  return s.outcome == "error" || s.detail.rfind("failed", 0) == 0;
}

std::vector<span> merge_spans(const std::vector<member_answer>& answers) {
  std::vector<span> result;
  std::set<std::pair<uint64_t, uint64_t>> seen;
  for (auto& a : answers)
    if (a.report)
      for (auto& s : a.report->spans)
        if (seen.emplace(s.trace_id, s.span_id).second)
          result.push_back(s);
  std::stable_sort(result.begin(), result.end(),
                   [](auto& x, auto& y) { return x.start_ns < y.start_ns; });
  return result;
}

std::vector<span> spans_of_trace(const std::vector<span>& spans,
                                 uint64_t trace_id) {
  std::vector<span> result;
  std::copy_if(spans.begin(), spans.end(), std::back_inserter(result),
               [&](auto& s) { return s.trace_id == trace_id; });
  return result;
}

std::optional<trace_format> parse_trace_format(const std::string& text) {
  if (text == "chrome")
    return trace_format::chrome;
  if (text == "otlp")
    return trace_format::otlp;
  return std::nullopt;
}

json chrome_trace(const std::vector<span>& spans) {
  json events = json::array();
  int pid = 0;
  for (auto& [node, xs] : by_node(spans)) {
    ++pid;
    events.push_back({{"name", "process_name"},
                      {"ph", "M"},
                      {"pid", pid},
                      {"tid", 0},
                      {"args", {{"name", node}}}});
    for (auto* s : xs) {
      json e{{"name", s->kind + " " + s->name},
             {"cat", s->kind},
             {"pid", pid},
             {"tid", 0},
             // Microseconds, with the nanoseconds kept as the fraction.
             {"ts", static_cast<double>(s->start_ns) / 1000.0},
             {"args",
              {{"trace_id", hex_id(s->trace_id)},
               {"span_id", hex_id(s->span_id)},
               {"parent_id", hex_id(s->parent_id)},
               {"node", s->node},
               {"detail", s->detail},
               {"outcome", s->outcome},
               {"group_view", s->group_view}}}};
      if (s->end_ns > s->start_ns) {
        e["ph"] = "X";
        e["dur"] = static_cast<double>(s->end_ns - s->start_ns) / 1000.0;
      } else {
        e["ph"] = "i";
        e["s"] = "p";
      }
      events.push_back(std::move(e));
    }
  }
  return {{"traceEvents", events}, {"displayTimeUnit", "ms"}};
}

json otlp_trace(const std::vector<span>& spans) {
  json resource_spans = json::array();
  for (auto& [node, xs] : by_node(spans)) {
    json out = json::array();
    for (auto* s : xs) {
      // OTLP ids: 16-byte trace ids and 8-byte span ids, in hex.
      json o{{"traceId", std::string(16, '0') + hex_id(s->trace_id)},
             {"spanId", hex_id(s->span_id)},
             {"name", s->kind},
             {"kind", 1}, // SPAN_KIND_INTERNAL
             {"startTimeUnixNano", std::to_string(s->start_ns)},
             {"endTimeUnixNano", std::to_string(std::max(s->end_ns,
                                                         s->start_ns))},
             {"attributes",
              {string_attribute("ftsr.subject", s->name),
               string_attribute("ftsr.node", s->node),
               string_attribute("ftsr.detail", s->detail),
               string_attribute("ftsr.outcome", s->outcome),
               {{"key", "ftsr.group_view"},
                {"value", {{"intValue", std::to_string(s->group_view)}}}}}},
             {"status",
              span_failed(*s) ? json{{"code", 2}, {"message", s->detail}}
                         : json{{"code", 0}}}};
      if (s->parent_id != 0)
        o["parentSpanId"] = hex_id(s->parent_id);
      out.push_back(std::move(o));
    }
    resource_spans.push_back(
      {{"resource",
        {{"attributes",
          {string_attribute("service.name", "ftsr"),
           string_attribute("service.instance.id", node)}}}},
       {"scopeSpans",
        {{{"scope", {{"name", "ftsr"}}}, {"spans", out}}}}});
  }
  return {{"resourceSpans", resource_spans}};
}

json export_trace(const std::vector<span>& spans, trace_format f) {
  return f == trace_format::chrome ? chrome_trace(spans) : otlp_trace(spans);
}

} // namespace ftsr::dashboard
