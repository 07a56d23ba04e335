// The deterministic core of the lock manager (FT-SR banking system,
// lockManager): strict two-phase locking for the data managers' items
// (shared and exclusive locks per (DM, key), upgrades, FIFO waits,
// deadlock detection with the youngest transaction as victim, lock
// timeouts, a volatile table rebuilt from the DMs after a restart), no
// actors, clocks or sockets. The rules are explained in
// docs/transactions.md.
//
// Refusals: txn_reason::deadlock (victim of a wait-for cycle),
// txn_reason::lock_timeout (waited lock_timeout or longer, counted from
// the last on_tick before the request arrived). Locks are held until the
// DM releases them (lm_op::release, at commit or abort).
//
// Bad input: a lock request naming a DM outside the configuration, an
// empty key or transaction 0 is refused with bad_request, a second wait of
// one transaction on one lock with busy; reclaims of unknown DMs are
// ignored. None of them changes the lock table.
//
// Not thread-safe: each object belongs to one actor (or one test).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "txn/txn_protocol.hpp"

namespace ftsr {

struct lock_config {
  /// Every DM whose items are locked here (a restarted LM waits for each).
  std::vector<uint64_t> dms;
  /// This LM's incarnation: nonzero, larger after each restart.
  uint64_t incarnation = 1;
  /// Longest wait for a lock, in the unit of on_tick's time.
  uint64_t lock_timeout = 1000;
  /// How often a restarted LM asks a silent DM again (on_tick's unit).
  uint64_t retry_interval = 100;
};

class lock_core {
public:
  explicit lock_core(lock_config cfg);

  /// First input: asks every DM for the locks it holds (lm_hello).
  txn_step start();

  /// lm_op::lock or lm_op::release from a DM.
  txn_step on_request(const lm_request& m);

  txn_step on_reclaim(const lm_reclaim& m);

  /// Advances time: refuses requests past the lock timeout, asks silent
  /// DMs again while recovering.
  txn_step on_tick(uint64_t now);

  /// True once every DM reported its locks after start().
  bool serving() const noexcept {
    return serving_;
  }

  /// The mode `tid` holds on (dm, key), if any.
  std::optional<lock_mode> held(uint64_t dm, const std::string& key,
                                txn_id tid) const;

  /// Holders of (dm, key).
  std::vector<txn_id> holders(uint64_t dm, const std::string& key) const;

  /// Transactions waiting for (dm, key), in queue order.
  std::vector<txn_id> waiters(uint64_t dm, const std::string& key) const;

  /// Number of (lock, holder) pairs and of waiting requests overall.
  size_t lock_count() const;
  size_t wait_count() const;

private:
  using lock_name = std::pair<uint64_t, std::string>; // (dm, key)

  struct waiter {
    lm_request req;
    uint64_t since = 0;
  };

  struct lock_entry {
    std::map<txn_id, lock_mode> holders;
    std::deque<waiter> queue;
  };

  bool known_dm(uint64_t dm) const;

  void lock(const lm_request& m, txn_step& st);

  void release(uint64_t dm, txn_id tid, txn_step& st);

  /// Grants what can be granted at the head of `name`'s queue.
  void grant(const lock_name& name, txn_step& st);

  /// Refuses and removes every waiting request of `tid` (reason), then
  /// grants what that frees.
  void refuse_waits(txn_id tid, txn_reason why, txn_step& st);

  /// Finds cycles in the wait-for graph and refuses their victims.
  void break_deadlocks(txn_step& st);

  std::map<txn_id, std::set<txn_id>> wait_for() const;

  void answer(const lm_request& m, txn_reason why, txn_step& st);

  lock_config cfg_;
  uint64_t now_ = 0;
  bool serving_ = false;
  uint64_t last_hello_ = 0;
  std::set<uint64_t> reclaimed_;         // DMs that answered our hello
  std::map<uint64_t, uint64_t> epochs_;  // DM -> latest incarnation seen
  std::deque<lm_request> backlog_;       // lock requests while recovering
  std::map<lock_name, lock_entry> locks_;
};

} // namespace ftsr
