// Histories of client operations recorded during partition tests, the final
// state read once the cluster settled, and the checker that judges them.
//
// A history is JSON lines, one operation each (written by partition_client,
// read back here). Every operation works on a key holding a set of unique
// tokens: a write adds one token (kv: append to a key; counter: add with a
// unique token), a read returns the tokens it saw (`values`) or only how
// many (`count`, the counter's total). Timestamps are CLOCK_MONOTONIC in
// nanoseconds, shared by every network namespace of the machine, so the
// histories of clients in different namespaces are comparable.
//
// check() reports every violation of:
//   - acknowledged writes: each token of an ok write is in the final
//     contents of its key exactly once; no token is there twice, and none
//     that no client wrote;
//   - stale reads: an ok read returns every token of the ok writes to its
//     key that ended before the read started (a count read: at least as
//     many);
//   - one incarnation at a time: the ok answers of each actor (operations
//     naming `actor` and the `incarnation` that answered) can be split in
//     time between its incarnations. An answer happened somewhere in its
//     operation's interval, so incarnations X and Y overlap only if neither
//     "every answer of X can precede every answer of Y" (the latest start of
//     X's operations is before the earliest end of Y's) nor the converse
//     holds. Merely overlapping intervals are no proof: a reply from the old
//     incarnation may travel while the new one already answers;
//   - the final state: the cluster settled (every node serving), every
//     live replica of each group identical and serving, at least a majority
//     of the replicas it was created with, and every node sees every node
//     up with the same incarnation as the others see.
// Plain functions, no shared state; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ftsr::testing {

enum class op_outcome { ok, fail, unknown };

struct op_record {
  std::string client;
  /// "write" or "read".
  std::string kind;
  std::string key;
  /// write: the token added.
  std::string value;
  /// read: the tokens returned (set reads).
  std::vector<std::string> values;
  /// read: how many tokens the key holds (count reads, e.g. a total).
  std::optional<int64_t> count;
  int64_t start_ns = 0;
  int64_t end_ns = 0;
  op_outcome outcome = op_outcome::unknown;
  std::string error;
  /// The single actor the operation called (empty for groups) and the
  /// incarnation that answered it (empty if unknown).
  std::string actor;
  std::string incarnation;
};

/// One replica of a group as reported at the end.
struct replica_state {
  uint64_t member = 0;
  uint64_t view = 0;
  uint64_t delivered = 0;
  uint64_t digest = 0;
  bool serving = false;
  /// A hash of the resource's snapshot (replicas compare it).
  uint64_t state_hash = 0;
};

struct group_state {
  std::string name;
  /// Replicas the group was created with: a majority of them must serve at
  /// the end (a failed replica need not be replaced by then).
  size_t created_replicas = 0;
  std::vector<replica_state> replicas;
  /// Node of the latest view's primary as the settling client saw it
  /// (empty if unknown).
  std::string primary;
};

/// What node `node` reports of every member: name -> (up, incarnation).
struct node_view {
  std::string node;
  bool reachable = false;
  std::map<std::string, std::pair<bool, uint64_t>> members;
};

/// The final state, read by `partition_client settle` once every node
/// serves again (or its bound ran out: `settled` false, `reason` says why).
struct final_state {
  bool settled = false;
  std::string reason;
  /// The nodes of the cluster file.
  std::vector<std::string> nodes;
  std::vector<node_view> views;
  std::vector<group_state> groups;
  /// Key -> tokens it holds at the end (read through the cluster).
  std::map<std::string, std::vector<std::string>> contents;
  /// Keys that could not be read at the end, with the error.
  std::map<std::string, std::string> unreadable;
};

// -- JSON (one op per line; the final state is one object) ----------------

std::string to_json_line(const op_record& op);

/// Parses one line; throws std::runtime_error naming the bad field.
op_record op_from_json_line(const std::string& line);

/// Reads a history file (a missing file or a bad line throws
/// std::runtime_error naming the file and line).
std::vector<op_record> read_history(const std::string& path);

std::string to_json(const final_state& st);
final_state final_from_json(const std::string& text);
final_state read_final(const std::string& path);

// -- checks ---------------------------------------------------------------

struct check_report {
  /// Every violation found, each naming what and where (at most
  /// `max_per_kind` listed per kind; counts below are complete).
  std::vector<std::string> violations;
  size_t lost_writes = 0;
  size_t duplicate_tokens = 0;
  size_t stale_reads = 0;
  size_t overlapping_incarnations = 0;
  /// Statistics of the history (for the test's log).
  size_t ok_writes = 0;
  size_t ok_reads = 0;
  size_t failed = 0;
  size_t unknown = 0;

  bool ok() const {
    return violations.empty();
  }

  /// The counts and the first violations, for a failure message.
  std::string summary() const;
};

/// The history-only checks (stale reads, incarnations).
check_report check_history(const std::vector<op_record>& history,
                           size_t max_per_kind = 10);

/// All checks: the history against the final state, and the final state.
check_report check(const std::vector<op_record>& history,
                   const final_state& end, size_t max_per_kind = 10);

} // namespace ftsr::testing
