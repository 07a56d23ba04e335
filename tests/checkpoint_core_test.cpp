// Deterministic tests of the FTM checkpoint core (persistence/
// checkpoint_core.hpp), without actors, clocks or sockets.
//
// A small world routes the cores' messages through one FIFO queue per
// ordered pair of parties (CAF orders messages per sender/receiver pair and
// nothing else) and plays the application and the actor layer: a
// participant's state is a version counter (bumped by every update it
// handles and every send it records) and, per sender, the highest sender
// version it received; a checkpoint stores (epoch, version, receives).
// A consistent cut then reads: for every stored receive (S, v), S's stored
// version is at least v (no receive without its send, no read of state the
// sender's checkpoint lacks).
// Channel state: every recorded update send carries a sequence number per
// ordered pair (the sender's state counts them, the receiver's keeps the
// last one it handled); a checkpoint also stores the recorded in-flight
// messages. Lossless: for two members of one checkpoint, the receiver's
// channel from the sender holds exactly the sequence numbers after its
// last one up to the sender's stored count (but for messages a restore
// lost earlier). Every delivery checks the order: no duplicate, no
// reordering, no gap but for messages a restore lost (a restore of the
// whole world from the store, then a replay of the channel state, counts
// as lost exactly what the cut lacks between pairs stored apart).
//
// 1. Scripted scenarios: FTM's dependency rule (Fig. 7), the three waves,
//    deferral during the build wave, queued requests, merges, aborts.
// 2. A seeded simulation: random traffic (updates, reads with replies,
//    forwards), random initiations (sequential or concurrent), random
//    crashes of participants and initiators, refused precommits, timeouts
//    and restores of everything from the store. After every stored
//    checkpoint the stored states must form a consistent cut with
//    lossless channels between members; at the end every initiation must
//    have finished and
//    every participant be free again (no deadlock), with timeouts only
//    where an initiator crashed. FTSR_CKPT_SEED=<s> replays one seed,
//    FTSR_CKPT_SEEDS=<n> runs n seeds per configuration, FTSR_CKPT_TRACE=1
//    prints every delivery.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "actors/errors.hpp"
#include "persistence/checkpoint_core.hpp"

using namespace ftsr;

namespace {

// -- the world ----------------------------------------------------------------

/// A party: participant ids as is, initiator ids with the top bit set.
using party = uint64_t;
constexpr party initiator_bit = uint64_t{1} << 63;

party P(uint64_t id) {
  return id;
}

party I(uint64_t id) {
  return id | initiator_bit;
}

bool is_initiator(party x) {
  return (x & initiator_bit) != 0;
}

uint64_t id_of(party x) {
  return x & ~initiator_bit;
}

struct app_msg {
  ckpt_stamp stamp;
  bool update = true;
  uint64_t version = 0; // the sender's version at the send
  uint64_t seq = 0;     // recorded update: its number on the channel
};

struct record {
  uint64_t epoch = 0;
  uint64_t version = 0;
  std::map<uint64_t, uint64_t> received;
  std::map<uint64_t, uint64_t> sent;      // to -> last seq sent
  std::map<uint64_t, uint64_t> last_recv; // from -> last seq handled
  std::map<uint64_t, std::vector<app_msg>> channel; // from -> in flight
};

struct proto_msg {
  ckpt_message msg;
  std::optional<record> snapshot; // beside an ok precommit reply
  std::vector<app_msg> entries;   // the reported channels' messages
};

struct down {};

using item = std::variant<app_msg, ckpt_dep_note, proto_msg, down>;

struct held_send {
  uint64_t to;
  bool update;
  uint64_t version;
  uint64_t seq;
};

struct participant {
  explicit participant(uint64_t id, uint64_t epoch = 0) : core(id, epoch) {
  }
  checkpoint_participant core;
  bool alive = true;
  uint64_t version = 0;
  std::map<uint64_t, uint64_t> received;
  std::map<uint64_t, uint64_t> sent;
  std::map<uint64_t, uint64_t> last_recv;
  std::deque<held_send> held;
  std::deque<std::pair<party, app_msg>> deferred;
  std::map<uint64_t, std::vector<app_msg>> log; // recorded per sender
  std::optional<record> snap; // saved, not answered yet
};

/// A member's reported channels: sender -> (the sender's join, messages).
using channel_pieces
  = std::map<uint64_t, std::pair<uint64_t, std::vector<app_msg>>>;

struct initiator {
  explicit initiator(uint64_t id) : core(id) {
  }
  checkpoint_initiator core;
  bool alive = true;
  bool write_pending = false;
  std::map<std::pair<uint64_t, uint64_t>, record> snapshots; // (id, lock)
  std::map<std::pair<uint64_t, uint64_t>, channel_pieces> channels;
};

bool to_participant(const ckpt_message& m) {
  return std::holds_alternative<ckpt_build>(m)
         || std::holds_alternative<ckpt_precommit>(m)
         || std::holds_alternative<ckpt_end>(m)
         || std::holds_alternative<ckpt_reassign>(m)
         || std::holds_alternative<ckpt_mark>(m)
         || std::holds_alternative<ckpt_marker>(m);
}

class world {
public:
  std::map<uint64_t, participant> ps;
  std::map<uint64_t, initiator> is;
  std::map<std::pair<party, party>, std::deque<item>> chan;
  std::map<uint64_t, record> store;
  /// (from, to) -> seqs a restore lost (the cut lacked them).
  std::map<std::pair<uint64_t, uint64_t>, std::set<uint64_t>> lost;

  // Random behaviour (the simulation); scripted tests leave it off.
  std::mt19937_64* rng = nullptr;
  double forward_p = 0;
  double refuse_p = 0;
  double crash_after_write_p = 0;

  bool trace = std::getenv("FTSR_CKPT_TRACE") != nullptr;

  // What happened.
  int commits = 0, aborts = 0, merged_outcomes = 0, writes = 0;
  int deferrals = 0, refusals = 0;
  int restores = 0, stored_in_flight = 0, replays = 0, lost_msgs = 0;
  int marks = 0, late_channels = 0;
  std::vector<std::string> errors; // consistency violations
  std::vector<std::string> outcomes;

  void add_participants(uint64_t n) {
    for (uint64_t p = 1; p <= n; ++p)
      ps.emplace(p, participant{p});
  }

  static std::string name(party x) {
    return (is_initiator(x) ? "I" : "P") + std::to_string(id_of(x));
  }

  static std::string show(const item& x) {
    if (auto m = std::get_if<app_msg>(&x))
      return std::string{m->update ? "update" : "read"} + " e"
             + std::to_string(m->stamp.epoch)
             + (m->stamp.modified ? " modified" : "")
             + (m->seq != 0 ? " #" + std::to_string(m->seq) : "");
    if (std::holds_alternative<ckpt_dep_note>(x))
      return "dep note";
    if (std::holds_alternative<down>(x))
      return "DOWN";
    return std::visit(
      [](auto& m) -> std::string {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, ckpt_build>)
          return "build e" + std::to_string(m.epoch) + " of "
                 + std::to_string(m.of);
        else if constexpr (std::is_same_v<T, ckpt_build_reply>)
          return std::string{"reply "}
                 + (m.answer == ckpt_answer::joined
                      ? "joined"
                      : m.answer == ckpt_answer::busy
                          ? "busy " + std::to_string(m.holder)
                          : "not needed")
                 + " to " + std::to_string(m.initiator);
        else if constexpr (std::is_same_v<T, ckpt_precommit>)
          return "precommit";
        else if constexpr (std::is_same_v<T, ckpt_precommit_reply>)
          return m.ok ? "precommitted, " + std::to_string(m.channels.size())
                          + " channels"
                      : "refused";
        else if constexpr (std::is_same_v<T, ckpt_end>)
          return m.commit ? "commit" : "abort";
        else if constexpr (std::is_same_v<T, ckpt_reassign>)
          return "reassign to " + std::to_string(m.to);
        else if constexpr (std::is_same_v<T, ckpt_yield>)
          return "yield to " + std::to_string(m.winner);
        else if constexpr (std::is_same_v<T, ckpt_merge>)
          return "merge of " + std::to_string(m.loser);
        else if constexpr (std::is_same_v<T, ckpt_mark>)
          return "mark " + std::to_string(m.peers.size()) + " more";
        else if constexpr (std::is_same_v<T, ckpt_marker>)
          return "marker of join " + std::to_string(m.from_lock);
        else if constexpr (std::is_same_v<T, ckpt_channels>)
          return "channels " + std::to_string(m.channels.size());
        else
          return m.committed ? "outcome committed" : "outcome aborted";
      },
      std::get<proto_msg>(x).msg);
  }

  participant& part(uint64_t p) {
    return ps.at(p);
  }

  initiator& init(uint64_t i) {
    return is.at(i);
  }

  bool chance(double p) {
    return rng != nullptr && p > 0
           && std::uniform_real_distribution<double>{0, 1}(*rng) < p;
  }

  uint64_t pick(uint64_t n) {
    return std::uniform_int_distribution<uint64_t>{0, n - 1}(*rng);
  }

  // -- application ------------------------------------------------------------

  /// An input from outside (a client): changes p, then p sends `sends`
  /// (to, update?) and records each send.
  void external(uint64_t p, std::vector<std::pair<uint64_t, bool>> sends) {
    auto& x = part(p);
    if (!x.alive)
      return;
    EXPECT_NE(x.core.on_update({}), checkpoint_participant::delivery::defer);
    ++x.version;
    for (auto [to, update] : sends)
      send(p, to, update, true);
  }

  /// A send from p's handler; `recorded`: p's state records it (and
  /// numbers it, for an update).
  void send(uint64_t p, uint64_t to, bool update, bool recorded) {
    auto& x = part(p);
    uint64_t seq = 0;
    if (recorded) {
      ++x.version;
      if (update)
        seq = ++x.sent[to];
    }
    emit(p, to, update, x.version, seq);
  }

  /// Stamps and sends now, or holds back (blocked by a precommit).
  void emit(uint64_t p, uint64_t to, bool update, uint64_t version,
            uint64_t seq) {
    auto& x = part(p);
    if (!x.core.may_send()) {
      x.held.push_back({to, update, version, seq});
      return;
    }
    enqueue(P(p), P(to), app_msg{x.core.stamp(), update, version, seq});
  }

  /// p handles update `seq` from `from`: in order, nothing skipped that a
  /// restore did not lose.
  void check_order(uint64_t p, uint64_t from, uint64_t seq) {
    if (seq == 0)
      return;
    auto& last = part(p).last_recv[from];
    auto what = "P" + std::to_string(p) + " handles #" + std::to_string(seq)
                + " from P" + std::to_string(from) + " after #"
                + std::to_string(last);
    if (seq <= last) {
      errors.push_back("duplicate or reordered: " + what);
      return;
    }
    auto& gone = lost[{from, p}];
    for (auto k = last + 1; k < seq; ++k)
      if (gone.count(k) == 0) {
        errors.push_back("lost #" + std::to_string(k) + ": " + what);
        break;
      }
    last = seq;
  }

  void on_app(uint64_t p, party from, const app_msg& m) {
    auto& x = part(p);
    auto s = id_of(from);
    if (x.core.holds_back(s)) {
      ++deferrals;
      x.deferred.emplace_back(from, m);
      return;
    }
    if (!m.update) { // a read: reply from the unchanged state
      send(p, s, true, false);
      return;
    }
    auto d = x.core.on_update(m.stamp);
    if (d == checkpoint_participant::delivery::defer) {
      ++deferrals;
      x.deferred.emplace_back(from, m);
      return;
    }
    check_order(p, s, m.seq);
    auto& v = x.received[s];
    v = std::max(v, m.version);
    ++x.version;
    if (d == checkpoint_participant::delivery::deliver_and_note)
      enqueue(P(p), from, ckpt_dep_note{p, m.stamp.epoch});
    if (chance(forward_p))
      send(p, 1 + pick(ps.size()), !chance(0.25), true);
  }

  // -- plumbing ---------------------------------------------------------------

  void enqueue(party from, party to, item x) {
    if (!is_initiator(to)) {
      auto i = ps.find(id_of(to));
      if (i == ps.end() || !i->second.alive) {
        // A monitor on a dead actor fires at once.
        if (is_initiator(from) && std::holds_alternative<proto_msg>(x))
          chan[{to, from}].push_back(down{});
        return;
      }
    } else {
      auto i = is.find(id_of(to));
      if (i == is.end() || !i->second.alive)
        return;
    }
    chan[{from, to}].push_back(std::move(x));
  }

  void send_out(party from, ckpt_step& st) {
    for (auto& e : st.out) {
      auto to = to_participant(e.msg) ? P(e.to) : I(e.to);
      enqueue(from, to, proto_msg{std::move(e.msg), std::nullopt, {}});
    }
  }

  /// The recorded messages of the reported channels, in their order.
  std::vector<app_msg> channel_entries(participant& x,
                                       const std::vector<ckpt_channel>& cs) {
    std::vector<app_msg> xs;
    for (auto& c : cs) {
      auto& log = x.log[c.from];
      if (c.count > log.size()) {
        errors.push_back("channel from " + std::to_string(c.from)
                         + " reported longer than recorded");
        continue;
      }
      xs.insert(xs.end(), log.begin(), log.begin() + c.count);
    }
    return xs;
  }

  /// A participant's sends: the snapshot and recorded messages go beside
  /// its reports.
  void send_from(uint64_t p, ckpt_step& st) {
    auto& x = part(p);
    for (auto& e : st.out) {
      proto_msg pm{std::move(e.msg), std::nullopt, {}};
      if (auto r = std::get_if<ckpt_precommit_reply>(&pm.msg)) {
        pm.snapshot = x.snap;
        pm.entries = channel_entries(x, r->channels);
      } else if (auto c = std::get_if<ckpt_channels>(&pm.msg)) {
        pm.entries = channel_entries(x, c->channels);
      }
      auto to = to_participant(pm.msg) ? P(e.to) : I(e.to);
      enqueue(P(p), to, std::move(pm));
    }
  }

  void apply(uint64_t p, ckpt_step st, const ckpt_precommit& asked = {}) {
    auto& x = part(p);
    send_from(p, st);
    if (st.snapshot) {
      if (chance(refuse_p)) {
        ++refusals;
        ckpt_precommit_reply r{p, asked.initiator, asked.lock, false,
                               "injected refusal", {}};
        enqueue(P(p), I(asked.initiator), proto_msg{r, std::nullopt, {}});
      } else {
        x.snap = record{x.core.epoch() + 1, x.version, x.received,
                        x.sent,  x.last_recv,         {}};
        x.log.clear();
        for (auto& [from, m] : x.deferred)
          if (x.core.record(m.stamp))
            x.log[id_of(from)].push_back(m);
        apply(p, x.core.on_snapshot());
      }
    }
    if (st.resume) {
      for (auto& h : std::exchange(x.held, {}))
        emit(p, h.to, h.update, h.version, h.seq);
      auto deferred = std::exchange(x.deferred, {});
      for (auto& [from, m] : deferred)
        on_app(p, from, m);
    }
    if (x.core.state() == checkpoint_participant::phase::idle) {
      x.log.clear();
      x.snap.reset();
    }
    // Monitoring a dead holder fires at once.
    auto h = x.core.holder();
    if (h != 0 && !init_alive(h))
      chan[{I(h), P(p)}].push_back(down{});
  }

  bool init_alive(uint64_t i) {
    auto j = is.find(i);
    return j != is.end() && j->second.alive;
  }

  void apply_init(uint64_t i, ckpt_step st) {
    auto& x = init(i);
    send_out(I(i), st);
    if (st.write)
      x.write_pending = true;
    if (st.done) {
      if (x.core.committed()) {
        ++commits;
      } else {
        ++aborts;
        outcomes.push_back(ftsr::describe(x.core.error()));
      }
      if (x.core.winner() != 0)
        ++merged_outcomes;
      quit(i); // a coordinator actor quits once it knows the outcome
    }
  }

  void quit(uint64_t i) {
    if (trace)
      std::printf("I%llu quits\n", static_cast<unsigned long long>(i));
    auto& x = init(i);
    x.alive = false;
    x.write_pending = false;
    for (auto& [key, q] : chan)
      if (key.second == I(i))
        q.clear();
    for (auto& [p, y] : ps)
      if (y.alive)
        chan[{I(i), P(p)}].push_back(down{});
    for (auto& [j, y] : is)
      if (y.alive)
        chan[{I(i), I(j)}].push_back(down{});
  }

  void kill_participant(uint64_t p) {
    if (trace)
      std::printf("kill P%llu\n", static_cast<unsigned long long>(p));
    auto& x = part(p);
    x.alive = false;
    x.held.clear();
    x.deferred.clear();
    x.log.clear();
    for (auto& [key, q] : chan)
      if (key.second == P(p))
        q.clear();
    for (auto& [i, y] : is)
      if (y.alive)
        chan[{P(p), I(i)}].push_back(down{});
  }

  void start(uint64_t i, std::vector<uint64_t> roots) {
    if (trace)
      std::printf("start I%llu at P%llu\n", static_cast<unsigned long long>(i),
                  static_cast<unsigned long long>(roots.front()));
    auto& x = is.emplace(i, initiator{i}).first->second;
    apply_init(i, x.core.start(roots));
  }

  /// The coordinator's atomic write, then the commit wave.
  void write(uint64_t i, bool crash_after = false) {
    auto& x = init(i);
    x.write_pending = false;
    ++writes;
    std::map<uint64_t, record> batch;
    auto members = x.core.members();
    for (auto& m : members) {
      auto s = x.snapshots.find({m.id, m.lock});
      if (s == x.snapshots.end()) {
        errors.push_back("no snapshot of member " + std::to_string(m.id));
        return;
      }
      if (auto old = store.find(m.id);
          old != store.end() && old->second.version > s->second.version)
        errors.push_back("participant " + std::to_string(m.id)
                         + " stored an older state");
      auto rec = s->second;
      auto& pieces = x.channels[{m.id, m.lock}];
      for (auto& o : members) {
        auto c = pieces.find(o.id);
        if (c == pieces.end() || c->second.first != o.lock) {
          errors.push_back("no channel " + std::to_string(o.id) + " -> "
                           + std::to_string(m.id));
          return;
        }
        if (!c->second.second.empty())
          rec.channel[o.id] = c->second.second;
      }
      batch[m.id] = std::move(rec);
    }
    for (auto& [id, r] : batch) {
      if (trace)
        std::printf("I%llu stores P%llu: epoch %llu version %llu\n",
                    static_cast<unsigned long long>(i),
                    static_cast<unsigned long long>(id),
                    static_cast<unsigned long long>(r.epoch),
                    static_cast<unsigned long long>(r.version));
      store[id] = r;
    }
    check_cut();
    check_channels(batch);
    if (crash_after || chance(crash_after_write_p)) {
      quit(i);
      return;
    }
    apply_init(i, x.core.on_written(caf::none));
  }

  void check_cut() {
    for (auto& [r, rec] : store) {
      for (auto [s, v] : rec.received) {
        auto i = store.find(s);
        auto have = i == store.end() ? 0 : i->second.version;
        if (have < v)
          errors.push_back("orphan: " + std::to_string(r) + " stored a receive"
                           + " of version " + std::to_string(v) + " from "
                           + std::to_string(s) + ", whose checkpoint has "
                           + std::to_string(have));
      }
      for (auto [s, seq] : rec.last_recv) {
        auto have = stored_sent(s, r);
        if (have < seq)
          errors.push_back("orphan: " + std::to_string(r) + " stored #"
                           + std::to_string(seq) + " from "
                           + std::to_string(s) + ", whose checkpoint sent #"
                           + std::to_string(have));
      }
    }
  }

  uint64_t stored_sent(uint64_t from, uint64_t to) {
    auto i = store.find(from);
    if (i == store.end())
      return 0;
    auto j = i->second.sent.find(to);
    return j == i->second.sent.end() ? 0 : j->second;
  }

  static uint64_t get(const std::map<uint64_t, uint64_t>& xs, uint64_t k) {
    auto i = xs.find(k);
    return i == xs.end() ? 0 : i->second;
  }

  static std::vector<uint64_t> seqs(const std::vector<app_msg>& xs) {
    std::vector<uint64_t> ys;
    for (auto& m : xs)
      if (m.seq != 0)
        ys.push_back(m.seq);
    return ys;
  }

  static std::string show(const std::vector<uint64_t>& xs) {
    std::string s;
    for (auto x : xs)
      s += " " + std::to_string(x);
    return "[" + s + " ]";
  }

  /// Lossless between members of one checkpoint: the receiver's channel
  /// holds exactly what the sender's snapshot sent after the receiver's
  /// last handled update (but for what a restore lost earlier).
  void check_channels(const std::map<uint64_t, record>& batch) {
    for (auto& [to, rto] : batch)
      for (auto& [from, rfrom] : batch) {
        std::vector<uint64_t> want;
        auto& gone = lost[{from, to}];
        for (auto k = get(rto.last_recv, from) + 1;
             k <= get(rfrom.sent, to); ++k)
          if (gone.count(k) == 0)
            want.push_back(k);
        auto c = rto.channel.find(from);
        auto got = c == rto.channel.end() ? std::vector<uint64_t>{}
                                          : seqs(c->second);
        stored_in_flight += static_cast<int>(got.size());
        if (got != want)
          errors.push_back("channel " + std::to_string(from) + " -> "
                           + std::to_string(to) + " stored " + show(got)
                           + ", in flight " + show(want));
      }
  }

  /// Everything dies (participants, initiators, messages in flight); the
  /// participants come back from the store, holding their channel state
  /// until replay(). What the cut lacks between pairs stored apart is
  /// lost; the cut must have no orphan.
  void restore_all() {
    if (trace)
      std::printf("restore all\n");
    ++restores;
    for (auto& [i, x] : is) {
      x.alive = false;
      x.write_pending = false;
    }
    chan.clear();
    for (auto& [to, x] : ps)
      for (auto& [from, y] : ps) {
        auto rt = store.find(to);
        auto r0 = rt == store.end() ? 0 : get(rt->second.last_recv, from);
        auto s0 = stored_sent(from, to);
        if (r0 > s0)
          errors.push_back("orphan on restore: " + std::to_string(to)
                           + " handled #" + std::to_string(r0) + " from "
                           + std::to_string(from) + ", which sent #"
                           + std::to_string(s0));
        std::set<uint64_t> replayed;
        if (rt != store.end())
          if (auto c = rt->second.channel.find(from);
              c != rt->second.channel.end())
            for (auto k : seqs(c->second)) {
              if (k <= r0 || k > s0)
                errors.push_back("channel " + std::to_string(from) + " -> "
                                 + std::to_string(to) + " stores #"
                                 + std::to_string(k) + " outside ("
                                 + std::to_string(r0) + ", "
                                 + std::to_string(s0) + "]");
              replayed.insert(k);
            }
        auto& gone = lost[{from, to}];
        for (auto k = r0 + 1; k <= s0; ++k)
          if (replayed.count(k) == 0 && gone.insert(k).second)
            ++lost_msgs;
      }
    for (auto& [id, x] : ps) {
      auto rec = store.find(id);
      participant y{id, rec == store.end() ? 0 : rec->second.epoch};
      if (rec != store.end()) {
        auto& r = rec->second;
        y.version = r.version;
        y.received = r.received;
        y.sent = r.sent;
        y.last_recv = r.last_recv;
        for (auto& [from, msgs] : r.channel) {
          y.core.hold(from);
          for (auto& m : msgs)
            y.deferred.emplace_back(P(from), m);
        }
      }
      x = std::move(y);
    }
  }

  /// The restored participant p delivers its channel state.
  void replay(uint64_t p) {
    auto& x = part(p);
    if (!x.alive || x.core.held().empty())
      return;
    if (trace)
      std::printf("P%llu replays\n", static_cast<unsigned long long>(p));
    ++replays;
    apply(p, x.core.replay());
  }

  /// Delivers the head of the queue from -> to.
  void deliver(party from, party to) {
    auto& q = chan[{from, to}];
    ASSERT_FALSE(q.empty()) << "nothing from " << from << " to " << to;
    auto x = std::move(q.front());
    q.pop_front();
    if (trace)
      std::printf("%s -> %s: %s\n", name(from).c_str(), name(to).c_str(),
                  show(x).c_str());
    if (is_initiator(to))
      to_init(id_of(to), from, std::move(x));
    else
      to_part(id_of(to), from, std::move(x));
  }

  void to_part(uint64_t p, party from, item x) {
    auto& y = part(p);
    if (!y.alive)
      return;
    if (auto m = std::get_if<app_msg>(&x)) {
      if (y.core.record(m->stamp))
        y.log[id_of(from)].push_back(*m);
      on_app(p, from, *m);
    } else if (auto n = std::get_if<ckpt_dep_note>(&x)) {
      y.core.on_dep_note(*n);
    } else if (std::holds_alternative<down>(x)) {
      apply(p, y.core.on_initiator_down(id_of(from)));
    } else {
      auto& msg = std::get<proto_msg>(x).msg;
      if (auto b = std::get_if<ckpt_build>(&msg))
        apply(p, y.core.on_build(*b));
      else if (auto pc = std::get_if<ckpt_precommit>(&msg))
        apply(p, y.core.on_precommit(*pc), *pc);
      else if (auto e = std::get_if<ckpt_end>(&msg))
        apply(p, y.core.on_end(*e));
      else if (auto r = std::get_if<ckpt_reassign>(&msg))
        apply(p, y.core.on_reassign(*r));
      else if (auto mk = std::get_if<ckpt_mark>(&msg)) {
        ++marks;
        apply(p, y.core.on_mark(*mk));
      }
      else if (auto mr = std::get_if<ckpt_marker>(&msg))
        apply(p, y.core.on_marker(*mr));
      else
        errors.push_back("participant got an initiator message");
    }
  }

  void to_init(uint64_t i, party from, item x) {
    auto& y = init(i);
    if (!y.alive)
      return;
    if (std::holds_alternative<down>(x)) {
      if (is_initiator(from))
        apply_init(i, y.core.on_initiator_down(id_of(from)));
      else
        apply_init(i, y.core.on_participant_down(
                        id_of(from), make_error(errc::fail_stop, "killed")));
      return;
    }
    auto& pm = std::get<proto_msg>(x);
    std::visit(
      [&](auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, ckpt_build_reply>) {
          apply_init(i, y.core.on_build_reply(m));
        } else if constexpr (std::is_same_v<T, ckpt_precommit_reply>) {
          if (m.ok && pm.snapshot) {
            y.snapshots[{m.participant, m.lock}] = *pm.snapshot;
            take_channels(y, m.participant, m.lock, m.channels, pm.entries);
          }
          apply_init(i, y.core.on_precommit_reply(m));
        } else if constexpr (std::is_same_v<T, ckpt_channels>) {
          ++late_channels;
          take_channels(y, m.participant, m.lock, m.channels, pm.entries);
          apply_init(i, y.core.on_channels(m));
        } else if constexpr (std::is_same_v<T, ckpt_yield>) {
          apply_init(i, y.core.on_yield(m));
        } else if constexpr (std::is_same_v<T, ckpt_merge>) {
          apply_init(i, y.core.on_merge(m));
        } else if constexpr (std::is_same_v<T, ckpt_outcome>) {
          apply_init(i, y.core.on_outcome(m));
        } else {
          errors.push_back("initiator got a participant message");
        }
      },
      pm.msg);
  }

  void take_channels(initiator& y, uint64_t p, uint64_t lock,
                     const std::vector<ckpt_channel>& cs,
                     const std::vector<app_msg>& entries) {
    auto& pieces = y.channels[{p, lock}];
    size_t pos = 0;
    for (auto& c : cs) {
      if (pos + c.count > entries.size()) {
        errors.push_back("channel report without its messages");
        return;
      }
      pieces[c.from] = {c.lock,
                        {entries.begin() + pos, entries.begin() + pos + c.count}};
      pos += c.count;
    }
  }

  bool idle() const {
    for (auto& [k, q] : chan)
      if (!q.empty())
        return false;
    for (auto& [i, x] : is)
      if (x.write_pending)
        return false;
    return true;
  }

  /// Delivers everything queued from -> to.
  void deliver_all(party from, party to) {
    auto& q = chan[{from, to}];
    ASSERT_FALSE(q.empty()) << "nothing from " << from << " to " << to;
    while (!q.empty())
      deliver(from, to);
  }

  /// Delivers the first message in queue key order, if any.
  bool deliver_one() {
    for (auto& [k, q] : chan)
      if (!q.empty()) {
        auto [from, to] = k;
        deliver(from, to);
        return true;
      }
    return false;
  }

  /// Delivers everything, writing as writes become due.
  void run() {
    for (;;) {
      if (deliver_one())
        continue;
      auto i = std::find_if(is.begin(), is.end(),
                            [](auto& kv) { return kv.second.write_pending; });
      if (i == is.end())
        return;
      write(i->first);
    }
  }
};

using delivery = checkpoint_participant::delivery;
using pphase = checkpoint_participant::phase;
using iphase = checkpoint_initiator::phase;

ckpt_stamp modified_stamp(uint64_t sender, uint64_t epoch = 0) {
  return {sender, epoch, true};
}

// -- scripted: the dependency rule --------------------------------------------

TEST(checkpoint_core, update_from_modified_sender_is_a_dependency) {
  checkpoint_participant p{1};
  EXPECT_FALSE(p.modified());
  EXPECT_EQ(p.on_update(modified_stamp(2, 3)), delivery::deliver_and_note);
  EXPECT_TRUE(p.modified());
  EXPECT_EQ(p.preds(), (std::map<uint64_t, uint64_t>{{2, 3}}));
  // The same unit again: nothing new to tell the sender.
  EXPECT_EQ(p.on_update(modified_stamp(2, 3)), delivery::deliver);
  // A newer unit of the sender replaces the dependency.
  EXPECT_EQ(p.on_update(modified_stamp(2, 4)), delivery::deliver_and_note);
  EXPECT_EQ(p.preds().at(2), 4u);
}

TEST(checkpoint_core, unmodified_sender_and_outside_inputs_create_no_dependency) {
  checkpoint_participant p{1};
  // A reply from a sender still at its checkpointed state (FTM case 3).
  EXPECT_EQ(p.on_update({2, 0, false}), delivery::deliver);
  // An input from outside the checkpointed world.
  EXPECT_EQ(p.on_update({}), delivery::deliver);
  // Our own messages.
  EXPECT_EQ(p.on_update(modified_stamp(1)), delivery::deliver);
  EXPECT_TRUE(p.preds().empty());
  EXPECT_TRUE(p.modified());
  EXPECT_EQ(p.stamp().sender, 1u);
  EXPECT_TRUE(p.stamp().modified);
}

TEST(checkpoint_core, dep_note_records_a_successor_of_the_current_unit_only) {
  checkpoint_participant p{1, 5};
  p.on_dep_note({2, 5});
  p.on_dep_note({3, 4}); // an older unit: committed already
  EXPECT_EQ(p.succs(), (std::set<uint64_t>{2}));
}

// FTM Fig. 7: client a reads the server (no dependency: it reads persistent
// state), client b calls an update (mutual dependency), a reads again (now
// it depends on the server). The server's checkpoint takes a, b and itself.
TEST(checkpoint_core, ftm_figure_7_server_checkpoint_takes_both_clients) {
  constexpr uint64_t server = 1, a = 2, b = 3;
  world w;
  w.add_participants(3);
  // a: read call; the server answers from its unchanged state.
  w.external(a, {{server, false}});
  w.run();
  EXPECT_TRUE(w.part(a).core.preds().empty());
  EXPECT_TRUE(w.part(server).core.preds().empty());
  // b: update call; the server changes and replies.
  w.external(b, {{server, true}});
  w.deliver(P(b), P(server));
  EXPECT_EQ(w.part(server).core.preds().count(b), 1u);
  w.send(server, b, true, true); // the reply
  w.run();
  EXPECT_EQ(w.part(b).core.preds().count(server), 1u);
  EXPECT_EQ(w.part(server).core.succs(), (std::set<uint64_t>{b}));
  EXPECT_EQ(w.part(b).core.succs(), (std::set<uint64_t>{server}));
  // a: read call again; the server's state is modified now.
  w.external(a, {{server, false}});
  w.run();
  EXPECT_EQ(w.part(a).core.preds().count(server), 1u);
  EXPECT_EQ(w.part(server).core.succs(), (std::set<uint64_t>{a, b}));
  // The server decides to checkpoint.
  w.start(100, {server});
  w.run();
  EXPECT_TRUE(w.errors.empty()) << w.errors.front();
  ASSERT_EQ(w.commits, 1);
  EXPECT_EQ(w.store.size(), 3u);
  for (auto p : {server, a, b}) {
    EXPECT_EQ(w.part(p).core.epoch(), 1u);
    EXPECT_TRUE(w.part(p).core.preds().empty());
    EXPECT_FALSE(w.part(p).core.modified());
  }
}

TEST(checkpoint_core, client_that_only_read_persistent_state_stays_out) {
  constexpr uint64_t server = 1, a = 2, b = 3;
  world w;
  w.add_participants(3);
  w.external(a, {{server, false}}); // read of the unchanged server
  w.external(b, {{server, true}});  // update
  w.run();
  w.start(100, {server});
  w.run();
  ASSERT_EQ(w.commits, 1);
  EXPECT_EQ(w.store.count(a), 0u);
  EXPECT_EQ(w.store.count(b), 1u);
  EXPECT_EQ(w.store.count(server), 1u);
}

TEST(checkpoint_core, committed_predecessor_is_not_needed) {
  world w;
  w.add_participants(2);
  w.external(2, {{1, true}});
  // 2 checkpoints while its message to 1 is in transit: 1 does not depend
  // on it yet, so 2's set is {2}.
  w.start(100, {2});
  w.deliver(I(100), P(2)); // build
  w.deliver(P(2), I(100)); // joined
  w.deliver(I(100), P(2)); // precommit
  w.deliver(P(2), P(2));   // its marker to itself: the channel is in
  w.deliver(P(2), I(100)); // precommitted
  w.write(100);
  ASSERT_EQ(w.commits, 1);
  EXPECT_EQ(w.store.count(1), 0u);
  w.run(); // 1 receives: it depends on 2's unit 0, committed by now
  EXPECT_EQ(w.part(1).core.preds().at(2), 0u);
  w.start(101, {1});
  w.run();
  ASSERT_EQ(w.commits, 2);
  EXPECT_EQ(w.store.at(2).epoch, 1u); // not taken again
  EXPECT_EQ(w.store.at(1).epoch, 1u);
  EXPECT_TRUE(w.errors.empty());
}

TEST(checkpoint_core, dependencies_are_followed_transitively) {
  // 4 -> 3 -> 2 -> 1 (updates); 1's checkpoint takes every predecessor.
  world w;
  w.add_participants(5);
  w.external(4, {{3, true}});
  w.run();
  w.send(3, 2, true, true);
  w.run();
  w.send(2, 1, true, true);
  w.run();
  w.start(100, {1});
  w.run();
  ASSERT_EQ(w.commits, 1);
  EXPECT_EQ(w.store.size(), 4u);
  EXPECT_EQ(w.store.count(5), 0u);
  EXPECT_TRUE(w.errors.empty());
}

// -- scripted: the three waves ------------------------------------------------

TEST(checkpoint_core, waves_step_by_step) {
  checkpoint_participant p{1};
  checkpoint_initiator i{100};
  p.on_update(modified_stamp(2));
  // Wave 1: build. 2 is p's predecessor.
  auto st = i.start({1});
  ASSERT_EQ(st.out.size(), 1u);
  auto b = std::get<ckpt_build>(st.out[0].msg);
  EXPECT_EQ(b.epoch, ckpt_any_epoch);
  auto pst = p.on_build(b);
  EXPECT_EQ(p.state(), pphase::joined);
  EXPECT_EQ(p.holder(), 100u);
  auto r = std::get<ckpt_build_reply>(pst.out.at(0).msg);
  EXPECT_EQ(r.answer, ckpt_answer::joined);
  st = i.on_build_reply(r);
  ASSERT_EQ(st.out.size(), 1u);
  EXPECT_EQ(st.out[0].to, 2u);
  EXPECT_EQ(i.state(), iphase::building);
  // 2 committed past unit 0 meanwhile.
  ckpt_build_reply r2;
  r2.answer = ckpt_answer::not_needed;
  r2.participant = 2;
  r2.initiator = 100;
  r2.epoch = 1;
  r2.asked_epoch = 0;
  st = i.on_build_reply(r2);
  // Wave 2: precommit.
  EXPECT_EQ(i.state(), iphase::precommitting);
  ASSERT_EQ(st.out.size(), 1u);
  pst = p.on_precommit(std::get<ckpt_precommit>(st.out[0].msg));
  EXPECT_TRUE(pst.snapshot);
  EXPECT_FALSE(p.may_send());
  // The only member marks its channel to itself, then answers.
  ASSERT_EQ(pst.out.size(), 1u);
  EXPECT_EQ(pst.out[0].to, 1u);
  auto marker = std::get<ckpt_marker>(pst.out[0].msg);
  EXPECT_TRUE(p.on_snapshot().out.empty());
  // A receive after the snapshot belongs to the next unit.
  EXPECT_TRUE(p.record(modified_stamp(3, 7)));
  EXPECT_EQ(p.on_update(modified_stamp(3, 7)), delivery::deliver_and_note);
  EXPECT_EQ(p.preds().count(3), 0u);
  pst = p.on_marker(marker);
  auto pr = std::get<ckpt_precommit_reply>(pst.out.at(0).msg);
  EXPECT_TRUE(pr.ok);
  ASSERT_EQ(pr.channels.size(), 1u);
  EXPECT_EQ(pr.channels[0].from, 1u);
  EXPECT_EQ(pr.channels[0].count, 0u);
  st = i.on_precommit_reply(pr);
  EXPECT_TRUE(st.write);
  EXPECT_EQ(i.state(), iphase::writing);
  // Wave 3: commit once stored.
  st = i.on_written(caf::none);
  EXPECT_TRUE(st.done);
  EXPECT_TRUE(i.committed());
  auto end = std::get<ckpt_end>(st.out.at(0).msg);
  EXPECT_TRUE(end.commit);
  pst = p.on_end(end);
  EXPECT_TRUE(pst.resume);
  EXPECT_EQ(p.epoch(), 1u);
  EXPECT_EQ(p.state(), pphase::idle);
  EXPECT_TRUE(p.may_send());
  EXPECT_EQ(p.preds(), (std::map<uint64_t, uint64_t>{{3, 7}}));
  EXPECT_TRUE(p.modified());
}

TEST(checkpoint_core, abort_keeps_the_unit_and_merges_later_receives) {
  checkpoint_participant p{1, 4};
  p.on_update(modified_stamp(2));
  p.on_build({100, ckpt_any_epoch, 0});
  EXPECT_TRUE(p.on_precommit({100, p.join_count(), {}}).snapshot);
  p.on_update(modified_stamp(3));
  auto st = p.on_end({false, {100}});
  EXPECT_TRUE(st.resume);
  EXPECT_EQ(p.epoch(), 4u);
  EXPECT_EQ(p.preds(), (std::map<uint64_t, uint64_t>{{2, 0}, {3, 0}}));
  // An end of some other checkpoint changes nothing.
  p.on_build({101, ckpt_any_epoch, 0});
  EXPECT_FALSE(p.on_end({false, {100}}).resume);
  EXPECT_EQ(p.holder(), 101u);
}

TEST(checkpoint_core, precommit_of_an_older_join_is_refused) {
  checkpoint_participant p{1};
  p.on_build({100, ckpt_any_epoch, 0});
  auto first = p.join_count();
  p.on_initiator_down(100); // freed: it may take new dependencies now
  p.on_update(modified_stamp(2));
  p.on_build({100, ckpt_any_epoch, 0}); // taken again
  EXPECT_GT(p.join_count(), first);
  auto st = p.on_precommit({100, first, {}});
  EXPECT_FALSE(st.snapshot);
  auto r = std::get<ckpt_precommit_reply>(st.out.at(0).msg);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.reason, "freed and taken again since it joined");
  EXPECT_TRUE(p.on_precommit({100, p.join_count(), {}}).snapshot);
}

TEST(checkpoint_core, newer_join_of_a_member_is_chased_again) {
  checkpoint_initiator i{100};
  i.start({1});
  ckpt_build_reply r;
  r.participant = 1;
  r.initiator = 100;
  r.asked_epoch = ckpt_any_epoch;
  r.lock = 1;
  auto st = i.on_build_reply(r); // no links: precommit lock 1
  EXPECT_EQ(std::get<ckpt_precommit>(st.out.at(0).msg).lock, 1u);
  r.lock = 2;
  r.preds = {{2, 0}};
  st = i.on_build_reply(r);
  EXPECT_EQ(i.pending(), (std::vector<uint64_t>{2}));
  ASSERT_EQ(st.out.size(), 2u);
  EXPECT_EQ(std::get<ckpt_build>(st.out[0].msg).epoch, 0u);
  EXPECT_EQ(std::get<ckpt_precommit>(st.out[1].msg).lock, 2u);
  // A stale ok for the first join does not count.
  EXPECT_FALSE(i.on_precommit_reply({1, 100, 1, true, {}, {}}).write);
  r.lock = 1; // and an older join is a duplicate
  EXPECT_TRUE(i.on_build_reply(r).out.empty());
}

TEST(checkpoint_core, precommit_from_a_stranger_is_refused) {
  checkpoint_participant p{1};
  auto st = p.on_precommit({100, 0, {}});
  EXPECT_FALSE(st.snapshot);
  auto r = std::get<ckpt_precommit_reply>(st.out.at(0).msg);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.reason.find("not a member"), std::string::npos);
}

// -- scripted: no new dependency while joined ---------------------------------

TEST(checkpoint_core, new_dependency_is_deferred_during_the_build_wave) {
  checkpoint_participant p{1};
  p.on_update(modified_stamp(2, 0));
  p.on_build({100, ckpt_any_epoch, 0});
  // Known predecessor, same unit: fine. From outside: fine.
  EXPECT_EQ(p.on_update(modified_stamp(2, 0)), delivery::deliver);
  EXPECT_EQ(p.on_update({}), delivery::deliver);
  // A new predecessor would escape the build wave: deferred, and so is
  // whatever that sender sends next (its order is kept).
  EXPECT_EQ(p.on_update(modified_stamp(3, 0)), delivery::defer);
  EXPECT_TRUE(p.holds_back(3));
  EXPECT_EQ(p.on_update({3, 0, false}), delivery::defer);
  // A newer unit of a known predecessor is new too.
  EXPECT_EQ(p.on_update(modified_stamp(2, 1)), delivery::defer);
  auto st = p.on_end({false, {100}});
  EXPECT_TRUE(st.resume);
  EXPECT_FALSE(p.holds_back(3));
  EXPECT_EQ(p.on_update(modified_stamp(3, 0)), delivery::deliver_and_note);
}

TEST(checkpoint_core, held_sends_are_stamped_with_the_new_unit) {
  world w;
  w.add_participants(2);
  w.external(1, {});
  w.start(100, {1});
  w.deliver(I(100), P(1));      // build
  w.deliver(P(1), I(100));      // joined
  w.deliver(I(100), P(1));      // precommit
  w.external(1, {{2, true}});   // handled after the snapshot; send held
  EXPECT_EQ(w.part(1).held.size(), 1u);
  EXPECT_TRUE(w.chan[std::make_pair(P(1), P(2))].empty());
  w.run();
  ASSERT_EQ(w.commits, 1);
  EXPECT_TRUE(w.part(1).held.empty());
  // 2 depends on 1's unit 1: the send is after the checkpoint.
  EXPECT_EQ(w.part(2).core.preds().at(1), 1u);
  w.start(101, {2});
  w.run();
  EXPECT_EQ(w.store.at(1).epoch, 2u);
  EXPECT_TRUE(w.errors.empty());
}

// -- scripted: channel state --------------------------------------------------

TEST(checkpoint_core, precommit_answer_waits_for_every_members_marker) {
  checkpoint_participant p{1};
  p.on_update(modified_stamp(2));
  p.on_build({100, ckpt_any_epoch, 0});
  auto lock = p.join_count();
  // 2 snapshotted first: its marker comes before ours (an empty channel
  // but for what we defer). One meant for another join is ignored.
  EXPECT_TRUE(p.on_marker({2, 5, lock}).out.empty());
  EXPECT_TRUE(p.on_marker({3, 7, lock + 1}).out.empty());
  auto st = p.on_precommit({100, lock, {{2, 5}, {3, 7}}});
  EXPECT_TRUE(st.snapshot);
  std::map<uint64_t, ckpt_marker> sent;
  for (auto& e : st.out)
    sent[e.to] = std::get<ckpt_marker>(e.msg);
  ASSERT_EQ(sent.size(), 3u); // to 2, 3 and ourselves
  EXPECT_EQ(sent[2].to_lock, 5u);
  EXPECT_EQ(sent[3].to_lock, 7u);
  EXPECT_EQ(sent[1].to_lock, lock);
  EXPECT_EQ(sent[3].from_lock, lock);
  EXPECT_TRUE(p.on_snapshot().out.empty()); // waits for 3 and itself
  // After the snapshot, 3's messages are its channel until its marker.
  EXPECT_TRUE(p.record({3, 0, true}));
  EXPECT_TRUE(p.record({3, 0, false}));
  EXPECT_FALSE(p.record({})); // from outside: no channel
  EXPECT_TRUE(p.on_marker(sent[1]).out.empty());
  EXPECT_TRUE(p.on_marker({3, 6, lock}).out.empty()); // an older join of 3
  EXPECT_TRUE(p.record({3, 0, true}));
  st = p.on_marker({3, 7, lock});
  ASSERT_EQ(st.out.size(), 1u);
  EXPECT_EQ(st.out[0].to, 100u);
  auto r = std::get<ckpt_precommit_reply>(st.out[0].msg);
  EXPECT_TRUE(r.ok);
  ASSERT_EQ(r.channels.size(), 3u);
  EXPECT_EQ(r.channels[0].from, 1u);
  EXPECT_EQ(r.channels[0].count, 0u);
  EXPECT_EQ(r.channels[1].from, 2u);
  EXPECT_EQ(r.channels[1].lock, 5u);
  EXPECT_EQ(r.channels[1].count, 0u);
  EXPECT_EQ(r.channels[2].from, 3u);
  EXPECT_EQ(r.channels[2].lock, 7u);
  EXPECT_EQ(r.channels[2].count, 3u);
  // A member added during the precommit wave: marked, its channel follows.
  st = p.on_mark({100, lock, {{4, 2}}});
  ASSERT_EQ(st.out.size(), 1u);
  EXPECT_EQ(st.out[0].to, 4u);
  EXPECT_TRUE(p.record({4, 0, true}));
  st = p.on_marker({4, 2, lock});
  auto c = std::get<ckpt_channels>(st.out.at(0).msg);
  ASSERT_EQ(c.channels.size(), 1u);
  EXPECT_EQ(c.channels[0].from, 4u);
  EXPECT_EQ(c.channels[0].count, 1u);
  // A stale mark is ignored.
  EXPECT_TRUE(p.on_mark({100, lock + 1, {{5, 1}}}).out.empty());
  EXPECT_TRUE(p.on_end({true, {100}}).resume);
  EXPECT_FALSE(p.record({3, 1, true}));
}

TEST(checkpoint_core, member_joining_during_the_precommit_wave_is_marked) {
  checkpoint_initiator i{100};
  i.start({1});
  ckpt_build_reply r;
  r.participant = 1;
  r.initiator = 100;
  r.asked_epoch = ckpt_any_epoch;
  r.lock = 1;
  auto st = i.on_build_reply(r);
  EXPECT_TRUE(std::get<ckpt_precommit>(st.out.at(0).msg).peers.empty());
  r.lock = 2; // joined again, now with a link to 2
  r.preds = {{2, 0}};
  i.on_build_reply(r);
  ckpt_build_reply r2;
  r2.participant = 2;
  r2.initiator = 100;
  r2.asked_epoch = 0;
  r2.lock = 4;
  st = i.on_build_reply(r2);
  ASSERT_EQ(st.out.size(), 2u);
  auto pc = std::get<ckpt_precommit>(st.out[0].msg);
  EXPECT_EQ(st.out[0].to, 2u);
  ASSERT_EQ(pc.peers.size(), 1u);
  EXPECT_EQ(pc.peers[0].id, 1u);
  EXPECT_EQ(pc.peers[0].lock, 2u);
  auto mk = std::get<ckpt_mark>(st.out[1].msg);
  EXPECT_EQ(st.out[1].to, 1u);
  EXPECT_EQ(mk.lock, 2u);
  ASSERT_EQ(mk.peers.size(), 1u);
  EXPECT_EQ(mk.peers[0].id, 2u);
  EXPECT_EQ(mk.peers[0].lock, 4u);
  // Both precommitted; 1's report predates the mark: not ready yet.
  EXPECT_FALSE(i.on_precommit_reply({1, 100, 2, true, {}, {{1, 2, 0}}}).write);
  EXPECT_FALSE(
    i.on_precommit_reply({2, 100, 4, true, {}, {{1, 2, 0}, {2, 4, 0}}}).write);
  EXPECT_EQ(i.waiting_for(), "channel 2 -> 1");
  // A channel of an older join of 2 does not count.
  EXPECT_FALSE(i.on_channels({1, 100, 2, {{2, 3, 0}}}).write);
  EXPECT_TRUE(i.on_channels({1, 100, 2, {{2, 4, 1}}}).write);
}

// A member joins during the precommit wave: 9 merged into 5 and died
// before 5's reassign reached 1, so 1 freed itself and joined 5 again,
// now with a new successor, 3. 5 precommits 1's new join, chases 3, marks
// both for the others; channels completed after a precommit reply follow
// in ckpt_channels. The cut stays consistent and lossless.
TEST(checkpoint_core, members_joining_during_the_precommit_wave_are_marked) {
  world w;
  w.add_participants(3);
  w.external(1, {{2, true}});
  w.run();
  w.send(2, 1, true, true);
  w.run(); // 1 and 2 depend on each other
  w.send(1, 3, true, true);
  w.deliver(P(1), P(3)); // 3 depends on 1; its note waits
  w.start(9, {1});
  w.start(5, {2});
  w.deliver(I(9), P(1));     // 1 joins 9, successors {2}
  w.deliver(P(3), P(1));     // the note: 1's successors {2, 3}
  w.deliver(I(5), P(2));     // 2 joins 5
  w.deliver_all(P(1), I(9)); // 9 asks 2
  w.deliver_all(I(9), P(2)); // busy(5), queued
  w.deliver_all(P(2), I(9)); // 9 waits: 5 < 9
  w.deliver_all(P(2), I(5)); // 5 asks 1
  w.deliver_all(I(5), P(1)); // busy(9), queued
  w.deliver_all(P(1), I(5)); // 5 asks 9 to yield
  w.deliver_all(I(5), I(9)); // 9 hands its set over
  w.deliver_all(I(9), I(5)); // 5 takes 1 (first join); precommit wave
  EXPECT_EQ(w.init(5).core.state(), iphase::precommitting);
  w.quit(9);
  w.deliver_all(I(9), P(1)); // 1 frees itself; 5's queued request takes it
  EXPECT_EQ(w.part(1).core.holder(), 5u);
  w.send(2, 1, true, true);  // reaches 1 after its snapshot
  w.deliver_all(P(1), I(5)); // a newer join: chase 3, precommit, mark 2
  w.deliver_all(I(5), P(1)); // the first join's precommit is refused
  w.deliver_all(I(5), P(2)); // 2 precommits; marked with 1's new join
  EXPECT_TRUE(w.chan[std::make_pair(P(2), I(5))].empty()); // waits
  w.run();
  EXPECT_TRUE(w.errors.empty()) << w.errors.front();
  ASSERT_EQ(w.commits, 1); // 9 died: nobody learns its merged outcome
  EXPECT_EQ(w.writes, 1);
  EXPECT_EQ(w.store.size(), 3u);
  EXPECT_GT(w.marks, 0);
  EXPECT_GT(w.late_channels, 0);
  EXPECT_GT(w.stored_in_flight, 0);
}

// 1's updates to 2 are in flight when 2 saves its state: they are stored
// as channel state and, after a restore, redelivered before anything 1
// sends later.
TEST(checkpoint_core, message_in_flight_across_the_cut_is_stored_and_replayed_first) {
  world w;
  w.add_participants(2);
  w.external(1, {{2, true}});
  w.run(); // 2 depends on 1
  w.external(1, {{2, true}, {2, true}}); // #2 and #3, in flight
  w.start(100, {2});
  w.deliver(I(100), P(2)); // build
  w.deliver(P(2), I(100)); // joined; 1 is its predecessor
  w.deliver(I(100), P(1)); // build
  w.deliver(P(1), I(100)); // joined: the precommit wave starts
  w.deliver(I(100), P(2)); // 2 saves its state before #2 and #3 arrive
  w.run();
  ASSERT_EQ(w.commits, 1);
  EXPECT_TRUE(w.errors.empty()) << w.errors.front();
  EXPECT_EQ(w.store.at(2).last_recv.at(1), 1u);
  EXPECT_EQ(w.store.at(1).sent.at(2), 3u);
  ASSERT_EQ(w.store.at(2).channel.count(1), 1u);
  EXPECT_EQ(world::seqs(w.store.at(2).channel.at(1)),
            (std::vector<uint64_t>{2, 3}));
  EXPECT_EQ(w.store.at(1).channel.count(2), 0u);
  EXPECT_EQ(w.part(2).last_recv.at(1), 3u); // the live run had them
  // Everything dies and comes back: 2 holds its channel state.
  w.restore_all();
  EXPECT_EQ(w.lost_msgs, 0);
  EXPECT_EQ(w.part(2).last_recv.at(1), 1u);
  EXPECT_EQ(w.part(2).core.held(), (std::set<uint64_t>{1}));
  w.external(1, {{2, true}}); // #4 waits behind the replay
  w.run();
  EXPECT_EQ(w.part(2).last_recv.at(1), 1u);
  EXPECT_EQ(w.part(2).deferred.size(), 3u);
  w.replay(2);
  EXPECT_EQ(w.part(2).last_recv.at(1), 4u);
  EXPECT_TRUE(w.part(2).deferred.empty());
  EXPECT_TRUE(w.errors.empty()) << w.errors.front();
}

// Both roots, no link: 1's update reaches 2 after 2 joined and is
// deferred (a new dependency); at 2's snapshot it is channel state.
TEST(checkpoint_core, deferred_message_is_channel_state) {
  world w;
  w.add_participants(2);
  w.external(1, {});
  w.external(2, {});
  w.start(100, {1, 2});
  w.deliver(I(100), P(1));
  w.deliver(I(100), P(2));
  w.external(1, {{2, true}});
  w.deliver(P(1), P(2));
  EXPECT_EQ(w.part(2).deferred.size(), 1u);
  w.run();
  ASSERT_EQ(w.commits, 1);
  EXPECT_TRUE(w.errors.empty()) << w.errors.front();
  EXPECT_EQ(world::seqs(w.store.at(2).channel.at(1)),
            (std::vector<uint64_t>{1}));
  EXPECT_EQ(w.store.at(2).last_recv.count(1), 0u);
  EXPECT_EQ(w.part(2).last_recv.at(1), 1u); // handled after the end
}

// -- scripted: concurrent initiations -----------------------------------------

TEST(checkpoint_core, queued_request_is_answered_when_the_holder_commits) {
  checkpoint_participant p{1};
  p.on_update({});
  p.on_build({100, ckpt_any_epoch, 0});
  p.on_precommit({100, p.join_count(), {}});
  // 200 needs p's unit 0 (a predecessor request): queued, busy.
  auto st = p.on_build({200, 0, 0});
  auto busy = std::get<ckpt_build_reply>(st.out.at(0).msg);
  EXPECT_EQ(busy.answer, ckpt_answer::busy);
  EXPECT_EQ(busy.holder, 100u);
  st = p.on_end({true, {100}});
  auto r = std::get<ckpt_build_reply>(st.out.at(0).msg);
  EXPECT_EQ(st.out.at(0).to, 200u);
  EXPECT_EQ(r.answer, ckpt_answer::not_needed);
  EXPECT_EQ(r.epoch, 1u);
  EXPECT_EQ(p.holder(), 0u);
}

TEST(checkpoint_core, queued_root_request_joins_after_an_abort) {
  checkpoint_participant p{1};
  p.on_build({100, ckpt_any_epoch, 0});
  p.on_build({200, ckpt_any_epoch, 0});
  auto st = p.on_end({false, {100}});
  auto r = std::get<ckpt_build_reply>(st.out.at(0).msg);
  EXPECT_EQ(r.answer, ckpt_answer::joined);
  EXPECT_EQ(p.holder(), 200u);
}

TEST(checkpoint_core, busy_holder_with_larger_id_is_asked_to_yield) {
  checkpoint_initiator i{5};
  i.start({1});
  ckpt_build_reply r;
  r.answer = ckpt_answer::busy;
  r.participant = 1;
  r.initiator = 5;
  r.asked_epoch = ckpt_any_epoch;
  r.holder = 9;
  auto st = i.on_build_reply(r);
  ASSERT_EQ(st.out.size(), 1u);
  EXPECT_EQ(st.out[0].to, 9u);
  EXPECT_EQ(std::get<ckpt_yield>(st.out[0].msg).winner, 5u);
  // Only once; and a smaller holder is simply waited for.
  EXPECT_TRUE(i.on_build_reply(r).out.empty());
  r.holder = 3;
  EXPECT_TRUE(i.on_build_reply(r).out.empty());
}

// Two initiations, each holding what the other needs: 9 hands its set over
// to 5, whose single checkpoint covers both; 9 learns the outcome.
TEST(checkpoint_core, crossed_initiations_merge_into_the_smaller_id) {
  world w;
  w.add_participants(2);
  w.external(1, {{2, true}});
  w.run();
  w.send(2, 1, true, true);
  w.run(); // 1 and 2 depend on each other
  w.start(9, {1});
  w.start(5, {2});
  w.deliver(I(9), P(1)); // 1 joins 9
  w.deliver(I(5), P(2)); // 2 joins 5
  w.deliver(P(1), I(9)); // 9 asks 2 -> busy(5): 9 waits (5 < 9)
  w.deliver(P(2), I(5)); // 5 asks 1 -> busy(9): 5 asks 9 to yield
  w.run();
  EXPECT_TRUE(w.errors.empty()) << w.errors.front();
  EXPECT_EQ(w.commits, 2); // the checkpoint, and 9's merged outcome
  EXPECT_EQ(w.merged_outcomes, 1);
  EXPECT_EQ(w.writes, 1);
  EXPECT_EQ(w.store.size(), 2u);
  for (auto p : {1u, 2u}) {
    EXPECT_EQ(w.part(p).core.epoch(), 1u);
    EXPECT_EQ(w.part(p).core.holder(), 0u);
  }
}

TEST(checkpoint_core, initiator_past_its_build_wave_is_waited_for) {
  world w;
  w.add_participants(2);
  w.external(1, {{2, true}});
  w.deliver(P(1), P(2)); // 2 depends on 1; its note to 1 is in transit
  w.start(9, {1});       // so 1's set is {1}
  w.deliver(I(9), P(1));
  w.deliver(P(1), I(9)); // precommit wave starts
  EXPECT_EQ(w.init(9).core.state(), iphase::precommitting);
  w.start(5, {2}); // 5 needs 1's unit 0: queued behind 9, no merge
  w.run();
  EXPECT_EQ(w.commits, 2);
  EXPECT_EQ(w.merged_outcomes, 0);
  EXPECT_EQ(w.writes, 2);
  // 1's unit 0 was committed by 9, so 5 did not take 1 again.
  EXPECT_EQ(w.store.at(1).epoch, 1u);
  EXPECT_EQ(w.store.at(2).epoch, 1u);
  EXPECT_TRUE(w.errors.empty());
}

// -- scripted: failures -------------------------------------------------------

TEST(checkpoint_core, member_failure_aborts_and_frees_the_others) {
  world w;
  w.add_participants(3);
  w.external(2, {{1, true}});
  w.external(3, {{1, true}});
  w.run();
  w.start(100, {1});
  w.deliver(I(100), P(1));
  w.deliver(P(1), I(100)); // asks 2 and 3
  w.deliver(I(100), P(2));
  w.kill_participant(3);
  w.run();
  EXPECT_EQ(w.aborts, 1);
  ASSERT_EQ(w.outcomes.size(), 1u);
  EXPECT_NE(w.outcomes[0].find("participant 3 failed during build"),
            std::string::npos)
    << w.outcomes[0];
  EXPECT_TRUE(w.store.empty());
  for (auto p : {1u, 2u}) {
    EXPECT_EQ(w.part(p).core.holder(), 0u);
    EXPECT_EQ(w.part(p).core.epoch(), 0u);
  }
  EXPECT_EQ(w.part(1).core.preds().size(), 2u); // dependencies kept
}

TEST(checkpoint_core, refused_precommit_aborts) {
  checkpoint_initiator i{100};
  auto st = i.start({1});
  ckpt_build_reply r;
  r.participant = 1;
  r.initiator = 100;
  r.asked_epoch = ckpt_any_epoch;
  st = i.on_build_reply(r);
  st = i.on_precommit_reply({1, 100, 0, false, "cannot serialize", {}});
  EXPECT_TRUE(st.done);
  EXPECT_FALSE(i.committed());
  EXPECT_EQ(describe(i.error()).find("refused the precommit: cannot "
                                     "serialize")
              != std::string::npos,
            true)
    << describe(i.error());
  EXPECT_FALSE(std::get<ckpt_end>(st.out.at(0).msg).commit);
}

TEST(checkpoint_core, failed_write_aborts) {
  checkpoint_initiator i{100};
  i.start({1});
  ckpt_build_reply r;
  r.participant = 1;
  r.initiator = 100;
  r.asked_epoch = ckpt_any_epoch;
  i.on_build_reply(r);
  EXPECT_FALSE(i.on_precommit_reply({1, 100, 0, true, {}, {}}).write);
  EXPECT_EQ(i.waiting_for(), "channel 1 -> 1");
  EXPECT_TRUE(i.on_channels({1, 100, 0, {{1, 0, 0}}}).write);
  auto st = i.on_written(make_error(errc::no_space, "store full"));
  EXPECT_TRUE(st.done);
  EXPECT_TRUE(is(i.error(), errc::no_space)) << describe(i.error());
}

TEST(checkpoint_core, participant_aborts_locally_when_its_initiator_dies) {
  checkpoint_participant p{1};
  p.on_update(modified_stamp(2));
  p.on_build({100, ckpt_any_epoch, 0});
  p.on_precommit({100, p.join_count(), {}});
  EXPECT_FALSE(p.on_initiator_down(99).resume); // not ours
  auto st = p.on_initiator_down(100);
  EXPECT_TRUE(st.resume);
  EXPECT_EQ(p.epoch(), 0u);
  EXPECT_TRUE(p.may_send());
  EXPECT_EQ(p.preds().count(2), 1u);
}

// The coordinator dies right after its write, before the commit wave: the
// members abort locally (no epoch bump) and a later checkpoint takes them
// again; the stored cut stays consistent.
TEST(checkpoint_core, crash_after_the_write_is_safe) {
  world w;
  w.add_participants(2);
  w.external(1, {{2, true}});
  w.run();
  w.start(100, {2});
  while (!w.init(100).write_pending)
    ASSERT_TRUE(w.deliver_one());
  w.write(100, true);
  w.run();
  EXPECT_EQ(w.store.size(), 2u);
  EXPECT_EQ(w.part(1).core.epoch(), 0u);
  EXPECT_EQ(w.part(1).core.holder(), 0u);
  w.send(1, 2, true, true); // after the (unknown) commit point
  w.run();
  w.start(101, {2});
  w.run();
  EXPECT_EQ(w.commits, 1);
  EXPECT_GT(w.store.at(1).version, 1u);
  EXPECT_TRUE(w.errors.empty()) << w.errors.front();
}

// -- seeded simulation --------------------------------------------------------

struct sim_config {
  const char* name;
  uint64_t participants = 4;
  int steps = 2500;
  int initiations = 25;
  size_t concurrent = 1; // initiations running at once
  bool participant_crashes = false;
  bool initiator_crashes = false;
  double refuse_p = 0;
  bool timeouts = false;
  bool restores = false; // everything dies and comes back from the store
};

struct sim_totals {
  int commits = 0, aborts = 0, merged = 0, deferrals = 0, timeouts = 0;
  int in_flight = 0, restores = 0, lost = 0;
};

uint64_t env_or(const char* name, uint64_t fallback) {
  auto v = std::getenv(name);
  return v != nullptr ? std::strtoull(v, nullptr, 10) : fallback;
}

class simulation {
public:
  simulation(const sim_config& cfg, uint64_t seed) : cfg_(cfg), rng_(seed) {
    w_.rng = &rng_;
    w_.forward_p = 0.3;
    w_.refuse_p = cfg.refuse_p;
    w_.crash_after_write_p = cfg.initiator_crashes ? 0.05 : 0;
    w_.add_participants(cfg.participants);
  }

  void run(sim_totals& totals) {
    for (int i = 0; i < cfg_.steps && !::testing::Test::HasFatalFailure(); ++i)
      step();
    drain();
    check_quiescent();
    totals.commits += w_.commits;
    totals.aborts += w_.aborts;
    totals.merged += w_.merged_outcomes;
    totals.deferrals += w_.deferrals;
    totals.timeouts += timeouts_;
    totals.in_flight += w_.stored_in_flight;
    totals.restores += w_.restores;
    totals.lost += w_.lost_msgs;
  }

private:
  std::vector<uint64_t> live() {
    std::vector<uint64_t> xs;
    for (auto& [p, x] : w_.ps)
      if (x.alive)
        xs.push_back(p);
    return xs;
  }

  std::vector<uint64_t> running() {
    std::vector<uint64_t> xs;
    for (auto& [i, x] : w_.is)
      if (x.alive)
        xs.push_back(i);
    return xs;
  }

  template <class T>
  T any_of(const std::vector<T>& xs) {
    return xs[w_.pick(xs.size())];
  }

  bool deliver_random() {
    std::vector<std::pair<party, party>> ks;
    for (auto& [k, q] : w_.chan)
      if (!q.empty())
        ks.push_back(k);
    if (ks.empty())
      return false;
    auto [from, to] = any_of(ks);
    w_.deliver(from, to);
    return true;
  }

  bool write_random() {
    std::vector<uint64_t> xs;
    for (auto& [i, x] : w_.is)
      if (x.write_pending)
        xs.push_back(i);
    if (xs.empty())
      return false;
    w_.write(any_of(xs));
    return true;
  }

  void step() {
    auto r = w_.pick(100);
    auto ps = live();
    if (r < 55 && deliver_random())
      return;
    if (r < 75 && !ps.empty()) {
      std::vector<std::pair<uint64_t, bool>> sends;
      for (auto n = 1 + w_.pick(2); n > 0; --n)
        sends.emplace_back(1 + w_.pick(cfg_.participants), w_.pick(4) != 0);
      w_.external(any_of(ps), sends);
      return;
    }
    if (r < 82 && started_ < cfg_.initiations
        && running().size() < cfg_.concurrent && !ps.empty()) {
      ++started_;
      uint64_t id;
      do
        id = 1 + w_.pick(1000000);
      while (w_.is.count(id) > 0);
      std::vector<uint64_t> roots{any_of(ps)};
      if (w_.pick(3) == 0)
        roots.push_back(any_of(ps));
      w_.start(id, roots);
      return;
    }
    if (r < 90 && write_random())
      return;
    if (r == 90 && cfg_.participant_crashes && w_.pick(8) == 0
        && ps.size() > cfg_.participants / 2) {
      w_.kill_participant(any_of(ps));
      return;
    }
    auto rs = running();
    if (r == 91 && cfg_.initiator_crashes && !rs.empty()) {
      w_.quit(any_of(rs));
      return;
    }
    if (r == 92 && cfg_.timeouts && w_.pick(10) == 0 && !rs.empty()) {
      auto i = any_of(rs);
      w_.apply_init(i, w_.init(i).core.on_timeout());
      return;
    }
    if (r == 93 && cfg_.restores && w_.pick(4) == 0) {
      w_.restore_all();
      return;
    }
    if (r >= 94 && r < 97 && cfg_.restores)
      w_.replay(1 + w_.pick(cfg_.participants));
  }

  void drain() {
    w_.forward_p = 0;
    for (auto& kv : w_.ps)
      w_.replay(kv.first);
    for (;;) {
      while (deliver_random() || write_random())
        if (::testing::Test::HasFatalFailure())
          return;
      auto rs = running();
      if (rs.empty())
        return;
      // Without crashed initiators, nothing may be left waiting.
      if (!cfg_.initiator_crashes && !cfg_.timeouts) {
        FAIL() << "deadlock: " << dump();
      }
      for (auto i : rs) {
        ++timeouts_;
        w_.apply_init(i, w_.init(i).core.on_timeout());
      }
    }
  }

  std::string dump() {
    std::string s = "initiations";
    for (auto i : running()) {
      auto& c = w_.init(i).core;
      s += " " + std::to_string(i) + "(" + to_string(c.state());
      if (c.winner() != 0)
        s += " into " + std::to_string(c.winner());
      s += ", pending";
      for (auto p : c.pending())
        s += " " + std::to_string(p);
      s += ")";
    }
    s += "; participants";
    for (auto& [p, x] : w_.ps) {
      s += " " + std::to_string(p) + "(held by "
           + std::to_string(x.core.holder()) + ", queued";
      for (auto& q : x.core.queued())
        s += " " + std::to_string(q.initiator);
      s += ")";
    }
    return s;
  }

  void check_quiescent() {
    for (auto& e : w_.errors)
      ADD_FAILURE() << e;
    for (auto& [p, x] : w_.ps) {
      if (!x.alive)
        continue;
      EXPECT_EQ(x.core.holder(), 0u) << "participant " << p << " still held";
      EXPECT_EQ(x.core.state(), checkpoint_participant::phase::idle);
      EXPECT_TRUE(x.held.empty()) << "participant " << p << " holds sends";
      EXPECT_TRUE(x.deferred.empty())
        << "participant " << p << " defers messages";
    }
    if (!cfg_.participant_crashes && !cfg_.initiator_crashes
        && cfg_.refuse_p == 0 && !cfg_.timeouts)
      for (auto& o : w_.outcomes)
        ADD_FAILURE() << "abort without a fault: " << o;
  }

  sim_config cfg_;
  std::mt19937_64 rng_;
  world w_;
  int started_ = 0;
  int timeouts_ = 0;
};

void simulate(const sim_config& cfg, uint64_t default_seeds) {
  sim_totals totals;
  auto one = env_or("FTSR_CKPT_SEED", 0);
  auto seeds = one != 0 ? 1 : env_or("FTSR_CKPT_SEEDS", default_seeds);
  for (uint64_t s = 0; s < seeds && !::testing::Test::HasFailure(); ++s) {
    auto seed = one != 0 ? one : s + 1;
    SCOPED_TRACE("seed " + std::to_string(seed) + " (" + cfg.name + ")");
    simulation{cfg, seed}.run(totals);
  }
  std::printf("[ %s ] %llu seeds: %d committed, %d aborted, %d merged "
              "outcomes, %d deferred deliveries, %d timeouts, %d in-flight "
              "updates stored, %d restores (%d updates lost between pairs "
              "stored apart)\n",
              cfg.name, static_cast<unsigned long long>(seeds),
              totals.commits, totals.aborts, totals.merged, totals.deferrals,
              totals.timeouts, totals.in_flight, totals.restores,
              totals.lost);
  EXPECT_GT(totals.commits, 0);
  EXPECT_GT(totals.in_flight, 0);
  if (cfg.restores) {
    EXPECT_GT(totals.restores, 0);
  }
}

namespace {

/// `cfg` with crashes of participants and initiators, refusals and
/// timeouts.
sim_config with_faults(sim_config cfg) {
  cfg.participant_crashes = true;
  cfg.initiator_crashes = true;
  cfg.refuse_p = 0.01;
  cfg.timeouts = true;
  return cfg;
}

} // namespace

TEST(checkpoint_core_sim, one_initiation_at_a_time) {
  sim_config cfg{"sequential"};
  simulate(cfg, 200);
}

TEST(checkpoint_core_sim, concurrent_initiations_merge_without_deadlock) {
  sim_config cfg{"concurrent"};
  cfg.participants = 6;
  cfg.concurrent = 4;
  cfg.initiations = 40;
  simulate(cfg, 200);
}

TEST(checkpoint_core_sim, crashes_refusals_and_timeouts_keep_the_cut) {
  sim_config cfg{"faults"};
  cfg.participants = 6;
  cfg.concurrent = 3;
  cfg.initiations = 40;
  simulate(with_faults(cfg), 200);
}

TEST(checkpoint_core_sim, restores_replay_the_channels_in_order) {
  sim_config cfg{"restores"};
  cfg.participants = 5;
  cfg.concurrent = 3;
  cfg.initiations = 40;
  cfg.restores = true;
  simulate(cfg, 200);
}

TEST(checkpoint_core_sim, restores_with_faults) {
  sim_config cfg{"restores+faults"};
  cfg.participants = 6;
  cfg.concurrent = 3;
  cfg.initiations = 40;
  cfg.restores = true;
  simulate(with_faults(cfg), 200);
}

} // namespace
