// The deterministic core of a data manager (FT-SR banking system,
// dataManager, Appendix B): transactional access to the items on one
// stable store (two versions per item, a status table on stable storage),
// no actors, clocks or sockets. Items, the status table, durability and
// recovery are explained in docs/transactions.md.
//
// Durability: steps name the records to write (txn_step::write, grouped
// by log_batcher); a prepare vote, a commit or abort acknowledgement and
// the lock release after them are sent only once their records are
// durable. recover() takes every record this core ever asked to write.
//
// Operations (dm_request from the TM, answered by dm_reply):
//   start    unknown -> active; active -> ok again; participant_failed
//            for a transaction of a TM incarnation older than the latest
//            that sent a tm_query (a late message of a failed TM).
//   read     active, shared lock (exclusive with for_update) -> value
//            (unknown_item if absent).
//   write    active, exclusive lock -> ok.
//   prepare  active -> prepared (durable vote); prepared -> ok again;
//            unknown -> unknown_transaction (a no vote: lost in a crash).
//   commit   prepared -> committed (durable); committed -> ok again;
//            active -> not_prepared; unknown -> unknown_transaction.
//   abort    active -> aborted at once; prepared -> aborted (durable);
//            aborted -> ok again; committed -> already_committed;
//            unknown -> unknown_transaction (nothing to undo).
//   forget   committed/aborted -> entry and record dropped once its
//            outcome is durable, not answered; refused with `unfinished`
//            for active and prepared entries.
// A refused request changes nothing.
//
// Not thread-safe: each object belongs to one actor (or one test).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "caf/expected.hpp"

#include "txn/log_batcher.hpp"
#include "txn/txn_protocol.hpp"

namespace ftsr {

struct dm_config {
  /// This DM's id (its address for the TM and the LM).
  uint64_t id = 1;
  /// This incarnation: larger after each restart (e.g. a counter the
  /// caller keeps durably, or the node's incarnation).
  uint64_t epoch = 1;
};

class dm_core {
public:
  enum class status : uint8_t { active, prepared, committed, aborted };

  explicit dm_core(dm_config cfg);

  /// A stable-store record that creates item `key` with `value` (to seed a
  /// fresh store before the first recover()).
  static std::pair<std::string, std::string> item_record(const std::string& key,
                                                         int64_t value);

  /// First input: the records of this DM's stable store (any order).
  /// Errors: errc::corrupted naming a record that does not parse (the core
  /// stays unrecovered and answers nothing but not_ready);
  /// errc::invalid_argument if called twice.
  caf::expected<txn_step> recover(
    const std::vector<std::pair<std::string, std::string>>& records);

  txn_step on_request(const dm_request& m);

  txn_step on_lock_reply(const lm_reply& m);

  txn_step on_lm_hello(const lm_hello& m);

  txn_step on_query(const tm_query& m);

  /// Write `id` (from a step) is durable. Unknown ids change nothing.
  txn_step on_written(uint64_t id);

  // -- observers ---------------------------------------------------------------

  uint64_t id() const noexcept {
    return cfg_.id;
  }

  bool recovered() const noexcept {
    return recovered_;
  }

  /// The committed value of `key`, if it exists.
  std::optional<int64_t> value(const std::string& key) const;

  /// Every existing item's committed value.
  std::map<std::string, int64_t> values() const;

  std::optional<status> status_of(txn_id tid) const;

  /// Entries in the status table.
  size_t transactions() const noexcept {
    return txns_.size();
  }

  /// Locks the transaction holds here (as far as this DM knows).
  std::map<std::string, lock_mode> locks_of(txn_id tid) const;

private:
  struct item {
    bool has[2] = {false, false};
    int64_t v[2] = {0, 0};
    uint8_t cur = 0;
  };

  struct pending_op {
    dm_request req;
    uint64_t lock_req = 0;
    lock_mode mode = lock_mode::shared;
  };

  struct entry {
    status st = status::active;
    std::map<std::string, lock_mode> locks;
    std::map<std::string, int64_t> writes;
    std::optional<pending_op> pending;
    uint64_t batch = 0; // write carrying its latest status record
    bool stored = false; // a "txn/" record exists or is being written
    bool forget = false; // drop once its latest record is durable
  };

  void reply(const dm_request& m, txn_reason why, txn_step& st,
             int64_t value = 0) const;

  /// Answers `m` once the entry's latest record is durable.
  void reply_when_durable(const entry& e, const dm_request& m, txn_step& st);

  /// Why an operation that needs an active entry is refused.
  static txn_reason refusal(status s);

  void start(const dm_request& m, txn_step& st);
  void access(const dm_request& m, txn_step& st);
  void perform(entry& e, const dm_request& m, txn_step& st);
  void prepare(const dm_request& m, txn_step& st);
  void commit(const dm_request& m, txn_step& st);
  void abort(const dm_request& m, txn_step& st);
  void forget(const dm_request& m, txn_step& st);
  void drop(std::map<txn_id, entry>::iterator i);

  /// Writes the entry's status record; returns the write's id.
  uint64_t store(txn_id tid, entry& e);
  void store_item(const std::string& key);

  /// Releases the transaction's locks once its latest record is durable.
  void release(txn_id tid, const entry& e, txn_step& st);

  /// Locks of transactions whose locks the LM must keep.
  std::vector<lock_claim> claims() const;

  lm_reclaim reclaim(uint64_t lm_incarnation) const;
  dm_up report(bool recovered) const;

  dm_config cfg_;
  bool recovered_ = false;
  uint64_t lm_incarnation_ = 0;
  uint64_t tm_incarnation_ = 0; // latest that queried us
  uint64_t next_lock_req_ = 0;
  std::map<std::string, item> items_;
  std::map<txn_id, entry> txns_;
  log_batcher log_;
};

const char* to_string(dm_core::status x);

} // namespace ftsr
