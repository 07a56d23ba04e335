// Wire types of the transaction cores (lock_core, dm_core, tm_core): the
// messages between clients, the transaction manager (TM), the data managers
// (DM) and the lock manager (LM) of the FT-SR banking system (Schlichting &
// Thomas, Fig. 1 and Appendix B), the reasons a request is refused or a
// transaction aborted, and the step value every core input returns.
//
// Messages are plain structs with CAF inspect functions (add_txn_types
// registers them), so an actor layer can send them as they are. Who talks
// to whom:
//   client -> TM  tx_request (begin, read, write, commit, abort)
//   TM -> client  tx_reply
//   TM -> DM      dm_request (the six operations of the paper, and forget)
//                 tm_query (a restarted TM asks for in-doubt transactions)
//   DM -> TM      dm_reply, dm_up (restarted, or answering tm_query)
//   DM -> LM      lm_request (lock, release), lm_reclaim
//   LM -> DM      lm_reply, lm_hello (a restarted LM asks for held locks)
//
// Driving a core (what an actor does; tests/txn_sim_test.cpp does the
// same with a simulated network): build it with its incarnation (larger
// after every restart), feed it first what its stable store holds
// (tm_core/dm_core::recover, a scan of its records; lock_core::start),
// then every message it receives and a periodic on_tick(now) (TM and LM).
// Apply each step at once and in order: send its messages (FIFO per pair,
// as CAF does; a message to a failed incarnation may be lost), and write
// its batch to the core's own stable store, feeding on_written(id) back
// once it is durable. Nothing else is needed for correctness: the cores
// retry what must arrive (commits, aborts, queries, hellos) and time out
// what may never come.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "caf/error.hpp"
#include "caf/meta/load_callback.hpp"
#include "caf/meta/type_name.hpp"
#include "caf/sec.hpp"

#include "persistence/stable_store.hpp"

namespace caf {
class actor_system_config;
}

namespace ftsr {

/// Transaction ids: (TM incarnation << 32) | counter. Unique across TM
/// restarts, and larger for younger transactions (deadlock victims).
using txn_id = uint64_t;

/// Why a request was refused or a transaction aborted. `none`: success.
enum class txn_reason : uint8_t {
  none,
  deadlock,            // chosen as the victim of a wait-for cycle
  lock_timeout,        // waited for a lock longer than the lock timeout
  participant_failed,  // a DM (or the LM, or the TM) failed or never answered
  aborted_by_client,   // the client asked for the abort
  unknown_transaction, // no such transaction (never begun, or forgotten)
  not_active,          // read/write/commit of a transaction past its work
  not_prepared,        // commit at a DM of a transaction it did not prepare
  already_committed,   // abort of a committed transaction
  already_aborted,     // commit or prepare of an aborted transaction
  unknown_item,        // read of an item that does not exist
  busy,                // an operation of the transaction is still running
  bad_request,         // malformed (empty key, unknown DM, wrong kind ...)
  unfinished,          // forget of a transaction still active or prepared
  not_ready,           // the core has not recovered yet (keep it last)
};

const char* to_string(txn_reason x);

/// True for the reasons that end the transaction (the TM aborts it).
bool aborts_transaction(txn_reason x);

enum class lock_mode : uint8_t {
  shared,
  exclusive,
};

const char* to_string(lock_mode x);

// -- client <-> TM ------------------------------------------------------------

enum class tx_kind : uint8_t { begin, read, write, commit, abort };

const char* to_string(tx_kind x);

/// client -> TM. `tid` for everything but begin; `dm`, `key` for read and
/// write; `value` for write. `req` is the client's id for the answer.
/// `token` (commit, optional): the client's name for the transaction,
/// logged with the commit decision and kept after the transaction ends, so
/// that a client re-sending a transaction after a TM failure can learn it
/// committed already (tm_core::committed). `for_update` (read): take the
/// exclusive lock at once for an item the transaction will write, instead
/// of a shared lock upgraded later (two transactions upgrading the same
/// item deadlock).
struct tx_request {
  uint64_t client = 0;
  uint64_t req = 0;
  tx_kind kind = tx_kind::begin;
  txn_id tid = 0;
  uint64_t dm = 0;
  std::string key;
  int64_t value = 0;
  uint64_t token = 0;
  bool for_update = false;
};

/// TM -> client: the answer to request `req`. reason none: begin gave
/// `tid`, read gave `value`, write was done, commit committed (the
/// decision is durable), abort aborted. Otherwise the request failed; if
/// aborts_transaction(reason), the transaction is aborted.
struct tx_reply {
  uint64_t client = 0;
  uint64_t req = 0;
  txn_id tid = 0;
  txn_reason reason = txn_reason::none;
  int64_t value = 0;
};

// -- TM <-> DM ----------------------------------------------------------------

/// The operations of a data manager (paper, Fig. 2), and forget: the TM
/// has all acknowledgements, the DM may drop the finished entry.
enum class dm_op : uint8_t {
  start,
  read,
  write,
  prepare,
  commit,
  abort,
  forget,
};

const char* to_string(dm_op x);

/// TM -> DM. `req` pairs read/write with their replies; `for_update`: a
/// read under the exclusive lock (tx_request::for_update).
struct dm_request {
  dm_op op = dm_op::start;
  txn_id tid = 0;
  uint64_t req = 0;
  std::string key;
  int64_t value = 0;
  bool for_update = false;
};

/// DM -> TM: the answer to `op` of `tid` (a forget is answered only when
/// refused). prepare with reason none is a yes vote (durable); commit and
/// abort with reason none are acknowledgements (durable).
struct dm_reply {
  uint64_t dm = 0;
  dm_op op = dm_op::start;
  txn_id tid = 0;
  uint64_t req = 0;
  txn_reason reason = txn_reason::none;
  int64_t value = 0;
};

/// DM -> TM: the DM's in-doubt (prepared), active and finished (committed
/// or aborted, not forgotten yet) transactions. `recovered`: sent
/// by a restarted DM (paper: transManager.dmUp), which lost every active
/// transaction; otherwise the answer to a tm_query.
struct dm_up {
  uint64_t dm = 0;
  uint64_t epoch = 0;
  bool recovered = false;
  std::vector<txn_id> prepared;
  std::vector<txn_id> active;
  std::vector<txn_id> finished;
};

/// TM -> DM: a restarted TM (incarnation) asks for dm_up.
struct tm_query {
  uint64_t incarnation = 0;
};

// -- DM <-> LM ----------------------------------------------------------------

enum class lm_op : uint8_t { lock, release };

/// DM -> LM. lock: `tid` wants `key` (of DM `dm`) in `mode`; answered by
/// an lm_reply with `req`. release: every lock and wait of `tid` on
/// DM `dm`'s items ends (not answered). `epoch`: the DM's incarnation;
/// requests of an older incarnation than the LM knows are ignored.
struct lm_request {
  lm_op op = lm_op::lock;
  uint64_t dm = 0;
  uint64_t epoch = 0;
  txn_id tid = 0;
  uint64_t req = 0;
  std::string key;
  lock_mode mode = lock_mode::shared;
};

/// LM -> DM: lock request `req` granted (reason none) or refused.
struct lm_reply {
  txn_id tid = 0;
  uint64_t req = 0;
  std::string key;
  txn_reason reason = txn_reason::none;
};

/// LM -> DM: a (re)started LM, holding no locks, asks for the locks the DM
/// knows its transactions hold.
struct lm_hello {
  uint64_t incarnation = 0;
};

/// One lock a DM reports as held.
struct lock_claim {
  txn_id tid = 0;
  std::string key;
  lock_mode mode = lock_mode::shared;
};

/// DM -> LM: "my transactions hold exactly these locks": every other lock
/// and wait of DM `dm` ends. `lm_incarnation`: the hello it answers (0:
/// sent by a restarted DM, not an answer to any hello).
struct lm_reclaim {
  uint64_t dm = 0;
  uint64_t epoch = 0;
  uint64_t lm_incarnation = 0;
  std::vector<lock_claim> locks;
};

/// Loads an enum sent as its underlying byte, refusing unknown values.
template <class Enum>
auto enum_sync(Enum& x, const uint8_t& raw, Enum last) {
  return caf::meta::load_callback([&x, &raw, last]() -> caf::error {
    if (raw > static_cast<uint8_t>(last))
      return caf::sec::invalid_argument;
    x = static_cast<Enum>(raw);
    return caf::none;
  });
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tx_request& x) {
  auto k = static_cast<uint8_t>(x.kind);
  auto sync = enum_sync(x.kind, k, tx_kind::abort);
  return f(caf::meta::type_name("ftsr::tx_request"), x.client, x.req, k,
           x.tid, x.dm, x.key, x.value, x.token, x.for_update, sync);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tx_reply& x) {
  auto r = static_cast<uint8_t>(x.reason);
  auto sync = enum_sync(x.reason, r, txn_reason::not_ready);
  return f(caf::meta::type_name("ftsr::tx_reply"), x.client, x.req, x.tid, r,
           x.value, sync);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, dm_request& x) {
  auto o = static_cast<uint8_t>(x.op);
  auto sync = enum_sync(x.op, o, dm_op::forget);
  return f(caf::meta::type_name("ftsr::dm_request"), o, x.tid, x.req, x.key,
           x.value, x.for_update, sync);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, dm_reply& x) {
  auto o = static_cast<uint8_t>(x.op);
  auto r = static_cast<uint8_t>(x.reason);
  auto sync_op = enum_sync(x.op, o, dm_op::forget);
  auto sync_reason = enum_sync(x.reason, r, txn_reason::not_ready);
  return f(caf::meta::type_name("ftsr::dm_reply"), x.dm, o, x.tid, x.req, r,
           x.value, sync_op, sync_reason);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, dm_up& x) {
  return f(caf::meta::type_name("ftsr::dm_up"), x.dm, x.epoch, x.recovered,
           x.prepared, x.active, x.finished);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tm_query& x) {
  return f(caf::meta::type_name("ftsr::tm_query"), x.incarnation);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, lm_request& x) {
  auto o = static_cast<uint8_t>(x.op);
  auto m = static_cast<uint8_t>(x.mode);
  auto sync_op = enum_sync(x.op, o, lm_op::release);
  auto sync_mode = enum_sync(x.mode, m, lock_mode::exclusive);
  return f(caf::meta::type_name("ftsr::lm_request"), o, x.dm, x.epoch, x.tid,
           x.req, x.key, m, sync_op, sync_mode);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, lm_reply& x) {
  auto r = static_cast<uint8_t>(x.reason);
  auto sync = enum_sync(x.reason, r, txn_reason::not_ready);
  return f(caf::meta::type_name("ftsr::lm_reply"), x.tid, x.req, x.key, r,
           sync);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, lm_hello& x) {
  return f(caf::meta::type_name("ftsr::lm_hello"), x.incarnation);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, lock_claim& x) {
  auto m = static_cast<uint8_t>(x.mode);
  auto sync = enum_sync(x.mode, m, lock_mode::exclusive);
  return f(caf::meta::type_name("ftsr::lock_claim"), x.tid, x.key, m, sync);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, lm_reclaim& x) {
  return f(caf::meta::type_name("ftsr::lm_reclaim"), x.dm, x.epoch,
           x.lm_incarnation, x.locks);
}

/// Registers the message types above with CAF.
void add_txn_types(caf::actor_system_config& cfg);

// -- steps --------------------------------------------------------------------

/// Who a message goes to. Clients, DMs: by id; there is one TM and one LM.
struct txn_party {
  enum role_t : uint8_t { client, tm, dm, lm } role = tm;
  uint64_t id = 0;

  friend bool operator==(const txn_party& x, const txn_party& y) {
    return x.role == y.role && x.id == y.id;
  }

  friend bool operator<(const txn_party& x, const txn_party& y) {
    return x.role != y.role ? x.role < y.role : x.id < y.id;
  }
};

using txn_message
  = std::variant<tx_request, tx_reply, dm_request, dm_reply, dm_up, tm_query,
                 lm_request, lm_reply, lm_hello, lm_reclaim>;

struct txn_envelope {
  txn_party to;
  txn_message msg;
};

/// Records to make durable in one atomic write (stable_store::write).
struct log_write {
  uint64_t id = 0;
  write_batch batch;
};

/// What an input asks the caller to do: send `out` now; if `write` is set,
/// write its batch to the core's stable store and, once it is durable,
/// call the core's on_written(write->id) (which releases the answers that
/// waited for it and may ask for the next write). At most one write is
/// outstanding per core: records of inputs that arrive meanwhile are
/// grouped into the next one (group commit). A write that fails leaves
/// the core unable to keep its promises: stop it (fail-stop) and restart
/// it from what the store holds.
struct txn_step {
  std::vector<txn_envelope> out;
  std::optional<log_write> write;
};

} // namespace ftsr
