// The two-phase-commit coordinator; see tm_core.hpp.
#include "txn/tm_core.hpp"

#include <algorithm>
#include <cstdio>
#include <string_view>

#include <boost/serialization/vector.hpp>

#include "actors/errors.hpp"
#include "persistence/snapshot.hpp"

namespace ftsr {

namespace {

constexpr std::string_view decision_prefix = "decision/";
constexpr std::string_view token_prefix = "token/";

std::string decision_key(txn_id tid) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%020llu",
                static_cast<unsigned long long>(tid));
  return std::string{decision_prefix} + buf;
}

/// The abort reason for a refusal by a DM: its own if it ends
/// transactions, otherwise the DM lost the transaction (a restart, a
/// restarted lock manager) or disagrees with us: it failed us.
txn_reason ending(txn_reason why) {
  return aborts_transaction(why) ? why : txn_reason::participant_failed;
}

} // namespace

const char* to_string(tm_core::phase x) {
  switch (x) {
    case tm_core::phase::active:
      return "active";
    case tm_core::phase::preparing:
      return "preparing";
    case tm_core::phase::deciding:
      return "deciding";
    case tm_core::phase::committing:
      return "committing";
    case tm_core::phase::aborting:
      return "aborting";
  }
  return "?";
}

tm_core::tm_core(tm_config cfg) : cfg_(std::move(cfg)) {
  // nop
}

bool tm_core::known_dm(uint64_t dm) const {
  return std::find(cfg_.dms.begin(), cfg_.dms.end(), dm) != cfg_.dms.end();
}

caf::expected<txn_step> tm_core::recover(
  const std::vector<std::pair<std::string, std::string>>& records) {
  if (recovered_)
    return make_error(errc::invalid_argument, "tm: recovered already");
  if (cfg_.incarnation == 0 || cfg_.incarnation >= (uint64_t{1} << 32))
    return make_error(errc::invalid_argument,
                      "tm: incarnation " + std::to_string(cfg_.incarnation)
                        + " is not in [1, 2^32)");
  std::map<txn_id, txn> decided;
  std::set<uint64_t> tokens;
  for (auto& [key, value] : records) {
    char* end = nullptr;
    if (key.compare(0, token_prefix.size(), token_prefix) == 0) {
      auto token = std::strtoull(key.c_str() + token_prefix.size(), &end, 10);
      if (token == 0 || *end != '\0')
        return make_error(errc::corrupted,
                          "tm: record '" + key + "' is no token");
      tokens.insert(token);
      continue;
    }
    auto tid = key.compare(0, decision_prefix.size(), decision_prefix) == 0
                 ? std::strtoull(key.c_str() + decision_prefix.size(), &end,
                                 10)
                 : 0;
    auto dms = from_snapshot<std::vector<uint64_t>>(value);
    if (tid == 0 || *end != '\0' || !dms || dms->empty()
        || !std::all_of(dms->begin(), dms->end(),
                        [this](uint64_t dm) { return known_dm(dm); }))
      return make_error(errc::corrupted,
                        "tm: record '" + key + "' is no commit decision");
    auto& t = decided[tid];
    t.ph = phase::committing;
    t.participants.insert(dms->begin(), dms->end());
  }
  txns_ = std::move(decided);
  tokens_ = std::move(tokens);
  recovered_ = true;
  txn_step st;
  for (auto& [tid, t] : txns_)
    fan_out(tid, t, st);
  for (auto dm : cfg_.dms) {
    unqueried_.insert(dm);
    st.out.push_back({{txn_party::dm, dm}, tm_query{cfg_.incarnation}});
  }
  next_query_ = now_ + cfg_.retry_interval;
  return st;
}

void tm_core::answer(const tx_request& m, txn_reason why, txn_step& st,
                     int64_t value) const {
  st.out.push_back({{txn_party::client, m.client},
                    tx_reply{m.client, m.req, m.tid, why, value}});
}

void tm_core::send(uint64_t dm, dm_op op, txn_id tid, txn_step& st,
                   uint64_t req) const {
  st.out.push_back({{txn_party::dm, dm}, dm_request{op, tid, req, {}, 0}});
}

txn_step tm_core::on_request(const tx_request& m) {
  txn_step st;
  if (!recovered_) {
    answer(m, txn_reason::not_ready, st);
    return st;
  }
  if (m.kind == tx_kind::begin) {
    auto tid = (cfg_.incarnation << 32) | ++counter_;
    auto& t = txns_[tid];
    t.client = m.client;
    st.out.push_back({{txn_party::client, m.client},
                      tx_reply{m.client, m.req, tid, txn_reason::none, 0}});
    return st;
  }
  auto i = txns_.find(m.tid);
  if (i == txns_.end()) {
    answer(m, txn_reason::unknown_transaction, st);
    return st;
  }
  auto& t = i->second;
  if (t.client != m.client) {
    // Another client's transaction, or one the TM recovered.
    answer(m, t.client ? txn_reason::bad_request : txn_reason::not_active, st);
    return st;
  }
  if (m.kind == tx_kind::abort && t.ph == phase::aborting) {
    answer(m, txn_reason::none, st); // aborted already
    return st;
  }
  if (t.ph != phase::active) {
    answer(m, txn_reason::not_active, st);
    return st;
  }
  if (t.pending && m.kind != tx_kind::abort) {
    answer(m, txn_reason::busy, st); // one operation at a time
    return st;
  }
  switch (m.kind) {
    case tx_kind::read:
    case tx_kind::write:
      operation(m.tid, t, m, st);
      break;
    case tx_kind::commit:
      commit(m.tid, t, m, st);
      break;
    case tx_kind::abort:
      abort(m.tid, t, txn_reason::aborted_by_client, st);
      answer(m, txn_reason::none, st);
      break;
    case tx_kind::begin:
      break; // handled above
  }
  log_.flush(st);
  return st;
}

void tm_core::operation(txn_id tid, txn& t, const tx_request& m,
                        txn_step& st) {
  if (!known_dm(m.dm) || m.key.empty()) {
    answer(m, txn_reason::bad_request, st);
    return;
  }
  if (t.participants.insert(m.dm).second)
    send(m.dm, dm_op::start, tid, st);
  t.op_req = ++next_req_;
  t.pending = m;
  t.since = now_;
  st.out.push_back({{txn_party::dm, m.dm},
                    dm_request{m.kind == tx_kind::read ? dm_op::read
                                                       : dm_op::write,
                               tid, t.op_req, m.key, m.value,
                               m.kind == tx_kind::read && m.for_update}});
}

void tm_core::commit(txn_id tid, txn& t, const tx_request& m, txn_step& st) {
  if (t.participants.empty()) {
    answer(m, txn_reason::none, st); // nothing to commit anywhere
    txns_.erase(tid);
    return;
  }
  t.ph = phase::preparing;
  t.token = m.token;
  t.pending = m;
  t.since = now_;
  t.answered.clear();
  for (auto dm : t.participants)
    send(dm, dm_op::prepare, tid, st);
}

void tm_core::abort(txn_id tid, txn& t, txn_reason why, txn_step& st) {
  if (t.pending) {
    answer(*t.pending, why, st);
    t.pending.reset();
  }
  t.ph = phase::aborting;
  t.answered.clear();
  if (t.participants.empty()) {
    txns_.erase(tid);
    return;
  }
  fan_out(tid, t, st);
}

void tm_core::fan_out(txn_id tid, txn& t, txn_step& st) {
  auto op = t.ph == phase::committing ? dm_op::commit : dm_op::abort;
  for (auto dm : t.participants)
    if (t.answered.count(dm) == 0)
      send(dm, op, tid, st);
  t.next_retry = now_ + cfg_.retry_interval;
}

void tm_core::finish(txn_id tid, txn& t, txn_step& st) {
  for (auto dm : t.participants)
    send(dm, dm_op::forget, tid, st);
  if (t.ph == phase::committing)
    log_.erase(decision_key(tid));
  txns_.erase(tid);
  log_.flush(st);
}

txn_step tm_core::on_dm_reply(const dm_reply& m) {
  txn_step st;
  auto i = txns_.find(m.tid);
  if (i == txns_.end() || i->second.participants.count(m.dm) == 0)
    return st; // late: the transaction ended
  auto& t = i->second;
  switch (m.op) {
    case dm_op::start:
      if (m.reason != txn_reason::none && t.ph == phase::active)
        abort(m.tid, t, ending(m.reason), st);
      break;
    case dm_op::read:
    case dm_op::write:
      if (t.ph != phase::active || !t.pending || m.req != t.op_req)
        break;
      if (m.reason == txn_reason::none || m.reason == txn_reason::unknown_item
          || m.reason == txn_reason::bad_request) {
        answer(*t.pending, m.reason, st, m.value);
        t.pending.reset();
      } else {
        abort(m.tid, t, ending(m.reason), st);
      }
      break;
    case dm_op::prepare:
      if (t.ph != phase::preparing)
        break;
      if (m.reason != txn_reason::none) {
        abort(m.tid, t, ending(m.reason), st);
        break;
      }
      t.answered.insert(m.dm);
      if (t.answered.size() == t.participants.size()) {
        std::vector<uint64_t> dms(t.participants.begin(),
                                  t.participants.end());
        t.ph = phase::deciding;
        t.batch = log_.put(decision_key(m.tid), to_snapshot(dms));
        if (t.token != 0 && tokens_.insert(t.token).second)
          log_.put(std::string{token_prefix} + std::to_string(t.token), "1");
      }
      break;
    case dm_op::commit:
      // unknown_transaction: it committed and forgot before our restart.
      if (t.ph == phase::committing
          && (m.reason == txn_reason::none
              || m.reason == txn_reason::unknown_transaction))
        t.answered.insert(m.dm);
      if (t.ph == phase::committing
          && t.answered.size() == t.participants.size())
        finish(m.tid, t, st);
      break;
    case dm_op::abort:
      // already_committed only for a tid a DM reported that the TM did not
      // know: a stale report of a transaction that committed and was
      // forgotten here; nothing to undo either way.
      if (t.ph == phase::aborting
          && (m.reason == txn_reason::none
              || m.reason == txn_reason::unknown_transaction
              || m.reason == txn_reason::already_aborted
              || (m.reason == txn_reason::already_committed && !t.client)))
        t.answered.insert(m.dm);
      if (t.ph == phase::aborting
          && t.answered.size() == t.participants.size())
        finish(m.tid, t, st);
      break;
    case dm_op::forget:
      break; // refused: the DM keeps the entry, nothing to do here
  }
  log_.flush(st);
  return st;
}

txn_step tm_core::on_dm_up(const dm_up& m) {
  txn_step st;
  if (!recovered_ || !known_dm(m.dm))
    return st;
  unqueried_.erase(m.dm);
  std::vector<txn_id> lost;
  for (auto& [tid, t] : txns_) {
    if (t.participants.count(m.dm) == 0)
      continue;
    switch (t.ph) {
      case phase::active:
        if (m.recovered)
          lost.push_back(tid);
        break;
      case phase::preparing:
        if (t.answered.count(m.dm) == 0)
          send(m.dm, dm_op::prepare, tid, st);
        break;
      case phase::deciding:
        break; // commit follows once the decision is durable
      case phase::committing:
      case phase::aborting:
        if (t.answered.count(m.dm) == 0)
          send(m.dm, t.ph == phase::committing ? dm_op::commit : dm_op::abort,
               tid, st);
        break;
    }
  }
  for (auto tid : lost)
    abort(tid, txns_[tid], txn_reason::participant_failed, st);
  // In doubt or active there, unknown here: begun by a failed incarnation
  // of the TM without a logged commit decision (or finished and reported
  // late). Abort until acknowledged.
  auto orphan = [&](txn_id tid) {
    auto [i, fresh] = txns_.try_emplace(tid);
    auto& t = i->second;
    if (fresh)
      t.ph = phase::aborting;
    else if (t.ph != phase::aborting || t.participants.count(m.dm) > 0)
      return; // known here: handled above
    // Another DM reported the same orphan: abort it here as well.
    t.participants.insert(m.dm);
    send(m.dm, dm_op::abort, tid, st);
    t.next_retry = now_ + cfg_.retry_interval;
  };
  for (auto tid : m.prepared)
    orphan(tid);
  for (auto tid : m.active)
    orphan(tid);
  // Finished there, unknown here: every acknowledgement came in (or it
  // aborted) before the DM's forget was lost with it.
  for (auto tid : m.finished) {
    if (txns_.count(tid) == 0)
      send(m.dm, dm_op::forget, tid, st);
    else
      orphan(tid); // an abort under way elsewhere: forget it here too
  }
  return st;
}

txn_step tm_core::on_written(uint64_t id) {
  txn_step st;
  if (!log_.written(id, st))
    return st;
  for (auto& [tid, t] : txns_) {
    if (t.ph != phase::deciding || !log_.durable(t.batch))
      continue;
    t.ph = phase::committing;
    t.answered.clear();
    if (t.pending) {
      answer(*t.pending, txn_reason::none, st);
      t.pending.reset();
    }
    fan_out(tid, t, st);
  }
  return st;
}

txn_step tm_core::on_tick(uint64_t now) {
  txn_step st;
  now_ = std::max(now_, now);
  std::vector<txn_id> expired;
  for (auto& [tid, t] : txns_) {
    switch (t.ph) {
      case phase::active:
        if (t.pending && now_ - t.since >= cfg_.op_timeout)
          expired.push_back(tid);
        break;
      case phase::preparing:
        if (now_ - t.since >= cfg_.prepare_timeout)
          expired.push_back(tid);
        break;
      case phase::deciding:
        break;
      case phase::committing:
      case phase::aborting:
        if (now_ >= t.next_retry)
          fan_out(tid, t, st);
        break;
    }
  }
  for (auto tid : expired)
    abort(tid, txns_[tid], txn_reason::participant_failed, st);
  if (recovered_ && !unqueried_.empty() && now_ >= next_query_) {
    for (auto dm : unqueried_)
      st.out.push_back({{txn_party::dm, dm}, tm_query{cfg_.incarnation}});
    next_query_ = now_ + cfg_.retry_interval;
  }
  return st;
}

std::optional<tm_core::phase> tm_core::phase_of(txn_id tid) const {
  auto i = txns_.find(tid);
  if (i == txns_.end())
    return std::nullopt;
  return i->second.ph;
}

std::vector<uint64_t> tm_core::participants(txn_id tid) const {
  auto i = txns_.find(tid);
  if (i == txns_.end())
    return {};
  return {i->second.participants.begin(), i->second.participants.end()};
}

std::vector<uint64_t> tm_core::unqueried() const {
  return {unqueried_.begin(), unqueried_.end()};
}

} // namespace ftsr
