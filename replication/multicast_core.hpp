// The deterministic cores of ordered group multicast (Birman & Joseph,
// ISIS): CBCAST (causal order) with vector timestamps and ABCAST (total
// order) with the two-phase priority protocol of the ISIS paper. No actors,
// clocks or sockets: the endpoint actor (multicast.hpp) feeds them the
// messages of the other members and sends what they return; tests drive
// them under any delivery order they like.
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
/// Static membership: a member failing while one of its messages has no
/// final priority blocks delivery behind that message (view changes for
/// ABCAST are not implemented; resource groups order through group_core).
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
  /// or a final priority below this member's own proposal for it.
  caf::expected<std::vector<abcast_data>> on_final(const abcast_final& f);

private:
  using key = std::tuple<uint64_t, uint64_t, uint64_t, uint64_t>;
  // (priority, proposer, sender, number)

  struct entry {
    abcast_data data;
    uint64_t proposed = 0; // this member's proposal
    uint64_t priority = 0; // current: proposed, then final
    uint64_t proposer = 0;
    bool final = false;
  };

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
};

/// Checks a member list for either core: non-empty, no duplicates, no id 0,
/// contains `self`. errc::invalid_argument naming the problem.
caf::error validate_members(uint64_t self, const std::vector<uint64_t>& members);

} // namespace ftsr
