// Cold restart of resource groups; see cold_start_planner.hpp.
#include "replication/cold_start_planner.hpp"

#include <algorithm>

namespace ftsr {

void cold_start_planner::add_records(const std::vector<group_record>& xs) {
  for (auto& x : xs) {
    auto i = groups_.find(x.id);
    if (i == groups_.end())
      groups_.emplace(x.id, x);
    else if (x.view > i->second.view)
      i->second = x;
  }
}

void cold_start_planner::add_report(const replica_report& x) {
  reports_[x.group][x.replica.id] = x;
}

std::optional<cold_group_plan>
cold_start_planner::try_plan(const group_record& g) const {
  auto r = reports_.find(g.id);
  if (r == reports_.end())
    return std::nullopt;
  std::vector<replica_place> reported;
  std::optional<size_t> source;
  size_t with_state = 0;
  replica_position best;
  for (auto& m : g.members) {
    auto i = r->second.find(m.id);
    // A report from another node than the record names is a stale one.
    if (i == r->second.end() || !(i->second.replica == m))
      continue;
    reported.push_back(m);
    if (!i->second.position)
      continue;
    ++with_state;
    if (!source || best < *i->second.position) {
      source = reported.size() - 1;
      best = *i->second.position;
    }
  }
  auto n = g.members.size();
  auto quorum = n > g.max_sf ? n - g.max_sf : 1;
  if (!source || (with_state < quorum && reported.size() < n))
    return std::nullopt;
  cold_group_plan plan;
  plan.group = g;
  plan.source = reported[*source];
  plan.position = best;
  plan.members.push_back(plan.source);
  for (auto& m : reported)
    if (!(m == plan.source))
      plan.members.push_back(m);
  return plan;
}

std::vector<cold_group_plan> cold_start_planner::ready() {
  std::vector<cold_group_plan> result;
  for (auto& [id, g] : groups_) {
    if (planned_.count(id) != 0)
      continue;
    if (auto plan = try_plan(g)) {
      planned_.insert(id);
      result.push_back(std::move(*plan));
    }
  }
  return result;
}

std::map<uint64_t, std::string> cold_start_planner::waiting() const {
  std::map<uint64_t, std::string> result;
  for (auto& [id, g] : groups_) {
    if (planned_.count(id) != 0)
      continue;
    size_t reported = 0;
    size_t with_state = 0;
    if (auto r = reports_.find(id); r != reports_.end())
      for (auto& m : g.members)
        if (auto i = r->second.find(m.id);
            i != r->second.end() && i->second.replica == m) {
          ++reported;
          with_state += i->second.position ? 1 : 0;
        }
    auto n = g.members.size();
    result.emplace(id, std::to_string(reported) + " of "
                         + std::to_string(n) + " replicas reported, "
                         + std::to_string(with_state)
                         + " with durable state (needs "
                         + std::to_string(n > g.max_sf ? n - g.max_sf : 1)
                         + " with state, or all reported and one with "
                           "state)");
  }
  return result;
}

std::map<uint64_t, std::vector<replica_place>>
cold_start_planner::unreported() const {
  std::map<uint64_t, std::vector<replica_place>> result;
  for (auto& [id, g] : groups_) {
    if (planned_.count(id) != 0)
      continue;
    auto r = reports_.find(id);
    for (auto& m : g.members) {
      bool seen = false;
      if (r != reports_.end())
        if (auto i = r->second.find(m.id); i != r->second.end())
          seen = i->second.replica == m;
      if (!seen)
        result[id].push_back(m);
    }
  }
  return result;
}

} // namespace ftsr
