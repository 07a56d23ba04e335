// Caller-side ids of invocations of persistent actors: every ftsr::call to
// a persistent actor carries (caller, seq, floor), and keeps it on each
// attempt (a re-send to the restarted incarnation), so the callee's
// invocation log (persistence/invocation_log.hpp) recognizes a re-sent
// invocation and answers it with the recorded reply.
//
// - caller: random per process (per node_context), never 0;
// - seq: increasing per caller, one per logical call;
// - floor: every seq below it was answered (or given up) at the caller, so
//   the callee may forget their replies (acknowledged-prefix trimming).
//
// Thread-safe. A ticket releases its seq when destroyed (the call ended).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <set>

namespace ftsr {

class invocation_ids {
public:
  invocation_ids();

  invocation_ids(const invocation_ids&) = delete;
  invocation_ids& operator=(const invocation_ids&) = delete;

  /// One logical call's id; released (no longer outstanding) on destruction.
  class ticket {
  public:
    ticket(invocation_ids& owner, uint64_t seq) : owner_(owner), seq_(seq) {
      // nop
    }

    ticket(const ticket&) = delete;
    ticket& operator=(const ticket&) = delete;

    ~ticket() {
      owner_.release(seq_);
    }

    uint64_t caller() const noexcept {
      return owner_.caller();
    }

    uint64_t seq() const noexcept {
      return seq_;
    }

  private:
    invocation_ids& owner_;
    uint64_t seq_;
  };

  uint64_t caller() const noexcept {
    return caller_;
  }

  /// A new outstanding seq. The owner must outlive the ticket.
  std::shared_ptr<ticket> issue();

  /// The lowest outstanding seq, or the next one if none is outstanding.
  uint64_t floor() const;

private:
  void release(uint64_t seq);

  const uint64_t caller_;
  mutable std::mutex mtx_;
  uint64_t next_ = 1;
  std::set<uint64_t> outstanding_;
};

} // namespace ftsr
