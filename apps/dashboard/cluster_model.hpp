// The cluster model: the members' reports (cluster_probe) merged into what
// ftsr-ctl prints and the dashboard shows: node health, groups with view,
// primary and sequence number, persistent actors, the merged failure
// journal, and the failure timeline (detected -> monitors fired ->
// restarted on node X -> recovery done). Plain functions of their inputs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/cluster_config.hpp"
#include "actors/introspection.hpp"
#include "apps/dashboard/cluster_probe.hpp"

namespace ftsr::dashboard {

/// A node as the cluster sees it.
struct node_health {
  std::string name;
  std::string address;
  uint64_t incarnation = 0;
  /// up, suspected, failed, fenced, unknown (not in the view), or
  /// unreachable (no member answered at all).
  std::string state;
  std::string reason;
  /// Whether the node itself answered, and the error if not.
  bool answered = false;
  std::string error;
  uint64_t view_number = 0;
};

struct group_row {
  uint64_t id = 0;
  std::string type;
  std::string name;
  /// Highest view any replica reports, its primary's node, and the highest
  /// sequence number delivered in that view.
  uint64_t view = 0;
  std::string primary;
  uint64_t seqno = 0;
  std::vector<std::string> members; // nodes, rank order
  bool serving = false;
};

/// A journal entry and the node incarnation that recorded it.
struct event_row {
  std::string reporter;
  span event;
};

/// A persistent actor's restart after a failure, and its recovery.
struct restart_row {
  std::string actor; // "type#id"
  std::string node;  // where it was restarted
  int64_t restarted_ns = 0;
  int64_t recovered_ns = 0; // 0: not yet
  std::string outcome;      // recovery outcome ("ok", "failed: ...")
  uint64_t trace_id = 0;
};

/// One node failure from detection to the recovery of what it hosted.
struct failure_row {
  std::string member; // "name/incarnation"
  std::string detected_by;
  int64_t detected_ns = 0;
  std::string reason;
  int64_t removed_ns = 0; // the removal took effect (fail-stop notified)
  size_t monitors_fired = 0;
  int64_t monitors_ns = 0; // the last one
  std::vector<restart_row> restarts;
  uint64_t trace_id = 0; // of the earliest detection
};

struct cluster_model {
  std::string cluster;
  uint64_t view_number = 0;
  /// The member whose view the node states come from.
  std::string view_source;
  std::vector<node_health> nodes;
  std::vector<group_row> groups;
  std::vector<persistent_info> actors;
  std::vector<event_row> events; // oldest first
  std::vector<failure_row> failures; // oldest first
};

/// The journal entries of `answers`, oldest first.
std::vector<event_row> merge_events(const std::vector<member_answer>& answers);

/// The failure timeline that `events` (oldest first) show.
std::vector<failure_row> failure_timeline(const std::vector<event_row>& events);

/// Merges the answers (state) with `events` (the journal, possibly gathered
/// over several collections) into the model.
cluster_model build_model(const cluster_config& cluster,
                          const std::vector<member_answer>& answers,
                          std::vector<event_row> events);

nlohmann::json to_json(const cluster_model& m);

/// Renders ids the way the dashboard's URLs carry them (16 hex digits).
std::string hex_id(uint64_t id);

/// Parses 1-16 hex digits; nullopt otherwise.
std::optional<uint64_t> parse_hex_id(const std::string& text);

} // namespace ftsr::dashboard
