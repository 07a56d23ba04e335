// Placement of declared resource groups; see placement.hpp.
#include "replication/placement.hpp"

#include <algorithm>

#include "actors/errors.hpp"

namespace ftsr {

namespace {

std::string joined(const std::vector<std::string>& names) {
  std::string result;
  for (auto& name : names)
    result += (result.empty() ? "" : ", ") + name;
  return result;
}

/// Unknown or repeated names of a hosts(...) or backups(...) list.
caf::error check_names(const std::string& what,
                       const std::vector<std::string>& names,
                       const cluster_config& cluster) {
  for (auto& name : names)
    if (cluster.find(name) == nullptr)
      return make_error(errc::unknown_node,
                        what + " node '" + name + "' is not part of cluster '"
                          + cluster.name + "'");
  if (auto twice = repeated_name(names))
    return make_error(errc::invalid_argument,
                      what + " node '" + *twice + "' is listed twice");
  return caf::none;
}

} // namespace

caf::expected<std::vector<group_spec>>
place_groups(const std::string& type, const group_declaration& decl,
             size_t count, const cluster_config& cluster,
             const std::set<std::string>& live) {
  auto what = "group of '" + type + "' (" + decl.to_string() + ")";
  if (count == 0)
    return make_error(errc::invalid_argument, what + ": 0 groups requested");
  if (decl.replicas() == 0)
    return make_error(errc::invalid_argument,
                      what + ": replicas(0), at least 1 is needed");
  if (decl.model() != failure_model::crash)
    return make_error(errc::invalid_argument,
                      what + ": model(" + to_string(decl.model())
                        + ") is refused: ftsr tolerates crash failures "
                          "(model(crash)), not Byzantine faults, and cannot "
                          "assume replicas that never fail");
  if (auto err = check_names(what + ": hosts", decl.hosts(), cluster))
    return err;
  if (auto err = check_names(what + ": backups", decl.backups(), cluster))
    return err;
  auto need = decl.replica_count();
  std::vector<std::string> candidates;
  for (auto& host : decl.hosts())
    if (live.count(host) != 0)
      candidates.push_back(host);
  std::vector<std::string> not_live;
  for (auto& entry : cluster.nodes) {
    auto& name = entry.name;
    if (live.count(name) == 0)
      not_live.push_back(name);
    else if (std::find(candidates.begin(), candidates.end(), name)
             == candidates.end())
      candidates.push_back(name);
  }
  if (candidates.size() < need) {
    auto missing = std::to_string(need - candidates.size());
    auto needs = what + " needs " + std::to_string(need)
                 + " replicas on distinct live nodes";
    if (cluster.nodes.size() < need)
      return make_error(errc::invalid_argument,
                        needs + ", but cluster '" + cluster.name + "' has "
                          + std::to_string(cluster.nodes.size())
                          + " nodes: add " + missing + " more");
    return make_error(errc::node_unavailable,
                      needs + "; live: "
                        + (candidates.empty() ? "none" : joined(candidates))
                        + "; not live: " + joined(not_live) + " (" + missing
                        + " more needed)");
  }
  auto sets = decl.disjoint() ? candidates.size() / need : size_t{1};
  std::vector<group_spec> result;
  for (size_t i = 0; i < count; ++i) {
    auto first = candidates.begin() + static_cast<ptrdiff_t>((i % sets) * need);
    group_spec spec{type, {first, first + static_cast<ptrdiff_t>(need)},
                    (need - 1) / 2};
    spec.backups = decl.backups();
    result.push_back(std::move(spec));
  }
  return result;
}

} // namespace ftsr
