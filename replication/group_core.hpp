// The deterministic core of a resource-group replica: total order through a
// primary sequencer, acknowledgement counting, delivery in sequence order,
// de-duplication of retried invocations, view changes with a flush of
// unstable entries, and joins with state transfer. No actors, clocks or
// sockets: the replica actor (replica.hpp) feeds it messages and performs
// the sends it returns, and tests drive it step by step under any message
// ordering and failure they like. Not thread-safe.
//
// Invariants it maintains (virtual synchrony, Birman & Joseph):
// - every member delivers the same entries in the same sequence order;
// - the primary answers an invocation only once min(max_sf, #backups)
//   backups delivered it, so an answered invocation survives max_sf
//   failures: the flush after a failure re-delivers it to all survivors;
// - a member failure is installed as a new view after all entries any
//   survivor delivered (the failed member's last deliveries included);
// - the primary is the first member of the view (deterministic rule);
// - without a majority of the previous view, the group stops serving.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <unordered_map>
#include <vector>

#include "caf/behavior.hpp"
#include "caf/error.hpp"
#include "caf/message.hpp"

#include "replication/group_protocol.hpp"
#include "replication/resource.hpp"

namespace ftsr {

class group_core {
public:
  /// A finished invocation: the primary replies to the client.
  struct completion {
    uint64_t request = 0;
    reply_policy policy = reply_policy::first;
    caf::message reply;                // first, vote
    std::vector<caf::message> replies; // quorum, all
    caf::error error;
  };

  struct invoke_outcome {
    enum kind_t { replied, sequenced, rejected } kind = rejected;
    caf::message reply;              // replied: a retry of a delivered call
    caf::error error;                // rejected
    log_entry entry;                 // sequenced: send to backups()
    std::vector<completion> done;    // completed at once (no backups)
  };

  struct ack {
    uint64_t seq = 0;
    caf::message result;
  };

  struct suspicion {
    bool quorum_lost = false;
    bool coordinate = false; // this member runs the flush
    uint64_t new_view = 0;
    std::vector<uint64_t> survivors;
  };

  struct flushed {
    uint64_t delivered = 0;
    std::vector<log_entry> unstable;
  };

  struct install_msg {
    uint64_t view = 0;
    std::vector<uint64_t> members;
    std::vector<log_entry> entries;
  };

  group_core(uint64_t self, std::vector<uint64_t> members, size_t max_sf,
             std::unique_ptr<resource_base> res, group_mode mode = {});

  const group_mode& mode() const noexcept { return mode_; }

  /// The group capability operations see as ftsr::mygroup().
  void set_group(capability_ref group) { group_ = std::move(group); }

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

  /// Members other than self, in rank order.
  std::vector<uint64_t> others() const;
  group_status status() const;

  // -- ordering (primary) -----------------------------------------------------

  /// Sequences and applies `inv`. A retry of an already delivered request
  /// is answered from the de-duplication table without re-executing it.
  invoke_outcome invoke(const invocation& inv);

  /// A backup delivered `seq` (with its own result, for quorum/all/vote).
  std::vector<completion> on_ack(uint64_t from, uint64_t view, uint64_t seq,
                                 caf::message result);

  // -- delivery (backups) -----------------------------------------------------

  /// Delivers `e` in sequence order (buffering gaps); returns the acks to
  /// send to the primary. Entries of older views are dropped. Entries up to
  /// `stable` are held by every member and need no flush any more.
  std::vector<ack> on_order(const log_entry& e, uint64_t stable);

  /// Primary: highest sequence number every backup acknowledged.
  uint64_t stable() const;

  // -- membership -------------------------------------------------------------

  /// `member` failed. Returns what to do: stop serving (quorum lost), or
  /// (for the new coordinator) start a flush for the survivors.
  suspicion suspect(uint64_t member);

  /// A flush for `new_view` started: stop serving, report unstable entries.
  std::optional<flushed> on_flush(uint64_t new_view,
                                  const std::vector<uint64_t>& survivors);

  /// Coordinator: a survivor's flush reply. Returns the new view to install
  /// once every survivor replied.
  std::optional<install_msg> on_flushed(uint64_t from, uint64_t new_view,
                                        const flushed& f);

  /// Installs a view: delivers the missing entries first, then the view.
  void install(const install_msg& m);

  /// Primary: orders the join of `newcomer` and returns the entry to send
  /// to the backups plus the state for the newcomer (taken right after the
  /// join entry, so the newcomer misses nothing ordered later).
  std::pair<log_entry, state_transfer> join(uint64_t newcomer);

  /// Primary: orders the graceful leave of `member` (a member that is
  /// leaving, unlike a failed one, keeps the quorum: the view shrinks by
  /// agreement). Returns the entry to send to the other members; nullopt if
  /// `member` is unknown or the last one.
  std::optional<log_entry> leave(uint64_t member);

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

  /// Newcomer: starts from a transferred state.
  caf::error adopt(const state_transfer& st);

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
  void remember(uint64_t request, const caf::message& reply);
  void mix_digest(const log_entry& e);
  size_t members_at(uint64_t seq) const;
  size_t needed_acks(reply_policy p, uint64_t seq) const;
  std::optional<completion> try_complete(uint64_t seq, pending& p);
  std::vector<completion> complete_ready();
  void deliver_buffered(std::vector<ack>* acks);
  void prune(uint64_t stable);

  uint64_t self_;
  std::vector<uint64_t> members_;
  size_t max_sf_;
  group_mode mode_;
  capability_ref group_;
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
  // Set once this member answered a flush, until the next install: from
  // then on it must not deliver anything its flushed reply did not report.
  bool flush_answered_ = false;
  // Highest view of a flush this member answered. A coordinator can fail
  // after its install reached only some members; the next coordinator must
  // propose a higher view (members that installed the failed coordinator's
  // view refuse flushes for views they have), and a member must ignore the
  // failed coordinator's install arriving after it answered a newer flush.
  uint64_t flush_seen_ = 0;
  // Flush bookkeeping (coordinator).
  uint64_t flush_view_ = 0;
  std::vector<uint64_t> flush_members_;
  std::map<uint64_t, flushed> flush_replies_;
  // FT-SR owns/imports bookkeeping.
  std::vector<outgoing_call> owned_;
  std::map<uint64_t, outgoing_call> imports_;
  std::vector<std::pair<uint64_t, outgoing_call>> new_imports_;
  // De-duplication: request -> reply, bounded FIFO.
  std::unordered_map<uint64_t, caf::message> dedup_;
  std::deque<uint64_t> dedup_order_;
};

} // namespace ftsr
