// Merging member reports into the cluster model.
#include "apps/dashboard/cluster_model.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

namespace ftsr::dashboard {

namespace {

/// "host2/16" -> "host2".
std::string node_of(const std::string& member) {
  return member.substr(0, member.find('/'));
}

/// "counter#42@host3" -> "counter#42".
std::string actor_of(const std::string& cap) {
  return cap.substr(0, cap.rfind('@'));
}

/// Whether the monitored capability `cap` ("type#id@node") was on `node`.
bool hosted_on(const std::string& cap, const std::string& node) {
  auto at = cap.rfind('@');
  return at != std::string::npos && cap.compare(at + 1, std::string::npos, node) == 0;
}

const node_report* best_view(const std::vector<member_answer>& answers) {
  const node_report* best = nullptr;
  for (auto& a : answers)
    if (a.report && a.report->member && !a.report->fenced
        && (best == nullptr || a.report->view_number > best->view_number))
      best = &*a.report;
  return best;
}

} // namespace

std::string hex_id(uint64_t id) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(id));
  return buf;
}

std::optional<uint64_t> parse_hex_id(const std::string& text) {
  if (text.empty() || text.size() > 16)
    return std::nullopt;
  uint64_t x = 0;
  for (char c : text) {
    int d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      return std::nullopt;
    x = x * 16 + static_cast<uint64_t>(d);
  }
  return x;
}

std::vector<event_row> merge_events(const std::vector<member_answer>& answers) {
  std::vector<event_row> result;
  for (auto& a : answers)
    if (a.report)
      for (auto& e : a.report->events)
        result.push_back({to_string(a.report->self), e.event});
  std::stable_sort(result.begin(), result.end(), [](auto& x, auto& y) {
    return x.event.start_ns < y.event.start_ns;
  });
  return result;
}

std::vector<failure_row>
failure_timeline(const std::vector<event_row>& events) {
  std::vector<failure_row> result;
  std::map<std::string, size_t> by_member;
  std::vector<std::set<uint64_t>> traces;
  for (auto& e : events) {
    if (e.event.kind != "failure_detected")
      continue;
    auto [i, added] = by_member.emplace(e.event.name, result.size());
    if (added) {
      failure_row f;
      f.member = e.event.name;
      f.detected_by = e.reporter;
      f.detected_ns = e.event.start_ns;
      f.reason = e.event.detail;
      f.trace_id = e.event.trace_id;
      result.push_back(std::move(f));
      traces.emplace_back();
    }
    traces[i->second].insert(e.event.trace_id);
  }
  for (size_t k = 0; k < result.size(); ++k) {
    auto& f = result[k];
    auto node = node_of(f.member);
    // Until the next failure of the same node name.
    int64_t until = INT64_MAX;
    for (size_t j = k + 1; j < result.size(); ++j)
      if (node_of(result[j].member) == node) {
        until = result[j].detected_ns;
        break;
      }
    for (auto& e : events) {
      auto& s = e.event;
      if (s.kind == "node_failed" && s.name == f.member
          && (f.removed_ns == 0 || s.start_ns < f.removed_ns)) {
        f.removed_ns = s.start_ns;
      } else if (s.kind == "monitor_fired" && hosted_on(s.name, node)
                 && s.start_ns >= f.detected_ns && s.start_ns < until) {
        ++f.monitors_fired;
        f.monitors_ns = std::max(f.monitors_ns, s.start_ns);
      } else if (s.kind == "restart" && traces[k].count(s.trace_id) > 0) {
        f.restarts.push_back({actor_of(s.name), node_of(e.reporter),
                              s.start_ns, 0, {}, s.trace_id});
      }
    }
    for (auto& r : f.restarts)
      for (auto& e : events)
        if (e.event.kind == "recovery" && actor_of(e.event.name) == r.actor
            && e.event.end_ns >= r.restarted_ns) {
          r.recovered_ns = e.event.end_ns;
          r.outcome = e.event.detail;
          break;
        }
  }
  return result;
}

cluster_model build_model(const cluster_config& cluster,
                          const std::vector<member_answer>& answers,
                          std::vector<event_row> events) {
  cluster_model m;
  m.cluster = cluster.name;
  m.failures = failure_timeline(events);
  auto ref = best_view(answers);
  if (ref != nullptr) {
    m.view_number = ref->view_number;
    m.view_source = to_string(ref->self);
  }
  for (auto& addr : cluster.nodes) {
    node_health h;
    h.name = addr.name;
    h.address = addr.host + ":" + std::to_string(addr.port);
    h.state = ref != nullptr ? "unknown" : "unreachable";
    if (ref != nullptr)
      for (auto& s : ref->members)
        if (s.name == addr.name) {
          h.incarnation = s.incarnation;
          h.state = to_string(s.state);
          h.reason = s.reason;
        }
    for (auto& a : answers) {
      if (!a.report)
        continue;
      if (a.node == addr.name) {
        h.view_number = a.report->view_number;
        if (a.report->fenced)
          h.state = "fenced";
        continue;
      }
      // Suspected by any member that still has it in its view.
      for (auto& s : a.report->members)
        if (s.name == addr.name && s.state == member_state::suspected
            && h.state == "up")
          h.state = "suspected";
    }
    // Removed by an agreed view that this member has not acted on yet
    // (its failure is acted on once its lease ended): failed all the same.
    if (h.state == "unknown")
      for (auto& f : m.failures)
        if (f.member == addr.name + "/" + std::to_string(h.incarnation)) {
          h.state = "failed";
          h.reason = f.reason;
        }
    auto own = std::find_if(answers.begin(), answers.end(),
                            [&](auto& a) { return a.node == addr.name; });
    if (own != answers.end()) {
      h.answered = own->report.has_value();
      h.error = own->error;
    }
    m.nodes.push_back(std::move(h));
  }
  if (ref != nullptr) {
    // Each member knows the groups it hosts a replica of: the union, the
    // reference member's copy first.
    std::vector<const group_info*> known;
    std::set<uint64_t> seen;
    auto add = [&](const node_report& r) {
      for (auto& g : r.groups)
        if (seen.insert(g.id).second)
          known.push_back(&g);
    };
    add(*ref);
    for (auto& a : answers)
      if (a.report)
        add(*a.report);
    std::map<uint64_t, std::string> node_of_replica;
    for (auto* g : known)
      for (auto& r : g->members)
        node_of_replica[r.id] = r.node;
    for (auto* gp : known) {
      auto& g = *gp;
      group_row row{g.id, g.type, g.name, 0, {}, 0, {}, false};
      for (auto& r : g.members)
        row.members.push_back(r.node);
      const replica_info* newest = nullptr;
      for (auto& a : answers)
        if (a.report)
          for (auto& x : a.report->replicas)
            if (x.group == g.id) {
              if (newest == nullptr || x.view > newest->view)
                newest = &x;
            }
      if (newest != nullptr) {
        row.view = newest->view;
        if (!newest->members.empty())
          row.primary = node_of_replica[newest->members.front()];
        for (auto& a : answers)
          if (a.report)
            for (auto& x : a.report->replicas)
              if (x.group == g.id && x.view == row.view) {
                row.seqno = std::max(row.seqno, x.seqno);
                row.serving |= x.serving;
              }
      }
      m.groups.push_back(std::move(row));
    }
    m.actors = ref->persistent;
  }
  m.events = std::move(events);
  return m;
}

nlohmann::json to_json(const cluster_model& m) {
  using nlohmann::json;
  json nodes = json::array();
  for (auto& n : m.nodes)
    nodes.push_back({{"name", n.name},
                     {"address", n.address},
                     // Strings: incarnations exceed JavaScript's 2^53.
                     {"incarnation", std::to_string(n.incarnation)},
                     {"state", n.state},
                     {"reason", n.reason},
                     {"answered", n.answered},
                     {"error", n.error},
                     {"view", n.view_number}});
  json groups = json::array();
  for (auto& g : m.groups)
    groups.push_back({{"id", hex_id(g.id)},
                      {"type", g.type},
                      {"name", g.name},
                      {"view", g.view},
                      {"primary", g.primary},
                      {"seqno", g.seqno},
                      {"members", g.members},
                      {"serving", g.serving}});
  json actors = json::array();
  for (auto& a : m.actors)
    actors.push_back({{"id", hex_id(a.id)},
                      {"type", a.type},
                      {"node", a.node},
                      {"incarnation", std::to_string(a.incarnation)},
                      {"generation", a.generation},
                      {"state", a.state},
                      {"nodes", a.nodes}});
  json events = json::array();
  for (auto& e : m.events)
    events.push_back({{"reporter", e.reporter},
                      {"kind", e.event.kind},
                      {"name", e.event.name},
                      {"detail", e.event.detail},
                      {"start_ns", e.event.start_ns},
                      {"end_ns", e.event.end_ns},
                      {"trace", hex_id(e.event.trace_id)}});
  json failures = json::array();
  for (auto& f : m.failures) {
    json restarts = json::array();
    for (auto& r : f.restarts)
      restarts.push_back({{"actor", r.actor},
                          {"node", r.node},
                          {"restarted_ns", r.restarted_ns},
                          {"recovered_ns", r.recovered_ns},
                          {"outcome", r.outcome},
                          {"trace", hex_id(r.trace_id)}});
    failures.push_back({{"member", f.member},
                        {"detected_by", f.detected_by},
                        {"detected_ns", f.detected_ns},
                        {"reason", f.reason},
                        {"removed_ns", f.removed_ns},
                        {"monitors_fired", f.monitors_fired},
                        {"monitors_ns", f.monitors_ns},
                        {"restarts", restarts},
                        {"trace", hex_id(f.trace_id)}});
  }
  return {{"cluster", m.cluster},
          {"view", m.view_number},
          {"view_source", m.view_source},
          {"nodes", nodes},
          {"groups", groups},
          {"actors", actors},
          {"events", events},
          {"failures", failures}};
}

} // namespace ftsr::dashboard
