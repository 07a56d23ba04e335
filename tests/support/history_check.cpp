// Partition-test histories: JSON form and the checker.
#include "tests/support/history_check.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

namespace ftsr::testing {

using nlohmann::json;

namespace {

const char* outcome_name(op_outcome x) {
  switch (x) {
    case op_outcome::ok:
      return "ok";
    case op_outcome::fail:
      return "fail";
    default:
      return "unknown";
  }
}

op_outcome outcome_of(const std::string& s) {
  if (s == "ok")
    return op_outcome::ok;
  if (s == "fail")
    return op_outcome::fail;
  if (s == "unknown")
    return op_outcome::unknown;
  throw std::runtime_error("outcome must be ok, fail or unknown, got '" + s
                           + "'");
}

template <class T>
T required(const json& j, const char* field) {
  auto i = j.find(field);
  if (i == j.end())
    throw std::runtime_error(std::string{"missing field '"} + field + "'");
  try {
    return i->get<T>();
  } catch (const json::exception& e) {
    throw std::runtime_error(std::string{"field '"} + field + "': " + e.what());
  }
}

/// The sub-object `field` of `j` (a reference: iterating a copy returned
/// by value would dangle).
const json& node_at(const json& j, const char* field) {
  auto i = j.find(field);
  if (i == j.end())
    throw std::runtime_error(std::string{"missing field '"} + field + "'");
  return *i;
}

template <class T>
T optional_field(const json& j, const char* field, T fallback) {
  auto i = j.find(field);
  if (i == j.end() || i->is_null())
    return fallback;
  try {
    return i->get<T>();
  } catch (const json::exception& e) {
    throw std::runtime_error(std::string{"field '"} + field + "': " + e.what());
  }
}

std::string describe_op(const op_record& op, int64_t t0) {
  std::ostringstream out;
  out << op.client << " " << op.kind << " " << op.key;
  if (!op.value.empty())
    out << "=" << op.value;
  out << " [" << (op.start_ns - t0) / 1000000 << ".."
      << (op.end_ns - t0) / 1000000 << " ms]";
  if (!op.incarnation.empty())
    out << " by " << op.incarnation;
  return out.str();
}

/// Collects violations of one kind, listing at most `max` of them.
struct violation_sink {
  check_report& report;
  size_t& counter;
  size_t max;
  std::string kind;

  void add(const std::string& what) {
    if (counter++ < max)
      report.violations.push_back(kind + ": " + what);
    else if (counter == max + 1)
      report.violations.push_back(kind + ": ... (more below the count)");
  }
};

int64_t first_start(const std::vector<op_record>& history) {
  if (history.empty())
    return 0;
  auto first = std::min_element(history.begin(), history.end(),
                                [](auto& a, auto& b) {
                                  return a.start_ns < b.start_ns;
                                });
  return first->start_ns;
}

void count_outcomes(const std::vector<op_record>& history, check_report& r) {
  for (auto& op : history) {
    if (op.outcome == op_outcome::fail)
      ++r.failed;
    else if (op.outcome == op_outcome::unknown)
      ++r.unknown;
    else if (op.kind == "write")
      ++r.ok_writes;
    else
      ++r.ok_reads;
  }
}

void check_stale_reads(const std::vector<op_record>& history, int64_t t0,
                       violation_sink sink) {
  // Per key, the ok writes by end time.
  std::unordered_map<std::string, std::vector<const op_record*>> writes;
  for (auto& op : history)
    if (op.kind == "write" && op.outcome == op_outcome::ok)
      writes[op.key].push_back(&op);
  for (auto& [key, ws] : writes)
    std::sort(ws.begin(), ws.end(), [](auto* a, auto* b) {
      return a->end_ns < b->end_ns;
    });
  for (auto& op : history) {
    if (op.kind != "read" || op.outcome != op_outcome::ok)
      continue;
    auto i = writes.find(op.key);
    if (i == writes.end())
      continue;
    if (op.count) {
      int64_t before = 0;
      for (auto* w : i->second)
        if (w->end_ns < op.start_ns)
          ++before;
      if (*op.count < before)
        sink.add(describe_op(op, t0) + " returned " + std::to_string(*op.count)
                 + " but " + std::to_string(before)
                 + " writes were acknowledged before it started");
      continue;
    }
    std::unordered_set<std::string> seen(op.values.begin(), op.values.end());
    for (auto* w : i->second) {
      if (w->end_ns >= op.start_ns)
        break;
      if (seen.count(w->value) == 0) {
        sink.add(describe_op(op, t0) + " misses " + describe_op(*w, t0));
        break;
      }
    }
  }
}

void check_incarnations(const std::vector<op_record>& history, int64_t t0,
                        violation_sink sink) {
  struct span {
    const op_record* latest_start = nullptr;
    const op_record* earliest_end = nullptr;
  };
  // actor -> incarnation -> its answers' extremes
  std::map<std::string, std::map<std::string, span>> actors;
  for (auto& op : history) {
    if (op.outcome != op_outcome::ok || op.actor.empty()
        || op.incarnation.empty())
      continue;
    auto& s = actors[op.actor][op.incarnation];
    if (!s.latest_start || op.start_ns > s.latest_start->start_ns)
      s.latest_start = &op;
    if (!s.earliest_end || op.end_ns < s.earliest_end->end_ns)
      s.earliest_end = &op;
  }
  for (auto& [actor, incs] : actors)
    for (auto x = incs.begin(); x != incs.end(); ++x)
      for (auto y = std::next(x); y != incs.end(); ++y) {
        auto& a = x->second;
        auto& b = y->second;
        bool a_before_b = a.latest_start->start_ns <= b.earliest_end->end_ns;
        bool b_before_a = b.latest_start->start_ns <= a.earliest_end->end_ns;
        if (a_before_b || b_before_a)
          continue;
        sink.add("actor " + actor + ": incarnations " + x->first + " and "
                 + y->first + " both answered: " + describe_op(*a.earliest_end, t0)
                 + " ended before " + describe_op(*b.latest_start, t0)
                 + " started, and " + describe_op(*b.earliest_end, t0)
                 + " ended before " + describe_op(*a.latest_start, t0)
                 + " started");
      }
}

void check_writes(const std::vector<op_record>& history,
                  const final_state& end, int64_t t0, check_report& r,
                  size_t max) {
  violation_sink lost{r, r.lost_writes, max, "lost write"};
  violation_sink dup{r, r.duplicate_tokens, max, "duplicate or unknown token"};
  std::unordered_map<std::string, std::unordered_map<std::string, size_t>>
    present;
  for (auto& [key, tokens] : end.contents)
    for (auto& t : tokens)
      ++present[key][t];
  std::unordered_map<std::string, std::unordered_set<std::string>> written;
  for (auto& op : history) {
    if (op.kind != "write")
      continue;
    written[op.key].insert(op.value);
    if (op.outcome != op_outcome::ok || end.unreadable.count(op.key) != 0)
      continue;
    auto& at = present[op.key];
    auto i = at.find(op.value);
    if (i == at.end())
      lost.add(describe_op(op, t0) + " was acknowledged but is not in "
               + op.key + " at the end");
  }
  for (auto& [key, tokens] : present)
    for (auto& [t, n] : tokens) {
      if (n > 1)
        dup.add("token " + t + " is " + std::to_string(n) + " times in " + key);
      else if (written[key].count(t) == 0)
        dup.add("token " + t + " in " + key + " was written by no client");
    }
  // Unreadable keys, grouped by error: the acknowledged writes to them
  // could not be verified.
  std::map<std::string, std::vector<std::string>> by_error;
  for (auto& [key, err] : end.unreadable)
    by_error[err].push_back(key);
  for (auto& [err, keys] : by_error) {
    size_t unverified = 0;
    for (auto& op : history)
      unverified += op.kind == "write" && op.outcome == op_outcome::ok
                    && std::find(keys.begin(), keys.end(), op.key)
                         != keys.end();
    std::string names;
    for (size_t k = 0; k < keys.size() && k < 5; ++k)
      names += (k == 0 ? "" : ", ") + keys[k];
    if (keys.size() > 5)
      names += ", ...";
    r.violations.push_back("final read: " + std::to_string(keys.size())
                           + " keys (" + names
                           + ") could not be read at the end, "
                           + std::to_string(unverified)
                           + " acknowledged writes to them unverified: "
                           + err);
  }
}

void check_final(const final_state& end, check_report& r) {
  if (!end.settled)
    r.violations.push_back("cluster did not settle: " + end.reason);
  std::map<std::string, uint64_t> incarnation_seen;
  std::map<std::string, std::string> seen_by;
  for (auto& name : end.nodes) {
    auto v = std::find_if(end.views.begin(), end.views.end(),
                          [&](auto& x) { return x.node == name; });
    if (v == end.views.end() || !v->reachable) {
      r.violations.push_back("view: node " + name
                             + " did not answer at the end");
      continue;
    }
    for (auto& other : end.nodes) {
      auto m = v->members.find(other);
      if (m == v->members.end() || !m->second.first) {
        r.violations.push_back("view: " + name + " does not see " + other
                               + " up at the end");
        continue;
      }
      auto [it, fresh] = incarnation_seen.emplace(other, m->second.second);
      if (fresh)
        seen_by[other] = name;
      else if (it->second != m->second.second)
        r.violations.push_back(
          "view: " + name + " sees " + other + " as incarnation "
          + std::to_string(m->second.second) + ", " + seen_by[other]
          + " as " + std::to_string(it->second));
    }
  }
  for (auto& g : end.groups) {
    if (2 * g.replicas.size() <= g.created_replicas)
      r.violations.push_back("group " + g.name + ": "
                             + std::to_string(g.replicas.size())
                             + " live replicas at the end, created with "
                             + std::to_string(g.created_replicas));
    for (auto& x : g.replicas) {
      if (!x.serving)
        r.violations.push_back("group " + g.name + ": replica "
                               + std::to_string(x.member)
                               + " is not serving at the end");
      auto& first = g.replicas.front();
      if (x.digest != first.digest || x.delivered != first.delivered
          || x.state_hash != first.state_hash)
        r.violations.push_back(
          "group " + g.name + ": replica " + std::to_string(x.member)
          + " (delivered " + std::to_string(x.delivered) + ", digest "
          + std::to_string(x.digest) + ", state "
          + std::to_string(x.state_hash) + ") differs from replica "
          + std::to_string(first.member) + " (delivered "
          + std::to_string(first.delivered) + ", digest "
          + std::to_string(first.digest) + ", state "
          + std::to_string(first.state_hash) + ")");
    }
  }
}

} // namespace

std::string to_json_line(const op_record& op) {
  json j{{"client", op.client},     {"kind", op.kind},
         {"key", op.key},           {"start", op.start_ns},
         {"end", op.end_ns},        {"outcome", outcome_name(op.outcome)}};
  if (!op.value.empty())
    j["value"] = op.value;
  if (op.kind == "read" && !op.count)
    j["values"] = op.values;
  if (op.count)
    j["count"] = *op.count;
  if (!op.error.empty())
    j["error"] = op.error;
  if (!op.actor.empty())
    j["actor"] = op.actor;
  if (!op.incarnation.empty())
    j["incarnation"] = op.incarnation;
  return j.dump();
}

op_record op_from_json_line(const std::string& line) {
  json j;
  try {
    j = json::parse(line);
  } catch (const json::exception& e) {
    throw std::runtime_error(std::string{"not JSON: "} + e.what());
  }
  if (!j.is_object())
    throw std::runtime_error("not a JSON object");
  op_record op;
  op.client = required<std::string>(j, "client");
  op.kind = required<std::string>(j, "kind");
  if (op.kind != "write" && op.kind != "read")
    throw std::runtime_error("kind must be write or read, got '" + op.kind
                             + "'");
  op.key = required<std::string>(j, "key");
  op.start_ns = required<int64_t>(j, "start");
  op.end_ns = required<int64_t>(j, "end");
  if (op.end_ns < op.start_ns)
    throw std::runtime_error("end before start");
  op.outcome = outcome_of(required<std::string>(j, "outcome"));
  op.value = optional_field<std::string>(j, "value", "");
  if (op.kind == "write" && op.value.empty())
    throw std::runtime_error("a write needs a non-empty 'value'");
  op.values = optional_field<std::vector<std::string>>(j, "values", {});
  if (j.contains("count"))
    op.count = required<int64_t>(j, "count");
  op.error = optional_field<std::string>(j, "error", "");
  op.actor = optional_field<std::string>(j, "actor", "");
  op.incarnation = optional_field<std::string>(j, "incarnation", "");
  return op;
}

std::vector<op_record> read_history(const std::string& path) {
  std::ifstream in{path};
  if (!in)
    throw std::runtime_error("cannot open history " + path);
  std::vector<op_record> result;
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    if (line.empty())
      continue;
    try {
      result.push_back(op_from_json_line(line));
    } catch (const std::exception& e) {
      throw std::runtime_error(path + ":" + std::to_string(n) + ": "
                               + e.what());
    }
  }
  return result;
}

std::string to_json(const final_state& st) {
  json views = json::array();
  for (auto& v : st.views) {
    json members = json::object();
    for (auto& [name, m] : v.members)
      members[name] = {{"up", m.first}, {"incarnation", m.second}};
    views.push_back(
      {{"node", v.node}, {"reachable", v.reachable}, {"members", members}});
  }
  json groups = json::array();
  for (auto& g : st.groups) {
    json replicas = json::array();
    for (auto& x : g.replicas)
      replicas.push_back({{"member", x.member},
                          {"view", x.view},
                          {"delivered", x.delivered},
                          {"digest", x.digest},
                          {"serving", x.serving},
                          {"state_hash", x.state_hash}});
    groups.push_back({{"name", g.name},
                      {"created_replicas", g.created_replicas},
                      {"replicas", replicas},
                      {"primary", g.primary}});
  }
  json j{{"settled", st.settled}, {"reason", st.reason},
         {"nodes", st.nodes},     {"views", views},
         {"groups", groups},      {"contents", st.contents},
         {"unreadable", st.unreadable}};
  return j.dump(1);
}

final_state final_from_json(const std::string& text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw std::runtime_error(std::string{"final state is not JSON: "}
                             + e.what());
  }
  final_state st;
  st.settled = required<bool>(j, "settled");
  st.reason = optional_field<std::string>(j, "reason", "");
  st.nodes = required<std::vector<std::string>>(j, "nodes");
  for (auto& v : node_at(j, "views")) {
    node_view nv;
    nv.node = required<std::string>(v, "node");
    nv.reachable = required<bool>(v, "reachable");
    for (auto& [name, m] : node_at(v, "members").items())
      nv.members[name] = {required<bool>(m, "up"),
                          required<uint64_t>(m, "incarnation")};
    st.views.push_back(std::move(nv));
  }
  for (auto& g : node_at(j, "groups")) {
    group_state gs;
    gs.name = required<std::string>(g, "name");
    gs.created_replicas = required<size_t>(g, "created_replicas");
    gs.primary = optional_field<std::string>(g, "primary", "");
    for (auto& x : node_at(g, "replicas"))
      gs.replicas.push_back({required<uint64_t>(x, "member"),
                             required<uint64_t>(x, "view"),
                             required<uint64_t>(x, "delivered"),
                             required<uint64_t>(x, "digest"),
                             required<bool>(x, "serving"),
                             required<uint64_t>(x, "state_hash")});
    st.groups.push_back(std::move(gs));
  }
  st.contents = required<std::map<std::string, std::vector<std::string>>>(
    j, "contents");
  st.unreadable = optional_field<std::map<std::string, std::string>>(
    j, "unreadable", {});
  return st;
}

final_state read_final(const std::string& path) {
  std::ifstream in{path};
  if (!in)
    throw std::runtime_error("cannot open final state " + path);
  std::stringstream buf;
  buf << in.rdbuf();
  try {
    return final_from_json(buf.str());
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
}

std::string check_report::summary() const {
  std::ostringstream out;
  out << ok_writes << " writes and " << ok_reads << " reads acknowledged, "
      << failed << " failed, " << unknown << " unknown; " << lost_writes
      << " lost writes, " << duplicate_tokens << " duplicate/unknown tokens, "
      << stale_reads << " stale reads, " << overlapping_incarnations
      << " overlapping incarnations, " << violations.size()
      << " violation lines";
  for (auto& v : violations)
    out << "\n  " << v;
  return out.str();
}

check_report check_history(const std::vector<op_record>& history,
                           size_t max_per_kind) {
  check_report r;
  auto t0 = first_start(history);
  count_outcomes(history, r);
  check_stale_reads(history, t0,
                    {r, r.stale_reads, max_per_kind, "stale read"});
  check_incarnations(history, t0,
                     {r, r.overlapping_incarnations, max_per_kind,
                      "two incarnations"});
  return r;
}

check_report check(const std::vector<op_record>& history,
                   const final_state& end, size_t max_per_kind) {
  auto r = check_history(history, max_per_kind);
  check_writes(history, end, first_start(history), r, max_per_kind);
  check_final(end, r);
  return r;
}

} // namespace ftsr::testing
