// Persistent groups (group_spec::backups): the primary's plan for bringing
// the group back to its size after replicas failed. While the view has
// fewer members than the group was created with, one replacement at a time
// is spawned on the first backup node (in order) that hosts no member and
// has not failed too often, then joined by state transfer. Deterministic:
// the replica actor (replica.cpp) asks it, spawns through the node manager
// and reports the outcomes. Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace ftsr {

class restore_planner {
public:
  /// Spawns or joins that failed on one node before it is skipped.
  static constexpr size_t max_failures_per_node = 3;

  restore_planner(std::vector<std::string> backups, size_t replicas)
    : backups_(std::move(backups)), replicas_(replicas) {
    // Nothing to do.
  }

  /// True while a replacement is being spawned or joined.
  bool restoring() const noexcept { return restoring_; }

  /// The primary serves a view of `members` replicas hosted on `hosting`:
  /// the backup nodes to try, in order, for one replacement (the planner is
  /// then restoring until spawned/given_up/finished), or nothing.
  std::vector<std::string> plan(const std::set<std::string>& hosting,
                                size_t members);

  /// Spawning on `on` failed; `node_down` failures (the node is not up) do
  /// not count against it.
  void spawn_failed(const std::string& on, bool node_down);

  /// No candidate could take a replica (or a view change came first).
  void given_up() { restoring_ = false; }

  /// Replacement `id` was spawned on `on` and is joining.
  void spawned(uint64_t id, const std::string& on) {
    joining_.emplace(id, on);
  }

  /// Replacements still joining.
  std::vector<uint64_t> joining() const;

  /// Replacement `id` joined (state transferred) or did not make it; its
  /// node, if it was one of this planner's replacements.
  std::optional<std::string> finished(uint64_t id, bool joined);

private:
  std::vector<std::string> backups_;
  size_t replicas_;
  bool restoring_ = false;
  std::map<uint64_t, std::string> joining_;
  std::map<std::string, size_t> failures_;
};

} // namespace ftsr
