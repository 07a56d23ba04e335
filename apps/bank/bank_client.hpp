// The bank's client side: a client node of the cluster (node_options with
// no name) that finds the roles by name and runs the bank's operations
// through the transaction manager. Used by every ftsr-bank subcommand.
//
// Accounts live on one of the two data managers (dm_of: a hash of the
// name). Amounts and balances are integer cents. Errors are values with
// a message for the user (errc::invalid_argument for bad input,
// errc::node_unavailable for an unreachable cluster, errc::timeout when
// no answer came within the bound). Not thread-safe: one per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "caf/expected.hpp"

#include "actors/capability.hpp"
#include "actors/node.hpp"
#include "apps/bank/bank_history.hpp"

namespace ftsr::bank {

/// Data managers of the bank (ids 1..dm_count).
constexpr uint64_t dm_count = 2;

/// The data manager holding `account`.
uint64_t dm_of(const std::string& account);

/// Parses a positive (or, with allow_zero, non-negative) integer amount.
/// Errors: invalid_argument "amount 'x' is not a positive integer ...".
caf::expected<int64_t> parse_amount(const std::string& text,
                                    bool allow_zero = false);

/// A random nonzero transaction token.
uint64_t new_token();

/// Outcome of one operation as the TM answered it ("ok" or a reason).
struct answer {
  std::string outcome;
  int64_t value = 0;
};

class client {
public:
  /// Starts a client node of `cluster_file` and waits (at most `bound`)
  /// until it sees every member up and (with `need_bank`) knows the
  /// transaction manager.
  static caf::expected<std::unique_ptr<client>>
  connect(const std::string& cluster_file,
          std::chrono::milliseconds bound = std::chrono::seconds(10),
          bool need_bank = true);

  node& cluster() {
    return *node_;
  }

  /// The current capability of the TM (or DM `id`); nullopt if unknown.
  std::optional<capability_ref> tm();
  std::optional<capability_ref> dm(uint64_t id);

  /// One call to the TM; timeout: no answer within `bound`.
  caf::expected<answer> transfer(uint64_t token, const std::string& from,
                                 const std::string& to, int64_t amount,
                                 std::chrono::milliseconds bound);
  caf::expected<answer> create(uint64_t token, const std::string& account,
                               int64_t amount, std::chrono::milliseconds bound);
  caf::expected<answer> read(const std::string& account,
                             std::chrono::milliseconds bound);
  /// What became of the operation carrying `token`: outcome "committed",
  /// "running" or "not_committed" (tm_status in txn_actors.hpp).
  caf::expected<answer> status(uint64_t token, std::chrono::milliseconds bound);

  /// Every account's committed balance (read at each DM; consistent only
  /// when no transfer runs).
  caf::expected<balances> audit(std::chrono::milliseconds bound
                                = std::chrono::seconds(10));

  /// Waits until every member is up, every role answers (a read through
  /// the TM at each DM) and every stable store has `replicas` replicas
  /// that answer and serve. Error: timeout naming what is missing.
  caf::error await_serving(std::chrono::milliseconds bound,
                           size_t replicas = 2);

private:
  explicit client(std::unique_ptr<node> n) : node_(std::move(n)) {
  }

  std::unique_ptr<node> node_;
};

} // namespace ftsr::bank
