// Introspection: what a node reports about itself to ftsr-ctl and the
// dashboard (node_report, answered by the node manager to introspect_atom),
// and the two node-local records behind it: the event journal (a bounded
// ring of failure events, longer-lived than the span buffer, which
// invocations fill up quickly) and the replica board (the state of the group
// replicas this node hosts, published by the replicas themselves since the
// node manager, in actors/, cannot see inside replication/).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "caf/meta/type_name.hpp"

#include "actors/protocol.hpp"
#include "actors/trace.hpp"

namespace caf {
class actor_system_config;
}

namespace ftsr {

/// One failure-related event of a node's journal: a span of one of the
/// kinds event_journal::is_failure_event accepts, numbered in the order
/// this node recorded it (seq starts at 1 and never repeats).
struct journal_entry {
  uint64_t seq = 0;
  span event;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, journal_entry& x) {
  return f(caf::meta::type_name("ftsr::journal_entry"), x.seq, x.event);
}

/// Thread-safe bounded ring of failure events (peer suspected, failure
/// detected, node failed, view installed, monitor fired, restart, recovery,
/// group view installed, ...); the oldest are dropped first.
class event_journal {
public:
  explicit event_journal(size_t capacity = 1024);

  /// Whether spans of `kind` belong in the journal.
  static bool is_failure_event(const std::string& kind);

  /// Keeps `s` if it is a failure event; thread-safe.
  void observe(const span& s);

  /// The kept events with seq > `after`, oldest first; at most `max`
  /// (the newest ones).
  std::vector<journal_entry> since(uint64_t after, size_t max) const;

private:
  mutable std::mutex mtx_;
  size_t capacity_;
  uint64_t next_seq_ = 1;
  std::deque<journal_entry> entries_;
};

/// A replica of a group as a capability binds it.
struct group_member_ref {
  uint64_t id = 0;
  std::string node;
  uint64_t incarnation = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, group_member_ref& x) {
  return f(caf::meta::type_name("ftsr::group_member_ref"), x.id, x.node,
           x.incarnation);
}

/// One replica of a resource group as the replica itself last published it.
struct replica_info {
  uint64_t group = 0;   // capability id of the group
  std::string type;     // the group capability's type ("group:<resource>")
  /// The group's replicas as this replica's group capability binds them.
  std::vector<group_member_ref> group_members;
  uint64_t replica = 0; // capability id of the replica
  uint64_t view = 0;
  /// Replica capability ids of the view, in rank order (primary first).
  std::vector<uint64_t> members;
  /// Sequence number of the last invocation this replica delivered.
  uint64_t seqno = 0;
  bool serving = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replica_info& x) {
  return f(caf::meta::type_name("ftsr::replica_info"), x.group, x.type,
           x.group_members, x.replica, x.view, x.members, x.seqno, x.serving);
}

/// Thread-safe board of the replicas a node hosts, by replica id.
class replica_board {
public:
  /// Adds or replaces the entry of `x.replica` (view changes).
  void publish(replica_info x);

  /// Updates the delivered sequence number and serving flag of `replica`
  /// (no allocation: called as invocations are delivered).
  void progress(uint64_t replica, uint64_t seqno, bool serving);

  /// Drops `replica` (it stopped).
  void remove(uint64_t replica);

  std::vector<replica_info> snapshot() const;

private:
  mutable std::mutex mtx_;
  std::map<uint64_t, replica_info> replicas_;
};

/// A resource group this node knows: from its directory (groups whose
/// capability was published) or hosted here (its replicas).
struct group_info {
  uint64_t id = 0;
  /// The resource type.
  std::string type;
  /// The name it is registered under, if any.
  std::string name;
  std::vector<group_member_ref> members;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, group_info& x) {
  return f(caf::meta::type_name("ftsr::group_info"), x.id, x.type, x.name,
           x.members);
}

/// A persistent actor in a node's directory.
struct persistent_info {
  uint64_t id = 0;
  std::string type;
  /// Node and incarnation hosting its current generation.
  std::string node;
  uint64_t incarnation = 0;
  uint64_t generation = 0;
  /// "alive", or why it is unusable (failed, destroyed).
  std::string state;
  /// Home node first, then the backups in takeover order.
  std::vector<std::string> nodes;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, persistent_info& x) {
  return f(caf::meta::type_name("ftsr::persistent_info"), x.id, x.type,
           x.node, x.incarnation, x.generation, x.state, x.nodes);
}

/// Everything one node knows that ftsr-ctl and the dashboard show.
struct node_report {
  member_id self;
  bool member = false;
  bool fenced = false;
  /// Holds a lease renewed by a majority of its view (members only).
  bool in_majority = false;
  /// Number of the cluster view this node last installed or learned.
  uint64_t view_number = 0;
  /// This node's view of the cluster (itself included if a member).
  std::vector<member_status> members;
  std::vector<group_info> groups;
  /// Replicas hosted by this node.
  std::vector<replica_info> replicas;
  std::vector<persistent_info> persistent;
  /// Journal entries after the requested sequence number.
  std::vector<journal_entry> events;
  /// The newest spans of this node's span buffer.
  std::vector<span> spans;
  uint64_t spans_dropped = 0;
  /// Wall clock of the node when it answered (ns since the epoch).
  int64_t now_ns = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_report& x) {
  return f(caf::meta::type_name("ftsr::node_report"), x.self, x.member,
           x.fenced, x.in_majority, x.view_number, x.members, x.groups,
           x.replicas, x.persistent, x.events, x.spans, x.spans_dropped,
           x.now_ns);
}

/// What an introspect request asks for.
struct introspect_query {
  /// Node to report on; empty: the one asked.
  std::string node;
  /// Journal entries with a higher sequence number only.
  uint64_t events_after = 0;
  uint64_t max_events = 1024;
  uint64_t max_spans = 4096;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, introspect_query& x) {
  return f(caf::meta::type_name("ftsr::introspect_query"), x.node,
           x.events_after, x.max_events, x.max_spans);
}

/// Registers the introspection types with CAF (part of add_protocol_types).
void add_introspection_types(caf::actor_system_config& cfg);

} // namespace ftsr
