// Cold restart of resource groups: after every node stopped, which groups
// come back, with which of their old replicas, and from whose state. Each
// node keeps a group catalog (group_catalog.hpp: every group whose replica
// it hosted, with the group's members as of a group view) and each replica
// keeps, with its durable state, the position of the last entry it applied
// (view, sequence number). At a cold start, the coordinator of the first
// majority view collects the catalogs and the replicas' positions; this
// planner says when a group can be re-created and how:
//
// - the record with the highest group view names the members (a node that
//   was down when the group changed holds an older record);
// - a group is ready once the members that reported durable state are at
//   least N - max_sf of the record's N members (an acknowledged write is
//   held by max_sf + 1 members, so any N - max_sf of them include one that
//   holds it), or once every member reported (all that can be known);
// - the freshest reported replica (highest position; on a tie the one
//   ranked first) is the source: it comes back first (the primary) with
//   its state as it is on disk, the other reporting members come back
//   after it and take its state (state transfer), so the group loses no
//   acknowledged write and its replicas are identical again;
// - each group is planned once (done() is implied by ready()): a later
//   report or view change never re-creates it twice.
//
// Deterministic, no actors or I/O; not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "caf/message.hpp"
#include "caf/meta/type_name.hpp"

#include "replication/group_protocol.hpp"

namespace ftsr {

/// One replica of a group and the node hosting it.
struct replica_place {
  uint64_t id = 0;
  std::string node;

  friend bool operator==(const replica_place& x, const replica_place& y) {
    return x.id == y.id && x.node == y.node;
  }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replica_place& x) {
  return f(caf::meta::type_name("ftsr::replica_place"), x.id, x.node);
}

/// What a node's group catalog says about one group.
struct group_record {
  uint64_t id = 0;
  /// The resource type (add_resource_type name) and creation arguments.
  std::string type;
  caf::message args;
  uint64_t max_sf = 0;
  group_mode mode;
  /// The group view whose members this record lists.
  uint64_t view = 0;
  /// In rank order.
  std::vector<replica_place> members;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, group_record& x) {
  return f(caf::meta::type_name("ftsr::group_record"), x.id, x.type, x.args,
           x.max_sf, x.mode, x.view, x.members);
}

/// A replica's report at a cold start: its position, or nothing if its
/// node holds no durable state for it (directory missing or unreadable).
struct replica_report {
  uint64_t group = 0;
  replica_place replica;
  std::optional<replica_position> position;
};

/// How to bring one group back.
struct cold_group_plan {
  /// The newest record of the group.
  group_record group;
  /// The freshest replica and its position.
  replica_place source;
  replica_position position;
  /// The replicas to bring back, source first, then the other members that
  /// reported, in rank order (they take the source's state).
  std::vector<replica_place> members;
};

class cold_start_planner {
public:
  /// Adds one node's group catalog.
  void add_records(const std::vector<group_record>& xs);

  /// Adds a replica's report (a later one for the same replica replaces
  /// it); reports for replicas that are not members of the group's newest
  /// record, or from another node than it names, never count.
  void add_report(const replica_report& x);

  /// The groups that can be re-created now, each at most once over the
  /// planner's life. The others wait for more reports (see waiting()).
  std::vector<cold_group_plan> ready();

  /// Groups known but not planned yet, with a reason each (for the log).
  std::map<uint64_t, std::string> waiting() const;

  /// The replicas (by group) the coordinator still needs a report from.
  std::map<uint64_t, std::vector<replica_place>> unreported() const;

private:
  std::optional<cold_group_plan> try_plan(const group_record& g) const;

  std::map<uint64_t, group_record> groups_;
  /// group -> replica id -> report.
  std::map<uint64_t, std::map<uint64_t, replica_report>> reports_;
  std::set<uint64_t> planned_;
};

} // namespace ftsr
