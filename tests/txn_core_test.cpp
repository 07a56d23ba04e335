// Step tests of the transaction cores (txn/): the lock manager's strict
// 2PL (conflicts, FIFO, upgrades, deadlock cycles, timeouts, restarts),
// the data manager's operations and recovery, the 2PC coordinator's
// rounds and every recovery case (TM failure before prepare, between
// prepare and the logged decision, after the decision; DM failure before
// and after prepare; re-issued commits; a lost dm_up; a participant that
// never answers), group commit, and bad inputs (a clear reason, state
// intact). No actors, clocks or sockets: each test feeds inputs and reads
// the steps.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/binary_deserializer.hpp"
#include "caf/binary_serializer.hpp"
#include "caf/make_message.hpp"
#include "caf/message.hpp"

#include "actors/errors.hpp"
#include "txn/dm_core.hpp"
#include "txn/lock_core.hpp"
#include "txn/tm_core.hpp"

using namespace ftsr;

namespace {

/// Messages of type T in a step, in order.
template <class T>
std::vector<T> all(const txn_step& st) {
  std::vector<T> result;
  for (auto& e : st.out)
    if (auto x = std::get_if<T>(&e.msg))
      result.push_back(*x);
  return result;
}

/// Messages of type T to `to`.
template <class T>
std::vector<T> to(const txn_step& st, txn_party p) {
  std::vector<T> result;
  for (auto& e : st.out)
    if (e.to == p)
      if (auto x = std::get_if<T>(&e.msg))
        result.push_back(*x);
  return result;
}

/// The only message of type T in a step.
template <class T>
T one(const txn_step& st) {
  auto xs = all<T>(st);
  EXPECT_EQ(xs.size(), 1u) << "step has " << xs.size() << " messages";
  return xs.empty() ? T{} : xs.front();
}

using records = std::vector<std::pair<std::string, std::string>>;

/// A stable store: applies a step's write.
struct store {
  std::map<std::string, std::string> data;

  void apply(const log_write& w) {
    for (auto& op : w.batch.ops())
      if (op.value)
        data[op.key] = *op.value;
      else
        data.erase(op.key);
  }

  records all() const {
    return {data.begin(), data.end()};
  }

  bool has_prefix(const std::string& prefix) const {
    auto i = data.lower_bound(prefix);
    return i != data.end() && i->first.rfind(prefix, 0) == 0;
  }
};

const txn_party tm_party{txn_party::tm, 0};
const txn_party lm_party{txn_party::lm, 0};

txn_party dm_party(uint64_t id) {
  return {txn_party::dm, id};
}

txn_party client_party(uint64_t id) {
  return {txn_party::client, id};
}

// -- lock manager -------------------------------------------------------------

constexpr uint64_t timeout = 100;

lm_request lock_req(txn_id tid, const std::string& key, lock_mode mode,
                    uint64_t dm = 1, uint64_t epoch = 1) {
  static uint64_t req = 0;
  return {lm_op::lock, dm, epoch, tid, ++req, key, mode};
}

lm_request release_req(txn_id tid, uint64_t dm = 1, uint64_t epoch = 1) {
  return {lm_op::release, dm, epoch, tid, 0, {}, lock_mode::shared};
}

/// A lock manager of DMs 1 and 2 that has heard from both.
lock_core serving_lm() {
  lock_core lm{lock_config{{1, 2}, 1, timeout, 50}};
  lm.start();
  lm.on_reclaim({1, 1, 1, {}});
  lm.on_reclaim({2, 1, 1, {}});
  EXPECT_TRUE(lm.serving());
  return lm;
}

/// The reasons of the lm_replies of a step, by transaction.
std::map<txn_id, txn_reason> answers(const txn_step& st) {
  std::map<txn_id, txn_reason> result;
  for (auto& r : all<lm_reply>(st))
    result[r.tid] = r.reason;
  return result;
}

using reasons = std::map<txn_id, txn_reason>;

TEST(lock_core, shared_locks_share_and_exclusive_waits_in_fifo_order) {
  auto lm = serving_lm();
  EXPECT_EQ(answers(lm.on_request(lock_req(1, "x", lock_mode::shared))),
            (reasons{{1, txn_reason::none}}));
  EXPECT_EQ(answers(lm.on_request(lock_req(2, "x", lock_mode::shared))),
            (reasons{{2, txn_reason::none}}));
  EXPECT_TRUE(lm.on_request(lock_req(3, "x", lock_mode::exclusive)).out.empty());
  // A shared request does not overtake the waiting exclusive one.
  EXPECT_TRUE(lm.on_request(lock_req(4, "x", lock_mode::shared)).out.empty());
  EXPECT_EQ(lm.waiters(1, "x"), (std::vector<txn_id>{3, 4}));
  EXPECT_TRUE(lm.on_request(release_req(1)).out.empty());
  EXPECT_EQ(answers(lm.on_request(release_req(2))),
            (reasons{{3, txn_reason::none}}));
  EXPECT_EQ(lm.held(1, "x", 3), lock_mode::exclusive);
  EXPECT_EQ(answers(lm.on_request(release_req(3))),
            (reasons{{4, txn_reason::none}}));
  EXPECT_EQ(lm.on_request(release_req(4)).out.size(), 0u);
  EXPECT_EQ(lm.lock_count(), 0u);
  EXPECT_EQ(lm.wait_count(), 0u);
}

TEST(lock_core, same_key_on_two_data_managers_are_two_locks) {
  auto lm = serving_lm();
  lm.on_request(lock_req(1, "x", lock_mode::exclusive, 1));
  EXPECT_EQ(answers(lm.on_request(lock_req(2, "x", lock_mode::exclusive, 2))),
            (reasons{{2, txn_reason::none}}));
  // Releasing on DM 1 leaves DM 2's lock of the same transaction alone.
  lm.on_request(lock_req(2, "y", lock_mode::exclusive, 1));
  lm.on_request(release_req(2, 1));
  EXPECT_EQ(lm.held(1, "y", 2), std::nullopt);
  EXPECT_EQ(lm.held(2, "x", 2), lock_mode::exclusive);
}

TEST(lock_core, asking_again_for_a_held_mode_is_granted_at_once) {
  auto lm = serving_lm();
  lm.on_request(lock_req(1, "x", lock_mode::exclusive));
  EXPECT_EQ(answers(lm.on_request(lock_req(1, "x", lock_mode::shared))),
            (reasons{{1, txn_reason::none}}));
  EXPECT_EQ(lm.held(1, "x", 1), lock_mode::exclusive);
}

TEST(lock_core, sole_holder_upgrades_at_once) {
  auto lm = serving_lm();
  lm.on_request(lock_req(1, "x", lock_mode::shared));
  EXPECT_EQ(answers(lm.on_request(lock_req(1, "x", lock_mode::exclusive))),
            (reasons{{1, txn_reason::none}}));
  EXPECT_EQ(lm.held(1, "x", 1), lock_mode::exclusive);
}

TEST(lock_core, upgrade_waits_for_other_readers_ahead_of_other_waiters) {
  auto lm = serving_lm();
  lm.on_request(lock_req(1, "x", lock_mode::shared));
  lm.on_request(lock_req(2, "x", lock_mode::shared));
  EXPECT_TRUE(lm.on_request(lock_req(3, "x", lock_mode::exclusive)).out.empty());
  EXPECT_TRUE(lm.on_request(lock_req(1, "x", lock_mode::exclusive)).out.empty());
  EXPECT_EQ(lm.waiters(1, "x"), (std::vector<txn_id>{1, 3}));
  EXPECT_EQ(answers(lm.on_request(release_req(2))),
            (reasons{{1, txn_reason::none}}));
  EXPECT_EQ(lm.held(1, "x", 1), lock_mode::exclusive);
  EXPECT_EQ(lm.waiters(1, "x"), (std::vector<txn_id>{3}));
}

TEST(lock_core, deadlock_cycle_of_two_aborts_the_youngest) {
  auto lm = serving_lm();
  lm.on_request(lock_req(1, "a", lock_mode::exclusive));
  lm.on_request(lock_req(2, "b", lock_mode::exclusive));
  EXPECT_TRUE(lm.on_request(lock_req(1, "b", lock_mode::exclusive)).out.empty());
  auto st = lm.on_request(lock_req(2, "a", lock_mode::exclusive));
  EXPECT_EQ(answers(st), (reasons{{2, txn_reason::deadlock}}));
  EXPECT_EQ(lm.waiters(1, "b"), (std::vector<txn_id>{1}));
  // The victim's abort releases what it holds: the survivor proceeds.
  EXPECT_EQ(answers(lm.on_request(release_req(2))),
            (reasons{{1, txn_reason::none}}));
}

TEST(lock_core, two_readers_upgrading_deadlock) {
  auto lm = serving_lm();
  lm.on_request(lock_req(7, "x", lock_mode::shared));
  lm.on_request(lock_req(8, "x", lock_mode::shared));
  EXPECT_TRUE(lm.on_request(lock_req(8, "x", lock_mode::exclusive)).out.empty());
  auto st = lm.on_request(lock_req(7, "x", lock_mode::exclusive));
  EXPECT_EQ(answers(st), (reasons{{8, txn_reason::deadlock}}));
  EXPECT_EQ(lm.waiters(1, "x"), (std::vector<txn_id>{7}));
}

TEST(lock_core, readers_for_update_queue_instead_of_deadlocking) {
  // Two transfers over one account read it for update: the second waits
  // behind the first (no upgrade, no cycle), then gets the lock.
  auto lm = serving_lm();
  EXPECT_EQ(answers(lm.on_request(lock_req(7, "x", lock_mode::exclusive))),
            (reasons{{7, txn_reason::none}}));
  EXPECT_TRUE(lm.on_request(lock_req(8, "x", lock_mode::exclusive)).out.empty());
  EXPECT_EQ(lm.waiters(1, "x"), (std::vector<txn_id>{8}));
  EXPECT_EQ(answers(lm.on_request(release_req(7))),
            (reasons{{8, txn_reason::none}}));
  EXPECT_EQ(lm.held(1, "x", 8), lock_mode::exclusive);
}

TEST(lock_core, deadlock_cycle_of_three_aborts_the_youngest_not_the_last) {
  auto lm = serving_lm();
  lm.on_request(lock_req(1, "a", lock_mode::exclusive));
  lm.on_request(lock_req(3, "b", lock_mode::exclusive, 2));
  lm.on_request(lock_req(2, "c", lock_mode::exclusive));
  EXPECT_TRUE(lm.on_request(lock_req(3, "c", lock_mode::exclusive)).out.empty());
  EXPECT_TRUE(lm.on_request(lock_req(2, "a", lock_mode::exclusive)).out.empty());
  // 1 -> b (held by 3) closes 1 -> 3 -> 2 -> 1: the victim is 3, which
  // was waiting already, not 1, whose request closed the cycle.
  auto st = lm.on_request(lock_req(1, "b", lock_mode::exclusive, 2));
  EXPECT_EQ(answers(st), (reasons{{3, txn_reason::deadlock}}));
  EXPECT_EQ(lm.waiters(1, "c"), (std::vector<txn_id>{}));
  EXPECT_EQ(lm.waiters(2, "b"), (std::vector<txn_id>{1}));
  EXPECT_EQ(answers(lm.on_request(release_req(3, 2))),
            (reasons{{1, txn_reason::none}}));
}

TEST(lock_core, waiting_longer_than_the_lock_timeout_is_refused) {
  auto lm = serving_lm();
  lm.on_tick(1000);
  lm.on_request(lock_req(1, "x", lock_mode::exclusive));
  lm.on_request(lock_req(2, "x", lock_mode::exclusive));
  lm.on_tick(1050);
  lm.on_request(lock_req(3, "x", lock_mode::shared));
  EXPECT_TRUE(lm.on_tick(1000 + timeout - 1).out.empty());
  EXPECT_EQ(answers(lm.on_tick(1000 + timeout)),
            (reasons{{2, txn_reason::lock_timeout}}));
  EXPECT_EQ(lm.waiters(1, "x"), (std::vector<txn_id>{3}));
  EXPECT_EQ(answers(lm.on_tick(1050 + timeout)),
            (reasons{{3, txn_reason::lock_timeout}}));
  EXPECT_EQ(lm.held(1, "x", 1), lock_mode::exclusive);
}

TEST(lock_core, release_cancels_waits_and_grants_the_next) {
  auto lm = serving_lm();
  lm.on_request(lock_req(1, "x", lock_mode::exclusive));
  lm.on_request(lock_req(2, "x", lock_mode::exclusive));
  lm.on_request(lock_req(3, "x", lock_mode::shared));
  lm.on_request(lock_req(4, "x", lock_mode::shared));
  EXPECT_TRUE(lm.on_request(release_req(2)).out.empty());
  EXPECT_EQ(answers(lm.on_request(release_req(1))),
            (reasons{{3, txn_reason::none}, {4, txn_reason::none}}));
}

TEST(lock_core, bad_requests_are_refused_and_change_nothing) {
  auto lm = serving_lm();
  lm.on_request(lock_req(1, "x", lock_mode::exclusive));
  lm.on_request(lock_req(2, "x", lock_mode::shared));
  auto before_locks = lm.lock_count();
  auto before_waits = lm.wait_count();
  EXPECT_EQ(answers(lm.on_request(lock_req(3, "x", lock_mode::shared, 9))),
            (reasons{{3, txn_reason::bad_request}}));
  EXPECT_EQ(answers(lm.on_request(lock_req(3, "", lock_mode::shared))),
            (reasons{{3, txn_reason::bad_request}}));
  EXPECT_EQ(answers(lm.on_request(lock_req(0, "y", lock_mode::shared))),
            (reasons{{0, txn_reason::bad_request}}));
  EXPECT_EQ(answers(lm.on_request(lock_req(2, "x", lock_mode::exclusive))),
            (reasons{{2, txn_reason::busy}}));
  EXPECT_TRUE(lm.on_reclaim({9, 5, 1, {{1, "x", lock_mode::shared}}}).out.empty());
  EXPECT_EQ(lm.lock_count(), before_locks);
  EXPECT_EQ(lm.wait_count(), before_waits);
  EXPECT_EQ(lm.waiters(1, "x"), (std::vector<txn_id>{2}));
  EXPECT_STREQ(to_string(txn_reason::deadlock), "deadlock");
  EXPECT_STREQ(to_string(txn_reason::lock_timeout), "lock_timeout");
  EXPECT_STREQ(to_string(txn_reason::participant_failed),
               "participant_failed");
  EXPECT_STREQ(to_string(txn_reason::aborted_by_client), "aborted_by_client");
}

TEST(lock_core, restarted_lock_manager_rebuilds_prepared_locks_first) {
  lock_core lm{lock_config{{1, 2}, 2, timeout, 50}};
  auto st = lm.start();
  EXPECT_EQ(to<lm_hello>(st, dm_party(1)).size(), 1u);
  EXPECT_EQ(to<lm_hello>(st, dm_party(2)).size(), 1u);
  EXPECT_FALSE(lm.serving());
  // DM 2's request waits; DM 1's request before its reclaim belongs to a
  // transaction DM 1 aborted when it answered the hello: dropped.
  EXPECT_TRUE(lm.on_request(lock_req(5, "x", lock_mode::shared, 1)).out.empty());
  EXPECT_TRUE(lm.on_request(lock_req(6, "y", lock_mode::shared, 2)).out.empty());
  // DM 1's prepared transaction 4 held x exclusively.
  EXPECT_TRUE(lm.on_reclaim({1, 1, 2, {{4, "x", lock_mode::exclusive}}}).out.empty());
  EXPECT_FALSE(lm.serving());
  EXPECT_TRUE(lm.on_request(lock_req(7, "x", lock_mode::shared, 1)).out.empty());
  // DM 2 stays silent: asked again after the retry interval.
  EXPECT_TRUE(lm.on_tick(49).out.empty());
  st = lm.on_tick(50);
  EXPECT_EQ(to<lm_hello>(st, dm_party(2)).size(), 1u);
  EXPECT_TRUE(to<lm_hello>(st, dm_party(1)).empty());
  // A reclaim answering another incarnation's hello does not count.
  lm.on_reclaim({2, 1, 1, {}});
  EXPECT_FALSE(lm.serving());
  st = lm.on_reclaim({2, 1, 2, {}});
  EXPECT_TRUE(lm.serving());
  // Now the backlog is served: 6 was dropped by DM 2's reclaim, 7 waits
  // behind the prepared transaction 4.
  EXPECT_TRUE(answers(st).empty());
  EXPECT_EQ(lm.held(1, "x", 4), lock_mode::exclusive);
  EXPECT_EQ(lm.waiters(1, "x"), (std::vector<txn_id>{7}));
  EXPECT_EQ(answers(lm.on_request(release_req(4))),
            (reasons{{7, txn_reason::none}}));
}

TEST(lock_core, restarted_data_manager_drops_its_old_locks) {
  auto lm = serving_lm();
  lm.on_request(lock_req(1, "x", lock_mode::exclusive, 1, 1));
  lm.on_request(lock_req(2, "y", lock_mode::exclusive, 1, 1));
  lm.on_request(lock_req(3, "x", lock_mode::shared, 1, 1));
  // DM 1 restarted (epoch 2): transaction 2 was prepared, 1 and 3 lost.
  lm.on_reclaim({1, 2, 0, {{2, "y", lock_mode::exclusive}}});
  EXPECT_EQ(lm.holders(1, "x"), (std::vector<txn_id>{}));
  EXPECT_EQ(lm.waiters(1, "x"), (std::vector<txn_id>{}));
  EXPECT_EQ(lm.held(1, "y", 2), lock_mode::exclusive);
  // A late request of the failed incarnation is ignored.
  EXPECT_TRUE(lm.on_request(lock_req(1, "z", lock_mode::shared, 1, 1)).out.empty());
  EXPECT_EQ(lm.holders(1, "z"), (std::vector<txn_id>{}));
  EXPECT_EQ(answers(lm.on_request(lock_req(9, "z", lock_mode::shared, 1, 2))),
            (reasons{{9, txn_reason::none}}));
}

// -- data manager -------------------------------------------------------------

constexpr txn_id t1 = (uint64_t{1} << 32) | 1;
constexpr txn_id t2 = (uint64_t{1} << 32) | 2;
constexpr txn_id t3 = (uint64_t{1} << 32) | 3;

dm_request dm_req(dm_op op, txn_id tid, const std::string& key = {},
                  int64_t value = 0) {
  static uint64_t req = 0;
  return {op, tid, ++req, key, value};
}

struct dm_fixture : ::testing::Test {
  store disk;
  std::optional<dm_core> dm;
  uint64_t epoch = 0;

  dm_fixture() {
    disk.data.insert(dm_core::item_record("x", 100));
    disk.data.insert(dm_core::item_record("y", 50));
    restart();
  }

  /// A new incarnation recovering from the disk.
  txn_step restart() {
    dm.emplace(dm_config{1, ++epoch});
    auto st = dm->recover(disk.all());
    EXPECT_TRUE(st) << describe(st.error());
    return st ? *st : txn_step{};
  }

  /// Feeds a request; grants every lock it asks for; writes what it asks.
  txn_step run(const dm_request& m, bool durable = true) {
    auto st = dm->on_request(m);
    return settle(std::move(st), durable);
  }

  txn_step settle(txn_step st, bool durable) {
    txn_step result;
    for (;;) {
      auto locks = all<lm_request>(st);
      for (auto& e : st.out)
        result.out.push_back(e);
      std::optional<log_write> w = std::move(st.write);
      st = txn_step{};
      for (auto& l : locks)
        if (l.op == lm_op::lock) {
          auto next = dm->on_lock_reply({l.tid, l.req, l.key, txn_reason::none});
          st.out.insert(st.out.end(), next.out.begin(), next.out.end());
        }
      if (w) {
        result.write = w;
        if (durable) {
          disk.apply(*w);
          auto next = dm->on_written(w->id);
          st.out.insert(st.out.end(), next.out.begin(), next.out.end());
          st.write = std::move(next.write);
        }
      }
      if (st.out.empty() && !st.write)
        return result;
    }
  }

  dm_reply answer(const txn_step& st) {
    auto r = to<dm_reply>(st, tm_party);
    EXPECT_EQ(r.size(), 1u);
    return r.empty() ? dm_reply{} : r.back();
  }

  /// A transaction that moved 30 from x to y, prepared.
  void prepared_transfer(txn_id tid) {
    EXPECT_EQ(answer(run(dm_req(dm_op::start, tid))).reason, txn_reason::none);
    EXPECT_EQ(answer(run(dm_req(dm_op::read, tid, "x"))).value, 100);
    run(dm_req(dm_op::write, tid, "x", 70));
    run(dm_req(dm_op::write, tid, "y", 80));
    EXPECT_EQ(answer(run(dm_req(dm_op::prepare, tid))).reason,
              txn_reason::none);
  }
};

TEST_F(dm_fixture, recovery_of_a_fresh_store_reports_up_to_tm_and_lm) {
  dm.emplace(dm_config{1, 5});
  auto st = dm->recover(disk.all());
  ASSERT_TRUE(st);
  auto up = to<dm_up>(*st, tm_party);
  ASSERT_EQ(up.size(), 1u);
  EXPECT_TRUE(up[0].recovered);
  EXPECT_EQ(up[0].epoch, 5u);
  EXPECT_TRUE(up[0].prepared.empty());
  EXPECT_EQ(to<lm_reclaim>(*st, lm_party).size(), 1u);
  EXPECT_EQ(dm->value("x"), 100);
}

TEST_F(dm_fixture, reads_and_writes_take_shared_then_exclusive_locks) {
  run(dm_req(dm_op::start, t1));
  auto st = dm->on_request(dm_req(dm_op::read, t1, "x"));
  auto l = one<lm_request>(st);
  EXPECT_EQ(l.mode, lock_mode::shared);
  EXPECT_TRUE(all<dm_reply>(st).empty()); // waits for the lock
  st = dm->on_lock_reply({t1, l.req, "x", txn_reason::none});
  EXPECT_EQ(answer(st).value, 100);
  st = dm->on_request(dm_req(dm_op::write, t1, "x", 70));
  l = one<lm_request>(st);
  EXPECT_EQ(l.mode, lock_mode::exclusive); // the upgrade
  st = dm->on_lock_reply({t1, l.req, "x", txn_reason::none});
  EXPECT_EQ(answer(st).reason, txn_reason::none);
  // The transaction reads its own write; nothing is visible outside.
  st = dm->on_request(dm_req(dm_op::read, t1, "x"));
  EXPECT_TRUE(all<lm_request>(st).empty());
  EXPECT_EQ(answer(st).value, 70);
  EXPECT_EQ(dm->value("x"), 100);
}

TEST_F(dm_fixture, read_for_update_takes_the_exclusive_lock_at_once) {
  run(dm_req(dm_op::start, t1));
  auto m = dm_req(dm_op::read, t1, "x");
  m.for_update = true;
  auto st = dm->on_request(m);
  auto l = one<lm_request>(st);
  EXPECT_EQ(l.mode, lock_mode::exclusive);
  st = dm->on_lock_reply({t1, l.req, "x", txn_reason::none});
  EXPECT_EQ(answer(st).value, 100);
  // The write that follows needs no upgrade.
  st = dm->on_request(dm_req(dm_op::write, t1, "x", 70));
  EXPECT_TRUE(all<lm_request>(st).empty());
  EXPECT_EQ(answer(st).reason, txn_reason::none);
}

TEST_F(dm_fixture, a_refused_lock_is_the_operations_answer) {
  run(dm_req(dm_op::start, t1));
  auto st = dm->on_request(dm_req(dm_op::write, t1, "x", 1));
  auto l = one<lm_request>(st);
  st = dm->on_lock_reply({t1, l.req, "x", txn_reason::deadlock});
  EXPECT_EQ(answer(st).reason, txn_reason::deadlock);
  EXPECT_EQ(dm->status_of(t1), dm_core::status::active);
}

TEST_F(dm_fixture, prepare_answers_only_once_durable_and_commit_flips) {
  run(dm_req(dm_op::start, t1));
  run(dm_req(dm_op::write, t1, "x", 70));
  auto st = dm->on_request(dm_req(dm_op::prepare, t1));
  ASSERT_TRUE(st.write);
  EXPECT_TRUE(all<dm_reply>(st).empty()); // not durable yet
  auto w = *st.write;
  disk.apply(w);
  EXPECT_TRUE(disk.has_prefix("txn/"));
  st = dm->on_written(w.id);
  EXPECT_EQ(answer(st).reason, txn_reason::none);
  EXPECT_EQ(dm->status_of(t1), dm_core::status::prepared);
  EXPECT_EQ(dm->value("x"), 100); // the new value is the non-current one
  st = dm->on_request(dm_req(dm_op::commit, t1));
  ASSERT_TRUE(st.write);
  EXPECT_TRUE(all<dm_reply>(st).empty());
  EXPECT_TRUE(all<lm_request>(st).empty()); // locks held until durable
  w = *st.write;
  disk.apply(w);
  st = dm->on_written(w.id);
  EXPECT_EQ(answer(st).reason, txn_reason::none);
  auto rel = one<lm_request>(st);
  EXPECT_EQ(rel.op, lm_op::release);
  EXPECT_EQ(rel.tid, t1);
  EXPECT_EQ(dm->value("x"), 70);
  // A re-issued commit answers again and changes nothing.
  st = run(dm_req(dm_op::commit, t1));
  EXPECT_EQ(answer(st).reason, txn_reason::none);
  EXPECT_FALSE(st.write);
  EXPECT_EQ(dm->value("x"), 70);
  // Forget drops the entry and its record.
  st = run(dm_req(dm_op::forget, t1));
  EXPECT_TRUE(st.out.empty());
  EXPECT_EQ(dm->transactions(), 0u);
  EXPECT_FALSE(disk.has_prefix("txn/"));
  restart();
  EXPECT_EQ(dm->value("x"), 70);
  EXPECT_EQ(dm->value("y"), 50);
}

TEST_F(dm_fixture, writes_create_items_at_commit_only) {
  run(dm_req(dm_op::start, t1));
  run(dm_req(dm_op::write, t1, "new", 5));
  run(dm_req(dm_op::prepare, t1));
  EXPECT_EQ(dm->value("new"), std::nullopt);
  run(dm_req(dm_op::start, t2));
  run(dm_req(dm_op::abort, t1));
  EXPECT_EQ(answer(run(dm_req(dm_op::read, t2, "new"))).reason,
            txn_reason::unknown_item);
  run(dm_req(dm_op::start, t3));
  run(dm_req(dm_op::write, t3, "new", 6));
  run(dm_req(dm_op::prepare, t3));
  run(dm_req(dm_op::commit, t3));
  EXPECT_EQ(dm->value("new"), 6);
}

TEST_F(dm_fixture, failure_before_prepare_loses_the_active_transaction) {
  run(dm_req(dm_op::start, t1));
  run(dm_req(dm_op::write, t1, "x", 1));
  auto st = restart();
  auto up = one<dm_up>(st);
  EXPECT_TRUE(up.recovered);
  EXPECT_TRUE(up.prepared.empty());
  EXPECT_TRUE(up.active.empty());
  EXPECT_TRUE(one<lm_reclaim>(st).locks.empty()); // frees its locks
  // The TM's prepare finds nothing: a no vote.
  EXPECT_EQ(answer(run(dm_req(dm_op::prepare, t1))).reason,
            txn_reason::unknown_transaction);
  EXPECT_EQ(answer(run(dm_req(dm_op::abort, t1))).reason,
            txn_reason::unknown_transaction);
  EXPECT_EQ(dm->value("x"), 100);
}

TEST_F(dm_fixture, failure_during_the_prepare_write_votes_no_after_restart) {
  run(dm_req(dm_op::start, t1));
  run(dm_req(dm_op::write, t1, "x", 1));
  auto st = run(dm_req(dm_op::prepare, t1), false); // never durable
  EXPECT_TRUE(st.write);
  EXPECT_TRUE(all<dm_reply>(st).empty());
  restart();
  EXPECT_EQ(dm->status_of(t1), std::nullopt);
  EXPECT_EQ(answer(run(dm_req(dm_op::prepare, t1))).reason,
            txn_reason::unknown_transaction);
}

TEST_F(dm_fixture, failure_after_prepare_keeps_it_in_doubt_with_its_locks) {
  prepared_transfer(t1);
  auto st = restart();
  auto up = one<dm_up>(st);
  EXPECT_EQ(up.prepared, (std::vector<txn_id>{t1}));
  auto claims = one<lm_reclaim>(st).locks;
  ASSERT_EQ(claims.size(), 2u);
  EXPECT_EQ(claims[0].key, "x");
  EXPECT_EQ(claims[0].mode, lock_mode::exclusive);
  EXPECT_EQ(claims[1].key, "y");
  EXPECT_EQ(dm->status_of(t1), dm_core::status::prepared);
  // A re-sent prepare answers yes again; the commit applies both writes.
  EXPECT_EQ(answer(run(dm_req(dm_op::prepare, t1))).reason, txn_reason::none);
  EXPECT_EQ(answer(run(dm_req(dm_op::commit, t1))).reason, txn_reason::none);
  EXPECT_EQ(dm->value("x"), 70);
  EXPECT_EQ(dm->value("y"), 80);
}

TEST_F(dm_fixture, abort_after_prepare_keeps_the_old_values) {
  prepared_transfer(t1);
  restart();
  EXPECT_EQ(answer(run(dm_req(dm_op::abort, t1))).reason, txn_reason::none);
  restart();
  EXPECT_EQ(dm->status_of(t1), dm_core::status::aborted);
  EXPECT_EQ(dm->value("x"), 100);
  EXPECT_EQ(dm->value("y"), 50);
  EXPECT_EQ(answer(run(dm_req(dm_op::commit, t1))).reason,
            txn_reason::already_aborted);
}

TEST_F(dm_fixture, commit_cut_by_a_failure_is_redone_or_found_done) {
  prepared_transfer(t1);
  // Crash before the commit's write is durable: redone whole.
  run(dm_req(dm_op::commit, t1), false);
  restart();
  EXPECT_EQ(dm->status_of(t1), dm_core::status::prepared);
  EXPECT_EQ(dm->value("x"), 100);
  EXPECT_EQ(answer(run(dm_req(dm_op::commit, t1))).reason, txn_reason::none);
  EXPECT_EQ(dm->value("x"), 70);
  // Crash after it is durable, before the acknowledgement went out: the
  // re-issued commit finds it done (no second flip).
  restart();
  auto up = one<dm_up>(restart());
  EXPECT_EQ(up.finished, (std::vector<txn_id>{t1}));
  EXPECT_EQ(answer(run(dm_req(dm_op::commit, t1))).reason, txn_reason::none);
  EXPECT_EQ(answer(run(dm_req(dm_op::commit, t1))).reason, txn_reason::none);
  EXPECT_EQ(dm->value("x"), 70);
  EXPECT_EQ(dm->value("y"), 80);
}

TEST_F(dm_fixture, forget_before_the_outcome_is_durable_waits_for_it) {
  prepared_transfer(t1);
  auto st = dm->on_request(dm_req(dm_op::abort, t1));
  ASSERT_TRUE(st.write);
  auto w = *st.write;
  // A restarted TM that never knew t1 saw it finished and forgets it
  // while the abort is still being written: the entry stays until the
  // abort is durable, and its record goes in a later write.
  auto up = one<dm_up>(dm->on_query({2}));
  EXPECT_EQ(up.finished, (std::vector<txn_id>{t1}));
  st = dm->on_request(dm_req(dm_op::forget, t1));
  EXPECT_TRUE(st.out.empty());
  EXPECT_FALSE(st.write);
  EXPECT_EQ(dm->status_of(t1), dm_core::status::aborted);
  disk.apply(w);
  st = dm->on_written(w.id);
  EXPECT_EQ(dm->status_of(t1), std::nullopt);
  ASSERT_TRUE(st.write);
  EXPECT_TRUE(disk.has_prefix("txn/"));
  disk.apply(*st.write);
  EXPECT_FALSE(disk.has_prefix("txn/"));
  EXPECT_EQ(dm->value("x"), 100);
}

TEST_F(dm_fixture, group_commit_batches_concurrent_prepares) {
  for (auto tid : {t1, t2, t3}) {
    run(dm_req(dm_op::start, tid));
    run(dm_req(dm_op::write, tid, "k" + std::to_string(tid), 1));
  }
  auto st1 = dm->on_request(dm_req(dm_op::prepare, t1));
  ASSERT_TRUE(st1.write);
  auto st2 = dm->on_request(dm_req(dm_op::prepare, t2));
  auto st3 = dm->on_request(dm_req(dm_op::prepare, t3));
  EXPECT_FALSE(st2.write); // one write at a time
  EXPECT_FALSE(st3.write);
  auto st = dm->on_written(st1.write->id);
  EXPECT_EQ(answer(st).tid, t1);
  ASSERT_TRUE(st.write); // t2 and t3 together
  EXPECT_EQ(st.write->batch.ops().size(), 4u); // two items, two statuses
  st = dm->on_written(st.write->id);
  auto votes = to<dm_reply>(st, tm_party);
  ASSERT_EQ(votes.size(), 2u);
  EXPECT_EQ(votes[0].tid, t2);
  EXPECT_EQ(votes[1].tid, t3);
  // A stale or unknown write id changes nothing.
  EXPECT_TRUE(dm->on_written(99).out.empty());
}

TEST_F(dm_fixture, restarted_lock_manager_aborts_active_transactions) {
  prepared_transfer(t1);
  run(dm_req(dm_op::start, t2));
  auto st = dm->on_request(dm_req(dm_op::read, t2, "k"));
  auto l = one<lm_request>(st); // t2 waits for a lock
  st = dm->on_lm_hello({7});
  EXPECT_EQ(answer(st).reason, txn_reason::participant_failed);
  auto claims = to<lm_reclaim>(st, lm_party);
  ASSERT_EQ(claims.size(), 1u);
  EXPECT_EQ(claims[0].lm_incarnation, 7u);
  EXPECT_EQ(claims[0].locks.size(), 2u); // t1's, not t2's
  EXPECT_EQ(dm->status_of(t2), dm_core::status::aborted);
  // The grant that raced the abort is given back.
  st = dm->on_lock_reply({t2, l.req, "k", txn_reason::none});
  EXPECT_EQ(one<lm_request>(st).op, lm_op::release);
  EXPECT_EQ(answer(run(dm_req(dm_op::prepare, t2))).reason,
            txn_reason::already_aborted);
  // An older lock manager's hello is ignored.
  EXPECT_TRUE(dm->on_lm_hello({6}).out.empty());
}

TEST_F(dm_fixture, late_start_from_a_failed_tm_incarnation_is_refused) {
  dm->on_query({2});
  EXPECT_EQ(answer(run(dm_req(dm_op::start, t1))).reason,
            txn_reason::participant_failed);
  EXPECT_EQ(dm->status_of(t1), std::nullopt);
  auto fresh = (uint64_t{2} << 32) | 1;
  EXPECT_EQ(answer(run(dm_req(dm_op::start, fresh))).reason, txn_reason::none);
}

TEST_F(dm_fixture, bad_requests_get_clear_reasons_and_change_nothing) {
  run(dm_req(dm_op::start, t1));
  run(dm_req(dm_op::write, t1, "x", 1));
  auto check = [&](const dm_request& m, txn_reason why) {
    auto st = run(m);
    EXPECT_EQ(answer(st).reason, why)
      << to_string(m.op) << " got " << to_string(answer(st).reason);
    EXPECT_FALSE(st.write);
    EXPECT_EQ(dm->status_of(t1), dm_core::status::active);
  };
  check(dm_req(dm_op::commit, t1), txn_reason::not_prepared);
  check(dm_req(dm_op::commit, t2), txn_reason::unknown_transaction);
  check(dm_req(dm_op::read, t2, "x"), txn_reason::unknown_transaction);
  check(dm_req(dm_op::read, t1, ""), txn_reason::bad_request);
  check(dm_req(dm_op::read, 0, "x"), txn_reason::bad_request);
  check(dm_req(dm_op::forget, t1), txn_reason::unfinished);
  // An operation while another waits for its lock.
  auto st = dm->on_request(dm_req(dm_op::write, t1, "y", 1));
  EXPECT_EQ(all<lm_request>(st).size(), 1u);
  check(dm_req(dm_op::read, t1, "x"), txn_reason::busy);
  check(dm_req(dm_op::prepare, t1), txn_reason::busy);
  // The transaction goes on.
  auto l = one<lm_request>(st);
  st = dm->on_lock_reply({t1, l.req, "y", txn_reason::none});
  EXPECT_EQ(answer(st).reason, txn_reason::none);
  EXPECT_EQ(answer(run(dm_req(dm_op::read, t1, "x"))).value, 1);
  // Abort of a committed transaction is refused.
  run(dm_req(dm_op::prepare, t1));
  run(dm_req(dm_op::commit, t1));
  EXPECT_EQ(answer(run(dm_req(dm_op::abort, t1))).reason,
            txn_reason::already_committed);
  EXPECT_EQ(dm->status_of(t1), dm_core::status::committed);
  EXPECT_EQ(dm->value("x"), 1);
  // Recovery happens once.
  auto again = dm->recover({});
  ASSERT_FALSE(again);
  EXPECT_TRUE(is(again.error(), errc::invalid_argument));
}

TEST(dm_core, answers_not_ready_before_recovery_and_refuses_corrupt_stores) {
  dm_core dm{dm_config{1, 1}};
  auto st = dm.on_request(dm_req(dm_op::start, t1));
  EXPECT_EQ(one<dm_reply>(st).reason, txn_reason::not_ready);
  auto bad = dm.recover({{"item/x", "garbage"}});
  ASSERT_FALSE(bad);
  EXPECT_TRUE(is(bad.error(), errc::corrupted));
  EXPECT_NE(describe(bad.error()).find("item/x"), std::string::npos);
  EXPECT_FALSE(dm.recovered());
  bad = dm.recover({{"elsewhere", "x"}});
  ASSERT_FALSE(bad);
  EXPECT_TRUE(is(bad.error(), errc::corrupted));
  EXPECT_TRUE(dm.recover({dm_core::item_record("x", 1)}));
  EXPECT_EQ(dm.value("x"), 1);
}

// -- transaction manager ------------------------------------------------------

struct tm_fixture : ::testing::Test {
  store disk;
  std::optional<tm_core> tm;
  uint64_t incarnation = 0;
  uint64_t req = 0;
  uint64_t now = 0;

  tm_fixture() {
    restart();
  }

  txn_step restart() {
    tm_config cfg;
    cfg.incarnation = ++incarnation;
    cfg.dms = {1, 2};
    cfg.op_timeout = 500;
    cfg.prepare_timeout = 200;
    cfg.retry_interval = 100;
    tm.emplace(cfg);
    auto st = tm->recover(disk.all());
    EXPECT_TRUE(st) << describe(st.error());
    return st ? *st : txn_step{};
  }

  txn_step tick(uint64_t dt) {
    now += dt;
    return tm->on_tick(now);
  }

  tx_request request(tx_kind kind, txn_id tid = 0, uint64_t dm = 0,
                     const std::string& key = {}, int64_t value = 0,
                     uint64_t client = 1) {
    return {client, ++req, kind, tid, dm, key, value};
  }

  tx_reply reply_of(const txn_step& st, uint64_t client = 1) {
    auto r = to<tx_reply>(st, client_party(client));
    EXPECT_EQ(r.size(), 1u);
    return r.empty() ? tx_reply{} : r.back();
  }

  txn_id begin() {
    return reply_of(tm->on_request(request(tx_kind::begin))).tid;
  }

  /// The dm_requests of `op` in a step, by DM.
  static std::map<uint64_t, dm_request> sent(const txn_step& st, dm_op op) {
    std::map<uint64_t, dm_request> result;
    for (auto& e : st.out)
      if (auto x = std::get_if<dm_request>(&e.msg); x && x->op == op)
        result[e.to.id] = *x;
    return result;
  }

  dm_reply ok(uint64_t dm, const dm_request& m, int64_t value = 0) {
    return {dm, m.op, m.tid, m.req, txn_reason::none, value};
  }

  /// A transaction that wrote at DMs 1 and 2 and asked to commit; both
  /// voted yes. Returns the step of the last vote (the decision write).
  txn_step voted(txn_id tid) {
    for (uint64_t dm : {1, 2}) {
      auto st = tm->on_request(request(tx_kind::write, tid, dm, "k", 1));
      auto w = sent(st, dm_op::write).at(dm);
      EXPECT_EQ(reply_of(tm->on_dm_reply(ok(dm, w))).reason, txn_reason::none);
    }
    auto st = tm->on_request(request(tx_kind::commit, tid));
    auto prepares = sent(st, dm_op::prepare);
    EXPECT_EQ(prepares.size(), 2u);
    tm->on_dm_reply(ok(1, prepares.at(1)));
    return tm->on_dm_reply(ok(2, prepares.at(2)));
  }
};

TEST_F(tm_fixture, recovery_queries_every_data_manager_until_it_answers) {
  auto st = restart();
  EXPECT_EQ(all<tm_query>(st).size(), 2u);
  EXPECT_EQ(tm->unqueried(), (std::vector<uint64_t>{1, 2}));
  tm->on_dm_up({1, 1, false, {}, {}, {}});
  st = tick(100);
  EXPECT_EQ(to<tm_query>(st, dm_party(2)).size(), 1u);
  EXPECT_TRUE(to<tm_query>(st, dm_party(1)).empty());
}

TEST_F(tm_fixture, commit_is_sent_only_after_the_decision_is_durable) {
  auto tid = begin();
  EXPECT_EQ(tid >> 32, incarnation);
  // The first operation at a DM starts the transaction there.
  auto st = tm->on_request(request(tx_kind::read, tid, 1, "x"));
  EXPECT_EQ(sent(st, dm_op::start).size(), 1u);
  auto r = sent(st, dm_op::read).at(1);
  EXPECT_EQ(r.key, "x");
  EXPECT_EQ(reply_of(tm->on_dm_reply(ok(1, r, 42))).value, 42);
  st = voted(tid);
  ASSERT_TRUE(st.write);
  EXPECT_EQ(st.write->batch.ops().size(), 1u);
  EXPECT_TRUE(sent(st, dm_op::commit).empty());
  EXPECT_TRUE(all<tx_reply>(st).empty());
  EXPECT_EQ(tm->phase_of(tid), tm_core::phase::deciding);
  auto w = *st.write;
  disk.apply(w);
  st = tm->on_written(w.id);
  EXPECT_EQ(sent(st, dm_op::commit).size(), 2u);
  EXPECT_EQ(reply_of(st).reason, txn_reason::none); // committed
  auto commits = sent(st, dm_op::commit);
  tm->on_dm_reply(ok(1, commits.at(1)));
  tm->on_dm_reply(ok(1, commits.at(1))); // a duplicate acknowledgement
  EXPECT_EQ(tm->phase_of(tid), tm_core::phase::committing);
  st = tm->on_dm_reply(ok(2, commits.at(2)));
  EXPECT_EQ(sent(st, dm_op::forget).size(), 2u);
  ASSERT_TRUE(st.write); // erases the decision
  disk.apply(*st.write);
  EXPECT_TRUE(disk.data.empty());
  EXPECT_EQ(tm->transactions(), 0u);
}

TEST_F(tm_fixture, group_commit_logs_concurrent_decisions_together) {
  auto a = begin(), b = begin(), c = begin();
  auto st = voted(a);
  ASSERT_TRUE(st.write);
  auto first = *st.write;
  EXPECT_FALSE(voted(b).write); // waits behind the outstanding write
  EXPECT_FALSE(voted(c).write);
  disk.apply(first);
  st = tm->on_written(first.id);
  EXPECT_EQ(to<tx_reply>(st, client_party(1)).size(), 1u); // a committed
  ASSERT_TRUE(st.write);
  EXPECT_EQ(st.write->batch.ops().size(), 2u); // b and c in one write
  auto second = *st.write;
  disk.apply(second);
  st = tm->on_written(second.id);
  EXPECT_EQ(to<tx_reply>(st, client_party(1)).size(), 2u);
  EXPECT_EQ(sent(st, dm_op::commit).size(), 2u); // to each DM (per tid)
  EXPECT_EQ(tm->phase_of(b), tm_core::phase::committing);
  EXPECT_EQ(tm->phase_of(c), tm_core::phase::committing);
}

TEST_F(tm_fixture, failure_before_prepare_aborts_what_the_dms_report) {
  auto tid = begin();
  tm->on_request(request(tx_kind::write, tid, 1, "k", 1));
  auto st = restart(); // nothing was logged
  EXPECT_EQ(tm->transactions(), 0u);
  st = tm->on_dm_up({1, 1, false, {}, {tid}, {}});
  EXPECT_EQ(sent(st, dm_op::abort).count(1), 1u);
  EXPECT_EQ(tm->phase_of(tid), tm_core::phase::aborting);
  // The old client's requests find nothing it may use.
  EXPECT_EQ(reply_of(tm->on_request(request(tx_kind::commit, tid))).reason,
            txn_reason::not_active);
  auto a = sent(st, dm_op::abort).at(1);
  st = tm->on_dm_reply({1, dm_op::abort, tid, a.req, txn_reason::none, 0});
  EXPECT_EQ(sent(st, dm_op::forget).size(), 1u);
  EXPECT_EQ(tm->transactions(), 0u);
}

TEST_F(tm_fixture, failure_between_prepare_and_logged_decision_aborts) {
  auto tid = begin();
  auto st = voted(tid); // the decision write is asked for, never done
  ASSERT_TRUE(st.write);
  restart();
  EXPECT_EQ(tm->transactions(), 0u);
  // Both DMs hold it prepared: abort at both, even if reported twice.
  st = tm->on_dm_up({1, 1, false, {tid}, {}, {}});
  EXPECT_EQ(sent(st, dm_op::abort).count(1), 1u);
  st = tm->on_dm_up({2, 1, false, {tid}, {}, {}});
  EXPECT_EQ(sent(st, dm_op::abort).count(2), 1u);
  EXPECT_EQ(tm->participants(tid), (std::vector<uint64_t>{1, 2}));
  tm->on_dm_reply({1, dm_op::abort, tid, 0, txn_reason::none, 0});
  st = tm->on_dm_reply({2, dm_op::abort, tid, 0, txn_reason::none, 0});
  EXPECT_EQ(sent(st, dm_op::forget).size(), 2u);
}

TEST_F(tm_fixture, failure_after_the_decision_reissues_commit) {
  auto tid = begin();
  auto st = voted(tid);
  disk.apply(*st.write);
  // Crash before on_written: no commit was sent, the client heard nothing.
  st = restart();
  EXPECT_EQ(tm->phase_of(tid), tm_core::phase::committing);
  auto commits = sent(st, dm_op::commit);
  EXPECT_EQ(commits.size(), 2u);
  // DM 1 committed and forgot before the crash; DM 2 still has it.
  tm->on_dm_reply({1, dm_op::commit, tid, 0,
                   txn_reason::unknown_transaction, 0});
  // Unanswered commits go out again.
  st = tick(100);
  EXPECT_EQ(sent(st, dm_op::commit).size(), 1u);
  EXPECT_EQ(sent(st, dm_op::commit).count(2), 1u);
  st = tm->on_dm_reply({2, dm_op::commit, tid, 0, txn_reason::none, 0});
  EXPECT_EQ(sent(st, dm_op::forget).size(), 2u);
  ASSERT_TRUE(st.write);
  disk.apply(*st.write);
  EXPECT_TRUE(disk.data.empty());
}

TEST_F(tm_fixture, restarted_dm_gets_the_decision_again) {
  auto tid = begin();
  auto st = voted(tid);
  disk.apply(*st.write);
  tm->on_written(st.write->id);
  tm->on_dm_reply({1, dm_op::commit, tid, 0, txn_reason::none, 0});
  // DM 2 failed before the commit reached it; its dm_up says in doubt.
  st = tm->on_dm_up({2, 2, true, {tid}, {}, {}});
  EXPECT_EQ(sent(st, dm_op::commit).count(2), 1u);
  EXPECT_EQ(sent(st, dm_op::commit).count(1), 0u);
  EXPECT_EQ(sent(st, dm_op::abort).size(), 0u);
}

TEST_F(tm_fixture, lost_dm_up_is_covered_by_retries) {
  auto tid = begin();
  auto st = voted(tid);
  disk.apply(*st.write);
  tm->on_written(st.write->id);
  tm->on_dm_reply({1, dm_op::commit, tid, 0, txn_reason::none, 0});
  // DM 2 restarts, its dm_up is lost: the retry still reaches it.
  EXPECT_TRUE(sent(tick(50), dm_op::commit).empty());
  st = tick(50);
  EXPECT_EQ(sent(st, dm_op::commit).count(2), 1u);
  st = tm->on_dm_reply({2, dm_op::commit, tid, 0, txn_reason::none, 0});
  EXPECT_EQ(tm->transactions(), 0u);
}

TEST_F(tm_fixture, finished_transactions_it_does_not_know_are_forgotten) {
  auto tid = begin();
  auto st = tm->on_request(request(tx_kind::write, tid, 1, "k", 1));
  restart();
  // An old transaction finished at DM 2 but not forgotten (the forget was
  // lost): forget it. One still aborting elsewhere is aborted here too.
  auto old_one = tid - 1;
  st = tm->on_dm_up({1, 1, false, {}, {tid}, {}});
  EXPECT_EQ(sent(st, dm_op::abort).count(1), 1u);
  st = tm->on_dm_up({2, 1, false, {}, {}, {old_one, tid}});
  EXPECT_EQ(sent(st, dm_op::forget).count(2), 1u);
  EXPECT_EQ(sent(st, dm_op::forget).at(2).tid, old_one);
  EXPECT_EQ(sent(st, dm_op::abort).count(2), 1u);
  EXPECT_EQ(tm->participants(tid), (std::vector<uint64_t>{1, 2}));
}

TEST_F(tm_fixture, restarted_dm_aborts_its_active_transactions) {
  auto tid = begin();
  auto st = tm->on_request(request(tx_kind::write, tid, 1, "k", 1));
  st = tm->on_dm_up({1, 2, true, {}, {}, {}});
  EXPECT_EQ(reply_of(st).reason, txn_reason::participant_failed);
  EXPECT_EQ(sent(st, dm_op::abort).count(1), 1u);
  EXPECT_EQ(tm->phase_of(tid), tm_core::phase::aborting);
  // A dm_up answering a query (not a restart) leaves them alone.
  auto other = begin();
  tm->on_request(request(tx_kind::write, other, 2, "k", 1));
  tm->on_dm_up({2, 1, false, {}, {other}, {}});
  EXPECT_EQ(tm->phase_of(other), tm_core::phase::active);
}

TEST_F(tm_fixture, restarted_dm_is_asked_again_for_its_vote) {
  auto tid = begin();
  for (uint64_t dm : {1, 2}) {
    auto st = tm->on_request(request(tx_kind::write, tid, dm, "k", 1));
    tm->on_dm_reply(ok(dm, sent(st, dm_op::write).at(dm)));
  }
  auto st = tm->on_request(request(tx_kind::commit, tid));
  tm->on_dm_reply(ok(1, sent(st, dm_op::prepare).at(1)));
  st = tm->on_dm_up({2, 2, true, {tid}, {}, {}});
  EXPECT_EQ(sent(st, dm_op::prepare).count(2), 1u);
  EXPECT_EQ(sent(st, dm_op::prepare).count(1), 0u);
}

TEST_F(tm_fixture, participant_that_never_votes_aborts_the_transaction) {
  auto tid = begin();
  for (uint64_t dm : {1, 2}) {
    auto st = tm->on_request(request(tx_kind::write, tid, dm, "k", 1));
    tm->on_dm_reply(ok(dm, sent(st, dm_op::write).at(dm)));
  }
  auto st = tm->on_request(request(tx_kind::commit, tid));
  tm->on_dm_reply(ok(1, sent(st, dm_op::prepare).at(1)));
  EXPECT_TRUE(all<tx_reply>(tick(199)).empty());
  st = tick(1);
  EXPECT_EQ(reply_of(st).reason, txn_reason::participant_failed);
  EXPECT_EQ(sent(st, dm_op::abort).size(), 2u);
  // Its late yes vote changes nothing.
  st = tm->on_dm_reply({2, dm_op::prepare, tid, 0, txn_reason::none, 0});
  EXPECT_TRUE(st.out.empty());
  EXPECT_FALSE(st.write);
  EXPECT_EQ(tm->phase_of(tid), tm_core::phase::aborting);
}

TEST_F(tm_fixture, operation_never_answered_times_out) {
  auto tid = begin();
  tm->on_request(request(tx_kind::read, tid, 2, "k"));
  EXPECT_TRUE(all<tx_reply>(tick(499)).empty());
  auto st = tick(1);
  EXPECT_EQ(reply_of(st).reason, txn_reason::participant_failed);
  EXPECT_EQ(sent(st, dm_op::abort).count(2), 1u);
}

TEST_F(tm_fixture, no_vote_and_deadlock_abort_with_their_reason) {
  auto tid = begin();
  auto st = tm->on_request(request(tx_kind::write, tid, 1, "k", 1));
  auto w = sent(st, dm_op::write).at(1);
  st = tm->on_dm_reply({1, dm_op::write, tid, w.req, txn_reason::deadlock, 0});
  EXPECT_EQ(reply_of(st).reason, txn_reason::deadlock);
  EXPECT_EQ(sent(st, dm_op::abort).count(1), 1u);
  // The client's own abort of an aborted transaction is fine.
  EXPECT_EQ(reply_of(tm->on_request(request(tx_kind::abort, tid))).reason,
            txn_reason::none);
  auto other = begin();
  st = tm->on_request(request(tx_kind::write, other, 2, "k", 1));
  tm->on_dm_reply(ok(2, sent(st, dm_op::write).at(2)));
  st = tm->on_request(request(tx_kind::commit, other));
  st = tm->on_dm_reply({2, dm_op::prepare, other, 0,
                        txn_reason::unknown_transaction, 0});
  EXPECT_EQ(reply_of(st).reason, txn_reason::participant_failed);
  EXPECT_FALSE(st.write); // presumed abort: nothing logged
}

TEST_F(tm_fixture, client_abort_and_unknown_items) {
  auto tid = begin();
  auto st = tm->on_request(request(tx_kind::read, tid, 1, "nope"));
  auto r = sent(st, dm_op::read).at(1);
  st = tm->on_dm_reply({1, dm_op::read, tid, r.req, txn_reason::unknown_item,
                        0});
  EXPECT_EQ(reply_of(st).reason, txn_reason::unknown_item);
  EXPECT_EQ(tm->phase_of(tid), tm_core::phase::active); // goes on
  st = tm->on_request(request(tx_kind::abort, tid));
  EXPECT_EQ(reply_of(st).reason, txn_reason::none);
  EXPECT_EQ(sent(st, dm_op::abort).count(1), 1u);
  // An abort cuts a pending operation short.
  auto waiting = begin();
  tm->on_request(request(tx_kind::read, waiting, 2, "k"));
  st = tm->on_request(request(tx_kind::abort, waiting));
  auto replies = to<tx_reply>(st, client_party(1));
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[0].reason, txn_reason::aborted_by_client); // the read
  EXPECT_EQ(replies[1].reason, txn_reason::none);              // the abort
  EXPECT_EQ(sent(st, dm_op::abort).count(2), 1u);
  // A transaction that touched no DM commits without any.
  auto empty = begin();
  EXPECT_EQ(reply_of(tm->on_request(request(tx_kind::commit, empty))).reason,
            txn_reason::none);
  EXPECT_EQ(tm->phase_of(empty), std::nullopt);
}

TEST_F(tm_fixture, bad_requests_get_clear_reasons_and_change_nothing) {
  auto tid = begin();
  auto st = tm->on_request(request(tx_kind::write, tid, 1, "k", 1));
  auto pending = sent(st, dm_op::write).at(1);
  auto check = [&](const tx_request& m, txn_reason why, uint64_t client = 1) {
    auto st = tm->on_request(m);
    EXPECT_EQ(reply_of(st, client).reason, why)
      << to_string(m.kind) << " got " << to_string(reply_of(st, client).reason);
    EXPECT_TRUE(all<dm_request>(st).empty());
    EXPECT_FALSE(st.write);
    EXPECT_EQ(tm->phase_of(tid), tm_core::phase::active);
  };
  check(request(tx_kind::read, tid + 100, 1, "k"),
        txn_reason::unknown_transaction);
  check(request(tx_kind::read, tid, 1, "k"), txn_reason::busy);
  check(request(tx_kind::commit, tid), txn_reason::busy);
  check(request(tx_kind::read, tid, 1, "k", 0, 2), txn_reason::bad_request, 2);
  tm->on_dm_reply(ok(1, pending));
  check(request(tx_kind::read, tid, 9, "k"), txn_reason::bad_request);
  check(request(tx_kind::read, tid, 1, ""), txn_reason::bad_request);
  // Replies nobody asked for are ignored.
  st = tm->on_dm_reply({1, dm_op::write, tid, 12345, txn_reason::none, 0});
  EXPECT_TRUE(st.out.empty());
  st = tm->on_dm_reply({2, dm_op::prepare, tid, 0, txn_reason::none, 0});
  EXPECT_TRUE(st.out.empty());
  st = tm->on_dm_reply({1, dm_op::commit, tid + 7, 0, txn_reason::none, 0});
  EXPECT_TRUE(st.out.empty());
  EXPECT_TRUE(tm->on_written(77).out.empty());
  EXPECT_TRUE(tm->on_dm_up({9, 1, true, {tid}, {}, {}}).out.empty());
  EXPECT_EQ(tm->phase_of(tid), tm_core::phase::active);
  // Commit twice: the second is busy until the first is answered.
  tm->on_request(request(tx_kind::commit, tid));
  EXPECT_EQ(reply_of(tm->on_request(request(tx_kind::commit, tid))).reason,
            txn_reason::not_active);
  auto again = tm->recover({});
  ASSERT_FALSE(again);
  EXPECT_TRUE(is(again.error(), errc::invalid_argument));
}

TEST(tm_core, answers_not_ready_before_recovery_and_refuses_corrupt_logs) {
  tm_config cfg;
  cfg.dms = {1, 2};
  tm_core tm{cfg};
  auto st = tm.on_request({1, 1, tx_kind::begin, 0, 0, {}, 0});
  EXPECT_EQ(one<tx_reply>(st).reason, txn_reason::not_ready);
  auto bad = tm.recover({{"decision/00000000000000000001", "junk"}});
  ASSERT_FALSE(bad);
  EXPECT_TRUE(is(bad.error(), errc::corrupted));
  EXPECT_NE(describe(bad.error()).find("decision/"), std::string::npos);
  EXPECT_FALSE(tm.recovered());
  cfg.incarnation = 0;
  tm_core zero{cfg};
  EXPECT_FALSE(zero.recover({}));
}

// -- wire types ---------------------------------------------------------------

template <class T>
T round_trip(T x) {
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  EXPECT_FALSE(sink(x));
  T y;
  caf::binary_deserializer source{nullptr, buf};
  EXPECT_FALSE(source(y));
  return y;
}

TEST(txn_protocol, messages_survive_serialization) {
  auto r = round_trip(lm_reclaim{2, 3, 4, {{7, "x", lock_mode::exclusive}}});
  EXPECT_EQ(r.dm, 2u);
  ASSERT_EQ(r.locks.size(), 1u);
  EXPECT_EQ(r.locks[0].mode, lock_mode::exclusive);
  auto d = round_trip(dm_reply{1, dm_op::commit, 9, 8, txn_reason::deadlock,
                               -5});
  EXPECT_EQ(d.op, dm_op::commit);
  EXPECT_EQ(d.reason, txn_reason::deadlock);
  EXPECT_EQ(d.value, -5);
  auto u = round_trip(dm_up{1, 2, true, {3}, {4}, {5}});
  EXPECT_EQ(u.finished, (std::vector<txn_id>{5}));
}

TEST(txn_protocol, registered_types_travel_in_messages) {
  caf::actor_system_config cfg;
  add_txn_types(cfg);
  caf::actor_system sys{cfg};
  auto msg = caf::make_message(
    tx_request{1, 2, tx_kind::write, 3, 1, "x", 7},
    lm_reclaim{1, 2, 3, {{4, "y", lock_mode::shared}}});
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  ASSERT_FALSE(sink(msg));
  caf::message copy;
  caf::binary_deserializer source{sys, buf};
  ASSERT_FALSE(source(copy));
  ASSERT_TRUE((copy.match_elements<tx_request, lm_reclaim>()));
  EXPECT_EQ(copy.get_as<tx_request>(0).key, "x");
  EXPECT_EQ(copy.get_as<tx_request>(0).kind, tx_kind::write);
  EXPECT_EQ(copy.get_as<lm_reclaim>(1).locks.at(0).key, "y");
}

TEST(txn_protocol, unknown_enum_values_are_refused) {
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  // A tx_reply whose reason byte is out of range.
  EXPECT_FALSE(sink(uint64_t{1}, uint64_t{2}, uint64_t{3}, uint8_t{200},
                    int64_t{0}));
  tx_reply y;
  caf::binary_deserializer source{nullptr, buf};
  EXPECT_TRUE(source(y));
}

} // namespace
