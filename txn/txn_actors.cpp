// The TM, DM and LM persistent actors; see txn_actors.hpp.
#include "txn/txn_actors.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "caf/all.hpp"

#include "actors/call.hpp"
#include "actors/errors.hpp"
#include "actors/monitor.hpp"
#include "persistence/persistent.hpp"
#include "persistence/stable_store_group.hpp"
#include "txn/dm_core.hpp"
#include "txn/lock_core.hpp"
#include "txn/tm_core.hpp"

namespace ftsr {

namespace {

using txn_tick_atom = caf::atom_constant<caf::atom("txn_tick")>;
using txn_start_atom = caf::atom_constant<caf::atom("txn_start")>;
using txn_down_atom = caf::atom_constant<caf::atom("txn_down")>;

constexpr auto tick_interval = std::chrono::milliseconds(20);

uint64_t now_ms() {
  return static_cast<uint64_t>(
    std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now().time_since_epoch())
      .count());
}

uint64_t wall_ms() {
  return static_cast<uint64_t>(
    std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch())
      .count());
}

std::vector<uint64_t> dm_ids(uint64_t dms) {
  std::vector<uint64_t> ids;
  for (uint64_t i = 1; i <= dms; ++i)
    ids.push_back(i);
  return ids;
}

/// What one role actor shares between its handlers.
template <class Core>
struct role_state {
  std::optional<Core> core;
  capability<> store;      // none for the LM
  std::map<txn_party, uint64_t> peers; // party -> capability id
  /// Client replies (TM only): handed to the TM's client operations.
  std::function<void(const tx_reply&)> on_client_reply;
};

/// Sends `msg` to the current incarnation of `to` (dropped if the role is
/// unknown or down: the cores retry what must arrive).
template <class Core>
void send_to(caf::event_based_actor* self, role_state<Core>& st,
             const txn_party& to, const txn_message& msg) {
  auto& ctx = context_of(self->system());
  std::optional<capability_ref> ref;
  if (auto i = st.peers.find(to); i != st.peers.end()) {
    ref = ctx.dir.lookup(i->second);
    if (ref && is(ctx.dir.failure_of(*ref), errc::destroyed))
      ref.reset(); // the role was destroyed and spawned anew
  }
  if (!ref) {
    switch (to.role) {
      case txn_party::tm:
        ref = find_role(ctx, tm_type);
        break;
      case txn_party::dm:
        ref = find_role(ctx, dm_type, to.id);
        break;
      case txn_party::lm:
        ref = find_role(ctx, lm_type);
        break;
      case txn_party::client:
        break;
    }
    if (!ref)
      return;
    st.peers[to] = ref->id;
  }
  auto hdl = ctx.dir.resolve(*ref);
  if (!hdl)
    return;
  std::visit([&](const auto& m) { self->send(hdl, m); }, msg);
}

/// Applies a step: messages first (client replies to the TM's own
/// operations), then the write, whose completion feeds on_written back.
constexpr uint32_t write_attempts = 50;
constexpr uint32_t write_retry_ms = 200;

template <class Core>
void write(caf::event_based_actor* self, std::shared_ptr<role_state<Core>> st,
           log_write w, uint32_t attempts = write_attempts);

template <class Core>
void apply(caf::event_based_actor* self, std::shared_ptr<role_state<Core>> st,
           txn_step step) {
  for (auto& e : step.out) {
    if (e.to.role == txn_party::client) {
      if (auto* r = std::get_if<tx_reply>(&e.msg); r && st->on_client_reply)
        st->on_client_reply(*r);
      continue;
    }
    send_to(self, *st, e.to, e.msg);
  }
  if constexpr (!std::is_same_v<Core, lock_core>) // no store: no writes
    if (step.write)
      write(self, std::move(st), std::move(*step.write));
}

/// Writes the batch as one atomic ss_write and feeds on_written back;
/// a no_quorum refusal is tried again `attempts` times in all.
template <class Core>
void write(caf::event_based_actor* self, std::shared_ptr<role_state<Core>> st,
           log_write w, uint32_t attempts) {
  std::vector<std::string> keys;
  std::vector<std::string> values;
  std::vector<std::string> erased;
  for (auto& op : w.batch.ops()) {
    if (op.value) {
      keys.push_back(op.key);
      values.push_back(*op.value);
    } else {
      erased.push_back(op.key);
    }
  }
  auto id = w.id;
  call(self, st->store, ss_write_atom::value, std::move(keys),
       std::move(values), std::move(erased))
    .then([self, st, id](bool) { apply(self, st, st->core->on_written(id)); },
          [self, st, w, attempts](caf::error& err) mutable {
            // A store refusing for want of a lease (this node's or its
            // replicas' for a moment, e.g. under load) ran nothing: the
            // same batch again, a while later (puts and erases are
            // idempotent anyway).
            if (is(err, errc::no_quorum) && attempts > 1) {
              detail::after_delay(
                self, &context_of(self->system()), write_retry_ms, nullptr,
                [self, st, w, attempts]() mutable {
                  write(self, st, std::move(w), attempts - 1);
                },
                [self](caf::error& e) { self->quit(e); });
              return;
            }
            // The core cannot keep its promises any more: fail-stop, the
            // restart recovers from what the store holds.
            self->quit(make_error(errc::fail_stop,
                                  "stable store write failed: "
                                    + describe(err)));
          });
}

constexpr const char* incarnation_key = "meta/incarnation";
constexpr uint32_t load_attempts = 100;
constexpr uint32_t load_retry_ms = 200;

/// Reads the store, counts this incarnation in it (durably: larger than
/// every earlier one, also across a destroy and a new spawn on the same
/// store), then hands the core's records and the incarnation to
/// `recover(records, incarnation)`.
template <class Core, class Recover, class Done>
void load(caf::event_based_actor* self, std::shared_ptr<role_state<Core>> st,
          Recover recover, Done done, uint32_t attempts = load_attempts) {
  // A store whose replica failed with the node that hosted this role may
  // be in a view change (no reachable primary) for a moment: try again.
  auto retry = [self, st, recover, done, attempts](caf::error& err) {
    if (attempts <= 1) {
      done(std::move(err));
      return;
    }
    detail::after_delay(
      self, &context_of(self->system()), load_retry_ms, nullptr,
      [self, st, recover, done, attempts] {
        load(self, st, recover, done, attempts - 1);
      },
      [done](caf::error& e) { done(std::move(e)); });
  };
  call(self, st->store, ss_scan_atom::value, std::string{})
    .then(
      [self, st, recover, done, retry](std::vector<std::string>& kvs) {
        uint64_t incarnation = 1;
        std::vector<std::pair<std::string, std::string>> records;
        for (size_t i = 0; i + 1 < kvs.size(); i += 2) {
          if (kvs[i] == incarnation_key)
            incarnation = std::strtoull(kvs[i + 1].c_str(), nullptr, 10) + 1;
          else
            records.emplace_back(std::move(kvs[i]), std::move(kvs[i + 1]));
        }
        call(self, st->store, ss_put_atom::value, std::string{incarnation_key},
             std::to_string(incarnation))
          .then(
            [self, st, recover, done, records, incarnation](bool) {
              auto step = recover(records, incarnation);
              if (!step) {
                done(std::move(step.error()));
                return;
              }
              apply(self, st, std::move(*step));
              done(caf::error{});
            },
            retry);
      },
      retry);
}

/// Runs `start(generation, done)` once per incarnation: in the recovery
/// handler on a restart, on the first message otherwise. The cores'
/// incarnations come from load() (TM, DM) or the clock (LM), not from the
/// generation, which starts at 0 again for a role spawned anew.
template <class Start>
persistent_behavior with_start(caf::event_based_actor* self,
                               caf::message_handler ops, Start start) {
  auto started = std::make_shared<bool>(false);
  // The roles talk by one-way messages (send_to); a refusal sent back for
  // one, e.g. no_quorum from the lease gate of a role whose node was
  // frozen and lost its lease, arrives as an error message, which would
  // end this role by CAF's default. It is no failure of this role: the
  // cores retry what must arrive.
  self->set_error_handler([](caf::error&) {});
  self->send(self, txn_start_atom::value);
  persistent_behavior result;
  result.operations = caf::message_handler{
    [self, started, start](txn_start_atom) {
      if (std::exchange(*started, true))
        return;
      start(uint64_t{0}, [self](caf::error err) {
        if (err)
          self->quit(std::move(err));
      });
    },
  }.or_else(ops);

  result.recovery = [started, start](const recovery_info& info,
                                     recovery_done done) {
    *started = true;
    start(info.generation, [done](caf::error err) {
      if (err)
        done.fail(std::move(err));
      else
        done();
    });
  };
  return result;
}

void tick(caf::event_based_actor* self) {
  self->delayed_send(self, tick_interval, txn_tick_atom::value);
}

// -- lock manager -------------------------------------------------------------

persistent_behavior lock_manager(caf::event_based_actor* self, uint64_t dms) {
  auto st = std::make_shared<role_state<lock_core>>();
  auto ready = [st] { return st->core.has_value(); };
  caf::message_handler ops{
    [self, st, ready](const lm_request& m) {
      if (ready())
        apply(self, st, st->core->on_request(m));
    },
    [self, st, ready](const lm_reclaim& m) {
      if (ready())
        apply(self, st, st->core->on_reclaim(m));
    },
    [self, st, ready](txn_tick_atom) {
      if (ready())
        apply(self, st, st->core->on_tick(now_ms()));
      tick(self);
    },
  };
  return with_start(self, std::move(ops),
                    [self, st, dms](uint64_t, auto done) {
                      lock_config cfg;
                      cfg.dms = dm_ids(dms);
                      // No store to count in: the wall clock orders the
                      // incarnations (also a new spawn after a destroy).
                      cfg.incarnation = wall_ms();
                      st->core.emplace(cfg);
                      st->core->on_tick(now_ms());
                      apply(self, st, st->core->start());
                      tick(self);
                      done(caf::error{});
                    });
}

// -- data manager -------------------------------------------------------------

constexpr const char* store_peer = "its stable store";
constexpr const char* lm_peer = "the lock manager";

/// Monitors the DM's store or the LM (FT-SR Fig. 1). False if the LM is
/// unknown or failed (not monitored then).
bool watch(caf::event_based_actor* self,
           const std::shared_ptr<role_state<dm_core>>& st,
           const std::string& peer) {
  auto& ctx = context_of(self->system());
  auto me = caf::actor_cast<caf::actor>(self);
  if (peer == store_peer) {
    monitor(self, st->store, me, txn_down_atom::value, peer);
    return true;
  }
  auto lm = find_role(ctx, lm_type);
  if (!lm || ctx.dir.failure_of(*lm))
    return false;
  monitor(self, capability<>{*lm}, me, txn_down_atom::value, peer);
  return true;
}

/// The monitor of `peer` fired. A store that lost a replica, or an LM
/// restarted elsewhere, is usually back within moments: the DM waits for
/// it (a store that answers a scan, an LM bound alive again) and watches
/// it anew; meanwhile its requests fail or wait, and a restarted LM's
/// hello aborts the DM's active transactions (what the paper's fail-stop
/// of the DM achieves for them). If the peer stays away for
/// load_attempts * load_retry_ms, the DM fail-stops as in the paper.
void await_peer(caf::event_based_actor* self,
                std::shared_ptr<role_state<dm_core>> st, std::string peer,
                uint32_t attempts) {
  auto again = [self, st, peer, attempts](caf::error& err) {
    if (attempts <= 1) {
      self->quit(make_error(errc::fail_stop, "data manager: " + peer
                                               + " failed: " + describe(err)));
      return;
    }
    detail::after_delay(
      self, &context_of(self->system()), load_retry_ms, nullptr,
      [self, st, peer, attempts] { await_peer(self, st, peer, attempts - 1); },
      [self](caf::error& e) { self->quit(e); });
  };
  if (peer == store_peer) {
    call(self, st->store, ss_scan_atom::value, std::string{incarnation_key})
      .then([self, st, peer](std::vector<std::string>&) { watch(self, st, peer); },
            again);
    return;
  }
  if (!watch(self, st, peer)) {
    auto err = make_error(errc::fail_stop, "no live lock manager");
    again(err);
  }
}

persistent_behavior data_manager(caf::event_based_actor* self,
                                 capability<> store, uint64_t id) {
  auto st = std::make_shared<role_state<dm_core>>();
  st->store = store;
  auto ready = [st] { return st->core.has_value(); };
  caf::message_handler ops{
    [self, st, ready](const dm_request& m) {
      if (ready())
        apply(self, st, st->core->on_request(m));
    },
    [self, st, ready](const tm_query& m) {
      if (ready())
        apply(self, st, st->core->on_query(m));
    },
    [self, st, ready](const lm_reply& m) {
      if (ready())
        apply(self, st, st->core->on_lock_reply(m));
    },
    [self, st, ready](const lm_hello& m) {
      if (ready())
        apply(self, st, st->core->on_lm_hello(m));
    },
    [st, ready](dm_values_atom) {
      std::vector<std::string> kvs;
      if (ready())
        for (auto& [k, v] : st->core->values()) {
          kvs.push_back(k);
          kvs.push_back(std::to_string(v));
        }
      return kvs;
    },
    [self, st](txn_down_atom, const std::string& what) {
      await_peer(self, st, what, load_attempts);
    },
  };
  return with_start(
    self, std::move(ops), [self, st, id](uint64_t, auto done) {
      watch(self, st, store_peer);
      watch(self, st, lm_peer);
      load(
        self, st,
        [st, id](const auto& records, uint64_t incarnation) {
          st->core.emplace(dm_config{id, incarnation});
          return st->core->recover(records);
        },
        done);
    });
}

// -- transaction manager ------------------------------------------------------

/// One client operation of the TM, run as a transaction through the core.
struct tm_op {
  enum kind_t { transfer, create, read } kind = transfer;
  caf::response_promise rp;
  uint64_t token = 0;
  uint64_t from_dm = 0;
  std::string from;
  uint64_t to_dm = 0;
  std::string to;
  int64_t amount = 0;
  int stage = 0;
  txn_id tid = 0;
  int64_t from_balance = 0;
  int64_t to_balance = 0;
};

struct tm_runtime {
  std::shared_ptr<role_state<tm_core>> st;
  std::map<uint64_t, tm_op> ops; // by client id
  uint64_t next_client = 0;
};

void tm_send(caf::event_based_actor* self, tm_runtime& rt, uint64_t client,
             tx_kind kind, txn_id tid, uint64_t dm = 0, std::string key = {},
             int64_t value = 0, uint64_t token = 0, bool for_update = false) {
  tx_request req{client,         0,     kind,  tid,       dm,
                 std::move(key), value, token, for_update};
  apply(self, rt.st, rt.st->core->on_request(req));
}

void tm_finish(tm_runtime& rt, uint64_t client, const std::string& outcome,
               int64_t value) {
  auto i = rt.ops.find(client);
  if (i == rt.ops.end())
    return;
  auto rp = i->second.rp;
  rt.ops.erase(i);
  rp.deliver(outcome, value);
}

/// Ends an operation refused for a reason that does not abort the
/// transaction: aborts it first (it changed nothing).
void tm_refuse(caf::event_based_actor* self, tm_runtime& rt, uint64_t client,
               const std::string& outcome) {
  auto tid = rt.ops[client].tid;
  tm_finish(rt, client, outcome, 0);
  tm_send(self, rt, client, tx_kind::abort, tid);
}

/// True if a transfer reads (and locks) its source account first: the
/// accounts are locked in (dm, key) order.
bool from_first(const tm_op& op) {
  return std::tie(op.from_dm, op.from) < std::tie(op.to_dm, op.to);
}

/// The next stage of operation `client` after reply `r`.
void tm_advance(caf::event_based_actor* self, std::shared_ptr<tm_runtime> rt,
                const tx_reply& r) {
  auto i = rt->ops.find(r.client);
  if (i == rt->ops.end())
    return;
  auto& op = i->second;
  auto c = r.client;
  if (r.reason == txn_reason::unknown_item) {
    if (op.kind == tm_op::create && op.stage == 1) {
      op.stage = 3;
      tm_send(self, *rt, c, tx_kind::write, op.tid, op.from_dm, op.from,
              op.amount);
    } else {
      tm_refuse(self, *rt, c, "unknown_account");
    }
    return;
  }
  if (r.reason != txn_reason::none) {
    auto tid = op.tid;
    tm_finish(*rt, c, to_string(r.reason), 0);
    if (!aborts_transaction(r.reason) && tid != 0)
      tm_send(self, *rt, c, tx_kind::abort, tid);
    return;
  }
  auto stage = op.stage++;
  if (stage == 0) {
    // A transfer or a create writes what it reads: exclusive locks from
    // the start (reads for update), so two transfers over one account
    // queue instead of deadlocking on an upgrade; a transfer reads its two
    // accounts in one global order, so two transfers over the same pair in
    // opposite directions queue too.
    op.tid = r.tid;
    bool to_first = op.kind == tm_op::transfer && !from_first(op);
    tm_send(self, *rt, c, tx_kind::read, op.tid,
            to_first ? op.to_dm : op.from_dm, to_first ? op.to : op.from, 0,
            0, op.kind != tm_op::read);
    return;
  }
  switch (op.kind) {
    case tm_op::read:
      if (stage == 1) {
        op.from_balance = r.value;
        tm_send(self, *rt, c, tx_kind::commit, op.tid);
      } else {
        tm_finish(*rt, c, "ok", op.from_balance);
      }
      return;
    case tm_op::create:
      // stage 1: the item exists; 3: written (see unknown_item above).
      if (stage == 1) {
        tm_refuse(self, *rt, c, "account_exists");
      } else if (stage == 3) {
        tm_send(self, *rt, c, tx_kind::commit, op.tid, 0, {}, 0, op.token);
      } else {
        tm_finish(*rt, c, "ok", op.amount);
      }
      return;
    case tm_op::transfer:
      switch (stage) {
        case 1:
          if (from_first(op)) {
            op.from_balance = r.value;
            tm_send(self, *rt, c, tx_kind::read, op.tid, op.to_dm, op.to, 0,
                    0, true);
          } else {
            op.to_balance = r.value;
            tm_send(self, *rt, c, tx_kind::read, op.tid, op.from_dm, op.from,
                    0, 0, true);
          }
          return;
        case 2:
          (from_first(op) ? op.to_balance : op.from_balance) = r.value;
          if (op.from_balance < op.amount) {
            tm_refuse(self, *rt, c, "insufficient_funds");
            return;
          }
          tm_send(self, *rt, c, tx_kind::write, op.tid, op.from_dm, op.from,
                  op.from_balance - op.amount);
          return;
        case 3:
          tm_send(self, *rt, c, tx_kind::write, op.tid, op.to_dm, op.to,
                  op.to_balance + op.amount);
          return;
        case 4:
          tm_send(self, *rt, c, tx_kind::commit, op.tid, 0, {}, 0, op.token);
          return;
        default:
          tm_finish(*rt, c, "ok", op.from_balance - op.amount);
          return;
      }
  }
}

using tm_result = caf::result<std::string, int64_t>;

/// Starts operation `op` (begin), or answers at once.
tm_result tm_begin(caf::event_based_actor* self, std::shared_ptr<tm_runtime> rt,
                   tm_op op) {
  if (!rt->st->core || !rt->st->core->recovered())
    return {std::string{to_string(txn_reason::not_ready)}, int64_t{0}};
  if (op.kind != tm_op::read && rt->st->core->committed(op.token))
    return {std::string{"ok"}, int64_t{0}};
  auto c = ++rt->next_client;
  op.rp = self->make_response_promise();
  auto rp = op.rp;
  rt->ops.emplace(c, std::move(op));
  tm_send(self, *rt, c, tx_kind::begin, 0);
  return caf::delegated<std::string, int64_t>{};
}

persistent_behavior transaction_manager(caf::event_based_actor* self,
                                        capability<> store, uint64_t dms) {
  auto rt = std::make_shared<tm_runtime>();
  rt->st = std::make_shared<role_state<tm_core>>();
  rt->st->store = store;
  auto st = rt->st;
  st->on_client_reply = [self, w = std::weak_ptr<tm_runtime>(rt)](
                          const tx_reply& r) {
    if (auto rt = w.lock())
      tm_advance(self, rt, r);
  };
  auto ready = [st] { return st->core && st->core->recovered(); };
  caf::message_handler ops{
    [self, rt](tm_transfer_atom, uint64_t token, uint64_t from_dm,
               const std::string& from, uint64_t to_dm, const std::string& to,
               int64_t amount) -> tm_result {
      tm_op op;
      op.kind = tm_op::transfer;
      op.token = token;
      op.from_dm = from_dm;
      op.from = from;
      op.to_dm = to_dm;
      op.to = to;
      op.amount = amount;
      if (amount <= 0 || token == 0 || (from_dm == to_dm && from == to))
        return {std::string{to_string(txn_reason::bad_request)}, int64_t{0}};
      return tm_begin(self, rt, std::move(op));
    },
    [self, rt](tm_create_atom, uint64_t token, uint64_t dm,
               const std::string& key, int64_t amount) -> tm_result {
      if (amount < 0 || token == 0)
        return {std::string{to_string(txn_reason::bad_request)}, int64_t{0}};
      tm_op op;
      op.kind = tm_op::create;
      op.token = token;
      op.from_dm = dm;
      op.from = key;
      op.amount = amount;
      return tm_begin(self, rt, std::move(op));
    },
    [self, rt](tm_read_atom, uint64_t dm, const std::string& key) -> tm_result {
      tm_op op;
      op.kind = tm_op::read;
      op.from_dm = dm;
      op.from = key;
      return tm_begin(self, rt, std::move(op));
    },
    [rt](tm_status_atom, uint64_t token) -> tm_result {
      if (!rt->st->core || !rt->st->core->recovered())
        return {std::string{to_string(txn_reason::not_ready)}, int64_t{0}};
      if (token == 0)
        return {std::string{to_string(txn_reason::bad_request)}, int64_t{0}};
      // Running first: a decision is taken before its log write is done.
      for (auto& [client, op] : rt->ops)
        if (op.token == token)
          return {std::string{"running"}, int64_t{0}};
      if (rt->st->core->committed(token))
        return {std::string{"committed"}, int64_t{0}};
      return {std::string{"not_committed"}, int64_t{0}};
    },
    [self, st, ready](const dm_reply& m) {
      if (ready())
        apply(self, st, st->core->on_dm_reply(m));
    },
    [self, st, ready](const dm_up& m) {
      if (ready())
        apply(self, st, st->core->on_dm_up(m));
    },
    [self, st, ready](txn_tick_atom) {
      if (ready())
        apply(self, st, st->core->on_tick(now_ms()));
      tick(self);
    },
  };
  return with_start(self, std::move(ops),
                    [self, st, dms](uint64_t, auto done) {
                      tick(self);
                      load(
                        self, st,
                        [st, dms](const auto& records, uint64_t incarnation) {
                          tm_config cfg;
                          cfg.incarnation = incarnation;
                          cfg.dms = dm_ids(dms);
                          st->core.emplace(cfg);
                          st->core->on_tick(now_ms());
                          return st->core->recover(records);
                        },
                        done);
                    });
}

} // namespace

void add_txn_actor_types(caf::actor_system_config& cfg) {
  add_txn_types(cfg);
  add_stable_store_types(cfg);
  add_persistent_type(cfg, lm_type, lock_manager);
  add_persistent_type(cfg, dm_type, data_manager);
  add_persistent_type(cfg, tm_type, transaction_manager);
}

std::optional<capability_ref> find_role(node_context& ctx,
                                        const std::string& type, uint64_t id) {
  for (auto& spec : ctx.dir.restart_specs()) {
    if (spec.type != type)
      continue;
    if (id != 0
        && !(spec.args.match_element<uint64_t>(1)
             && spec.args.get_as<uint64_t>(1) == id))
      continue;
    auto ref = ctx.dir.lookup(spec.id);
    if (ref && !is(ctx.dir.failure_of(*ref), errc::destroyed))
      return ref;
  }
  return std::nullopt;
}

} // namespace ftsr
