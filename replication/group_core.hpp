// The deterministic core of a resource-group replica: total order through a
// primary sequencer, acknowledgement counting, delivery in sequence order,
// de-duplication of retried invocations, view changes with a flush of
// unstable entries, and joins with state transfer. No actors, clocks or
// sockets: the replica actor (replica.hpp) feeds it messages and performs
// the sends it returns, and tests drive it step by step under any message
// ordering and failure they like. Not thread-safe.
//
// Invariants it maintains (virtual synchrony; each is explained in
// docs/groups-and-views.md):
// - every member delivers the same entries in the same sequence order;
// - the primary answers an invocation only once min(max_sf, #backups)
//   backups delivered it (also a retry, through an ordered `retry` entry),
//   so an answered invocation survives max_sf failures;
// - a member failure is installed as a new view after all entries any
//   survivor delivered; an install delivers exactly its own entries;
// - a graceful leave is an ordered entry and counts as one of the max_sf
//   failures until the flush that settles it;
// - the primary is the first member of the view;
// - without a majority of the previous view the group stops serving;
//   exactly half continues only in the cluster's primary partition
//   (replica.cpp: node_context::in_majority).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <unordered_map>
#include <vector>

#include "caf/behavior.hpp"
#include "caf/error.hpp"
#include "caf/message.hpp"

#include "replication/dedup_table.hpp"
#include "replication/group_protocol.hpp"
#include "replication/resource.hpp"

namespace ftsr {

class group_core {
public:
  /// A finished entry: the primary replies to the waiting clients of
  /// `request` (or, for a join, sends the newcomer its state).
  struct completion {
    uint64_t seq = 0;
    uint64_t request = 0;
    reply_policy policy = reply_policy::first;
    caf::message reply;                // first, vote
    std::vector<caf::message> replies; // quorum, all
    caf::error error;
    /// A join: send `transfer` to `newcomer` (0: no join).
    uint64_t newcomer = 0;
    state_transfer transfer;
  };

  struct invoke_outcome {
    enum kind_t { sequenced, rejected } kind = rejected;
    /// A retry of a delivered request: `entry` is a `retry` entry that
    /// collects the replicas' stored replies (nothing runs again).
    bool retry = false;
    /// Sequenced with log_entry::replier set: that backup answers the
    /// client; the primary answers only if the backup fails first.
    uint64_t replier = 0;
    caf::error error;             // rejected
    log_entry entry;              // sequenced: send to backups()
    std::vector<completion> done; // completed at once (no backups)
  };

  struct ack {
    uint64_t seq = 0;
    caf::message result;
    /// This member is the entry's replier: send `answer` to `answer_to`
    /// (log_entry::reply_to) before acknowledging. Empty otherwise.
    caf::message answer_to;
    caf::message answer;
    /// The primary waits for this acknowledgement (an entry it answers
    /// itself, a join, a duplicate): send it at once. Otherwise it only
    /// advances the stable point and may travel with later ones.
    bool urgent = true;
  };

  struct suspicion {
    /// This member coordinates and found no majority: it stops serving and
    /// tells `survivors` (group_no_quorum).
    bool quorum_lost = false;
    bool coordinate = false; // this member runs the flush
    uint64_t new_view = 0;
    std::vector<uint64_t> survivors;
  };

  struct flushed {
    /// The highest view the responder has (installed, adopted or reached
    /// through a join/leave entry) or answered a flush for.
    uint64_t view = 0;
    uint64_t delivered = 0;
    std::vector<log_entry> unstable;
    /// False: a newcomer still waiting for its state transfer.
    bool has_state = true;
  };

  struct install_msg {
    uint64_t view = 0;
    std::vector<uint64_t> members;
    std::vector<log_entry> entries;
  };

  /// What the coordinator does after a flush reply.
  struct flush_step {
    enum kind_t {
      wait,    // more replies to come
      reflush, // send group_flush(msg.view, msg.members) to msg.members
      install, // send group_install(msg) to `to`
    } kind = wait;
    install_msg msg;
    std::vector<uint64_t> to;
  };

  /// A join or leave ordered by the primary.
  struct membership_outcome {
    log_entry entry;              // send to the members of before it
    std::vector<completion> done; // completed at once
  };

  group_core(uint64_t self, std::vector<uint64_t> members, size_t max_sf,
             std::unique_ptr<resource_base> res, group_mode mode = {});

  const group_mode& mode() const noexcept { return mode_; }

  /// The group capability operations see as ftsr::mygroup().
  void set_group(capability_ref group) { group_ = std::move(group); }

  /// Decides for a coordinator whose survivors are exactly half of a view
  /// (or of the flush it answered): true lets them continue (this member's
  /// node is in the cluster's primary partition). Asked at that moment
  /// only. Unset: false, a strict majority is needed.
  void set_tie_breaker(std::function<bool()> f) {
    tie_breaker_ = std::move(f);
  }

  // -- observers --------------------------------------------------------------

  uint64_t self() const noexcept { return self_; }
  uint64_t view() const noexcept { return view_; }
  const std::vector<uint64_t>& members() const noexcept { return members_; }
  uint64_t primary() const { return members_.front(); }
  bool is_primary() const { return primary() == self_; }
  bool serving() const noexcept { return phase_ == phase::normal; }
  bool quorum_lost() const noexcept { return phase_ == phase::no_quorum; }
  uint64_t delivered() const noexcept { return delivered_; }
  uint64_t digest() const noexcept { return digest_; }
  resource_base& resource() noexcept { return *res_; }
  /// The reply of a delivered request, if it was delivered.
  std::optional<caf::message> delivered_reply(uint64_t request) const;

  /// True once this member, coordinating, let exactly half of a view go on
  /// (the tie-breaker said yes), until its next view decision: the group
  /// serves only while this member's node stays in the primary partition.
  /// The replica checks before each invocation and calls drop_quorum() once
  /// it is not (a partition's two halves may detect their failures in any
  /// order; this bounds the time the wrong one serves).
  bool partition_bound() const noexcept { return partition_bound_; }

  /// Stops serving for good, as after a quorum loss; returns the other
  /// members to tell (group_no_quorum).
  std::vector<uint64_t> drop_quorum();

  /// Members other than self, in rank order.
  std::vector<uint64_t> others() const;
  group_status status() const;

  /// Members whose failure matters to this replica (monitor them): the
  /// view, plus the survivors of the flush it answered or coordinates.
  std::vector<uint64_t> watched() const;

  // -- ordering (primary) -----------------------------------------------------

  /// Sequences and applies `inv`. A retry of an already delivered request
  /// is not executed again: it is sequenced as a `retry` entry, answered
  /// like any entry once enough backups delivered it (with their stored
  /// replies for quorum, all and vote). With `reply_to` (the client's
  /// address), a first-reply invocation that needs one backup's
  /// acknowledgement names a backup in inv.watching as its replier.
  invoke_outcome invoke(const invocation& inv, caf::message reply_to = {});

  /// A backup delivered `seq` (with its own result, for quorum/all/vote).
  std::vector<completion> on_ack(uint64_t from, uint64_t view, uint64_t seq,
                                 caf::message result);

  // -- delivery (backups) -----------------------------------------------------

  /// Delivers `e` in sequence order (buffering gaps); returns the acks to
  /// send to the primary, with the answers this member owes as replier.
  /// Entries of older views are dropped. Entries up to `stable` are held by
  /// every member and need no flush any more. (Entries delivered by an
  /// install are never answered here: the primary, or the client's retry
  /// after the failure that caused the view change, answers them.)
  std::vector<ack> on_order(const log_entry& e, uint64_t stable);

  /// Primary: highest sequence number every backup acknowledged.
  uint64_t stable() const;

  // -- membership -------------------------------------------------------------

  /// `member` failed. Returns what to do: nothing (another member
  /// coordinates), stop serving (no quorum: tell the survivors), or start
  /// a flush for the survivors.
  suspicion suspect(uint64_t member);

  /// The coordinator `from` found no quorum. True if this member stops
  /// serving now (false: from a member that failed or left).
  bool on_no_quorum(uint64_t from);

  /// A flush for `new_view` started: stop serving, report unstable entries.
  /// nullopt for a flush of a coordinator that failed or left the view.
  std::optional<flushed> on_flush(uint64_t new_view,
                                  const std::vector<uint64_t>& survivors);

  /// Coordinator: a survivor's flush reply. Once every survivor replied:
  /// the view to install, or another flush round if the reported entries
  /// or views show membership changes it did not know of.
  flush_step on_flushed(uint64_t from, uint64_t new_view, const flushed& f);

  /// Installs a view: delivers the missing entries first, then the view.
  /// False if the install is stale (ignored).
  bool install(const install_msg& m);

  /// For an install that install() refused: nonzero if the refusal was
  /// because this member answered a newer flush since (its view number) and
  /// the new view's primary should hear of it. That flush's coordinator may
  /// have failed before it installed anything, while the refused install
  /// came from a live coordinator that no longer coordinates: without a
  /// new flush above both, this member would wait for it forever.
  uint64_t superseded_by(const install_msg& m) const;

  /// Primary: `member` of its view refused the install of `view` because it
  /// answered a flush up to `seen` since. Starts a flush of the view's
  /// members above `seen` (coordinate set), or nothing if stale.
  suspicion on_install_refused(uint64_t member, uint64_t view, uint64_t seen);

  /// Coordinator, after installing its view: the state for each member
  /// that had none when it answered the flush (a newcomer whose transfer
  /// was lost with the primary).
  std::vector<std::pair<uint64_t, state_transfer>> take_transfers();

  /// Primary: orders the join of `newcomer`; returns the entry to send to
  /// the current backups. The newcomer's state (taken right after the join
  /// entry, so it misses nothing ordered later) comes with the join's
  /// completion: once the join is held by max_sf backups, so a newcomer
  /// with state is always in the group's view. nullopt if `newcomer` is a
  /// member already.
  std::optional<membership_outcome> join(uint64_t newcomer);

  /// Primary: orders the graceful leave of `member` (a member that is
  /// leaving, unlike a failed one, keeps the quorum: the view shrinks by
  /// agreement). Returns the entry to send to the other members; nullopt if
  /// `member` is unknown or the last one. Nothing ordered after the leave
  /// is answered before the leave is (the leaver, too, acknowledged it).
  std::optional<membership_outcome> leave(uint64_t member);

  /// Primary: the import `id` was answered by its target; returns the entry
  /// that removes it everywhere (send to the backups), or nullopt if it is
  /// no longer pending.
  std::optional<log_entry> import_done(uint64_t id);

  /// owns-sends of the operations this replica executed since the last
  /// call (every replica performs its own).
  std::vector<outgoing_call> take_owned();

  /// Imports sequenced by this primary since the last call, by id.
  std::vector<std::pair<uint64_t, outgoing_call>> take_new_imports();

  /// Every import not yet answered (a new primary sends them again).
  const std::map<uint64_t, outgoing_call>& pending_imports() const {
    return imports_;
  }

  /// True while this replica is a member of its current view.
  bool is_member() const;

  /// Newcomer: starts from a transferred state (again, if a view change
  /// sends a newer one).
  caf::error adopt(const state_transfer& st);

  /// True if `st` must not be adopted: not newer than this member's view,
  /// or from a view below a flush it answered (a failed primary's transfer
  /// still in flight: it may hold entries the flushed reply did not report,
  /// which the new view orders differently; its coordinator sends the
  /// state of the installed view where one is needed).
  bool stale(const state_transfer& st) const {
    return st.view <= view_ || st.view < flush_seen_;
  }

private:
  enum class phase { normal, flushing, no_quorum };

  struct pending {
    uint64_t request = 0;
    reply_policy policy = reply_policy::first;
    caf::message own;
    std::map<uint64_t, caf::message> results; // by member
  };

  caf::message apply(const log_entry& e);
  std::optional<caf::message> run(caf::message payload,
                                  std::vector<outgoing_call>& out);
  void track_imports(const log_entry& e, bool send);
  bool is_listed(uint64_t member) const;
  /// Not suspected, and in the view or removed by a leave since the last
  /// install (a leaver may not know it left): its flush is answered and
  /// its quorum verdict followed.
  bool may_coordinate(uint64_t member) const;
  void mix_digest(const log_entry& e);
  size_t members_at(uint64_t seq) const;
  /// Primary: the sequence number of the first leave not answered yet, or 0.
  uint64_t pending_leave() const;
  size_t needed_acks(reply_policy p, uint64_t seq) const;
  uint64_t choose_replier(const invocation& inv, const log_entry& e) const;
  /// This member coordinates the flush `s` (new_view, survivors).
  void coordinate(suspicion& s);
  std::optional<completion> try_complete(uint64_t seq, pending& p);
  std::vector<completion> complete_ready();
  void deliver_buffered(std::vector<ack>* acks);
  void prune(uint64_t stable);
  state_transfer make_transfer() const;

  uint64_t self_;
  std::vector<uint64_t> members_;
  size_t max_sf_;
  group_mode mode_;
  capability_ref group_;
  std::function<bool()> tie_breaker_;
  bool partition_bound_ = false;
  std::unique_ptr<resource_base> res_;
  caf::behavior ops_;
  phase phase_ = phase::normal;
  uint64_t view_ = 1;
  /// View installed by the last flush (or the initial or adopted one).
  uint64_t installed_view_ = 1;
  uint64_t next_seq_ = 1;
  uint64_t delivered_ = 0;
  uint64_t digest_ = 0;
  std::set<uint64_t> suspects_;
  // Entries above the stable point, for flushes.
  std::map<uint64_t, log_entry> log_;
  std::map<uint64_t, log_entry> out_of_order_;
  std::map<uint64_t, pending> pending_;
  std::map<uint64_t, uint64_t> acked_upto_; // primary: by backup
  // Primary: members that joined since the last install, by the sequence
  // number of their join entry. They got earlier entries with the state
  // transfer and never acknowledge them: entries pending from before their
  // join must not wait for them (reply policies all/quorum/vote would
  // otherwise wait until the next flush).
  std::map<uint64_t, uint64_t> joined_at_;
  // Primary: members that left since the last install, by the sequence
  // number of their leave entry. Entries up to it (the leave included) need
  // the acknowledgements of the view that had the leaver, and nothing after
  // a leave is answered before the leave is.
  std::map<uint64_t, uint64_t> left_at_;
  // Primary: joins not completed yet, by the sequence number of their
  // join entry: the newcomer and the state it gets on completion.
  std::map<uint64_t, std::pair<uint64_t, state_transfer>> joins_;
  // Set once this member answered a flush, until the next install: from
  // then on it must not deliver anything its flushed reply did not report.
  bool flush_answered_ = false;
  // Survivors of the last flush this member answered (until the next
  // install): that view may be installed elsewhere already, so a later
  // failure needs a majority of it as well, and its members are watched.
  std::vector<uint64_t> flush_survivors_;
  // Members a leave entry removed since the last install. A leave is a view
  // change without a flush, so its departure is watched like a failure and
  // settled by one: a leaver may not have delivered its leave (the entry
  // was lost with a failed primary) and wait in its old view, or even
  // coordinate a flush (it is answered, learns of its leave from the
  // replies and stops); a primary that leaves drops unfinished work (a
  // join whose state it had not sent yet); and a flush waiting for a
  // coordinator that left needs the next one.
  std::set<uint64_t> left_;
  // Members a leave entry removed whose departure this member has not seen
  // (kept across installs): the next install it coordinates, or quorum
  // loss it decides, tells them too. The install that told a leaver which
  // missed its leave may have been lost with its coordinator.
  std::set<uint64_t> untold_;
  // Highest view of a flush this member answered. A coordinator can fail
  // after its install reached only some members; the next coordinator must
  // propose a higher view (members refuse installs of views they have, or
  // of views below a flush they answered), and a member must ignore the
  // failed coordinator's install arriving after it answered a newer flush.
  // Reported in flushed replies, with the view: the coordinator flushes
  // again above them if its proposal is not higher.
  uint64_t flush_seen_ = 0;
  // Flush bookkeeping (coordinator).
  bool coordinating_ = false;
  uint64_t flush_view_ = 0;
  std::vector<uint64_t> flush_members_;
  std::map<uint64_t, flushed> flush_replies_;
  // Members that had no state when they answered the flush to install, and
  // their transfers once the coordinator installed it.
  std::vector<uint64_t> transfer_to_;
  std::vector<std::pair<uint64_t, state_transfer>> transfers_;
  // FT-SR owns/imports bookkeeping.
  std::vector<outgoing_call> owned_;
  std::map<uint64_t, outgoing_call> imports_;
  std::vector<std::pair<uint64_t, outgoing_call>> new_imports_;
  // De-duplication: the reply of each delivered request.
  dedup_table dedup_;
};

} // namespace ftsr
