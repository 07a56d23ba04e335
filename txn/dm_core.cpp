// The data manager's two-version items and status table; see dm_core.hpp.
#include "txn/dm_core.hpp"

#include <algorithm>
#include <cstdio>
#include <string_view>

#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>

#include "actors/errors.hpp"
#include "persistence/snapshot.hpp"

namespace ftsr {

namespace {

constexpr std::string_view item_prefix = "item/";
constexpr std::string_view txn_prefix = "txn/";

// Stored forms (Boost.Serialization, as every stable-store record).
struct item_rec {
  bool has0 = false, has1 = false;
  int64_t v0 = 0, v1 = 0;
  uint8_t cur = 0;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & has0 & has1 & v0 & v1 & cur;
  }
};

struct txn_rec {
  uint8_t st = 0;
  std::vector<std::string> lock_keys;
  std::vector<uint8_t> lock_modes;
  std::vector<std::string> writes;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & st & lock_keys & lock_modes & writes;
  }
};

std::string txn_key(txn_id tid) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%020llu",
                static_cast<unsigned long long>(tid));
  return std::string{txn_prefix} + buf;
}

bool starts_with(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

} // namespace

const char* to_string(dm_core::status x) {
  switch (x) {
    case dm_core::status::active:
      return "active";
    case dm_core::status::prepared:
      return "prepared";
    case dm_core::status::committed:
      return "committed";
    case dm_core::status::aborted:
      return "aborted";
  }
  return "?";
}

dm_core::dm_core(dm_config cfg) : cfg_(cfg) {
  // nop
}

std::pair<std::string, std::string> dm_core::item_record(const std::string& key,
                                                         int64_t value) {
  item_rec r;
  r.has0 = true;
  r.v0 = value;
  return {std::string{item_prefix} + key, to_snapshot(r)};
}

caf::expected<txn_step> dm_core::recover(
  const std::vector<std::pair<std::string, std::string>>& records) {
  if (recovered_)
    return make_error(errc::invalid_argument,
                      "dm " + std::to_string(cfg_.id) + ": recovered already");
  std::map<std::string, item> items;
  std::map<txn_id, entry> txns;
  for (auto& [key, value] : records) {
    auto bad = [&, &key = key](const std::string& why) {
      return make_error(errc::corrupted, "dm " + std::to_string(cfg_.id)
                                           + ": record '" + key + "' " + why);
    };
    if (starts_with(key, item_prefix) && key.size() > item_prefix.size()) {
      auto r = from_snapshot<item_rec>(value);
      if (!r || r->cur > 1)
        return bad("is no item");
      auto& it = items[key.substr(item_prefix.size())];
      it.has[0] = r->has0;
      it.has[1] = r->has1;
      it.v[0] = r->v0;
      it.v[1] = r->v1;
      it.cur = r->cur;
    } else if (starts_with(key, txn_prefix)) {
      char* end = nullptr;
      auto tid = std::strtoull(key.c_str() + txn_prefix.size(), &end, 10);
      auto r = from_snapshot<txn_rec>(value);
      if (tid == 0 || *end != '\0' || !r
          || r->st > static_cast<uint8_t>(status::aborted)
          || r->st == static_cast<uint8_t>(status::active)
          || r->lock_keys.size() != r->lock_modes.size())
        return bad("is no status table entry");
      auto& e = txns[tid];
      e.st = static_cast<status>(r->st);
      e.stored = true;
      for (size_t i = 0; i < r->lock_keys.size(); ++i)
        e.locks[r->lock_keys[i]] = r->lock_modes[i] != 0
                                     ? lock_mode::exclusive
                                     : lock_mode::shared;
      for (auto& k : r->writes)
        e.writes[k] = 0; // the value is in the item's non-current version
    } else {
      return bad("belongs to no data manager");
    }
  }
  items_ = std::move(items);
  txns_ = std::move(txns);
  recovered_ = true;
  txn_step st;
  st.out.push_back({{txn_party::tm, 0}, report(true)});
  st.out.push_back({{txn_party::lm, 0}, reclaim(0)});
  return st;
}

void dm_core::reply(const dm_request& m, txn_reason why, txn_step& st,
                    int64_t value) const {
  st.out.push_back(
    {{txn_party::tm, 0}, dm_reply{cfg_.id, m.op, m.tid, m.req, why, value}});
}

void dm_core::reply_when_durable(const entry& e, const dm_request& m,
                                 txn_step& st) {
  log_.hold(e.batch, {{txn_party::tm, 0},
                      dm_reply{cfg_.id, m.op, m.tid, m.req, txn_reason::none,
                               0}},
            st);
}

txn_reason dm_core::refusal(status s) {
  switch (s) {
    case status::active:
      return txn_reason::none;
    case status::prepared:
      return txn_reason::not_active;
    case status::committed:
      return txn_reason::already_committed;
    case status::aborted:
      return txn_reason::already_aborted;
  }
  return txn_reason::bad_request;
}

txn_step dm_core::on_request(const dm_request& m) {
  txn_step st;
  if (!recovered_) {
    reply(m, txn_reason::not_ready, st);
    return st;
  }
  if (m.tid == 0) {
    reply(m, txn_reason::bad_request, st);
    return st;
  }
  switch (m.op) {
    case dm_op::start:
      start(m, st);
      break;
    case dm_op::read:
    case dm_op::write:
      access(m, st);
      break;
    case dm_op::prepare:
      prepare(m, st);
      break;
    case dm_op::commit:
      commit(m, st);
      break;
    case dm_op::abort:
      abort(m, st);
      break;
    case dm_op::forget:
      forget(m, st);
      break;
  }
  log_.flush(st);
  return st;
}

void dm_core::start(const dm_request& m, txn_step& st) {
  if ((m.tid >> 32) < tm_incarnation_) {
    // Sent by a TM incarnation that failed before this DM answered its
    // successor's query: nobody would abort it.
    reply(m, txn_reason::participant_failed, st);
    return;
  }
  auto [i, fresh] = txns_.try_emplace(m.tid);
  reply(m, fresh ? txn_reason::none : refusal(i->second.st), st);
}

void dm_core::access(const dm_request& m, txn_step& st) {
  if (m.key.empty()) {
    reply(m, txn_reason::bad_request, st);
    return;
  }
  auto i = txns_.find(m.tid);
  if (i == txns_.end()) {
    reply(m, txn_reason::unknown_transaction, st);
    return;
  }
  auto& e = i->second;
  if (e.st != status::active) {
    reply(m, refusal(e.st), st);
    return;
  }
  if (e.pending) {
    reply(m, txn_reason::busy, st);
    return;
  }
  auto mode = m.op == dm_op::read && !m.for_update ? lock_mode::shared
                                                   : lock_mode::exclusive;
  auto held = e.locks.find(m.key);
  if (held != e.locks.end()
      && (held->second == lock_mode::exclusive || mode == lock_mode::shared)) {
    perform(e, m, st);
    return;
  }
  e.pending = pending_op{m, ++next_lock_req_, mode};
  st.out.push_back({{txn_party::lm, 0},
                    lm_request{lm_op::lock, cfg_.id, cfg_.epoch, m.tid,
                               next_lock_req_, m.key, mode}});
}

void dm_core::perform(entry& e, const dm_request& m, txn_step& st) {
  if (m.op == dm_op::write) {
    e.writes[m.key] = m.value;
    reply(m, txn_reason::none, st);
    return;
  }
  if (auto w = e.writes.find(m.key); w != e.writes.end()) {
    reply(m, txn_reason::none, st, w->second);
    return;
  }
  auto it = items_.find(m.key);
  if (it == items_.end() || !it->second.has[it->second.cur]) {
    reply(m, txn_reason::unknown_item, st);
    return;
  }
  reply(m, txn_reason::none, st, it->second.v[it->second.cur]);
}

txn_step dm_core::on_lock_reply(const lm_reply& m) {
  txn_step st;
  auto i = txns_.find(m.tid);
  if (i == txns_.end() || i->second.st != status::active) {
    // A grant that raced the end of its transaction: give the lock back.
    if (m.reason == txn_reason::none && (i == txns_.end()
                                         || i->second.st == status::aborted))
      st.out.push_back({{txn_party::lm, 0},
                        lm_request{lm_op::release, cfg_.id, cfg_.epoch, m.tid,
                                   0, {}, lock_mode::shared}});
    return st;
  }
  auto& e = i->second;
  if (!e.pending || e.pending->lock_req != m.req)
    return st; // stale
  auto op = std::move(*e.pending);
  e.pending.reset();
  if (m.reason != txn_reason::none) {
    reply(op.req, m.reason, st);
    return st;
  }
  auto& held = e.locks[op.req.key];
  if (op.mode == lock_mode::exclusive)
    held = lock_mode::exclusive;
  perform(e, op.req, st);
  return st;
}

void dm_core::store_item(const std::string& key) {
  auto& it = items_[key];
  item_rec r;
  r.has0 = it.has[0];
  r.has1 = it.has[1];
  r.v0 = it.v[0];
  r.v1 = it.v[1];
  r.cur = it.cur;
  log_.put(std::string{item_prefix} + key, to_snapshot(r));
}

uint64_t dm_core::store(txn_id tid, entry& e) {
  txn_rec r;
  r.st = static_cast<uint8_t>(e.st);
  for (auto& [key, mode] : e.locks) {
    r.lock_keys.push_back(key);
    r.lock_modes.push_back(mode == lock_mode::exclusive ? 1 : 0);
  }
  for (auto& [key, _] : e.writes)
    r.writes.push_back(key);
  e.stored = true;
  e.batch = log_.put(txn_key(tid), to_snapshot(r));
  return e.batch;
}

void dm_core::release(txn_id tid, const entry& e, txn_step& st) {
  log_.hold(e.batch,
            {{txn_party::lm, 0}, lm_request{lm_op::release, cfg_.id,
                                            cfg_.epoch, tid, 0, {},
                                            lock_mode::shared}},
            st);
}

void dm_core::prepare(const dm_request& m, txn_step& st) {
  auto i = txns_.find(m.tid);
  if (i == txns_.end()) {
    reply(m, txn_reason::unknown_transaction, st);
    return;
  }
  auto& e = i->second;
  switch (e.st) {
    case status::active:
      if (e.pending) {
        reply(m, txn_reason::busy, st);
        return;
      }
      for (auto& [key, value] : e.writes) {
        auto& it = items_[key];
        it.has[1 - it.cur] = true;
        it.v[1 - it.cur] = value;
        store_item(key);
      }
      e.st = status::prepared;
      store(m.tid, e);
      reply_when_durable(e, m, st);
      return;
    case status::prepared:
      reply_when_durable(e, m, st);
      return;
    default:
      reply(m, refusal(e.st), st);
  }
}

void dm_core::commit(const dm_request& m, txn_step& st) {
  auto i = txns_.find(m.tid);
  if (i == txns_.end()) {
    reply(m, txn_reason::unknown_transaction, st);
    return;
  }
  auto& e = i->second;
  switch (e.st) {
    case status::active:
      reply(m, txn_reason::not_prepared, st);
      return;
    case status::prepared:
      // The flips and the status go in one atomic batch: a commit cut by a
      // crash is redone whole or found done.
      for (auto& [key, _] : e.writes) {
        auto& it = items_[key];
        it.cur = 1 - it.cur;
        store_item(key);
      }
      e.st = status::committed;
      store(m.tid, e);
      reply_when_durable(e, m, st);
      release(m.tid, e, st);
      return;
    case status::committed:
      reply_when_durable(e, m, st);
      return;
    case status::aborted:
      reply(m, txn_reason::already_aborted, st);
      return;
  }
}

void dm_core::abort(const dm_request& m, txn_step& st) {
  auto i = txns_.find(m.tid);
  if (i == txns_.end()) {
    reply(m, txn_reason::unknown_transaction, st);
    return;
  }
  auto& e = i->second;
  switch (e.st) {
    case status::active:
      if (e.pending) {
        reply(e.pending->req, txn_reason::not_active, st);
        e.pending.reset();
      }
      e.st = status::aborted;
      e.writes.clear();
      reply(m, txn_reason::none, st);
      release(m.tid, e, st); // nothing durable to wait for
      return;
    case status::prepared:
      e.st = status::aborted;
      store(m.tid, e);
      reply_when_durable(e, m, st);
      release(m.tid, e, st);
      return;
    case status::aborted:
      reply_when_durable(e, m, st);
      return;
    case status::committed:
      reply(m, txn_reason::already_committed, st);
      return;
  }
}

void dm_core::forget(const dm_request& m, txn_step& st) {
  auto i = txns_.find(m.tid);
  if (i == txns_.end())
    return;
  auto& e = i->second;
  if (e.st == status::active || e.st == status::prepared) {
    reply(m, txn_reason::unfinished, st);
    return;
  }
  // Its outcome must land before its record goes (a later batch).
  e.forget = true;
  if (log_.durable(e.batch))
    drop(i);
}

void dm_core::drop(std::map<txn_id, entry>::iterator i) {
  if (i->second.stored)
    log_.erase(txn_key(i->first));
  txns_.erase(i);
}

std::vector<lock_claim> dm_core::claims() const {
  std::vector<lock_claim> result;
  for (auto& [tid, e] : txns_) {
    auto holds = e.st == status::prepared
                 || (e.st != status::active && !log_.durable(e.batch));
    if (holds)
      for (auto& [key, mode] : e.locks)
        result.push_back({tid, key, mode});
  }
  return result;
}

lm_reclaim dm_core::reclaim(uint64_t lm_incarnation) const {
  return {cfg_.id, cfg_.epoch, lm_incarnation, claims()};
}

dm_up dm_core::report(bool recovered) const {
  dm_up r;
  r.dm = cfg_.id;
  r.epoch = cfg_.epoch;
  r.recovered = recovered;
  for (auto& [tid, e] : txns_) {
    if (e.st == status::prepared)
      r.prepared.push_back(tid);
    else if (e.st == status::active)
      r.active.push_back(tid);
    else
      r.finished.push_back(tid);
  }
  return r;
}

txn_step dm_core::on_lm_hello(const lm_hello& m) {
  txn_step st;
  if (!recovered_ || m.incarnation < lm_incarnation_)
    return st;
  lm_incarnation_ = m.incarnation;
  // Locks of active transactions may be lost with the old lock manager:
  // abort them (the TM learns it from their next answers).
  for (auto& [tid, e] : txns_) {
    if (e.st != status::active)
      continue;
    if (e.pending) {
      reply(e.pending->req, txn_reason::participant_failed, st);
      e.pending.reset();
    }
    e.st = status::aborted;
    e.writes.clear();
    release(tid, e, st);
  }
  st.out.push_back({{txn_party::lm, 0}, reclaim(m.incarnation)});
  return st;
}

txn_step dm_core::on_query(const tm_query& m) {
  txn_step st;
  if (!recovered_)
    return st;
  tm_incarnation_ = std::max(tm_incarnation_, m.incarnation);
  st.out.push_back({{txn_party::tm, 0}, report(false)});
  return st;
}

txn_step dm_core::on_written(uint64_t id) {
  txn_step st;
  if (!log_.written(id, st))
    return st;
  for (auto i = txns_.begin(); i != txns_.end();) {
    auto next = std::next(i);
    if (i->second.forget && log_.durable(i->second.batch))
      drop(i);
    i = next;
  }
  log_.flush(st);
  return st;
}

std::optional<int64_t> dm_core::value(const std::string& key) const {
  auto i = items_.find(key);
  if (i == items_.end() || !i->second.has[i->second.cur])
    return std::nullopt;
  return i->second.v[i->second.cur];
}

std::map<std::string, int64_t> dm_core::values() const {
  std::map<std::string, int64_t> result;
  for (auto& [key, it] : items_)
    if (it.has[it.cur])
      result[key] = it.v[it.cur];
  return result;
}

std::optional<dm_core::status> dm_core::status_of(txn_id tid) const {
  auto i = txns_.find(tid);
  if (i == txns_.end())
    return std::nullopt;
  return i->second.st;
}

std::map<std::string, lock_mode> dm_core::locks_of(txn_id tid) const {
  auto i = txns_.find(tid);
  return i == txns_.end() ? std::map<std::string, lock_mode>{}
                          : i->second.locks;
}

} // namespace ftsr
