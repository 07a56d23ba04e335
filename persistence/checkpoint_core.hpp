// The deterministic core of FTM's blocking consistent checkpoint (Banâtre et
// al., "Lessons from FTM", §4.1-4.2) with channel state: no actors, clocks
// or sockets. The participant wrapper and the coordinator of checkpoint.hpp
// feed it messages and perform the sends it returns (ckpt_step); tests
// drive it step by step and in seeded simulations. The protocol (recovery
// units and dependencies, the build / precommit / commit waves, channel
// state, merging of concurrent initiations, failures) is explained in
// docs/checkpoints.md.
//
// Guarantees: no orphan (a member's snapshot records only receives whose
// send its sender's snapshot records too); lossless between members (a
// message sent before the sender's snapshot and received after the
// receiver's is in the channel state, redelivered first on restore); no
// deadlock between concurrent initiations (they merge towards the
// smallest id). A participant whose initiator fails aborts locally.
//
// Not thread-safe: each object belongs to one actor (or one test).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <variant>
#include <vector>

#include "caf/error.hpp"
#include "caf/meta/load_callback.hpp"
#include "caf/meta/type_name.hpp"
#include "caf/sec.hpp"

namespace ftsr {

/// Requested epoch of a root: a root always joins.
constexpr uint64_t ckpt_any_epoch = UINT64_MAX;

/// Carried by every application message between participants.
struct ckpt_stamp {
  uint64_t sender = 0;   // participant id; 0: not a participant
  uint64_t epoch = 0;    // the sender's recovery unit when sending
  bool modified = false; // the sender changed since its last checkpoint
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ckpt_stamp& x) {
  return f(caf::meta::type_name("ftsr::ckpt_stamp"), x.sender, x.epoch,
           x.modified);
}

/// "Checkpoint together with `peer`, unless it committed past `epoch`."
struct ckpt_dep {
  uint64_t peer = 0;
  uint64_t epoch = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ckpt_dep& x) {
  return f(caf::meta::type_name("ftsr::ckpt_dep"), x.peer, x.epoch);
}

// -- protocol messages --------------------------------------------------------

/// receiver -> sender: `participant` now depends on the sender's unit
/// `epoch` (the sender records a successor).
struct ckpt_dep_note {
  uint64_t participant = 0;
  uint64_t epoch = 0;
};

/// initiator -> participant. of == 0 (predecessor): join unless you
/// committed past `epoch`. Otherwise (successor): join if your current
/// unit depends on participant `of` at `epoch` or later.
struct ckpt_build {
  uint64_t initiator = 0;
  uint64_t epoch = 0;
  uint64_t of = 0;
};

/// One build request, as an initiator keeps track of it.
struct ckpt_request {
  uint64_t participant = 0;
  uint64_t epoch = 0;
  uint64_t of = 0;
};

enum class ckpt_answer : uint8_t {
  joined,     // locked by the requester; `preds`, `succs` its links
  not_needed, // committed past the epoch / does not depend on `of`
  busy,       // held by `holder`; the request is queued
};

/// participant -> initiator (possibly forwarded between initiators).
struct ckpt_build_reply {
  ckpt_answer answer = ckpt_answer::joined;
  uint64_t participant = 0;
  uint64_t initiator = 0; // who asked
  uint64_t asked_epoch = 0; // the request answered
  uint64_t asked_of = 0;
  uint64_t epoch = 0; // the participant's epoch
  uint64_t lock = 0;  // joined: which of its joins
  std::vector<ckpt_dep> preds;
  std::vector<uint64_t> succs;
  uint64_t holder = 0;
};

/// A member's join, as the initiator knows it.
struct ckpt_peer {
  uint64_t id = 0;
  uint64_t lock = 0;
};

/// initiator -> member: block sends, save a tentative checkpoint. `lock`
/// names the join whose links the initiator chased: a participant freed
/// and taken again since then refuses. `peers`: the other members' joins;
/// send each a marker and expect one from each.
struct ckpt_precommit {
  uint64_t initiator = 0;
  uint64_t lock = 0;
  std::vector<ckpt_peer> peers;
};

/// initiator -> precommitted member: members that joined since your
/// precommit (or joined again); mark them and expect their markers.
struct ckpt_mark {
  uint64_t initiator = 0;
  uint64_t lock = 0;
  std::vector<ckpt_peer> peers;
};

/// member -> member, on the application channel: everything the sender
/// sent before its snapshot is ahead of it, nothing follows until the end
/// of its checkpoint. `to_lock`: the receiver's join it is meant for.
struct ckpt_marker {
  uint64_t from = 0;
  uint64_t from_lock = 0;
  uint64_t to_lock = 0;
};

/// The channel from member `from` (its join `lock`): the first `count`
/// application messages the reporting member recorded from it.
struct ckpt_channel {
  uint64_t from = 0;
  uint64_t lock = 0;
  uint64_t count = 0;
};

/// member -> initiator, once the channels from all members named so far
/// are in. The snapshot and the channels' messages travel beside it.
struct ckpt_precommit_reply {
  uint64_t participant = 0;
  uint64_t initiator = 0;
  uint64_t lock = 0;
  bool ok = false;
  std::string reason; // !ok
  std::vector<ckpt_channel> channels;
};

/// member -> initiator: channels of members marked after its precommit
/// reply (ckpt_mark); their messages travel beside.
struct ckpt_channels {
  uint64_t participant = 0;
  uint64_t initiator = 0;
  uint64_t lock = 0;
  std::vector<ckpt_channel> channels;
};

/// initiator -> members: the third wave (commit) or abort, for a
/// checkpoint that absorbed the initiations `initiators`.
struct ckpt_end {
  bool commit = false;
  std::vector<uint64_t> initiators;
};

/// initiator -> member: your holder, any of `from`, merged into `to`.
struct ckpt_reassign {
  std::vector<uint64_t> from;
  uint64_t to = 0;
};

/// initiator -> initiator: hand your checkpoint over to `winner`.
struct ckpt_yield {
  uint64_t winner = 0;
};

/// "`participant` answered busy: held by `holder`" (possibly stale).
struct ckpt_busy {
  uint64_t participant = 0;
  uint64_t holder = 0;
};

struct ckpt_member {
  uint64_t id = 0;
  uint64_t epoch = 0;
  uint64_t lock = 0;
  std::vector<ckpt_dep> preds;
  std::vector<uint64_t> succs;
};

/// loser -> winner: everything the loser's build wave collected.
struct ckpt_merge {
  uint64_t loser = 0;
  std::vector<uint64_t> absorbed; // the loser and what merged into it
  std::vector<ckpt_member> members;
  std::vector<ckpt_request> sent;  // every request the loser sent
  std::vector<ckpt_request> pending; // ... and those still unanswered
  std::vector<ckpt_dep> satisfied;   // known to have committed past
  std::vector<ckpt_busy> busy; // holders seen for pending participants
};

/// winner -> loser: how the merged checkpoint ended.
struct ckpt_outcome {
  bool committed = false;
  uint64_t initiator = 0; // the winner
  caf::error error;
  std::vector<ckpt_member> members;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ckpt_dep_note& x) {
  return f(caf::meta::type_name("ftsr::ckpt_dep_note"), x.participant,
           x.epoch);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ckpt_build& x) {
  return f(caf::meta::type_name("ftsr::ckpt_build"), x.initiator, x.epoch,
           x.of);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ckpt_request& x) {
  return f(caf::meta::type_name("ftsr::ckpt_request"), x.participant,
           x.epoch, x.of);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ckpt_build_reply& x) {
  auto a = static_cast<uint8_t>(x.answer);
  auto sync = caf::meta::load_callback([&]() -> caf::error {
    if (a > static_cast<uint8_t>(ckpt_answer::busy))
      return caf::sec::invalid_argument; // not from a participant
    x.answer = static_cast<ckpt_answer>(a);
    return caf::none;
  });
  return f(caf::meta::type_name("ftsr::ckpt_build_reply"), a, x.participant,
           x.initiator, x.asked_epoch, x.asked_of, x.epoch, x.lock, x.preds,
           x.succs, x.holder, sync);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ckpt_peer& x) {
  return f(caf::meta::type_name("ftsr::ckpt_peer"), x.id, x.lock);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ckpt_precommit& x) {
  return f(caf::meta::type_name("ftsr::ckpt_precommit"), x.initiator,
           x.lock, x.peers);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ckpt_mark& x) {
  return f(caf::meta::type_name("ftsr::ckpt_mark"), x.initiator, x.lock,
           x.peers);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ckpt_marker& x) {
  return f(caf::meta::type_name("ftsr::ckpt_marker"), x.from, x.from_lock,
           x.to_lock);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ckpt_channel& x) {
  return f(caf::meta::type_name("ftsr::ckpt_channel"), x.from, x.lock,
           x.count);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f,
                                        ckpt_precommit_reply& x) {
  return f(caf::meta::type_name("ftsr::ckpt_precommit_reply"), x.participant,
           x.initiator, x.lock, x.ok, x.reason, x.channels);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ckpt_channels& x) {
  return f(caf::meta::type_name("ftsr::ckpt_channels"), x.participant,
           x.initiator, x.lock, x.channels);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ckpt_end& x) {
  return f(caf::meta::type_name("ftsr::ckpt_end"), x.commit, x.initiators);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ckpt_reassign& x) {
  return f(caf::meta::type_name("ftsr::ckpt_reassign"), x.from, x.to);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ckpt_yield& x) {
  return f(caf::meta::type_name("ftsr::ckpt_yield"), x.winner);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ckpt_busy& x) {
  return f(caf::meta::type_name("ftsr::ckpt_busy"), x.participant,
           x.holder);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ckpt_member& x) {
  return f(caf::meta::type_name("ftsr::ckpt_member"), x.id, x.epoch,
           x.lock, x.preds, x.succs);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ckpt_merge& x) {
  return f(caf::meta::type_name("ftsr::ckpt_merge"), x.loser, x.absorbed,
           x.members, x.sent, x.pending, x.satisfied, x.busy);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ckpt_outcome& x) {
  return f(caf::meta::type_name("ftsr::ckpt_outcome"), x.committed,
           x.initiator, x.error, x.members);
}

using ckpt_message
  = std::variant<ckpt_build, ckpt_build_reply, ckpt_precommit,
                 ckpt_precommit_reply, ckpt_end, ckpt_reassign, ckpt_yield,
                 ckpt_merge, ckpt_outcome, ckpt_mark, ckpt_marker,
                 ckpt_channels>;

/// One send. `to` is a participant id for build, precommit, mark, end,
/// reassign and marker (a participant's marker goes to another
/// participant, on the channel its application messages take), an
/// initiator id for everything else.
struct ckpt_envelope {
  uint64_t to = 0;
  ckpt_message msg;
};

/// What an input asks the caller to do, in this order: send `out`; then
/// (participant) take the snapshot or resume; (initiator) write or report.
struct ckpt_step {
  std::vector<ckpt_envelope> out;
  /// Participant: precommit accepted; save the state now, record the
  /// deferred messages (record(), in order) and call on_snapshot(), which
  /// answers when the channels are in; if the state cannot be saved,
  /// answer with a failed ckpt_precommit_reply instead.
  bool snapshot = false;
  /// Participant: its checkpoint ended (or replay()); release held-back
  /// sends and redeliver deferred messages.
  bool resume = false;
  /// Initiator: every member precommitted and every channel is in; store
  /// the snapshots and channels in one atomic write, then call on_written.
  bool write = false;
  /// Initiator: the outcome is final (committed(), error(), members()).
  bool done = false;
};

// -- participant --------------------------------------------------------------

class checkpoint_participant {
public:
  enum class phase : uint8_t {
    idle,
    joined,       // member of a checkpoint, before its snapshot
    precommitted, // snapshot taken, sends blocked until the end
  };

  /// `epoch`: of a restored participant, the epoch stored with its state.
  explicit checkpoint_participant(uint64_t id, uint64_t epoch = 0);

  uint64_t id() const noexcept {
    return id_;
  }

  uint64_t epoch() const noexcept {
    return epoch_;
  }

  phase state() const noexcept {
    return phase_;
  }

  /// The initiator holding this participant (0: none).
  uint64_t holder() const noexcept {
    return holder_;
  }

  /// How many times a checkpoint took (joined) this participant: the
  /// number of its latest join, which the messages carry as `lock`.
  uint64_t join_count() const noexcept {
    return join_count_;
  }

  /// Predecessors of the current recovery unit (peer -> latest epoch).
  const std::map<uint64_t, uint64_t>& preds() const noexcept {
    return cur_.preds;
  }

  /// Successors of the current recovery unit.
  const std::set<uint64_t>& succs() const noexcept {
    return cur_.succs;
  }

  bool modified() const noexcept {
    return cur_.modified;
  }

  /// Build requests waiting for the current checkpoint to end.
  const std::deque<ckpt_build>& queued() const noexcept {
    return queue_;
  }

  // -- application messages ---------------------------------------------------

  /// False from precommit to the end of the checkpoint: hold sends back.
  bool may_send() const noexcept {
    return phase_ != phase::precommitted;
  }

  /// The stamp of an application message sent now.
  ckpt_stamp stamp() const noexcept {
    return {id_, epoch_, cur_.modified};
  }

  /// True if earlier messages of `sender` are deferred (or held until
  /// replay()): this one waits behind them (per-sender order), whatever
  /// its kind.
  bool holds_back(uint64_t sender) const {
    return sender != 0
           && (deferred_.count(sender) > 0 || held_.count(sender) > 0);
  }

  enum class delivery : uint8_t {
    defer,   // keep it until resume
    deliver, // now
    deliver_and_note, // now, and send the sender a ckpt_dep_note
  };

  /// An update from `s` (sender 0: from outside, no dependency); records
  /// the dependency unless deferred.
  delivery on_update(const ckpt_stamp& s);

  /// ckpt_dep_note: a successor of our unit `epoch`.
  void on_dep_note(const ckpt_dep_note& m);

  // -- channel state ----------------------------------------------------------

  /// Called for every application message that arrives (before it is
  /// handled or deferred) and, right after the snapshot, for every message
  /// still deferred, in order. True: keep a copy for the channel state, in
  /// arrival order per sender, until the checkpoint ends (only while
  /// precommitted, from participants: itself included).
  bool record(const ckpt_stamp& s);

  /// Restored with in-flight messages of `sender` (its channel state):
  /// they are delivered first, so everything else of `sender` waits behind
  /// them until replay(). Call before any message is handled.
  void hold(uint64_t sender);

  /// Ends hold(): resume delivers the restored messages.
  ckpt_step replay();

  /// Senders held until replay().
  const std::set<uint64_t>& held() const noexcept {
    return held_;
  }

  // -- protocol ---------------------------------------------------------------

  ckpt_step on_build(const ckpt_build& m);

  ckpt_step on_precommit(const ckpt_precommit& m);

  /// The snapshot is saved and the deferred messages recorded: answers the
  /// precommit now, or once the other members' markers are in.
  ckpt_step on_snapshot();

  ckpt_step on_mark(const ckpt_mark& m);

  /// A marker from another member (on the application channel).
  ckpt_step on_marker(const ckpt_marker& m);

  ckpt_step on_end(const ckpt_end& m);

  ckpt_step on_reassign(const ckpt_reassign& m);

  /// The initiator `initiator` failed: if it holds us, abort locally.
  ckpt_step on_initiator_down(uint64_t initiator);

private:
  struct unit {
    std::map<uint64_t, uint64_t> preds;
    std::set<uint64_t> succs;
    bool modified = false;
  };

  /// Whether a request finds us already checkpointed past it.
  bool not_needed(const ckpt_build& m) const;

  ckpt_build_reply reply(ckpt_answer a, const ckpt_build& m) const;

  /// Ends the current checkpoint and answers queued requests.
  void finish(bool commit, ckpt_step& st);

  void take(uint64_t initiator);

  /// Sends markers to `peers` and expects theirs.
  void mark(const std::vector<ckpt_peer>& peers, ckpt_step& st);

  /// Answers the initiator if every expected channel is in.
  void report(ckpt_step& st);

  struct marker_seen {
    uint64_t lock = 0;  // the sender's join
    uint64_t count = 0; // messages recorded from it before the marker
    bool counted = false; // false: came before our snapshot
  };

  uint64_t id_;
  uint64_t epoch_;
  phase phase_ = phase::idle;
  uint64_t holder_ = 0;
  uint64_t join_count_ = 0;
  unit cur_;
  unit next_; // receives after the snapshot
  std::set<uint64_t> deferred_;
  std::set<uint64_t> held_; // restored channel state not replayed yet
  std::deque<ckpt_build> queue_;
  // Channel state of the current join (precommitted).
  std::map<uint64_t, uint64_t> expect_; // member -> its join
  std::map<uint64_t, marker_seen> markers_; // latest, meant for our join
  std::map<uint64_t, uint64_t> recorded_;   // since the snapshot
  std::set<std::pair<uint64_t, uint64_t>> reported_; // (member, join)
  bool saved_ = false;   // on_snapshot() came
  bool replied_ = false; // precommit answered
};

// -- initiator ----------------------------------------------------------------

class checkpoint_initiator {
public:
  enum class phase : uint8_t {
    building,
    precommitting,
    writing,
    committed,
    aborted,
    merged, // handed over to winner(); forwards, waits for its outcome
  };

  /// `id` orders concurrent initiations (the smallest wins); nonzero and
  /// unique among initiators.
  explicit checkpoint_initiator(uint64_t id);

  uint64_t id() const noexcept {
    return id_;
  }

  phase state() const noexcept {
    return phase_;
  }

  uint64_t winner() const noexcept {
    return winner_;
  }

  /// Final: true once committed (merged: once the winner committed).
  bool committed() const noexcept {
    return committed_;
  }

  /// Why it aborted; none otherwise.
  const caf::error& error() const noexcept {
    return error_;
  }

  /// Final: the initiation that committed or aborted this checkpoint (ours,
  /// or the one ours merged into; 0: unknown).
  uint64_t decided_by() const noexcept {
    return decided_by_;
  }

  /// Members (final, or so far), in id order.
  std::vector<ckpt_member> members() const;

  /// Participants asked and not resolved yet.
  std::vector<uint64_t> pending() const;

  /// Starts the build wave at `roots` (participant ids).
  ckpt_step start(const std::vector<uint64_t>& roots);

  ckpt_step on_build_reply(const ckpt_build_reply& r);

  ckpt_step on_precommit_reply(const ckpt_precommit_reply& r);

  ckpt_step on_channels(const ckpt_channels& r);

  /// The atomic write of all snapshots finished (`err`: it failed).
  ckpt_step on_written(const caf::error& err);

  ckpt_step on_yield(const ckpt_yield& m);

  ckpt_step on_merge(const ckpt_merge& m);

  ckpt_step on_outcome(const ckpt_outcome& m);

  /// A member or pending participant failed.
  ckpt_step on_participant_down(uint64_t participant,
                                const caf::error& reason);

  /// The winner we merged into failed: the outcome is unknown.
  ckpt_step on_initiator_down(uint64_t initiator);

  /// Time is up: abort unless past the commit point.
  ckpt_step on_timeout();

  /// What the checkpoint waits for (e.g. for a timeout's message).
  std::string waiting_for() const;

private:
  struct member_state {
    ckpt_member info;
    bool precommitted = false;
    /// Channels in: sender (itself included) -> the sender's join they
    /// were recorded for.
    std::map<uint64_t, uint64_t> channels;
  };

  /// Every other member's join.
  std::vector<ckpt_peer> peers_of(uint64_t id) const;

  /// Precommitted, and the channels from all members' current joins (its
  /// own included) are in.
  bool ready(const member_state& m) const;

  using request_key = std::tuple<uint64_t, uint64_t, uint64_t>;

  void request(const ckpt_request& r, ckpt_step& st);

  /// `chase`: request its links (not for members a loser handed over: it
  /// requested them already).
  void add_member(const ckpt_member& m, uint64_t asked_by, bool chase,
                  ckpt_step& st);

  /// A pending participant is (or was: answers through forwarders come
  /// out of order, so every holder seen counts) held by `holder`: if we
  /// win, ask it to yield.
  void contest(uint64_t participant, uint64_t holder, ckpt_step& st);

  void advance(ckpt_step& st);

  void abort(caf::error err, ckpt_step& st);

  void finish_merged(bool committed, uint64_t decided_by, caf::error err,
                     std::vector<ckpt_member> members, ckpt_step& st);

  std::vector<uint64_t> absorbed() const;

  ckpt_outcome outcome() const;

  uint64_t id_;
  phase phase_ = phase::building;
  std::set<uint64_t> absorbed_; // this id and every initiation merged in
  std::vector<uint64_t> losers_; // merged in directly: told the outcome
  uint64_t winner_ = 0;
  std::map<uint64_t, member_state> members_;
  std::set<request_key> sent_; // (participant, epoch, of): never twice
  /// Unresolved requests of non-members: participant -> (epoch, of).
  std::map<uint64_t, std::multiset<std::pair<uint64_t, uint64_t>>> pending_;
  std::map<uint64_t, uint64_t> satisfied_; // participant -> epoch seen
  std::map<uint64_t, std::set<uint64_t>> holders_; // busy participant
  std::set<uint64_t> yielded_to_;
  bool committed_ = false;
  uint64_t decided_by_ = 0;
  caf::error error_;
  std::vector<ckpt_member> final_members_; // merged: the winner's
};

const char* to_string(checkpoint_participant::phase x);

const char* to_string(checkpoint_initiator::phase x);

} // namespace ftsr
