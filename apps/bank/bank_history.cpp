// Bank histories and their checker; see bank_history.hpp.
#include "apps/bank/bank_history.hpp"

#include <sstream>

#include <nlohmann/json.hpp>

#include "actors/errors.hpp"

namespace ftsr::bank {

namespace {

nlohmann::json to_json(const balances& b) {
  auto obj = nlohmann::json::object();
  for (auto& [k, v] : b)
    obj[k] = v;
  return obj;
}

caf::expected<balances> balances_from(const nlohmann::json& j,
                                      const char* what) {
  if (!j.is_object())
    return make_error(errc::invalid_argument,
                      std::string{"history: \""} + what + "\" is no object");
  balances b;
  for (auto& [k, v] : j.items()) {
    if (!v.is_number_integer())
      return make_error(errc::invalid_argument,
                        std::string{"history: "} + what + " balance of '" + k
                          + "' is no integer");
    b[k] = v.get<int64_t>();
  }
  return b;
}

int64_t total(const balances& b) {
  int64_t sum = 0;
  for (auto& [k, v] : b)
    sum += v;
  return sum;
}

/// Depth-first search for a subset of `unknown` whose effects equal
/// `need` (per account); counts steps against `budget`.
bool explain(const std::vector<const history_op*>& unknown, size_t i,
             std::map<std::string, int64_t>& need, size_t& applied,
             uint64_t& budget) {
  if (budget == 0)
    return false;
  --budget;
  if (i == unknown.size()) {
    for (auto& [k, v] : need)
      if (v != 0)
        return false;
    return true;
  }
  if (explain(unknown, i + 1, need, applied, budget))
    return true;
  auto& op = *unknown[i];
  need[op.from] += op.amount;
  need[op.to] -= op.amount;
  ++applied;
  if (explain(unknown, i + 1, need, applied, budget))
    return true;
  --applied;
  need[op.from] -= op.amount;
  need[op.to] += op.amount;
  return false;
}

} // namespace

std::string to_json(const history& h) {
  nlohmann::json j;
  j["initial"] = to_json(h.initial);
  j["final"] = to_json(h.final_);
  j["ops"] = nlohmann::json::array();
  for (auto& op : h.ops) {
    nlohmann::json o{{"from", op.from},
                     {"to", op.to},
                     {"amount", op.amount},
                     {"outcome", op.outcome}};
    if (!op.settled.empty())
      o["settled"] = op.settled;
    j["ops"].push_back(std::move(o));
  }
  return j.dump(1);
}

caf::expected<history> history_from_json(const std::string& text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return make_error(errc::invalid_argument, "history: not a JSON object");
  if (!j.contains("initial") || !j.contains("final") || !j.contains("ops")
      || !j["ops"].is_array())
    return make_error(errc::invalid_argument,
                      "history: needs \"initial\", \"final\" and \"ops\"");
  history h;
  auto initial = balances_from(j["initial"], "initial");
  if (!initial)
    return initial.error();
  auto fin = balances_from(j["final"], "final");
  if (!fin)
    return fin.error();
  h.initial = std::move(*initial);
  h.final_ = std::move(*fin);
  size_t n = 0;
  for (auto& o : j["ops"]) {
    ++n;
    auto bad = [n](const std::string& why) {
      return make_error(errc::invalid_argument, "history: op " + std::to_string(n)
                                                  + ": " + why);
    };
    if (!o.is_object() || !o.contains("from") || !o["from"].is_string()
        || !o.contains("to") || !o["to"].is_string() || !o.contains("amount")
        || !o["amount"].is_number_integer() || !o.contains("outcome")
        || !o["outcome"].is_string())
      return bad("needs from, to (strings), amount (integer), outcome");
    history_op op{o["from"], o["to"], o["amount"].get<int64_t>(), o["outcome"]};
    if (op.outcome != "ok" && op.outcome != "fail" && op.outcome != "unknown")
      return bad("outcome '" + op.outcome + "' is not ok, fail or unknown");
    if (o.contains("settled")) {
      if (!o["settled"].is_string())
        return bad("settled must be a string");
      op.settled = o["settled"];
      if (op.outcome != "unknown")
        return bad("only an unknown op can be settled");
      if (op.settled != "committed" && op.settled != "not_committed")
        return bad("settled '" + op.settled
                   + "' is not committed or not_committed");
    }
    h.ops.push_back(std::move(op));
  }
  return h;
}

verdict check(const history& h) {
  verdict v;
  v.initial_total = total(h.initial);
  v.final_total = total(h.final_);
  v.conserved = v.initial_total == v.final_total;
  if (!v.conserved)
    v.problems.push_back("total changed from " + std::to_string(v.initial_total)
                         + " to " + std::to_string(v.final_total));
  v.no_negative = true;
  for (auto& [k, b] : h.final_)
    if (b < 0) {
      v.no_negative = false;
      v.problems.push_back("account " + k + " is negative: "
                           + std::to_string(b));
    }
  // need = final - initial - effects of the ok transfers; the unknown ones
  // must explain the rest exactly.
  std::map<std::string, int64_t> need;
  for (auto& [k, b] : h.final_)
    need[k] += b;
  for (auto& [k, b] : h.initial)
    need[k] -= b;
  std::vector<const history_op*> unknown;
  for (auto& op : h.ops) {
    if (op.outcome == "ok") {
      ++v.ok;
      need[op.from] += op.amount;
      need[op.to] -= op.amount;
    } else if (op.outcome == "fail") {
      ++v.fail;
    } else {
      ++v.unknown;
      if (op.settled == "committed") {
        ++v.settled_committed;
        need[op.from] += op.amount;
        need[op.to] -= op.amount;
      } else if (op.settled == "not_committed") {
        ++v.settled_not_committed;
      } else {
        unknown.push_back(&op);
      }
    }
  }
  uint64_t budget = 50'000'000;
  size_t applied = 0;
  v.explained = explain(unknown, 0, need, applied, budget);
  if (v.explained) {
    v.unknown_applied = v.settled_committed + applied;
  } else if (budget == 0) {
    v.problems.push_back("undecided: too many unknown transfers ("
                         + std::to_string(unknown.size()) + ") to search");
  } else {
    std::string diff;
    for (auto& [k, d] : need)
      if (d != 0)
        diff += " " + k + (d > 0 ? "+" : "") + std::to_string(d);
    v.problems.push_back(
      "balances are not explained by the ok and settled committed transfers "
      "(once each) plus any subset of the unsettled unknown ones; "
      "unexplained after those transfers:" + diff);
  }
  return v;
}

std::string to_string(const verdict& v) {
  std::ostringstream os;
  auto yes = [](bool b) { return b ? "yes" : "NO"; };
  os << "money conserved:        " << yes(v.conserved) << " (initial "
     << v.initial_total << ", final " << v.final_total << ")\n"
     << "no negative balance:    " << yes(v.no_negative) << "\n"
     << "transfers explained:    " << yes(v.explained) << " (" << v.ok
     << " ok applied once, " << v.fail << " fail not applied, " << v.unknown
     << " unknown of which " << v.unknown_applied << " applied)\n"
     << "unknown settled:        " << v.settled_committed
     << " committed (applied once), " << v.settled_not_committed
     << " not committed (not applied), "
     << v.unknown - v.settled_committed - v.settled_not_committed
     << " unsettled\n";
  for (auto& p : v.problems)
    os << "problem: " << p << "\n";
  os << "verdict: " << (v.pass() ? "PASS" : "FAIL") << "\n";
  return os.str();
}

} // namespace ftsr::bank
