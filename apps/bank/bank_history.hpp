// The history of a bank load or chaos run and its checker.
//
// A history is one JSON object:
//   {"initial": {"ACCOUNT": BALANCE, ...}, "final": {...},
//    "ops": [{"from": "A", "to": "B", "amount": 5,
//             "outcome": "ok" | "fail" | "unknown"}, ...]}
// (balances and amounts are integers, cents). `ok`: the client got the
// commit acknowledgement; `fail`: a definite abort; `unknown`: no answer.
//
// check() decides whether the final balances are explained by the ops:
// money conserved, no negative balance, every ok transfer applied exactly
// once, every fail transfer not applied, and some subset of the unknown
// ones applied once each (searched exhaustively, with a step budget; an
// exhausted budget is reported, never taken for a pass). Pure functions,
// thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "caf/expected.hpp"

namespace ftsr::bank {

using balances = std::map<std::string, int64_t>;

struct history_op {
  std::string from;
  std::string to;
  int64_t amount = 0;
  std::string outcome; // "ok", "fail" or "unknown"
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
  /// Unknown transfers the explanation applies.
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
