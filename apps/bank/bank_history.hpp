// The history of a bank load or chaos run and its checker.
//
// A history is one JSON object:
//   {"initial": {"ACCOUNT": BALANCE, ...}, "final": {...},
//    "ops": [{"from": "A", "to": "B", "amount": 5,
//             "outcome": "ok" | "fail" | "unknown",
//             "settled": "committed" | "not_committed"}, ...]}
// (balances and amounts are integers, cents). `ok`: the client got the
// commit acknowledgement; `fail`: a definite abort; `unknown`: no answer.
// `settled` (unknown ops only, optional): what the transaction manager
// said of the op's token after the run, at quiescence (tm_status in
// txn_actors.hpp): its commit decision was logged, or it never will be.
//
// check() decides whether the final balances are explained by the ops:
// money conserved, no negative balance, every ok transfer applied exactly
// once, every fail transfer not applied, every unknown one settled as
// committed applied exactly once and every one settled as not committed
// not applied, and some subset of the unsettled unknown ones applied once
// each (searched exhaustively, with a step budget; an exhausted budget is
// reported, never taken for a pass). Pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "caf/expected.hpp"

namespace ftsr::bank {

using balances = std::map<std::string, int64_t>;

struct history_op {
  history_op() = default;
  history_op(std::string from, std::string to, int64_t amount,
             std::string outcome, std::string settled = {}, uint64_t token = 0)
    : from(std::move(from)),
      to(std::move(to)),
      amount(amount),
      outcome(std::move(outcome)),
      settled(std::move(settled)),
      token(token) {
  }

  std::string from;
  std::string to;
  int64_t amount = 0;
  std::string outcome; // "ok", "fail" or "unknown"
  /// Unknown ops: "committed", "not_committed", or empty (unsettled).
  std::string settled;
  /// The client's token of the transfer (in memory only: to settle it).
  uint64_t token = 0;
};

struct history {
  balances initial;
  balances final_;
  std::vector<history_op> ops;
};

std::string to_json(const history& h);

/// Errors: errc::invalid_argument naming what does not parse.
caf::expected<history> history_from_json(const std::string& text);

struct verdict {
  bool conserved = false;
  bool no_negative = false;
  /// ok applied once, fail not applied, unknown at most once.
  bool explained = false;
  int64_t initial_total = 0;
  int64_t final_total = 0;
  size_t ok = 0;
  size_t fail = 0;
  size_t unknown = 0;
  /// Unknown transfers settled as committed / as not committed.
  size_t settled_committed = 0;
  size_t settled_not_committed = 0;
  /// Unknown transfers the explanation applies (the settled committed
  /// ones included).
  size_t unknown_applied = 0;
  /// Problems found, one line each.
  std::vector<std::string> problems;

  bool pass() const {
    return conserved && no_negative && explained;
  }
};

verdict check(const history& h);

/// The verdict as printed by `ftsr-bank check` (ends with "verdict: PASS"
/// or "verdict: FAIL").
std::string to_string(const verdict& v);

} // namespace ftsr::bank
