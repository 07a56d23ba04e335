// Exactly-once invocations of a persistent actor: its invocation log.
//
//   auto log = std::make_shared<ftsr::invocation_log>(self->system());
//   persistent_behavior{{[=](add_atom, int64_t x) {
//                          st->total += x;
//                          log->record_current(st->total);   // the reply
//                          ... save_snapshot(self, store, id, *st, log, ...)
//                          ... reply st->total once saved ...
//                        }},
//                       recovery /* load_snapshot(..., log, ...) */, log};
//
// ftsr::call sends every invocation of a persistent actor with an id that
// stays the same on every re-send (actors/invocation_ids.hpp). The
// actor's dispatcher (persistence/persistent.cpp) looks it up here first:
// an invocation whose reply is recorded is answered with it and not run
// again; one that is not runs with current() set to its id. The actor
// records the reply of each state-changing operation with the state
// change and stores the log in the same atomic write as its state
// (save_snapshot with the log, persistence/snapshot.hpp); its recovery
// handler loads both (load_snapshot with the log). So a re-sent
// invocation either finds its state change and its reply, or neither.
//
// Delivery: an operation that records its reply before the state that
// contains its effect is stored is exactly once for ftsr::call callers
// (also across kill -9 and SIGSTOP failover). Operations that record
// nothing (reads) are at least once; plain CAF messages (no ftsr::call)
// carry no id and are at least once as well. Bounds and trimming: see
// invocation_table.hpp.
//
// Thread-safety: none (owned by its actor). Replies must be serializable
// by the actor system (CAF type ids).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "caf/actor_system.hpp"
#include "caf/error.hpp"
#include "caf/message.hpp"

#include "persistence/invocation_table.hpp"

namespace ftsr {

class invocation_log {
public:
  /// How the dispatcher treats an arriving invocation.
  struct admission {
    invocation_table::verdict what = invocation_table::verdict::run;
    /// The recorded reply (replay) or the error to answer with (stale, or
    /// a recorded reply that does not decode).
    caf::message reply;
    caf::error error;
  };

  explicit invocation_log(caf::actor_system& sys, size_t per_caller = 1024,
                          size_t callers = 1024);

  /// The id of the invocation being handled, while the dispatcher runs an
  /// operation for it; nullopt for a message without id. Capture it for a
  /// reply computed later.
  const std::optional<invocation_key>& current() const noexcept {
    return current_;
  }

  /// Records `reply` as the answer to invocation `k`; it is stored with
  /// the next save_snapshot that carries this log.
  void record(const invocation_key& k, const caf::message& reply);

  /// Records `x` as the reply of the current invocation (nothing without
  /// one).
  template <class T>
  void record_current(T&& x) {
    if (current_)
      record(*current_, caf::make_message(std::forward<T>(x)));
  }

  /// The stored form (Boost.Serialization binary archive).
  std::string encode() const;

  /// Replaces the content with a stored form. errc::corrupted if it does
  /// not parse (the content is then unchanged).
  caf::error decode(const std::string& blob);

  // -- for the dispatcher ---------------------------------------------------

  admission admit(const invocation_key& k, uint64_t floor);

  void begin(const invocation_key& k) {
    current_ = k;
  }

  void end() {
    current_.reset();
  }

  const invocation_table& table() const noexcept {
    return table_;
  }

private:
  caf::actor_system& sys_;
  invocation_table table_;
  std::optional<invocation_key> current_;
};

} // namespace ftsr
