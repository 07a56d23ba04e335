// The deterministic core of the lock manager (FT-SR banking system,
// lockManager): strict two-phase locking for the data managers' items, no
// actors, clocks or sockets.
//
// Locks. A lock is named by (DM, item key). Shared locks are compatible
// with each other, an exclusive lock with nothing. A transaction that
// holds a shared lock and asks for the exclusive one upgrades: it waits
// until it is the only holder, ahead of every other waiter. Otherwise
// requests wait in FIFO order: a request is granted when it is compatible
// with the holders and nobody waits ahead of it (a shared request does not
// overtake a waiting exclusive one). Asking again for a mode already held
// (or weaker) is granted at once. Locks are held until the DM releases
// them (strict 2PL: at commit or abort, lm_op::release, which also
// cancels the transaction's waits on that DM).
//
// Deadlocks. After every new wait the core looks for a cycle in the
// wait-for graph (a waiter waits for the holders it conflicts with and for
// the conflicting requests ahead of it in the queue). In each cycle the
// youngest transaction (largest txn_id) is the victim: its waiting
// requests are refused with txn_reason::deadlock (the TM then aborts it,
// and its release frees what it held). Repeated until no cycle is left.
//
// Timeouts. on_tick(now) gives the core the caller's time (any monotonic
// unit); a request that has waited `lock_timeout` or longer (counted from
// the last tick before it arrived) is refused with txn_reason::lock_timeout.
//
// Restarts. The lock table is volatile: a restarted lock manager (new
// incarnation, start()) grants nothing until every DM of the
// configuration told it which locks its transactions hold (lm_hello ->
// lm_reclaim): the locks of prepared transactions are in the DMs' durable
// status tables anyway (they are needed for commit), so the lock table is
// rebuilt from them instead of writing every grant to stable storage
// (which would put a disk write on every lock of the hot path). A DM
// answering a hello aborts its active transactions (their locks may be
// lost) and reports the locks of its prepared and finishing ones. Lock
// requests that come meanwhile wait; those a DM sent before its reclaim
// belong to transactions it aborted and are dropped. A restarted DM sends
// an lm_reclaim on its own (lm_incarnation 0): every lock and wait on that
// DM's items is replaced by the reported locks (requests carry the DM's
// epoch; those of older incarnations are ignored from then on).
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
