// The deterministic core of the transaction manager (FT-SR banking system,
// transManager): the two-phase-commit coordinator (presumed abort, group
// commit of decisions, retries until acknowledged, recovery from its stable
// store), no actors, clocks or sockets. The protocol is explained in
// docs/transactions.md.
//
// Contract: a transaction is answered "committed" only once its commit
// decision is durable; an aborted transaction is never logged (no decision
// means abort). An operation refused for a reason that ends the
// transaction (aborts_transaction) aborts it; unknown_item does not. A
// commit's token is written with its decision and never erased:
// committed(token) reports it, also after a restart.
//
// Time: on_tick(now) gives the caller's time (any monotonic unit); waits
// count from the last tick before they started.
//
// Not thread-safe: each object belongs to one actor (or one test).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "caf/expected.hpp"

#include "txn/log_batcher.hpp"
#include "txn/txn_protocol.hpp"

namespace ftsr {

struct tm_config {
  /// This incarnation: nonzero, larger after each restart, below 2^32
  /// (the high half of every transaction id it hands out).
  uint64_t incarnation = 1;
  /// The data managers (ids).
  std::vector<uint64_t> dms;
  /// Longest wait for a read or write (includes the lock wait: keep it
  /// above the lock manager's lock_timeout).
  uint64_t op_timeout = 5000;
  /// Longest prepare round.
  uint64_t prepare_timeout = 2000;
  /// Interval between re-sent commits, aborts and queries.
  uint64_t retry_interval = 200;
};

class tm_core {
public:
  enum class phase : uint8_t {
    active,     // reads and writes
    preparing,  // waiting for votes
    deciding,   // commit decision being written
    committing, // decision durable; waiting for acknowledgements
    aborting,   // waiting for acknowledgements
  };

  explicit tm_core(tm_config cfg);

  /// First input: the records of the TM's stable store (any order).
  /// Errors: errc::corrupted naming a record that does not parse (the core
  /// stays unrecovered and answers not_ready); errc::invalid_argument if
  /// called twice or if the incarnation is 0 or does not fit 32 bits.
  caf::expected<txn_step> recover(
    const std::vector<std::pair<std::string, std::string>>& records);

  txn_step on_request(const tx_request& m);

  txn_step on_dm_reply(const dm_reply& m);

  txn_step on_dm_up(const dm_up& m);

  /// Write `id` (from a step) is durable. Unknown ids change nothing.
  txn_step on_written(uint64_t id);

  txn_step on_tick(uint64_t now);

  // -- observers ---------------------------------------------------------------

  bool recovered() const noexcept {
    return recovered_;
  }

  std::optional<phase> phase_of(txn_id tid) const;

  /// Participants of `tid` (empty if unknown).
  std::vector<uint64_t> participants(txn_id tid) const;

  /// Transactions not finished yet (including aborts of unknown ones that
  /// DMs reported).
  size_t transactions() const noexcept {
    return txns_.size();
  }

  /// True if a commit carrying `token` was decided (its decision is
  /// logged, or being written in the current batch).
  bool committed(uint64_t token) const {
    return token != 0 && tokens_.count(token) != 0;
  }

  /// DMs that did not answer the recovery query yet.
  std::vector<uint64_t> unqueried() const;

private:
  struct txn {
    phase ph = phase::active;
    std::optional<uint64_t> client;
    std::set<uint64_t> participants;
    std::optional<tx_request> pending; // client request being served
    uint64_t op_req = 0;               // its dm_request id
    uint64_t since = 0;                // start of the op or prepare round
    std::set<uint64_t> answered;       // votes, or acknowledgements
    uint64_t batch = 0;                // the decision's write
    uint64_t next_retry = 0;
    uint64_t token = 0;                // the client's, from its commit
  };

  bool known_dm(uint64_t dm) const;

  void answer(const tx_request& m, txn_reason why, txn_step& st,
              int64_t value = 0) const;

  void send(uint64_t dm, dm_op op, txn_id tid, txn_step& st,
            uint64_t req = 0) const;

  void operation(txn_id tid, txn& t, const tx_request& m, txn_step& st);
  void commit(txn_id tid, txn& t, const tx_request& m, txn_step& st);

  /// Aborts `t`, answering its pending client request with `why`.
  void abort(txn_id tid, txn& t, txn_reason why, txn_step& st);

  /// Sends the decision to the participants that did not acknowledge it.
  void fan_out(txn_id tid, txn& t, txn_step& st);

  /// All acknowledgements are in: forget `tid` everywhere.
  void finish(txn_id tid, txn& t, txn_step& st);

  tm_config cfg_;
  bool recovered_ = false;
  uint64_t now_ = 0;
  uint64_t counter_ = 0;
  uint64_t next_req_ = 0;
  std::map<txn_id, txn> txns_;
  std::set<uint64_t> tokens_;    // of decided commits
  std::set<uint64_t> unqueried_; // DMs to ask again (tm_query)
  uint64_t next_query_ = 0;
  log_batcher log_;
};

const char* to_string(tm_core::phase x);

} // namespace ftsr
