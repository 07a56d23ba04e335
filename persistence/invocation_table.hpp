// The deterministic core of exactly-once invocations of persistent actors:
// a bounded table of the replies an actor recorded, keyed by the caller's
// invocation id (actors/invocation_ids.hpp). No actors, clocks or sockets;
// persistence/invocation_log.hpp runs it inside a persistent actor and
// stores it with the actor's state.
//
// For each caller it keeps the replies of its invocations at or above the
// caller's floor (seq below it were answered at the caller, which never
// sends them again: acknowledged-prefix trimming), at most
// `per_caller` of them (beyond, the lowest is dropped and the floor raised
// past it), for at most `callers` callers (beyond, the least recently seen
// caller is forgotten). An invocation below its caller's floor whose reply
// is gone is refused (stale), never run again.
//
// Thread-safety: none (owned by one actor). Serializable with
// Boost.Serialization (a member function template).
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace ftsr {

struct invocation_key {
  uint64_t caller = 0;
  uint64_t seq = 0;
};

class invocation_table {
public:
  /// What to do with an arriving invocation.
  enum class verdict : uint8_t {
    /// Not seen before: run it.
    run,
    /// Recorded: answer with the recorded reply, do not run it.
    replay,
    /// Below the caller's floor and no longer recorded: refuse it.
    stale,
  };

  struct admission {
    verdict what = verdict::run;
    /// The recorded reply (replay only); valid until the next change.
    const std::string* reply = nullptr;
  };

  explicit invocation_table(size_t per_caller = 1024, size_t callers = 1024);

  /// Takes the caller's `floor` (forgetting its replies below it) and
  /// decides about invocation `k`.
  admission admit(const invocation_key& k, uint64_t floor);

  /// Records `reply` (opaque bytes) as the answer to `k`. A key below its
  /// caller's floor is ignored (its caller has its answer already).
  void record(const invocation_key& k, std::string reply);

  /// Recorded replies in total.
  size_t size() const noexcept;

  /// Callers known (recorded replies or a floor).
  size_t callers() const noexcept {
    return callers_.size();
  }

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & per_caller_ & max_callers_ & clock_ & callers_;
  }

private:
  struct caller_state {
    uint64_t floor = 0;
    uint64_t last_seen = 0;
    std::map<uint64_t, std::string> replies;

    template <class Archive>
    void serialize(Archive& ar, unsigned) {
      ar & floor & last_seen & replies;
    }
  };

  caller_state& touch(uint64_t caller);

  size_t per_caller_;
  size_t max_callers_;
  uint64_t clock_ = 0;
  std::map<uint64_t, caller_state> callers_;
};

} // namespace ftsr
