// Cluster membership: the wire types of the membership protocol and the
// durable state each node keeps of it.
//
// The cluster's membership is a sequence of numbered views. View N+1 is
// chosen by single-decree Paxos among the *names* of view N: a majority of
// view N's names must accept it, so two sides of a partition can never both
// change the view, and an incarnation leaves the view (is fenced) only by
// such an agreement. A name votes through whichever process holds its data
// directory (the acceptor state lives there), so a restarted node keeps its
// predecessor's promises and a whole cluster can restart from its disks.
// The rules themselves live in membership_core.hpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "caf/error.hpp"
#include "caf/expected.hpp"
#include "caf/meta/load_callback.hpp"
#include "caf/meta/type_name.hpp"

#include "actors/protocol.hpp"

namespace ftsr {

/// One agreed view of the cluster.
struct cluster_view {
  /// 0 before the first agreement: every configured name may then vote.
  uint64_t number = 0;
  /// In admission order: members[0] is the oldest (first in line to
  /// coordinate the next change).
  std::vector<member_id> members;
  /// Incarnations this view removed whose death is proven (their successor
  /// holds their data directory, or their port refused a connection):
  /// their actors may be restarted without waiting for their lease.
  std::vector<member_id> proven_dead;

  bool contains(const member_id& m) const;
  /// The member called `name`, or nullptr.
  const member_id* find(const std::string& name) const;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_view& x) {
  return f(caf::meta::type_name("ftsr::cluster_view"), x.number, x.members,
           x.proven_dead);
}

bool operator==(const cluster_view& x, const cluster_view& y);

std::string to_string(const cluster_view& x);

/// A Paxos ballot: totally ordered by (round, node).
struct ballot {
  uint64_t round = 0;
  std::string node;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ballot& x) {
  return f(caf::meta::type_name("ftsr::ballot"), x.round, x.node);
}

bool operator<(const ballot& x, const ballot& y);
bool operator==(const ballot& x, const ballot& y);

enum class gms_kind : uint8_t {
  /// Liveness and lease renewal: `number` is the sender's view, `seq` its
  /// heartbeat number, `echo` the last heartbeat number it received from
  /// the receiver while it was willing to renew the receiver's lease.
  heartbeat,
  /// Paxos phase 1a for view `number` with ballot `bal`.
  prepare,
  /// Phase 1b: `has_value` tells whether `value` was accepted (with `bal`
  /// set to the ballot it was accepted under; `promised` is the promise).
  promise,
  /// Phase 2a: accept `value` as view `number` under `bal`.
  accept,
  /// Phase 2b.
  accepted,
  /// The receiver's ballot is below `bal`, the promise the sender holds.
  reject,
  /// `value` was chosen: install it.
  commit,
  /// The sender is behind: it holds view `number`; send it later views.
  behind,
  /// A new incarnation asks to be admitted; `seq` is the incarnation of
  /// its name whose data directory it holds (0: none), proof of its death.
  join,
  /// A join was refused: `reason` says why; `seq` is the highest
  /// incarnation of the joiner's name the cluster removed.
  join_refused,
};

const char* to_string(gms_kind x);

/// One membership protocol message (a single wire type keeps the core's
/// step a flat list of sends).
struct gms_msg {
  gms_kind kind = gms_kind::heartbeat;
  member_id from;
  uint64_t number = 0;
  ballot bal;
  ballot promised;
  bool has_value = false;
  cluster_view value;
  uint64_t seq = 0;
  uint64_t echo = 0;
  /// Heartbeat: the incarnation `echo` belongs to (a message to a name may
  /// reach a newer incarnation than the one it was meant for).
  uint64_t echo_for = 0;
  /// The sender can vote for its name (it holds its name's acceptor state).
  bool votes = false;
  std::string reason;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, gms_msg& x) {
  auto kind = static_cast<uint8_t>(x.kind);
  auto sync = caf::meta::load_callback([&]() -> caf::error {
    x.kind = static_cast<gms_kind>(kind);
    return caf::none;
  });
  return f(caf::meta::type_name("ftsr::gms_msg"), kind, x.from, x.number,
           x.bal, x.promised, x.has_value, x.value, x.seq, x.echo, x.echo_for,
           x.votes,
           x.reason, sync);
}

/// What a node must keep on disk about membership (written before any
/// message that depends on it is sent).
struct membership_state {
  /// The last installed view.
  cluster_view view;
  /// Acceptor state for view `view.number + 1`.
  ballot promised;
  bool has_accepted = false;
  ballot accepted_bal;
  cluster_view accepted;
  /// Highest round this node has seen (its next ballot goes above it).
  uint64_t max_round = 0;
  /// Incarnation of the process that last wrote this state.
  uint64_t owner = 0;
  /// Highest incarnation of each name ever removed from a view: fenced
  /// forever, whatever view a restarted node comes back with.
  std::vector<member_id> fenced;

  /// The fenced incarnation of `name` (0 if none).
  uint64_t fenced_of(const std::string& name) const;
  void fence(const member_id& m);
};

/// Reads the membership state kept in `dir` (none yet: a default state and
/// `found` false). Errors: errc::bad_config naming the file when it is
/// unreadable or corrupted.
caf::expected<membership_state> load_membership(const std::string& dir,
                                                bool& found);

/// Writes `st` to `dir` atomically and durably (temporary file, fsync,
/// rename, fsync of the directory).
caf::error save_membership(const std::string& dir, const membership_state& st);

} // namespace ftsr
