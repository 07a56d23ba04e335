// FTM checkpoints of communicating actors (persistence/checkpoint.hpp), in
// one plain CAF actor system with the LMDB stable store in a temp dir.
// Participants are plain CAF actors rather than ftsr node actors: the
// protocol needs nothing but actor handles, and without capabilities the
// test shows exactly what a checkpoint and a restore do.
//
// The peers pass tokens around a ring (1 -> 2 -> 3 -> 1); each records
// every token it sent (to, seq) and received (from, seq), so a restored
// state shows any orphan: a receive whose send the sender's restored
// state lacks. Tokens have ids; a peer records the tokens it started and
// those that ended with it, so a restored ring shows a lost or duplicated
// token. The last test runs in an ftsr node and checks the spans.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <boost/archive/archive_exception.hpp>
// set.hpp of Boost 1.74 misses this include of its own.
#include <boost/serialization/library_version_type.hpp>
#include <boost/serialization/set.hpp>
#include <boost/serialization/utility.hpp>

#include "caf/all.hpp"

#include "actors/errors.hpp"
#include "actors/node.hpp"
#include "persistence/checkpoint.hpp"
#include "persistence/stable_store.hpp"
#include "tests/support/wait.hpp"

using namespace ftsr;
using ftsr::testing::eventually;

namespace {

using connect_atom = caf::atom_constant<caf::atom("connect")>;
using start_atom = caf::atom_constant<caf::atom("start")>;
using token_atom = caf::atom_constant<caf::atom("token")>;
using get_atom = caf::atom_constant<caf::atom("get")>;
using arm_atom = caf::atom_constant<caf::atom("arm")>;
using block_atom = caf::atom_constant<caf::atom("block")>;

/// block_atom stalls a peer (its scheduler thread) until the test opens
/// the gate: a member that does not answer in time.
std::promise<void> gate_promise;
std::shared_future<void> gate;

enum fault : int { none = 0, crash_on_save = 1, refuse_on_save = 2 };

struct peer_state {
  uint64_t self = 0;
  uint64_t next_seq = 0;
  std::set<std::pair<uint64_t, uint64_t>> sent;     // (to, seq)
  std::set<std::pair<uint64_t, uint64_t>> received; // (from, seq)
  std::set<uint64_t> started;                       // token ids
  std::multiset<uint64_t> ended;                    // token ids
  int fault = none; // volatile, not stored: makes saving fail

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    if constexpr (Archive::is_saving::value) {
      if (fault == crash_on_save)
        throw std::runtime_error("injected crash while saving");
      if (fault == refuse_on_save)
        throw boost::archive::archive_exception(
          boost::archive::archive_exception::other_exception,
          "injected refusal");
    }
    ar & self & next_seq & sent & received & started & ended;
  }
};

/// Passes each token on to its successor until its hops run out.
class peer : public participant<peer_state> {
public:
  peer(caf::actor_config& cfg, participant_init<peer_state> init)
    : participant(cfg, std::move(init)) {
    state.self = participant_id();
  }

  void on_exit() override {
    next_ = caf::actor{}; // the ring would keep every peer alive
    participant::on_exit();
  }

protected:
  caf::behavior updates() override {
    return {
      [this](connect_atom, caf::actor next, uint64_t next_id) {
        next_ = std::move(next);
        next_id_ = next_id;
      },
      [this](start_atom, uint64_t tokens, uint64_t hops) {
        for (uint64_t i = 0; i < tokens; ++i) {
          auto token = state.self * 1000000 + state.started.size();
          state.started.insert(token);
          pass(hops, token);
        }
      },
      [this](token_atom, uint64_t from, uint64_t seq, uint64_t hops,
             uint64_t token) {
        state.received.emplace(from, seq);
        if (hops > 0)
          pass(hops - 1, token);
        else
          state.ended.insert(token);
      },
      [this](arm_atom, int f) { state.fault = f; },
      [](block_atom) { gate.wait(); },
    };
  }

  caf::behavior reads() override {
    return {
      [this](get_atom) { return to_snapshot(state); },
    };
  }

private:
  void pass(uint64_t hops, uint64_t token) {
    auto seq = state.next_seq++;
    state.sent.emplace(next_id_, seq);
    tell(next_, token_atom::value, state.self, seq, hops, token);
  }

  caf::actor next_;
  uint64_t next_id_ = 0;
};

constexpr auto bound = std::chrono::seconds(10);

class checkpoint_test : public ::testing::Test {
public:
  checkpoint_test() : sys(init_cfg(cfg)), self(sys) {
    // nop
  }

  static caf::actor_system_config& init_cfg(caf::actor_system_config& c) {
    add_checkpoint_types(c);
    add_error_category(c);
    return c;
  }

  void SetUp() override {
    char tmpl[] = "/tmp/ftsr-ckpt-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir = tmpl;
    auto st = open_lmdb_store({dir});
    ASSERT_TRUE(st) << describe(st.error());
    store = std::move(*st);
  }

  void TearDown() override {
    open_gate();
    for (auto& p : peers)
      caf::anon_send_exit(p, caf::exit_reason::kill);
    store.reset();
    std::filesystem::remove_all(dir);
  }

  /// Spawns peers 1..n (fresh, or restored from the store) in a ring.
  void spawn_ring(size_t n, bool restored = false) {
    peers.clear();
    for (uint64_t id = 1; id <= n; ++id) {
      if (restored) {
        auto p = restore<peer>(sys, *store, id);
        ASSERT_TRUE(p) << describe(p.error());
        peers.push_back(*p);
      } else {
        peers.push_back(spawn_participant<peer>(sys, id));
      }
    }
    for (size_t i = 0; i < n; ++i)
      self->send(peers[i], connect_atom::value, peers[(i + 1) % n],
                 uint64_t{(i + 1) % n + 1});
  }

  peer_state state_of(const caf::actor& p) {
    peer_state result;
    self->request(p, bound, get_atom::value)
      .receive(
        [&](std::string& blob) {
          auto st = from_snapshot<peer_state>(blob);
          EXPECT_TRUE(st) << describe(st.error());
          if (st)
            result = std::move(*st);
        },
        [&](caf::error& err) { ADD_FAILURE() << describe(err); });
    return result;
  }

  participant_status status_of(const caf::actor& p) {
    participant_status result;
    self->request(p, bound, ckpt_status_atom::value)
      .receive([&](participant_status& st) { result = std::move(st); },
               [&](caf::error& err) { ADD_FAILURE() << describe(err); });
    return result;
  }

  size_t received_total() {
    size_t n = 0;
    for (auto& p : peers)
      n += state_of(p).received.size();
    return n;
  }

  std::map<uint64_t, peer_state> stored_states() {
    std::map<uint64_t, peer_state> result;
    for (uint64_t id = 1; id <= peers.size(); ++id) {
      auto rec = load_checkpoint(*store, id);
      EXPECT_TRUE(rec) << describe(rec.error());
      if (rec && *rec) {
        auto st = from_snapshot<peer_state>((*rec)->state);
        EXPECT_TRUE(st);
        if (st)
          result[id] = std::move(*st);
      }
    }
    return result;
  }

  /// Every stored record, byte for byte.
  std::vector<std::pair<std::string, std::string>> raw_records() {
    auto kvs = store->scan("ckpt/");
    EXPECT_TRUE(kvs) << describe(kvs.error());
    return kvs ? *kvs : std::vector<std::pair<std::string, std::string>>{};
  }

  void close_gate() {
    gate_promise = std::promise<void>{};
    gate = gate_promise.get_future().share();
    gate_open = false;
  }

  void open_gate() {
    if (!std::exchange(gate_open, true))
      gate_promise.set_value();
  }

  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scoped_actor self;
  bool gate_open = true;
  std::string dir;
  std::unique_ptr<stable_store> store;
  std::vector<caf::actor> peers;
};

/// Every receive in `states` has its send in the sender's state.
void expect_no_orphan(const std::map<uint64_t, peer_state>& states) {
  for (auto& [id, st] : states)
    for (auto& [from, seq] : st.received) {
      auto s = states.find(from);
      ASSERT_NE(s, states.end()) << "receive from unknown peer " << from;
      EXPECT_EQ(s->second.sent.count({id, seq}), 1u)
        << "orphan: peer " << id << " received token " << seq << " from "
        << from << ", whose state does not show the send";
    }
}

template <class T>
bool subset(const std::set<T>& xs, const std::set<T>& ys) {
  return std::includes(ys.begin(), ys.end(), xs.begin(), xs.end());
}

/// Tokens alive in `states`: started and not ended.
size_t circulating(const std::map<uint64_t, peer_state>& states) {
  size_t started = 0, ended = 0;
  for (auto& [id, st] : states) {
    started += st.started.size();
    ended += st.ended.size();
  }
  return started - ended;
}

/// Sends in `states` whose receive `states` lacks: (from, to, seq).
std::set<std::tuple<uint64_t, uint64_t, uint64_t>>
in_transit(const std::map<uint64_t, peer_state>& states) {
  std::set<std::tuple<uint64_t, uint64_t, uint64_t>> xs;
  for (auto& [id, st] : states)
    for (auto& [to, seq] : st.sent)
      if (states.at(to).received.count({id, seq}) == 0)
        xs.emplace(id, to, seq);
  return xs;
}

TEST_F(checkpoint_test, checkpoint_mid_traffic_then_restore_loses_no_token) {
  constexpr uint64_t tokens = 4, hops = 10000;
  constexpr size_t total = 3 * tokens * (hops + 1);
  spawn_ring(3);
  for (auto& p : peers)
    self->send(p, start_atom::value, tokens, hops);
  ASSERT_TRUE(eventually([&] { return received_total() >= total / 20; }));
  // Rooted at peer 1 alone: the ring's dependencies bring in 2 and 3.
  auto res = checkpoint(sys, *store, {peers[0]});
  ASSERT_TRUE(res) << describe(res.error());
  EXPECT_EQ(res->epochs, (std::map<uint64_t, uint64_t>{{1, 1}, {2, 1}, {3, 1}}));
  auto after = received_total();
  EXPECT_LT(after, total) << "the traffic ended before the checkpoint";
  // Traffic goes on to the end.
  ASSERT_TRUE(eventually([&] { return received_total() == total; }));
  std::map<uint64_t, peer_state> finals;
  for (uint64_t id = 1; id <= 3; ++id)
    finals[id] = state_of(peers[id - 1]);
  expect_no_orphan(finals);
  EXPECT_EQ(circulating(finals), 0u);
  // The stored cut: every token alive in it is a message in transit, and
  // each of those is in the receiver's channel state, once.
  auto stored = stored_states();
  ASSERT_EQ(stored.size(), 3u);
  expect_no_orphan(stored);
  auto alive = circulating(stored);
  auto transit = in_transit(stored);
  EXPECT_EQ(transit.size(), alive);
  EXPECT_GT(alive, 0u);
  EXPECT_EQ(res->in_flight, alive);
  std::set<std::tuple<uint64_t, uint64_t, uint64_t>> recorded;
  for (uint64_t id = 1; id <= 3; ++id) {
    auto rec = load_checkpoint(*store, id);
    ASSERT_TRUE(rec && *rec);
    auto ch = decode_channel(sys, (*rec)->channel);
    ASSERT_TRUE(ch) << describe(ch.error());
    for (auto& x : *ch) {
      ASSERT_TRUE((x.msg.match_elements<caf::atom_value, uint64_t, uint64_t,
                                        uint64_t, uint64_t>()))
        << caf::to_string(x.msg);
      auto from = x.msg.get_as<uint64_t>(1);
      EXPECT_EQ(x.stamp.sender, from);
      EXPECT_TRUE(recorded.emplace(from, id, x.msg.get_as<uint64_t>(2)).second)
        << "recorded twice";
    }
  }
  EXPECT_EQ(recorded, transit);
  // Everything dies; all three come back from the checkpoint, holding the
  // in-flight tokens until they are wired and told to replay.
  for (auto& p : peers)
    caf::anon_send_exit(p, caf::exit_reason::kill);
  spawn_ring(3, true);
  std::map<uint64_t, peer_state> restored;
  size_t cut_received = 0;
  for (uint64_t id = 1; id <= 3; ++id) {
    auto& r = restored[id] = state_of(peers[id - 1]);
    auto st = status_of(peers[id - 1]);
    EXPECT_EQ(st.epoch, 1u);
    EXPECT_EQ(r.sent, stored[id].sent);
    EXPECT_EQ(r.received, stored[id].received);
    EXPECT_EQ(r.self, id);
    EXPECT_TRUE(subset(r.sent, finals[id].sent));
    EXPECT_TRUE(subset(r.received, finals[id].received));
    EXPECT_EQ(r.next_seq, r.sent.size());
    cut_received += r.received.size();
  }
  EXPECT_GT(cut_received, 0u);
  EXPECT_LT(cut_received, after);
  std::printf("[ info ] cut: %zu of %zu receives, %zu tokens in transit, "
              "stored as channel state\n",
              cut_received, total, transit.size());
  replay_channels(peers);
  // No token lost (each makes all its hops: total receives, every token
  // ends), none duplicated (none ends twice, no receive beyond the total).
  ASSERT_TRUE(eventually([&] {
    size_t ended = 0;
    for (auto& p : peers)
      ended += state_of(p).ended.size();
    return ended == 3 * tokens;
  })) << "tokens lost";
  std::map<uint64_t, peer_state> ends;
  std::multiset<uint64_t> ended;
  for (uint64_t id = 1; id <= 3; ++id) {
    ends[id] = state_of(peers[id - 1]);
    ended.insert(ends[id].ended.begin(), ends[id].ended.end());
    EXPECT_TRUE(status_of(peers[id - 1]).replay_pending.empty());
  }
  EXPECT_EQ(received_total(), total);
  EXPECT_EQ(circulating(ends), 0u);
  std::set<uint64_t> distinct(ended.begin(), ended.end()), all;
  EXPECT_EQ(distinct.size(), ended.size()) << "a token ended twice";
  for (auto& [id, st] : finals)
    all.insert(st.started.begin(), st.started.end());
  EXPECT_EQ(distinct, all);
  expect_no_orphan(ends);
  // The restored ring works and checkpoints again.
  for (auto& p : peers)
    self->send(p, start_atom::value, uint64_t{1}, uint64_t{30});
  ASSERT_TRUE(
    eventually([&] { return received_total() == total + 3 * 31; }));
  res = checkpoint(sys, *store, {peers[1]});
  ASSERT_TRUE(res) << describe(res.error());
  EXPECT_EQ(res->epochs.at(2), 2u);
  EXPECT_EQ(res->in_flight, 0u);
  expect_no_orphan(stored_states());
}

TEST_F(checkpoint_test, participant_dying_mid_protocol_aborts_and_keeps_the_old_one) {
  spawn_ring(3);
  for (auto& p : peers)
    self->send(p, start_atom::value, uint64_t{2}, uint64_t{100});
  ASSERT_TRUE(eventually([&] { return received_total() == 3 * 2 * 101; }));
  auto res = checkpoint(sys, *store, {peers[0]});
  ASSERT_TRUE(res) << describe(res.error());
  auto before = raw_records();
  ASSERT_EQ(before.size(), 6u); // meta and state of each
  // More traffic links all three again; then peer 3 crashes when it saves.
  self->send(peers[0], start_atom::value, uint64_t{1}, uint64_t{10});
  ASSERT_TRUE(
    eventually([&] { return received_total() == 3 * 2 * 101 + 11; }));
  self->send(peers[2], arm_atom::value, int{crash_on_save});
  self->monitor(peers[2]);
  res = checkpoint(sys, *store, {peers[0]});
  ASSERT_FALSE(res);
  EXPECT_TRUE(is(res.error(), errc::checkpoint_aborted))
    << describe(res.error());
  EXPECT_NE(describe(res.error()).find("participant 3 failed during precommit"),
            std::string::npos)
    << describe(res.error());
  self->receive([](caf::down_msg&) {}); // peer 3 is gone
  // The previous checkpoint is intact, byte for byte.
  EXPECT_EQ(raw_records(), before);
  // The survivors are free again, in their old recovery unit, and work.
  for (size_t i = 0; i < 2; ++i) {
    auto st = status_of(peers[i]);
    EXPECT_EQ(st.phase, "idle");
    EXPECT_EQ(st.holder, 0u);
    EXPECT_EQ(st.epoch, 1u);
    EXPECT_EQ(st.held_sends, 0u);
  }
  auto got = state_of(peers[1]).received.size();
  self->send(peers[0], start_atom::value, uint64_t{1}, uint64_t{0});
  ASSERT_TRUE(eventually(
    [&] { return state_of(peers[1]).received.size() == got + 1; }));
  // Peer 3 comes back as of the intact checkpoint.
  auto p3 = restore<peer>(sys, *store, 3);
  ASSERT_TRUE(p3) << describe(p3.error());
  EXPECT_EQ(to_snapshot(state_of(*p3)), to_snapshot(stored_states()[3]));
  caf::anon_send_exit(*p3, caf::exit_reason::kill);
}

TEST_F(checkpoint_test, refusing_participant_aborts_and_lives_on) {
  spawn_ring(3);
  self->send(peers[0], start_atom::value, uint64_t{1}, uint64_t{20});
  ASSERT_TRUE(eventually([&] { return received_total() == 21; }));
  self->send(peers[1], arm_atom::value, int{refuse_on_save});
  auto res = checkpoint(sys, *store, {peers[0]});
  ASSERT_FALSE(res);
  EXPECT_TRUE(is(res.error(), errc::checkpoint_aborted))
    << describe(res.error());
  EXPECT_NE(describe(res.error()).find("participant 2 refused the precommit"),
            std::string::npos)
    << describe(res.error());
  EXPECT_TRUE(raw_records().empty());
  self->send(peers[1], arm_atom::value, int{none});
  res = checkpoint(sys, *store, {peers[0]});
  ASSERT_TRUE(res) << describe(res.error());
  EXPECT_EQ(res->epochs.size(), 3u);
}

TEST_F(checkpoint_test, member_timing_out_aborts_naming_it_and_the_phase) {
  spawn_ring(3);
  self->send(peers[0], start_atom::value, uint64_t{1}, uint64_t{20});
  ASSERT_TRUE(eventually([&] { return received_total() == 21; }));
  close_gate();
  self->send(peers[2], block_atom::value);
  checkpoint_options opts;
  opts.timeout = std::chrono::milliseconds{300};
  auto res = checkpoint(sys, *store, {peers[0]}, opts);
  ASSERT_FALSE(res);
  EXPECT_TRUE(is(res.error(), errc::checkpoint_aborted))
    << describe(res.error());
  auto why = describe(res.error());
  EXPECT_NE(why.find("aborted: timed out during build, waiting for "),
            std::string::npos)
    << why;
  EXPECT_NE(why.find("participant 3 (build)"), std::string::npos) << why;
  EXPECT_TRUE(raw_records().empty());
  open_gate();
  // Peer 3 answers the dead checkpoint, is released by its abort, and
  // the next one commits.
  ASSERT_TRUE(eventually([&] {
    for (auto& p : peers)
      if (status_of(p).phase != "idle")
        return false;
    return true;
  }));
  res = checkpoint(sys, *store, {peers[0]});
  ASSERT_TRUE(res) << describe(res.error());
  EXPECT_EQ(res->epochs.size(), 3u);
}

TEST_F(checkpoint_test, concurrent_checkpoints_under_traffic_all_commit) {
  spawn_ring(3);
  for (auto& p : peers)
    self->send(p, start_atom::value, uint64_t{2}, uint64_t{4000});
  ASSERT_TRUE(eventually([&] { return received_total() >= 500; }));
  std::vector<std::future<caf::expected<checkpoint_result>>> runs;
  for (size_t i = 0; i < 3; ++i)
    runs.push_back(std::async(std::launch::async, [this, i] {
      return checkpoint(sys, *store, {peers[i]});
    }));
  for (uint64_t id = 1; id <= runs.size(); ++id) {
    auto res = runs[id - 1].get();
    ASSERT_TRUE(res) << describe(res.error());
    // Its root at least: a later one may find the others committed already.
    EXPECT_EQ(res->epochs.count(id), 1u);
  }
  expect_no_orphan(stored_states());
  ASSERT_TRUE(eventually([&] { return received_total() == 3 * 2 * 4001; }));
  for (auto& p : peers) {
    auto st = status_of(p);
    EXPECT_EQ(st.phase, "idle");
    EXPECT_GE(st.epoch, 1u);
  }
}

TEST_F(checkpoint_test, restore_without_checkpoint_starts_fresh) {
  auto p = restore<peer>(sys, *store, 7);
  ASSERT_TRUE(p) << describe(p.error());
  peers.push_back(*p);
  EXPECT_EQ(status_of(*p).epoch, 0u);
  auto st = state_of(*p);
  EXPECT_EQ(st.self, 7u);
  EXPECT_TRUE(st.sent.empty());
}

TEST_F(checkpoint_test, unreadable_record_is_reported) {
  ASSERT_FALSE(store->put(checkpoint_key("ckpt/", 5) + "/meta", "garbage"));
  auto p = restore<peer>(sys, *store, 5);
  ASSERT_FALSE(p);
  EXPECT_TRUE(is(p.error(), errc::corrupted)) << describe(p.error());
  EXPECT_NE(describe(p.error()).find("participant 5"), std::string::npos);
  // A readable state with an unreadable channel record.
  ASSERT_FALSE(store->put(checkpoint_key("ckpt/", 6) + "/meta",
                          to_snapshot(checkpoint_record{1, 9, {}, {}})));
  ASSERT_FALSE(store->put(checkpoint_key("ckpt/", 6) + "/state",
                          to_snapshot(peer_state{})));
  ASSERT_FALSE(store->put(checkpoint_key("ckpt/", 6) + "/channel", "garbage"));
  p = restore<peer>(sys, *store, 6);
  ASSERT_FALSE(p);
  EXPECT_TRUE(is(p.error(), errc::corrupted)) << describe(p.error());
  EXPECT_NE(describe(p.error()).find("participant 6: ftsr: corrupted: "
                                     "channel state unreadable"),
            std::string::npos)
    << describe(p.error());
}

TEST_F(checkpoint_test, root_that_is_no_participant_is_refused) {
  auto stranger = sys.spawn([]() -> caf::behavior {
    return {[](int x) { return x; }};
  });
  auto res = checkpoint(sys, *store, {stranger});
  ASSERT_FALSE(res);
  EXPECT_TRUE(is(res.error(), errc::invalid_argument)) << describe(res.error());
  res = checkpoint(sys, *store, {});
  ASSERT_FALSE(res);
  EXPECT_TRUE(is(res.error(), errc::invalid_argument));
  caf::anon_send_exit(stranger, caf::exit_reason::kill);
}

// -- in an ftsr node ----------------------------------------------------------

/// The spans of `kind` recorded by `n`.
std::vector<span> spans_of(node& n, const std::string& kind) {
  std::vector<span> xs;
  for (auto& s : n.context().spans.snapshot())
    if (s.kind == kind)
      xs.push_back(s);
  return xs;
}

// A single ftsr node (a one-member cluster on an ephemeral port): the
// coordinator records a "checkpoint" span, each member a
// "checkpoint_member" span under it; an aborted one says why.
TEST(checkpoint_in_node, checkpoint_spans_name_members_and_outcome) {
  char tmpl[] = "/tmp/ftsr-ckpt-node-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  std::string dir = tmpl;
  node_options opts;
  opts.cluster.name = "ckpt";
  opts.cluster.nodes = {{"host1", "127.0.0.1", 0}};
  opts.name = "host1";
  opts.add_types = [](caf::actor_system_config& c) {
    add_checkpoint_types(c);
  };
  auto n = node::start(std::move(opts));
  ASSERT_TRUE(n) << describe(n.error());
  auto st = open_lmdb_store({dir + "/store"});
  ASSERT_TRUE(st) << describe(st.error());
  auto& sys = (*n)->system();
  {
    caf::scoped_actor self{sys};
    std::vector<caf::actor> ring;
    for (uint64_t id = 1; id <= 3; ++id)
      ring.push_back(spawn_participant<peer>(sys, id));
    for (size_t i = 0; i < 3; ++i)
      self->send(ring[i], connect_atom::value, ring[(i + 1) % 3],
                 uint64_t{(i + 1) % 3 + 1});
    self->send(ring[0], start_atom::value, uint64_t{1}, uint64_t{5});
    // Tokens started at peer 1 end there after a multiple of 3 hops.
    auto ended_at_1 = [&](size_t n) {
      return [&self, &ring, n] {
        caf::expected<std::string> blob = caf::sec::request_timeout;
        self->request(ring[0], bound, get_atom::value)
          .receive([&](std::string& b) { blob = std::move(b); },
                   [&](caf::error& err) { blob = std::move(err); });
        auto x = blob ? from_snapshot<peer_state>(*blob)
                      : caf::expected<peer_state>{blob.error()};
        return x && x->ended.size() == n;
      };
    };
    ASSERT_TRUE(eventually(ended_at_1(1)));
    checkpoint_options co;
    co.initiator = 42;
    auto res = checkpoint(sys, **st, {ring[0]}, co);
    ASSERT_TRUE(res) << describe(res.error());
    auto cs = spans_of(**n, "checkpoint");
    ASSERT_EQ(cs.size(), 1u);
    auto& c = cs[0];
    EXPECT_EQ(c.name, "checkpoint 42");
    EXPECT_EQ(c.parent_id, 0u);
    EXPECT_NE(c.trace_id, 0u);
    EXPECT_LT(c.start_ns, c.end_ns);
    EXPECT_EQ(c.node.rfind("host1", 0), 0u) << c.node; // the member id
    EXPECT_NE(c.detail.find("committed"), std::string::npos) << c.detail;
    EXPECT_NE(c.detail.find("members: 1, 2, 3"), std::string::npos)
      << c.detail;
    // The members' spans: under it, within it.
    std::vector<span> ms;
    ASSERT_TRUE(eventually([&] {
      ms = spans_of(**n, "checkpoint_member");
      return ms.size() == 3;
    }));
    std::set<std::string> names;
    for (auto& m : ms) {
      names.insert(m.name);
      EXPECT_EQ(m.trace_id, c.trace_id);
      EXPECT_EQ(m.parent_id, c.span_id);
      EXPECT_LE(c.start_ns, m.start_ns);
      EXPECT_LE(m.start_ns, m.end_ns);
      EXPECT_EQ(m.detail, "committed, epoch 1");
    }
    EXPECT_EQ(names, (std::set<std::string>{"participant 1", "participant 2",
                                            "participant 3"}));
    // An aborted one: the outcome names the member that refused.
    self->send(ring[1], arm_atom::value, int{refuse_on_save});
    self->send(ring[0], start_atom::value, uint64_t{1}, uint64_t{2});
    co.initiator = 43;
    ASSERT_TRUE(eventually(ended_at_1(2))); // 1 -> 2 -> 3 -> 1: all linked
    res = checkpoint(sys, **st, {ring[0]}, co);
    ASSERT_FALSE(res);
    EXPECT_TRUE(is(res.error(), errc::checkpoint_aborted));
    cs = spans_of(**n, "checkpoint");
    ASSERT_EQ(cs.size(), 2u);
    EXPECT_EQ(cs[1].name, "checkpoint 43");
    EXPECT_NE(cs[1].detail.find("aborted"), std::string::npos)
      << cs[1].detail;
    EXPECT_NE(cs[1].detail.find("participant 2 refused the precommit"),
              std::string::npos)
      << cs[1].detail;
    for (auto& p : ring)
      caf::anon_send_exit(p, caf::exit_reason::kill);
  }
  st->reset();
  n->reset();
  std::filesystem::remove_all(dir);
}

} // namespace
