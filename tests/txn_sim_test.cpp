// A seeded simulation of the transaction cores (txn/): one TM, one lock
// manager, two data managers and a few clients doing transfers between
// accounts spread over both DMs, with no actors, clocks or sockets.
//
// The world plays the network and the actor layer: every message a step
// emits travels with a random delay, in FIFO order per (sender
// incarnation, receiver) as CAF delivers (messages of different pairs
// overtake each other freely), and is lost if its receiver crashed or
// restarted meanwhile. Each TM and DM has a stable store (a
// map); a write a step asks for completes after a random delay, atomically,
// then on_written is fed back. Crashes of the TM, the DMs and the LM lose
// memory and in-flight writes (a write under way when its writer crashes
// lands whole or not at all); a restart builds a new core (new
// incarnation) and feeds it what its store holds. A client whose request
// went to a TM incarnation that crashed hears so (CAF monitor) and moves
// on: the outcome of that transaction is unknown to it.
//
// Each transaction reads two accounts, moves part of the first balance to
// the second and writes a marker item "m/<tid>" at every DM it touched;
// now and then a client aborts while an operation is under way.
// After the clients are done the faults stop, everything restarts, and at
// quiescence the checks read:
// - atomicity: a transaction's markers are at all of its DMs or at none;
// - durability: every transaction the TM acknowledged as committed to its
//   client has its markers;
// - the final balances are the initial ones plus the transfers of exactly
//   the committed transactions (no lost update, nothing half-applied), the
//   total is unchanged and no balance is negative;
// - nothing is left: no transaction at the TM or the DMs, no lock or wait
//   at the LM, no message in flight.
// FTSR_TXN_SIM_SEED=<s> replays one seed, FTSR_TXN_SIM_SEEDS=<n> runs n
// seeds per configuration, FTSR_TXN_SIM_TRACE=1 prints every delivery.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "txn/dm_core.hpp"
#include "txn/lock_core.hpp"
#include "txn/tm_core.hpp"

using namespace ftsr;

namespace {

uint64_t env_or(const char* name, uint64_t fallback) {
  auto v = std::getenv(name);
  return v != nullptr ? std::strtoull(v, nullptr, 10) : fallback;
}

struct sim_config {
  const char* name = "";
  int clients = 4;
  int txns_per_client = 6;
  int accounts_per_dm = 4;
  int64_t initial_balance = 100;
  double crash_p = 0; // per time unit and crashable core
  bool lm_crashes = false;
  double impatience = 0.0002; // per time unit with an operation under way
  bool expect_grouping = true; // transactions live long enough to group
};

struct sim_totals {
  int committed = 0, acked = 0, aborted = 0, unknown = 0, crashes = 0;
  int grouped = 0; // writes carrying records of several transactions
  std::map<std::string, int> reasons;
};

// Parties: the TM, the LM, DMs 1 and 2, clients 1..n.
using party = txn_party;

std::string name(const party& p) {
  switch (p.role) {
    case party::client:
      return "client" + std::to_string(p.id);
    case party::tm:
      return "tm";
    case party::dm:
      return "dm" + std::to_string(p.id);
    case party::lm:
      return "lm";
  }
  return "?";
}

struct in_flight {
  uint64_t at = 0;
  uint64_t seq = 0;
  party from;
  party to;
  uint64_t to_inc = 0; // receiver incarnation when sent
  txn_message msg;
};

struct host {
  bool up = false;
  uint64_t inc = 0;
  uint64_t down_until = 0;
  std::map<std::string, std::string> store;
  std::optional<log_write> writing;
  uint64_t write_done = 0;
};

struct client_txn {
  txn_id tid = 0;
  std::string src, dst;
  uint64_t src_dm = 0, dst_dm = 0;
  int64_t src_balance = 0, dst_balance = 0, amount = 0;
  std::set<uint64_t> dms; // markers written
};

struct client {
  enum class state {
    idle, begin, read_src, read_dst, write_src, write_dst, marker, commit,
    done,
  } st = state::idle;
  int finished = 0;
  uint64_t req = 0;
  uint64_t sent_to = 0; // TM incarnation of the outstanding request
  uint64_t wake = 0;
  client_txn cur;
  std::vector<uint64_t> marker_dms; // still to write
};

class simulation {
public:
  simulation(const sim_config& cfg, uint64_t seed, sim_totals& totals)
    : cfg_(cfg), rng_(seed), totals_(totals) {
    trace_ = std::getenv("FTSR_TXN_SIM_TRACE") != nullptr;
    for (uint64_t dm = 1; dm <= 2; ++dm)
      for (int a = 0; a < cfg.accounts_per_dm; ++a) {
        auto key = std::string{dm == 1 ? "a" : "b"} + std::to_string(a);
        accounts_[key] = dm;
        hosts_[{party::dm, dm}].store.insert(
          dm_core::item_record(key, cfg.initial_balance));
      }
    clients_.resize(cfg.clients);
  }

  void run() {
    for (uint64_t dm = 1; dm <= 2; ++dm)
      restart({party::dm, dm});
    restart({party::lm, 0});
    restart({party::tm, 0});
    const uint64_t limit = 200000;
    while (!clients_done() && now_ < limit && !::testing::Test::HasFailure())
      step(true);
    ASSERT_TRUE(clients_done()) << "clients stuck at time " << now_ << ": "
                                << describe_clients();
    // Heal: no more faults, everything comes back.
    for (auto& [p, h] : hosts_)
      if (!h.up)
        restart(p);
    uint64_t quiet_since = now_;
    while (now_ < limit && !::testing::Test::HasFailure()) {
      step(false);
      if (!quiescent())
        quiet_since = now_;
      else if (now_ - quiet_since > 2000)
        break;
    }
    ASSERT_TRUE(quiescent()) << "not quiescent at time " << now_ << ": "
                             << leftovers();
    check();
  }

private:
  // -- world ------------------------------------------------------------------

  uint64_t rand(uint64_t lo, uint64_t hi) {
    return std::uniform_int_distribution<uint64_t>{lo, hi}(rng_);
  }

  bool chance(double p) {
    return std::bernoulli_distribution{p}(rng_);
  }

  void send(const party& from, const party& to, txn_message msg) {
    auto& h = host_of(to);
    auto key = std::make_pair(std::make_pair(from, host_of(from).inc), to);
    auto at = std::max(now_ + rand(1, 20), last_at_[key]);
    last_at_[key] = at;
    net_.emplace(std::make_pair(at, ++seq_),
                 in_flight{at, seq_, from, to, h.inc, std::move(msg)});
  }

  host& host_of(const party& p) {
    if (p.role == party::client)
      return client_host_;
    return hosts_[p];
  }

  void apply(const party& from, txn_step st) {
    for (auto& e : st.out) {
      auto to = e.to;
      if (to.role == party::tm || to.role == party::lm)
        to.id = 0;
      send(from, to, std::move(e.msg));
    }
    if (st.write) {
      // Group commit: one write carrying several transactions' records.
      int txns = 0;
      for (auto& op : st.write->batch.ops())
        if (op.key.rfind("txn/", 0) == 0 || op.key.rfind("decision/", 0) == 0)
          ++txns;
      if (txns > 1)
        ++totals_.grouped;
      auto& h = host_of(from);
      EXPECT_FALSE(h.writing) << name(from) << " asked for a second write";
      h.writing = std::move(*st.write);
      h.write_done = now_ + rand(5, 40);
    }
  }

  static void land(host& h, const log_write& w) {
    if (w.batch.clears())
      h.store.clear();
    for (auto& op : w.batch.ops())
      if (op.value)
        h.store[op.key] = *op.value;
      else
        h.store.erase(op.key);
  }

  std::vector<std::pair<std::string, std::string>> records(const host& h) {
    return {h.store.begin(), h.store.end()};
  }

  void restart(const party& p) {
    auto& h = hosts_[p];
    h.up = true;
    ++h.inc;
    if (trace_)
      std::printf("%6llu restart %s (incarnation %llu)\n",
                  static_cast<unsigned long long>(now_), name(p).c_str(),
                  static_cast<unsigned long long>(h.inc));
    switch (p.role) {
      case party::tm: {
        tm_config cfg;
        cfg.incarnation = h.inc;
        cfg.dms = {1, 2};
        cfg.op_timeout = 800;
        cfg.prepare_timeout = 400;
        cfg.retry_interval = 100;
        tm_.emplace(cfg);
        auto st = tm_->recover(records(h));
        ASSERT_TRUE(st) << to_string(st.error());
        apply(p, std::move(*st));
        break;
      }
      case party::dm: {
        auto& dm = dms_[p.id];
        dm.emplace(dm_config{p.id, h.inc});
        auto st = dm->recover(records(h));
        ASSERT_TRUE(st) << to_string(st.error());
        apply(p, std::move(*st));
        break;
      }
      case party::lm: {
        lock_config cfg;
        cfg.dms = {1, 2};
        cfg.incarnation = h.inc;
        cfg.lock_timeout = 300;
        cfg.retry_interval = 100;
        lm_.emplace(cfg);
        lm_->on_tick(now_);
        apply(p, lm_->start());
        break;
      }
      case party::client:
        break;
    }
  }

  void crash(const party& p) {
    auto& h = hosts_[p];
    h.up = false;
    h.down_until = now_ + rand(20, 300);
    ++totals_.crashes;
    if (h.writing) {
      if (chance(0.5))
        land(h, *h.writing);
      h.writing.reset();
    }
    if (trace_)
      std::printf("%6llu crash %s\n", static_cast<unsigned long long>(now_),
                  name(p).c_str());
    switch (p.role) {
      case party::tm:
        tm_.reset();
        for (size_t i = 0; i < clients_.size(); ++i)
          if (clients_[i].req != 0)
            tm_lost(i);
        break;
      case party::dm:
        dms_[p.id].reset();
        break;
      case party::lm:
        lm_.reset();
        break;
      case party::client:
        break;
    }
  }

  void deliver(in_flight& m) {
    auto& h = host_of(m.to);
    if (m.to.role != party::client && (!h.up || h.inc != m.to_inc)) {
      // Lost with its receiver; a client hears that its TM failed.
      if (m.from.role == party::client)
        if (auto& c = clients_[m.from.id - 1]; c.req != 0
                                               && c.sent_to == m.to_inc)
          tm_lost(m.from.id - 1);
      return;
    }
    if (trace_)
      std::printf("%6llu %s -> %s: %s\n", static_cast<unsigned long long>(now_),
                  name(m.from).c_str(), name(m.to).c_str(),
                  describe(m.msg).c_str());
    auto& me = m.to;
    std::visit(
      [&](auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, tx_request>)
          apply(me, tm_->on_request(x));
        else if constexpr (std::is_same_v<T, dm_reply>)
          apply(me, tm_->on_dm_reply(x));
        else if constexpr (std::is_same_v<T, dm_up>)
          apply(me, tm_->on_dm_up(x));
        else if constexpr (std::is_same_v<T, dm_request>)
          apply(me, dms_[me.id]->on_request(x));
        else if constexpr (std::is_same_v<T, lm_reply>)
          apply(me, dms_[me.id]->on_lock_reply(x));
        else if constexpr (std::is_same_v<T, lm_hello>)
          apply(me, dms_[me.id]->on_lm_hello(x));
        else if constexpr (std::is_same_v<T, tm_query>)
          apply(me, dms_[me.id]->on_query(x));
        else if constexpr (std::is_same_v<T, lm_request>)
          apply(me, lm_->on_request(x));
        else if constexpr (std::is_same_v<T, lm_reclaim>)
          apply(me, lm_->on_reclaim(x));
        else if constexpr (std::is_same_v<T, tx_reply>)
          on_reply(me.id - 1, x);
      },
      m.msg);
  }

  static std::string ids(const std::vector<txn_id>& xs) {
    std::string s = "[";
    for (auto x : xs)
      s += (s.size() > 1 ? " " : "") + std::to_string(x);
    return s + "]";
  }

  static std::string describe(const txn_message& msg) {
    return std::visit(
      [](auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, tx_request>)
          return std::string{"tx_request "} + to_string(x.kind) + " tid "
                 + std::to_string(x.tid) + " " + x.key;
        else if constexpr (std::is_same_v<T, tx_reply>)
          return "tx_reply req " + std::to_string(x.req) + " tid "
                 + std::to_string(x.tid) + " " + to_string(x.reason) + " "
                 + std::to_string(x.value);
        else if constexpr (std::is_same_v<T, dm_request>)
          return std::string{"dm_request "} + to_string(x.op) + " tid "
                 + std::to_string(x.tid) + " " + x.key;
        else if constexpr (std::is_same_v<T, dm_reply>)
          return std::string{"dm_reply "} + to_string(x.op) + " tid "
                 + std::to_string(x.tid) + " " + to_string(x.reason);
        else if constexpr (std::is_same_v<T, dm_up>)
          return "dm_up " + std::to_string(x.dm) + " prepared "
                 + ids(x.prepared) + " active " + ids(x.active)
                 + " finished " + ids(x.finished);
        else if constexpr (std::is_same_v<T, lm_request>)
          return std::string{x.op == lm_op::lock ? "lock " : "release "}
                 + std::to_string(x.tid) + " " + x.key + " "
                 + to_string(x.mode);
        else if constexpr (std::is_same_v<T, lm_reply>)
          return "lm_reply " + std::to_string(x.tid) + " " + x.key + " "
                 + to_string(x.reason);
        else if constexpr (std::is_same_v<T, lm_reclaim>)
          return "reclaim dm " + std::to_string(x.dm) + " "
                 + std::to_string(x.locks.size()) + " locks";
        else if constexpr (std::is_same_v<T, lm_hello>)
          return "hello " + std::to_string(x.incarnation);
        else
          return "tm_query";
      },
      msg);
  }

  void step(bool faults) {
    ++now_;
    // Messages due now, in order.
    while (!net_.empty() && net_.begin()->first.first <= now_) {
      auto m = std::move(net_.begin()->second);
      net_.erase(net_.begin());
      deliver(m);
      if (::testing::Test::HasFailure())
        return;
    }
    // Writes due now.
    for (auto& [p, h] : hosts_) {
      if (!h.up || !h.writing || h.write_done > now_)
        continue;
      auto w = std::move(*h.writing);
      h.writing.reset();
      land(h, w);
      if (p.role == party::tm)
        apply(p, tm_->on_written(w.id));
      else
        apply(p, dms_[p.id]->on_written(w.id));
    }
    if (now_ % 10 == 0) {
      if (tm_)
        apply({party::tm, 0}, tm_->on_tick(now_));
      if (lm_)
        apply({party::lm, 0}, lm_->on_tick(now_));
    }
    for (size_t i = 0; i < clients_.size(); ++i)
      client_step(i);
    for (auto& [p, h] : hosts_) {
      if (!h.up && h.down_until <= now_)
        restart(p);
      else if (faults && h.up && cfg_.crash_p > 0
               && (p.role != party::lm || cfg_.lm_crashes)
               && chance(cfg_.crash_p))
        crash(p);
    }
  }

  // -- clients ----------------------------------------------------------------

  void request(size_t i, tx_request r) {
    auto& c = clients_[i];
    r.client = i + 1;
    r.req = c.req = ++reqs_;
    c.sent_to = hosts_[{party::tm, 0}].inc;
    if (!hosts_[{party::tm, 0}].up) {
      tm_lost(i);
      return;
    }
    send({party::client, i + 1}, {party::tm, 0}, std::move(r));
  }

  void tm_lost(size_t i) {
    auto& c = clients_[i];
    if (c.st == client::state::commit) {
      ++totals_.unknown;
      unknown_.push_back(c.cur);
    } else if (c.cur.tid != 0) {
      aborted_.push_back(c.cur);
    }
    next_txn(i, 50);
  }

  void next_txn(size_t i, uint64_t pause) {
    auto& c = clients_[i];
    c.req = 0;
    c.cur = client_txn{};
    c.wake = now_ + pause;
    ++c.finished; // every attempt counts, failed ones too
    c.st = c.finished >= cfg_.txns_per_client ? client::state::done
                                              : client::state::idle;
  }

  void client_step(size_t i) {
    auto& c = clients_[i];
    auto reading_or_writing = c.st > client::state::begin
                              && c.st < client::state::commit;
    if (reading_or_writing && c.req != 0 && chance(cfg_.impatience)) {
      // Gives up while an operation is under way (e.g. waiting for a lock).
      give_up(i, txn_reason::aborted_by_client);
      return;
    }
    if (c.st != client::state::idle || c.wake > now_)
      return;
    c.st = client::state::begin;
    tx_request r;
    r.kind = tx_kind::begin;
    request(i, r);
  }

  void op(size_t i, tx_kind kind, uint64_t dm, const std::string& key,
          int64_t value = 0) {
    tx_request r;
    r.kind = kind;
    r.tid = clients_[i].cur.tid;
    r.dm = dm;
    r.key = key;
    r.value = value;
    request(i, r);
  }

  /// Ends the client's transaction: `why` came from the TM, or is
  /// aborted_by_client for its own decision.
  void give_up(size_t i, txn_reason why) {
    auto& c = clients_[i];
    ++totals_.reasons[to_string(why)];
    if (!aborts_transaction(why) || why == txn_reason::aborted_by_client) {
      // The TM keeps it: tell it to abort (the answer does not matter).
      tx_request r;
      r.kind = tx_kind::abort;
      r.tid = c.cur.tid;
      r.client = i + 1;
      r.req = ++reqs_;
      if (hosts_[{party::tm, 0}].up)
        send({party::client, i + 1}, {party::tm, 0}, r);
    }
    aborted_.push_back(c.cur);
    ++totals_.aborted;
    next_txn(i, rand(0, 30));
  }

  void on_reply(size_t i, const tx_reply& r) {
    auto& c = clients_[i];
    if (r.req != c.req)
      return; // an answer it stopped waiting for
    c.req = 0;
    if (r.reason != txn_reason::none) {
      if (c.st == client::state::begin) {
        next_txn(i, 50);
        return;
      }
      give_up(i, r.reason);
      return;
    }
    auto& t = c.cur;
    switch (c.st) {
      case client::state::begin: {
        t.tid = r.tid;
        auto it = accounts_.begin();
        std::advance(it, rand(0, accounts_.size() - 1));
        auto jt = it;
        while (jt == it) {
          jt = accounts_.begin();
          std::advance(jt, rand(0, accounts_.size() - 1));
        }
        t.src = it->first;
        t.src_dm = it->second;
        t.dst = jt->first;
        t.dst_dm = jt->second;
        c.st = client::state::read_src;
        op(i, tx_kind::read, t.src_dm, t.src);
        break;
      }
      case client::state::read_src:
        t.src_balance = r.value;
        c.st = client::state::read_dst;
        op(i, tx_kind::read, t.dst_dm, t.dst);
        break;
      case client::state::read_dst:
        t.dst_balance = r.value;
        if (t.src_balance == 0) {
          give_up(i, txn_reason::aborted_by_client);
          return;
        }
        t.amount = static_cast<int64_t>(rand(1, t.src_balance));
        c.st = client::state::write_src;
        op(i, tx_kind::write, t.src_dm, t.src, t.src_balance - t.amount);
        break;
      case client::state::write_src:
        c.st = client::state::write_dst;
        op(i, tx_kind::write, t.dst_dm, t.dst, t.dst_balance + t.amount);
        break;
      case client::state::write_dst:
        c.marker_dms = {t.src_dm};
        if (t.dst_dm != t.src_dm)
          c.marker_dms.push_back(t.dst_dm);
        [[fallthrough]];
      case client::state::marker:
        if (c.st == client::state::marker)
          t.dms.insert(c.marker_dms.back()), c.marker_dms.pop_back();
        if (!c.marker_dms.empty()) {
          c.st = client::state::marker;
          op(i, tx_kind::write, c.marker_dms.back(),
             "m/" + std::to_string(t.tid), 1);
          break;
        }
        c.st = client::state::commit;
        op(i, tx_kind::commit, 0, {});
        break;
      case client::state::commit:
        ++totals_.acked;
        acked_.push_back(t);
        next_txn(i, rand(0, 30));
        break;
      case client::state::idle:
      case client::state::done:
        break;
    }
  }

  bool clients_done() const {
    for (auto& c : clients_)
      if (c.st != client::state::done)
        return false;
    return true;
  }

  std::string describe_clients() const {
    std::string s;
    for (size_t i = 0; i < clients_.size(); ++i)
      s += "client" + std::to_string(i + 1) + " state "
           + std::to_string(static_cast<int>(clients_[i].st)) + " finished "
           + std::to_string(clients_[i].finished) + "; ";
    return s;
  }

  // -- checks -----------------------------------------------------------------

  bool quiescent() const {
    if (!net_.empty())
      return false;
    for (auto& [p, h] : hosts_)
      if (!h.up || h.writing)
        return false;
    if (tm_->transactions() != 0 || !tm_->unqueried().empty())
      return false;
    for (auto& [id, dm] : dms_)
      if (dm->transactions() != 0)
        return false;
    return lm_->serving() && lm_->lock_count() == 0 && lm_->wait_count() == 0;
  }

  std::string leftovers() const {
    std::string s = std::to_string(net_.size()) + " messages in flight";
    for (auto& [p, h] : hosts_)
      if (!h.up || h.writing)
        s += ", " + name(p) + (h.up ? " writing" : " down");
    if (tm_)
      s += ", tm: " + std::to_string(tm_->transactions()) + " transactions, "
           + std::to_string(tm_->unqueried().size()) + " unqueried";
    for (auto& [id, dm] : dms_)
      if (dm)
        s += ", dm" + std::to_string(id) + ": "
             + std::to_string(dm->transactions()) + " transactions";
    if (lm_)
      s += ", lm: " + std::string{lm_->serving() ? "serving" : "recovering"}
           + ", " + std::to_string(lm_->lock_count()) + " locks, "
           + std::to_string(lm_->wait_count()) + " waits";
    return s;
  }

  bool has_marker(uint64_t dm, txn_id tid) const {
    return dms_.at(dm)->value("m/" + std::to_string(tid)).has_value();
  }

  void check() {
    std::map<std::string, int64_t> expect;
    for (auto& [key, dm] : accounts_)
      expect[key] = cfg_.initial_balance;
    std::set<txn_id> committed;
    auto judge = [&](const client_txn& t, bool acked) {
      if (t.tid == 0)
        return;
      size_t marked = 0;
      for (auto dm : {uint64_t{1}, uint64_t{2}})
        if (has_marker(dm, t.tid)) {
          ++marked;
          EXPECT_TRUE(t.dms.count(dm) > 0)
            << "transaction " << t.tid << " has a marker at dm" << dm
            << " it never wrote";
        }
      if (marked == 0) {
        EXPECT_FALSE(acked) << "transaction " << t.tid
                            << " was acknowledged committed but is not "
                               "applied (durability)";
        return;
      }
      EXPECT_EQ(marked, t.dms.size())
        << "transaction " << t.tid << " applied at " << marked << " of "
        << t.dms.size() << " data managers (atomicity)";
      committed.insert(t.tid);
      expect[t.src] -= t.amount;
      expect[t.dst] += t.amount;
    };
    for (auto& t : acked_)
      judge(t, true);
    for (auto& t : unknown_)
      judge(t, false);
    for (auto& t : aborted_)
      judge(t, false);
    totals_.committed += static_cast<int>(committed.size());
    // Every marker belongs to a transaction a client knows.
    for (auto dm : {uint64_t{1}, uint64_t{2}})
      for (auto& [key, value] : dms_.at(dm)->values())
        if (key.rfind("m/", 0) == 0) {
          EXPECT_TRUE(committed.count(std::stoull(key.substr(2))) > 0)
            << "marker " << key << " at dm" << dm
            << " of a transaction no client counts as committed";
        }
    int64_t total = 0;
    for (auto& [key, dm] : accounts_) {
      auto v = dms_.at(dm)->value(key);
      ASSERT_TRUE(v) << key << " vanished";
      EXPECT_EQ(*v, expect[key]) << "balance of " << key;
      EXPECT_GE(*v, 0) << "negative balance of " << key;
      total += *v;
    }
    EXPECT_EQ(total, cfg_.initial_balance
                       * static_cast<int64_t>(accounts_.size()))
      << "money not conserved";
  }

  sim_config cfg_;
  std::mt19937_64 rng_;
  sim_totals& totals_;
  bool trace_ = false;
  uint64_t now_ = 0;
  uint64_t seq_ = 0;
  uint64_t reqs_ = 0;
  std::map<std::pair<uint64_t, uint64_t>, in_flight> net_;
  std::map<std::pair<std::pair<party, uint64_t>, party>, uint64_t> last_at_;
  std::map<party, host> hosts_;
  host client_host_;
  std::optional<tm_core> tm_;
  std::optional<lock_core> lm_;
  std::map<uint64_t, std::optional<dm_core>> dms_;
  std::map<std::string, uint64_t> accounts_; // account -> its DM
  std::vector<client> clients_;
  std::vector<client_txn> acked_, unknown_, aborted_;
};

void simulate(const sim_config& cfg, uint64_t default_seeds) {
  sim_totals totals;
  auto one = env_or("FTSR_TXN_SIM_SEED", 0);
  auto seeds = one != 0 ? 1 : env_or("FTSR_TXN_SIM_SEEDS", default_seeds);
  for (uint64_t s = 0; s < seeds && !::testing::Test::HasFailure(); ++s) {
    auto seed = one != 0 ? one : s + 1;
    simulation{cfg, seed, totals}.run();
    if (::testing::Test::HasFailure())
      std::printf("[ %s ] FAILED at seed %llu: replay with "
                  "FTSR_TXN_SIM_SEED=%llu FTSR_TXN_SIM_TRACE=1\n",
                  cfg.name, static_cast<unsigned long long>(seed),
                  static_cast<unsigned long long>(seed));
  }
  std::string reasons;
  for (auto& [r, n] : totals.reasons)
    reasons += " " + r + "=" + std::to_string(n);
  std::printf("[ %s ] %llu seeds: %d committed (%d acknowledged), %d "
              "aborted, %d unknown outcomes, %d crashes, %d grouped writes; "
              "aborts:%s\n",
              cfg.name, static_cast<unsigned long long>(seeds),
              totals.committed, totals.acked, totals.aborted, totals.unknown,
              totals.crashes, totals.grouped, reasons.c_str());
  EXPECT_GT(totals.acked, 0);
  if (cfg.expect_grouping) {
    EXPECT_GT(totals.grouped, 0);
  }
  if (cfg.crash_p > 0) {
    EXPECT_GT(totals.crashes, 0);
  }
}

} // namespace

TEST(txn_sim, transfers_without_faults) {
  sim_config cfg;
  cfg.name = "no faults";
  simulate(cfg, 1000);
}

TEST(txn_sim, transfers_with_tm_and_dm_crashes) {
  sim_config cfg;
  cfg.name = "tm/dm crashes";
  cfg.crash_p = 0.0005;
  simulate(cfg, 3000);
}

TEST(txn_sim, transfers_with_lock_manager_crashes_too) {
  sim_config cfg;
  cfg.name = "tm/dm/lm crashes";
  cfg.crash_p = 0.0005;
  cfg.lm_crashes = true;
  simulate(cfg, 3000);
}

TEST(txn_sim, transfers_with_frequent_crashes) {
  sim_config cfg;
  cfg.name = "frequent crashes";
  cfg.crash_p = 0.002;
  cfg.lm_crashes = true;
  cfg.expect_grouping = false;
  simulate(cfg, 1000);
}
