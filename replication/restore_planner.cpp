#include "replication/restore_planner.hpp"

namespace ftsr {

std::vector<std::string>
restore_planner::plan(const std::set<std::string>& hosting, size_t members) {
  std::vector<std::string> out;
  if (backups_.empty() || restoring_ || members >= replicas_)
    return out;
  for (auto& b : backups_)
    if (hosting.count(b) == 0 && failures_[b] < max_failures_per_node)
      out.push_back(b);
  restoring_ = !out.empty();
  return out;
}

void restore_planner::spawn_failed(const std::string& on, bool node_down) {
  if (!node_down)
    ++failures_[on];
}

std::vector<uint64_t> restore_planner::joining() const {
  std::vector<uint64_t> out;
  for (auto& [id, on] : joining_)
    out.push_back(id);
  return out;
}

std::optional<std::string> restore_planner::finished(uint64_t id,
                                                     bool joined) {
  auto i = joining_.find(id);
  if (i == joining_.end())
    return std::nullopt;
  auto on = i->second;
  joining_.erase(i);
  restoring_ = false;
  if (!joined)
    ++failures_[on];
  return on;
}

} // namespace ftsr
