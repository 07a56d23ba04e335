// The directory: this node's replica of the cluster-wide map from capability
// id to the current incarnation, plus failure bookkeeping. It is where
// failures meet the parties waiting on them: pending calls (FT-SR `call`)
// and monitors (FT-SR `monitor ... send`) are registered against a
// capability and notified exactly once when it fails, is destroyed, or its
// node fails. Thread-safe: every member function may be called from any
// thread; notifications are delivered (enqueued) outside the lock.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "caf/actor.hpp"
#include "caf/error.hpp"
#include "caf/message.hpp"
#include "caf/message_id.hpp"

#include "actors/capability.hpp"
#include "actors/metrics.hpp"
#include "actors/trace.hpp"

namespace ftsr {

class directory {
public:
  /// `monitors_fired`, if given, counts the monitor notifications
  /// delivered.
  explicit directory(span_buffer& spans, counter* monitors_fired = nullptr);

  /// Adds or refreshes a binding. A binding to an incarnation already known
  /// as failed is recorded as failed right away. A binding at a higher
  /// generation (a persistent actor's restart) replaces a failed one and
  /// makes the capability alive again; a destroyed capability stays so.
  /// If it arrives before the old generation's failure, that failure is
  /// notified first (pending calls, monitors). A group's member list from
  /// a newer view replaces the current one, and makes a group counted as
  /// lost alive again unless the new list lacks a quorum too.
  void bind(const capability_ref& ref);

  /// Records how to restart the persistent actor `spec.id`.
  void set_restart_spec(restart_spec spec);

  /// The restart spec of `id`, if it is a persistent actor.
  std::optional<restart_spec> restart_spec_of(uint64_t id) const;

  /// Every known restart spec (for new members).
  std::vector<restart_spec> restart_specs() const;

  /// Persistent actors whose node failed (so their current binding did),
  /// with the binding that failed.
  std::vector<std::pair<restart_spec, capability_ref>> orphans() const;

  /// Current binding of `id`, if known.
  std::optional<capability_ref> lookup(uint64_t id) const;

  /// The handle of `ref`'s current incarnation: the directory's binding
  /// unless `ref` is newer (a restart rebinds to a newer incarnation).
  caf::actor resolve(const capability_ref& ref) const;

  /// Capability of the local actor with CAF id `actor_id`, if it is one.
  std::optional<capability_ref> find_local(caf::actor_id aid,
                                           const std::string& node,
                                           uint64_t incarnation) const;

  /// All bindings that are still alive.
  std::vector<capability_ref> alive() const;

  /// The error describing why `ref` is unusable, or none if it is alive.
  caf::error failure_of(const capability_ref& ref) const;

  /// Registers a pending request `rid` of `caller` to `target`: when the
  /// target fails, an errc::fail_stop (or errc::destroyed) error is
  /// delivered to `caller` as the response to `rid`. Returns a token for
  /// unwatch_call. If the target already failed, the error is delivered at
  /// once.
  /// With a `deadline`, expire_calls ends the wait with errc::no_answer
  /// once it passed. `sent_to`: the generation the request went to; if the
  /// target was restarted since (a newer generation is bound), that one
  /// failed and the error is delivered at once as well.
  uint64_t watch_call(const capability_ref& target, caf::strong_actor_ptr caller,
                      caf::message_id rid,
                      std::chrono::steady_clock::time_point deadline
                      = std::chrono::steady_clock::time_point::max(),
                      uint64_t sent_to = std::numeric_limits<uint64_t>::max());

  /// Delivers errc::no_answer for (and forgets) every pending call whose
  /// deadline is before `now`; returns how many.
  size_t expire_calls(std::chrono::steady_clock::time_point now);

  /// Removes a pending-call registration (the reply arrived).
  void unwatch_call(uint64_t cap_id, uint64_t token);

  /// Registers a monitor: `handler` is sent to `dest` exactly once when
  /// `target` fails or is destroyed. Fires at once if it already did.
  uint64_t add_monitor(const capability_ref& target, caf::actor dest,
                       caf::message handler, trace_context tc = {});

  /// Cancels a monitor (FT-SR `monitorend`); false if it had already fired
  /// or never existed.
  bool remove_monitor(uint64_t monitor_id);

  /// Marks generation `generation` of `cap_id` failed (or destroyed) and
  /// notifies its watchers; news about an older generation is ignored. A
  /// group that thereby lost the majority of its members fails as well.
  void actor_failed(uint64_t cap_id, uint64_t generation,
                    const std::string& reason, bool destroyed,
                    trace_context tc = {});

  /// Marks every capability hosted by `node` at `incarnation` or earlier as
  /// failed; bindings arriving later for them are failed on arrival.
  void node_failed(const std::string& node, uint64_t incarnation,
                   const std::string& reason, trace_context tc = {});

  /// Number of registered pending calls and monitors (for tests).
  size_t pending_calls() const;
  size_t monitors() const;

private:
  enum class state : uint8_t { alive, failed, destroyed };

  struct pending_call {
    caf::strong_actor_ptr caller;
    caf::message_id rid;
    std::chrono::steady_clock::time_point deadline;
  };

  struct pending_monitor {
    caf::actor dest;
    caf::message handler;
    trace_context tc;
  };

  struct entry {
    capability_ref ref;
    state st = state::alive;
    std::string reason;
    std::unordered_map<uint64_t, pending_call> calls;
    std::map<uint64_t, pending_monitor> monitors;
  };

  // Notifications collected under the lock and delivered after it.
  struct notifications {
    std::vector<std::pair<pending_call, caf::error>> calls;
    std::vector<std::pair<pending_monitor, std::string>> monitors;
  };

  entry& ensure(const capability_ref& ref);
  void fail_groups_without_quorum(uint64_t member, notifications& out);
  caf::error error_of(const entry& e) const;
  void bind(const capability_ref& ref, notifications& out);
  void fail_if_without_quorum(entry& group, notifications& out);
  void fail(entry& e, state st, const std::string& reason, notifications& out);
  void deliver(notifications& out, const trace_context& tc);
  bool node_incarnation_failed(const std::string& node, uint64_t inc) const;

  span_buffer& spans_;
  counter* monitors_fired_;
  mutable std::mutex mtx_;
  uint64_t next_token_ = 1;
  std::unordered_map<uint64_t, entry> entries_;
  std::unordered_map<uint64_t, uint64_t> monitor_index_; // monitor -> cap
  std::unordered_map<uint64_t, std::vector<uint64_t>> groups_of_; // member
  std::map<std::string, uint64_t> failed_incarnation_;  // highest failed
  std::unordered_map<uint64_t, restart_spec> restart_specs_;
};

} // namespace ftsr
