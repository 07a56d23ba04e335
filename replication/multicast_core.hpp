// The deterministic cores of ordered group multicast (Birman & Joseph,
// ISIS): CBCAST (causal order) with vector timestamps and ABCAST (total
// order) with the two-phase priority protocol of the ISIS paper. No actors,
// clocks or sockets: the endpoint actor (multicast.hpp) feeds them the
// messages of the other members and sends what they return; tests drive
// them under any delivery order they like. Both handle member failures
// (view changes): causal_order by the ISIS flush, total_order by a takeover
// of the failed member's unfinished messages (see each class).
//
// Thread-safety: none; each object belongs to one member (one actor).
// Failure behaviour: malformed or inconsistent input (wrong-size vector
// timestamp, unknown member, a proposal or final for a message this member
// never saw) is refused with an errc::invalid_argument caf::error naming the
// problem, and leaves the object unchanged. Duplicates and messages that are
// already delivered are ignored (an empty result, no error), so a sender may
// retransmit freely.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "caf/expected.hpp"
#include "caf/message.hpp"
#include "caf/meta/type_name.hpp"

namespace ftsr {

// -- CBCAST -------------------------------------------------------------------

/// A causally ordered multicast: `vt[i]` counts the messages of member
/// `members[i]` (initial view order) that the sender had delivered when it
/// sent this one, its own message included (`vt[sender index]` is this
/// message's number in the sender's sequence, starting at 1).
struct stamped_message {
  uint64_t sender = 0;
  std::vector<uint64_t> vt;
  caf::message payload;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stamped_message& x) {
  return f(caf::meta::type_name("ftsr::stamped_message"), x.sender, x.vt,
           x.payload);
}

/// CBCAST at one member. A message m from member s is delivered at p once
///   VT(m)[s] = VT(p)[s] + 1  and  VT(m)[k] <= VT(p)[k] for all k != s,
/// i.e. once p delivered every message m potentially causally depends on;
/// until then it is buffered. Concurrent messages that become deliverable
/// together are delivered in member order (deterministic). A local send
/// (stamp) counts as delivered at the sender at once.
///
/// Vector timestamps always have one entry per member of the initial view.
/// Removing a failed member (a view change) freezes its entry. The view
/// change is a flush, as in ISIS, run by the caller:
///   1. every survivor calls flush(f): from then on messages arriving
///      straight from f are ignored; it sends the returned messages of f
///      (those it holds and not every member is known to hold) to every
///      other survivor;
///   2. each survivor passes the flushes of the others to receive_flushed
///      (one that gets a flush before noticing the failure runs step 1
///      first);
///   3. once it has the flush of every other survivor, it calls remove(f).
/// After this, all survivors delivered the same messages of f: the longest
/// gap-free prefix of f's sequence that any survivor held. Later messages
/// of f are discarded, as if f failed before sending them (ISIS: a failure
/// never leaves a gap in a causal chain). One failure at a time: a survivor
/// failing during the flush needs a new flush for it after remove(f).
///
/// Stability: the delivered messages are retained for flushes until every
/// live member is known to have delivered them, which p learns from the
/// timestamps of the messages it delivers and from learn() (a member that
/// only receives should report its clock now and then; see multicast.hpp).
class causal_order {
public:
  /// `members` in a fixed order shared by all members (vector timestamp
  /// indexes); must contain `self` and no duplicates (checked by callers,
  /// see validate_members).
  causal_order(uint64_t self, std::vector<uint64_t> members);

  // -- observers --------------------------------------------------------------

  uint64_t self() const noexcept { return self_; }
  /// The initial view: vector timestamp order.
  const std::vector<uint64_t>& members() const noexcept { return members_; }
  /// VT(p): messages delivered here, per member.
  const std::vector<uint64_t>& clock() const noexcept { return vt_; }
  /// True unless `member` was removed (or never was a member).
  bool is_live(uint64_t member) const;
  /// Messages received but not yet deliverable.
  size_t buffered() const;
  /// Messages of `member` received but not yet deliverable.
  size_t buffered_from(uint64_t member) const;
  /// True between flush(member) and remove(member).
  bool is_flushing(uint64_t member) const;
  /// The current view: live members, in initial view order.
  std::vector<uint64_t> live_members() const;
  /// Delivered messages retained for a flush (not yet stable).
  size_t retained() const;

  // -- multicast --------------------------------------------------------------

  /// A local send: increments this member's entry and returns the message
  /// to send to every other member. It is delivered locally at once.
  stamped_message stamp(caf::message payload);

  /// A message from another member. Returns the messages now delivered,
  /// in causal order (possibly empty: `m` is buffered, a duplicate, or from
  /// a removed or flushed member). Errors: wrong-size timestamp, unknown
  /// sender, or a message claiming to be from this member that it never
  /// sent.
  caf::expected<std::vector<stamped_message>> receive(stamped_message m);

  /// What `member` is known to have delivered (its clock), e.g. sent by a
  /// member that has not multicast for a while. Only advances stability.
  caf::error learn(uint64_t member, const std::vector<uint64_t>& clock);

  // -- view change ------------------------------------------------------------

  /// Step 1 of removing failed member `failed`: stops accepting its direct
  /// messages and returns the messages of `failed` this member holds that
  /// some member may lack (delivered but not stable, and buffered).
  caf::expected<std::vector<stamped_message>> flush(uint64_t failed);

  /// Step 2: messages of a flushed member relayed by a survivor. Returns
  /// the messages now delivered (late copies for a member already removed
  /// are ignored). Errors as receive(), and for messages of a live member
  /// that is not being flushed.
  caf::expected<std::vector<stamped_message>>
  receive_flushed(std::vector<stamped_message> ms);

  /// Step 3: installs the view without `failed`. Discards (and returns) the
  /// buffered messages of `failed` after the first gap in its sequence, and
  /// buffered messages depending on them (only possible if step 1 or 2 was
  /// skipped somewhere). Errors: `failed` is not a live member, is this
  /// member, or was not flushed first.
  caf::expected<std::vector<stamped_message>> remove(uint64_t failed);

private:
  std::optional<size_t> index_of(uint64_t member) const;
  caf::error check(const stamped_message& m) const;
  bool deliverable(size_t s, const stamped_message& m) const;
  void buffer(size_t s, stamped_message m);
  std::vector<stamped_message> deliver_ready();
  void prune_stable();

  uint64_t self_;
  std::vector<uint64_t> members_;
  size_t me_; // index of self_
  std::vector<uint64_t> vt_;
  std::vector<bool> live_;
  std::vector<bool> flushing_;
  // Per sender index: buffered messages by their number.
  std::vector<std::map<uint64_t, stamped_message>> buffer_;
  // Per sender index: delivered, not yet stable messages by their number.
  std::vector<std::map<uint64_t, stamped_message>> retained_;
  // known_[j][k]: messages of k that member j is known to have delivered.
  std::vector<std::vector<uint64_t>> known_;
};

// -- ABCAST -------------------------------------------------------------------

/// Phase 0: the message itself, sent by its sender to every member
/// (itself included). (sender, number) identifies it; numbers start at 1.
struct abcast_data {
  uint64_t sender = 0;
  uint64_t number = 0;
  caf::message payload;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, abcast_data& x) {
  return f(caf::meta::type_name("ftsr::abcast_data"), x.sender, x.number,
           x.payload);
}

/// Phase 1: member `from` proposes priority `priority` for message
/// (sender, number); sent back to the sender.
struct abcast_proposal {
  uint64_t sender = 0;
  uint64_t number = 0;
  uint64_t from = 0;
  uint64_t priority = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, abcast_proposal& x) {
  return f(caf::meta::type_name("ftsr::abcast_proposal"), x.sender, x.number,
           x.from, x.priority);
}

/// Phase 2: the agreed priority, the largest proposal (priority, proposer);
/// sent by the sender to every member (itself included).
struct abcast_final {
  uint64_t sender = 0;
  uint64_t number = 0;
  uint64_t priority = 0;
  uint64_t proposer = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, abcast_final& x) {
  return f(caf::meta::type_name("ftsr::abcast_final"), x.sender, x.number,
           x.priority, x.proposer);
}

/// Step 1 of a failure: what member `from` knows of the messages of failed
/// member `failed`: the final priorities it knows (of held and delivered
/// messages) and its own proposals for the held messages without one.
struct abcast_report {
  uint64_t failed = 0;
  uint64_t from = 0;
  std::vector<abcast_final> finals;
  std::vector<abcast_proposal> pending;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, abcast_report& x) {
  return f(caf::meta::type_name("ftsr::abcast_report"), x.failed, x.from,
           x.finals, x.pending);
}

/// Step 2 of a failure: the coordinator's decision on the unfinished
/// messages of `failed`: these get the final priorities given, every other
/// undelivered message of `failed` is discarded.
struct abcast_takeover {
  uint64_t failed = 0;
  uint64_t decider = 0;
  std::vector<abcast_final> finals;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, abcast_takeover& x) {
  return f(caf::meta::type_name("ftsr::abcast_takeover"), x.failed, x.decider,
           x.finals);
}

/// What fail() asks the caller to send.
struct abcast_failure_steps {
  /// Own messages now final: to every live member, this one included.
  std::vector<abcast_final> finals;
  /// To coordinator() (possibly this member).
  std::vector<abcast_report> reports;
};

/// ABCAST at one member, by the two-phase priority protocol of ISIS (not a
/// sequencer): each member proposes for a new message a priority above any
/// it has proposed or seen agreed; the sender takes the largest proposal as
/// the final priority; a member delivers a message once it is final and
/// has the smallest priority of all it holds. Priorities are compared as
/// (priority, proposer id), so ties break deterministically by member id
/// and no two messages share one. Every member thus delivers all messages
/// in the same order. Messages of one sender are delivered in send order
/// when links are FIFO (as CAF's are between two actors).
///
/// Failures. A failed member's proposals are no longer awaited and its
/// unfinished messages are decided by a coordinator, the live member with
/// the lowest id (a takeover, one per failed member):
///   1. every survivor calls fail(f): it stops awaiting f's proposals (its
///      own messages may become final: the returned finals are sent to every
///      live member, itself included), ignores f's data and finals from now
///      on, and sends the returned report on f's messages (what it holds of
///      them, final or with its proposal, and the finals of f's messages it
///      delivered) to coordinator();
///   2. reports go to on_report (one that gets a report or takeover about f
///      before noticing the failure runs step 1 first); after fail() and
///      on_report() the coordinator calls decide() and sends each returned
///      takeover to every live member, itself included;
///   3. every survivor passes the takeover to on_takeover.
/// The coordinator decides once every live member reported: a message of f
/// that some survivor knows final keeps that final priority (f decided it,
/// after all members proposed, so every survivor holds or delivered it); a
/// message every survivor holds without a final gets the largest proposal
/// of the survivors; any other message of f (held by some survivors only,
/// so delivered by none) is discarded everywhere. The final priority is at
/// least each holder's proposal, so every survivor still delivers the same
/// messages in the same order. If the coordinator fails, fail() returns the
/// reports of every failure again, for the new coordinator; one that
/// applied a takeover already re-issues it (decide), the others report what
/// they hold, which reflects any takeover they applied.
/// Limits: the finals of delivered messages are remembered for the last
/// `remembered_finals` messages per sender only; a member that failed
/// cannot rejoin (it keeps its id).
class total_order {
public:
  /// `members` must contain `self` and no duplicates (see
  /// validate_members); order does not matter.
  total_order(uint64_t self, std::vector<uint64_t> members);

  uint64_t self() const noexcept { return self_; }
  const std::vector<uint64_t>& members() const noexcept { return members_; }
  /// Messages received and not yet delivered.
  size_t pending() const noexcept { return queue_.size(); }
  /// Own messages still waiting for proposals.
  size_t proposing() const noexcept { return proposals_.size(); }

  /// A local send: the message to send to every member, this one included.
  abcast_data submit(caf::message payload);

  /// Phase 1 at a receiver: the proposal to send back to `d.sender`, or
  /// none for a message already delivered. A retransmitted message gets its
  /// first proposal again. Errors: unknown sender, number 0.
  caf::expected<std::optional<abcast_proposal>> on_data(abcast_data d);

  /// At the sender: a member's proposal. Once all members proposed, the
  /// final priority to send to every member. Duplicates yield none.
  /// Errors: a proposal for another sender's message, from a non-member,
  /// or for a message this member never submitted.
  caf::expected<std::optional<abcast_final>>
  on_proposal(const abcast_proposal& p);

  /// Phase 2 at a receiver: returns the messages now delivered, in the
  /// total order. Errors: unknown member, a message never received here,
  /// or a final priority below this member's own proposal for it. Finals
  /// of a failed sender's messages are ignored (see fail).
  caf::expected<std::vector<abcast_data>> on_final(const abcast_final& f);

  // -- failures ---------------------------------------------------------------

  /// Finals of delivered messages remembered per sender for takeovers.
  static constexpr size_t remembered_finals = 4096;

  /// True unless `member` failed (or never was a member).
  bool is_live(uint64_t member) const;
  /// True once fail(member) ran here.
  bool has_failed(uint64_t member) const { return failed_.count(member) > 0; }
  /// True once the takeover for failed `member` was applied here.
  bool taken_over(uint64_t member) const { return done_.count(member) > 0; }
  /// Live members, in the order given to the constructor.
  std::vector<uint64_t> live_members() const;
  /// The live member with the lowest id: decides failed members' messages.
  uint64_t coordinator() const;
  /// Undelivered messages of `sender` held here.
  size_t pending_from(uint64_t sender) const;

  /// Step 1: member `failed` failed. Errors: unknown member, this member,
  /// already failed.
  caf::expected<abcast_failure_steps> fail(uint64_t failed);

  /// Step 2, at any member (only the coordinator decides): a survivor's
  /// report. Errors: unknown members, a report about a member not failed
  /// here (call fail first), from a member that failed, or about other
  /// senders' messages.
  caf::error on_report(const abcast_report& r);

  /// Step 2 at the coordinator: the takeovers that became complete (every
  /// live member reported) since the last call.
  std::vector<abcast_takeover> decide();

  /// Step 3: applies a takeover; returns the messages now delivered.
  /// Duplicates, and takeovers by a decider that failed here (this member
  /// then reported to the next coordinator, which decides again), are
  /// ignored. Errors: unknown member, a member not failed
  /// here (call fail first), finals of other senders' messages.
  caf::expected<std::vector<abcast_data>>
  on_takeover(const abcast_takeover& t);

private:
  std::vector<abcast_data> deliver_ready();
  abcast_report report_on(uint64_t failed) const;

  using key = std::tuple<uint64_t, uint64_t, uint64_t, uint64_t>;
  // (priority, proposer, sender, number)

  struct entry {
    abcast_data data;
    uint64_t proposed = 0; // this member's proposal
    uint64_t priority = 0; // current: proposed, then final
    uint64_t proposer = 0;
    bool final = false;
  };

  /// Gives queued entry `e` its final priority `f` (moves it in order_).
  void finalize(entry& e, const abcast_final& f);
  bool is_member(uint64_t m) const { return member_set_.count(m) > 0; }
  bool was_delivered(uint64_t sender, uint64_t number) const;
  void mark_delivered(uint64_t sender, uint64_t number);

  uint64_t self_;
  std::vector<uint64_t> members_;
  std::set<uint64_t> member_set_;
  uint64_t next_number_ = 1;
  uint64_t max_priority_ = 0;
  // Received, undelivered messages by (sender, number), and their order.
  std::map<std::pair<uint64_t, uint64_t>, entry> queue_;
  std::set<key> order_;
  // Own messages: proposals so far, by number, by member.
  std::map<uint64_t, std::map<uint64_t, std::pair<uint64_t, uint64_t>>>
    proposals_;
  // Delivered: per sender, all numbers <= first are delivered, plus second.
  std::map<uint64_t, std::pair<uint64_t, std::set<uint64_t>>> delivered_;
  // Finals of the last delivered messages, per sender, by number (the
  // lowest numbers are forgotten first).
  std::map<uint64_t, std::map<uint64_t, abcast_final>> recent_finals_;
  // Failed members, and those whose takeover was applied here.
  std::set<uint64_t> failed_;
  std::set<uint64_t> done_;
  std::map<uint64_t, abcast_takeover> applied_;
  // Reports received, per failed member, per reporter; takeovers decided.
  std::map<uint64_t, std::map<uint64_t, abcast_report>> reports_;
  std::set<uint64_t> decided_;
};

/// Checks a member list for either core: non-empty, no duplicates, no id 0,
/// contains `self`. errc::invalid_argument naming the problem.
caf::error validate_members(uint64_t self, const std::vector<uint64_t>& members);

} // namespace ftsr
