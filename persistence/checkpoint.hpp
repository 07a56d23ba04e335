// Coordinated consistent checkpoints of communicating actors (FTM's blocking
// checkpoint with channel state; the protocol is explained in
// docs/checkpoints.md, its decisions are checkpoint_core.hpp) into stable
// storage, and restore from the last committed checkpoint.
//
//   struct counter_state {
//     uint64_t n = 0;
//     template <class Archive>
//     void serialize(Archive& ar, unsigned) { ar & n; }
//   };
//   class counter : public ftsr::participant<counter_state> {
//   public:
//     using participant::participant; // (caf::actor_config&, participant_init)
//     caf::behavior updates() override {   // FTM `update` operations
//       return {[this](add_atom, uint64_t x) { state.n += x;
//                                             tell(peer, add_atom::value, x); }};
//     }
//     caf::behavior reads() override {     // FTM `read` operations
//       return {[this](get_atom) { return state.n; }};
//     }
//   };
//   auto a = ftsr::spawn_participant<counter>(sys, 1);
//   auto res = ftsr::checkpoint(sys, store, {a});   // a + whom it is linked to
//   ...
//   auto a2 = ftsr::restore<counter>(sys, store, 1); // last committed state
//   ... // wire the restored actors (e.g. tell them their peers), then
//   ftsr::replay_channels({*a2}); // redeliver what was in flight to them
//
// Participants are plain CAF event-based actors (no ftsr node needed;
// register add_checkpoint_types). Messages between participants go through
// tell() (stamped; held back while the sender's snapshot is pending
// commit); a stamped message runs reads() if it matches there, else
// updates(). Unstamped messages (from outside) run the same handlers,
// create no dependency and get the result as reply; results of stamped
// messages are dropped (participants talk one-way).
//
// Guarantees: the latest records of the participants of a checkpoint are a
// consistent cut: restoring them together (restore, then replay_channels)
// loses no message between them and duplicates none. Messages from
// outside a checkpoint that were in flight are lost on restore, never
// orphaned; in-flight messages must be serializable or the checkpoint
// aborts. Storage: up to three keys per participant under
// checkpoint_key(prefix, id) ("/meta", "/state", "/channel").
//
// Thread-safety: checkpoint(), load_checkpoint() and restore() may be
// called from any thread that is not an actor (checkpoint blocks);
// spawn_checkpoint(), decode_channel() and replay_channels() also from
// actors. The stable_store must outlive every coordinator using it.
// Failure: errors are values; a checkpoint aborts (the stored checkpoints
// stay as they were) when a member dies or refuses (its state failed to
// serialize), the write fails, or the timeout passes; a participant whose
// state serialization throws anything but a Boost archive exception
// crashes (fail-stop). Tracing: "checkpoint" and "checkpoint_member"
// spans on ftsr nodes (docs/checkpoints.md).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/archive/archive_exception.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/iostreams/device/back_inserter.hpp>
#include <boost/iostreams/stream.hpp>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"
#include "caf/atom.hpp"
#include "caf/behavior.hpp"
#include "caf/event_based_actor.hpp"
#include "caf/expected.hpp"
#include "caf/message.hpp"
#include "caf/meta/type_name.hpp"

#include "actors/errors.hpp"
#include "persistence/checkpoint_core.hpp"
#include "persistence/snapshot.hpp"
#include "persistence/stable_store.hpp"

namespace caf {
class actor_system_config;
}

namespace ftsr {

/// (app, ckpt_stamp, message): a stamped application message.
using ckpt_app_atom = caf::atom_constant<caf::atom("ftsr_capp")>;
/// (id) -> uint64: a participant's id.
using ckpt_id_atom = caf::atom_constant<caf::atom("ftsr_cid")>;
/// (status) -> participant_status.
using ckpt_status_atom = caf::atom_constant<caf::atom("ftsr_cstat")>;
/// (run) -> checkpoint_result: starts a coordinator (spawn_checkpoint).
using ckpt_run_atom = caf::atom_constant<caf::atom("ftsr_crun")>;
/// (replay): a restored participant delivers its channel state.
using ckpt_replay_atom = caf::atom_constant<caf::atom("ftsr_crepl")>;

/// An application message recorded as channel state.
struct ckpt_recorded {
  ckpt_stamp stamp;
  caf::message msg;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ckpt_recorded& x) {
  return f(caf::meta::type_name("ftsr::ckpt_recorded"), x.stamp, x.msg);
}

struct checkpoint_options {
  /// Abort (errc::checkpoint_aborted) unless committed within this bound.
  std::chrono::milliseconds timeout = std::chrono::seconds(10);
  /// Orders concurrent checkpoints (the smaller id wins a merge); 0 draws
  /// a random one.
  uint64_t initiator = 0;
  /// Key prefix in the stable store.
  std::string prefix = "ckpt/";
};

struct checkpoint_result {
  /// The initiation that committed (ours, or the one ours merged into).
  uint64_t initiator = 0;
  /// Every member and the epoch stored for it.
  std::map<uint64_t, uint64_t> epochs;
  /// Messages in flight between members, stored as channel state (0 when
  /// ours merged into another initiation).
  uint64_t in_flight = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, checkpoint_result& x) {
  return f(caf::meta::type_name("ftsr::checkpoint_result"), x.initiator,
           x.epochs, x.in_flight);
}

/// A participant as observers see it (tests, dashboard).
struct participant_status {
  uint64_t id = 0;
  uint64_t epoch = 0;
  std::string phase; // idle, joined, precommitted
  uint64_t holder = 0;
  bool modified = false;
  std::vector<uint64_t> preds;
  std::vector<uint64_t> succs;
  uint64_t held_sends = 0;
  uint64_t deferred = 0; // restored channel state not replayed included
  std::vector<uint64_t> replay_pending; // senders held until replay
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, participant_status& x) {
  return f(caf::meta::type_name("ftsr::participant_status"), x.id, x.epoch,
           x.phase, x.holder, x.modified, x.preds, x.succs, x.held_sends,
           x.deferred, x.replay_pending);
}

/// One participant's stored checkpoint.
struct checkpoint_record {
  uint64_t epoch = 0;     // the epoch it resumes with
  uint64_t initiator = 0; // the checkpoint that stored it
  std::string state;      // Boost.Serialization archive of its state
  std::string channel;    // in-flight messages to it (decode_channel)

  /// The "/meta" record: everything but the state.
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & epoch & initiator;
  }
};

/// How a participant starts: fresh (epoch 0, default state) or restored.
template <class State>
struct participant_init {
  uint64_t id = 0;
  uint64_t epoch = 0;
  State state{};
  /// Restored channel state, held until ckpt_replay_atom.
  std::vector<ckpt_recorded> channel;
};

/// The protocol side of a participant; derive from participant<State>.
/// Not thread-safe (an actor).
class participant_base : public caf::event_based_actor {
public:
  participant_base(caf::actor_config& cfg, uint64_t id, uint64_t epoch,
                   std::vector<ckpt_recorded> channel = {});

  uint64_t participant_id() const noexcept {
    return core_.id();
  }

  caf::behavior make_behavior() final;

  /// Drops every handle it holds (as stateful actors drop their state), so
  /// that reference cycles with coordinators end with the actor. Derived
  /// classes holding handles do the same and call this.
  void on_exit() override;

protected:
  /// Operations that change the state (FTM `update`).
  virtual caf::behavior updates() = 0;

  /// Operations that only read it (FTM `read`): they create no dependency
  /// and must not change the state.
  virtual caf::behavior reads();

  /// The state as a Boost.Serialization archive; an error refuses the
  /// precommit (the checkpoint aborts, the actor lives on).
  virtual caf::expected<std::string> save_state() = 0;

  /// Sends an application message to another participant; held back from
  /// this actor's snapshot to the end of its checkpoint.
  template <class... Ts>
  void tell(const caf::actor& to, Ts&&... xs) {
    tell_message(to, caf::make_message(std::forward<Ts>(xs)...));
  }

  void tell_message(const caf::actor& to, caf::message msg);

private:
  struct held {
    caf::actor to;
    caf::message msg;
  };

  struct deferred_msg {
    ckpt_stamp stamp;
    caf::message payload;
    caf::actor from; // none for restored channel state
  };

  void on_app(const ckpt_stamp& s, caf::message payload, caf::actor from);

  /// Performs a core step: sends, snapshot, resume, holder monitoring.
  void apply(ckpt_step st);

  void send_reply(ckpt_envelope& e);

  /// The recorded messages of the reported channels, in their order.
  std::vector<ckpt_recorded>
  channel_entries(const std::vector<ckpt_channel>& cs);

  void learn_peers(std::map<uint64_t, caf::actor>& hs);

  participant_status status() const;

  checkpoint_participant core_;
  caf::behavior updates_;
  caf::behavior reads_;
  std::map<uint64_t, caf::actor> peers_;      // participant -> handle
  std::map<uint64_t, caf::actor> initiators_; // initiator -> coordinator
  std::map<caf::actor_addr, uint64_t> watched_;
  std::vector<held> held_;
  std::vector<deferred_msg> deferred_;
  // Channel state of the current checkpoint (precommitted).
  std::map<uint64_t, std::vector<ckpt_recorded>> log_; // per sender
  std::string saved_;  // the snapshot, until the precommit answer
  // The "checkpoint_member" span (ftsr nodes only).
  uint64_t span_trace_ = 0;
  uint64_t span_parent_ = 0;
  int64_t span_start_ = 0;
  uint64_t span_epoch_ = 0;
};

/// A participant with its state, snapshotted by Boost.Serialization.
/// `State` needs serialize(Archive&, unsigned) and a default constructor.
template <class State>
class participant : public participant_base {
public:
  using state_type = State;

  participant(caf::actor_config& cfg, participant_init<State> init)
    : participant_base(cfg, init.id, init.epoch, std::move(init.channel)),
      state(std::move(init.state)) {
    // nop
  }

protected:
  State state;

  caf::expected<std::string> save_state() final {
    // Straight into one string sized after the last snapshot: a large
    // state is copied once, not regrown and copied out of a stringstream.
    std::string out;
    out.reserve(last_size_ + last_size_ / 8 + 64);
    try {
      boost::iostreams::stream<
        boost::iostreams::back_insert_device<std::string>>
        os{out};
      boost::archive::binary_oarchive ar{os};
      ar << static_cast<const State&>(state);
    } catch (const boost::archive::archive_exception& e) {
      return make_error(errc::invalid_argument,
                        "participant " + std::to_string(participant_id())
                          + ": state not serializable: " + e.what());
    }
    last_size_ = out.size();
    return out;
  }

private:
  size_t last_size_ = 0;
};

/// Registers the checkpoint message types; every actor system exchanging
/// them across nodes needs it.
void add_checkpoint_types(caf::actor_system_config& cfg);

/// Spawns `Impl` (a participant<State>, constructible from
/// (caf::actor_config&, participant_init<State>)) fresh, with participant
/// id `id` (nonzero, unique among participants, stable across restarts).
template <class Impl>
caf::actor spawn_participant(caf::actor_system& sys, uint64_t id) {
  using state = typename Impl::state_type;
  return sys.spawn<Impl>(participant_init<state>{id, 0, state{}, {}});
}

/// Spawns a coordinator for one checkpoint over `roots` (participants) and
/// whatever is linked to them. Send it (ckpt_run_atom) once: it answers with
/// checkpoint_result or the error, then quits.
caf::actor spawn_checkpoint(caf::actor_system& sys, stable_store& store,
                            std::vector<caf::actor> roots,
                            checkpoint_options opts = {});

/// Runs one checkpoint and waits for its outcome.
/// Errors: invalid_argument (no roots, a root is no participant);
/// checkpoint_aborted (a member died or refused, an in-flight message is
/// not serializable, or `timeout` passed; the detail names the member or
/// what was waited for, and the phase); the store's error (storage_error,
/// no_space, ...) if the write failed; for an initiation that merged into
/// another one, fail_stop (that coordinator died) or timeout (no outcome
/// from it in time): its outcome is unknown.
caf::expected<checkpoint_result>
checkpoint(caf::actor_system& sys, stable_store& store,
           std::vector<caf::actor> roots, checkpoint_options opts = {});

/// The key prefix of participant `id`'s records ("/meta", "/state").
std::string checkpoint_key(const std::string& prefix, uint64_t id);

/// The last committed checkpoint of participant `id`, if any. Errors: the
/// store's, corrupted (unreadable record).
caf::expected<std::optional<checkpoint_record>>
load_checkpoint(stable_store& store, uint64_t id,
                const std::string& prefix = "ckpt/");

/// The in-flight messages of a checkpoint_record (its `channel`), in
/// delivery order per sender. Errors: corrupted (unreadable, or a message
/// type `sys` does not know).
caf::expected<std::vector<ckpt_recorded>>
decode_channel(caf::actor_system& sys, const std::string& channel);

/// Spawns `Impl` as of participant `id`'s last committed checkpoint, or
/// fresh if it never committed one. It holds the checkpoint's in-flight
/// messages (and whatever their senders send it meanwhile) until
/// replay_channels(): wire the restored set first. Errors: the store's,
/// corrupted.
template <class Impl>
caf::expected<caf::actor> restore(caf::actor_system& sys,
                                  stable_store& store, uint64_t id,
                                  const std::string& prefix = "ckpt/") {
  using state = typename Impl::state_type;
  auto rec = load_checkpoint(store, id, prefix);
  if (!rec)
    return std::move(rec.error());
  participant_init<state> init{id, 0, state{}, {}};
  if (*rec) {
    auto what = "participant " + std::to_string(id) + ": ";
    auto x = from_snapshot<state>((*rec)->state);
    if (!x)
      return make_error(errc::corrupted, what + describe(x.error()));
    auto ch = decode_channel(sys, (*rec)->channel);
    if (!ch)
      return make_error(errc::corrupted, what + describe(ch.error()));
    init.epoch = (*rec)->epoch;
    init.state = std::move(*x);
    init.channel = std::move(*ch);
  }
  return sys.spawn<Impl>(std::move(init));
}

/// Tells restored participants to deliver their channel state (the
/// messages in flight to them at the checkpoint), once they are wired.
void replay_channels(const std::vector<caf::actor>& restored);

} // namespace ftsr
