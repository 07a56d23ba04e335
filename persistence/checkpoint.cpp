// Participants and coordinators of FTM checkpoints: message plumbing around
// checkpoint_participant and checkpoint_initiator; see checkpoint.hpp.
#include "persistence/checkpoint.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <random>
#include <utility>

#include "caf/all.hpp"

#include "actors/node.hpp"
#include "actors/trace.hpp"

namespace ftsr {

namespace {

/// Who is who, sent along with protocol messages: initiators learn the
/// handles of the participants and initiators the ids refer to.
using handle_map = std::map<uint64_t, caf::actor>;

/// Coordinator: time is up.
using ckpt_timeout_atom = caf::atom_constant<caf::atom("ftsr_cto")>;

} // namespace

void add_checkpoint_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<ckpt_stamp>("ftsr::ckpt_stamp")
    .add_message_type<ckpt_dep_note>("ftsr::ckpt_dep_note")
    .add_message_type<ckpt_build>("ftsr::ckpt_build")
    .add_message_type<ckpt_build_reply>("ftsr::ckpt_build_reply")
    .add_message_type<ckpt_precommit>("ftsr::ckpt_precommit")
    .add_message_type<ckpt_precommit_reply>("ftsr::ckpt_precommit_reply")
    .add_message_type<ckpt_mark>("ftsr::ckpt_mark")
    .add_message_type<ckpt_marker>("ftsr::ckpt_marker")
    .add_message_type<ckpt_channels>("ftsr::ckpt_channels")
    .add_message_type<std::vector<ckpt_recorded>>(
      "std::vector<ftsr::ckpt_recorded>")
    .add_message_type<trace_context>("ftsr::trace_context")
    .add_message_type<ckpt_end>("ftsr::ckpt_end")
    .add_message_type<ckpt_reassign>("ftsr::ckpt_reassign")
    .add_message_type<ckpt_yield>("ftsr::ckpt_yield")
    .add_message_type<ckpt_merge>("ftsr::ckpt_merge")
    .add_message_type<ckpt_outcome>("ftsr::ckpt_outcome")
    .add_message_type<checkpoint_result>("ftsr::checkpoint_result")
    .add_message_type<participant_status>("ftsr::participant_status")
    .add_message_type<handle_map>("std::map<uint64_t,caf::actor>");
}

// -- participant --------------------------------------------------------------

participant_base::participant_base(caf::actor_config& cfg, uint64_t id,
                                   uint64_t epoch,
                                   std::vector<ckpt_recorded> channel)
  : caf::event_based_actor(cfg), core_(id, epoch) {
  // Restored channel state: delivered first, on replay.
  for (auto& x : channel) {
    core_.hold(x.stamp.sender);
    deferred_.push_back({x.stamp, std::move(x.msg), caf::actor{}});
  }
}

caf::behavior participant_base::reads() {
  return {};
}

caf::behavior participant_base::make_behavior() {
  updates_ = updates();
  reads_ = reads();
  // Unstamped messages come from outside the checkpointed world: they
  // create no dependency, and their sender gets the handler's result.
  set_default_handler(
    [this](caf::scheduled_actor*,
           caf::message_view& x) -> caf::result<caf::message> {
      auto msg = x.move_content_to_message();
      if (auto r = reads_(msg))
        return std::move(*r);
      core_.on_update({});
      if (auto r = updates_(msg))
        return std::move(*r);
      return caf::sec::unexpected_message;
    });
  set_down_handler([this](caf::down_msg& dm) {
    auto i = watched_.find(dm.source);
    if (i == watched_.end())
      return;
    auto initiator = i->second;
    watched_.erase(i);
    apply(core_.on_initiator_down(initiator));
  });
  auto sender = [this] {
    return caf::actor_cast<caf::actor>(current_sender());
  };
  return {
    [this, sender](ckpt_app_atom, const ckpt_stamp& s, caf::message& payload) {
      if (core_.record(s))
        log_[s.sender].push_back({s, payload});
      on_app(s, std::move(payload), sender());
    },
    [this](const ckpt_marker& m) { apply(core_.on_marker(m)); },
    [this, sender](const ckpt_dep_note& m) {
      peers_[m.participant] = sender();
      core_.on_dep_note(m);
    },
    [this, sender](const ckpt_build& m) {
      initiators_[m.initiator] = sender();
      apply(core_.on_build(m));
    },
    [this, sender](const ckpt_precommit& m, std::map<uint64_t, caf::actor>& hs,
                   const trace_context& tc) {
      initiators_[m.initiator] = sender();
      learn_peers(hs);
      span_trace_ = tc.trace_id;
      span_parent_ = tc.span_id;
      apply(core_.on_precommit(m));
    },
    [this](const ckpt_mark& m, std::map<uint64_t, caf::actor>& hs) {
      learn_peers(hs);
      apply(core_.on_mark(m));
    },
    [this](ckpt_replay_atom) { apply(core_.replay()); },
    [this](const ckpt_end& m) { apply(core_.on_end(m)); },
    [this, sender](const ckpt_reassign& m) {
      initiators_[m.to] = sender();
      apply(core_.on_reassign(m));
    },
    [this](ckpt_id_atom) { return participant_id(); },
    [this](ckpt_status_atom) { return status(); },
  };
}

void participant_base::on_exit() {
  updates_ = caf::behavior{};
  reads_ = caf::behavior{};
  peers_.clear();
  initiators_.clear();
  held_.clear();
  deferred_.clear();
  log_.clear();
  saved_.clear();
}

void participant_base::learn_peers(std::map<uint64_t, caf::actor>& hs) {
  for (auto& [id, hdl] : hs)
    if (id != participant_id())
      peers_[id] = std::move(hdl);
}

void participant_base::tell_message(const caf::actor& to, caf::message msg) {
  if (!to)
    return;
  if (!core_.may_send()) {
    held_.push_back({to, std::move(msg)});
    return;
  }
  send(to, ckpt_app_atom::value, core_.stamp(), std::move(msg));
}

void participant_base::on_app(const ckpt_stamp& s, caf::message payload,
                              caf::actor from) {
  if (s.sender != 0 && from)
    peers_[s.sender] = from;
  if (core_.holds_back(s.sender)) {
    deferred_.push_back({s, std::move(payload), std::move(from)});
    return;
  }
  if (reads_(payload))
    return;
  auto d = core_.on_update(s);
  if (d == checkpoint_participant::delivery::defer) {
    deferred_.push_back({s, std::move(payload), std::move(from)});
    return;
  }
  if (d == checkpoint_participant::delivery::deliver_and_note && from)
    send(from, ckpt_dep_note{participant_id(), s.epoch});
  updates_(payload);
}

std::vector<ckpt_recorded>
participant_base::channel_entries(const std::vector<ckpt_channel>& cs) {
  std::vector<ckpt_recorded> xs;
  for (auto& c : cs) {
    auto& log = log_[c.from];
    auto n = std::min<size_t>(c.count, log.size()); // == count
    xs.insert(xs.end(), log.begin(), log.begin() + n);
  }
  return xs;
}

void participant_base::send_reply(ckpt_envelope& e) {
  if (auto m = std::get_if<ckpt_marker>(&e.msg)) {
    // On the application channel, behind our earlier sends.
    if (e.to == participant_id()) {
      send(this, *m);
    } else if (auto i = peers_.find(e.to); i != peers_.end()) {
      send(i->second, *m);
    }
    return;
  }
  auto to = initiators_.find(e.to);
  if (to == initiators_.end())
    return;
  if (auto r = std::get_if<ckpt_build_reply>(&e.msg)) {
    handle_map ps{{participant_id(), caf::actor_cast<caf::actor>(this)}};
    for (auto& d : r->preds)
      if (auto i = peers_.find(d.peer); i != peers_.end())
        ps.insert(*i);
    for (auto s : r->succs)
      if (auto i = peers_.find(s); i != peers_.end())
        ps.insert(*i);
    handle_map is;
    if (auto i = initiators_.find(r->holder); i != initiators_.end())
      is.insert(*i);
    send(to->second, *r, std::move(ps), std::move(is));
  } else if (auto r = std::get_if<ckpt_precommit_reply>(&e.msg)) {
    if (!r->ok) {
      send(to->second, *r, std::string{}, std::vector<ckpt_recorded>{});
      return;
    }
    auto entries = channel_entries(r->channels);
    send(to->second, *r, std::exchange(saved_, {}), std::move(entries));
  } else if (auto r = std::get_if<ckpt_channels>(&e.msg)) {
    auto entries = channel_entries(r->channels);
    send(to->second, *r, std::move(entries));
  }
}

void participant_base::apply(ckpt_step st) {
  for (auto& e : st.out)
    send_reply(e);
  if (st.snapshot) {
    auto state = save_state();
    if (!state) {
      ckpt_precommit_reply r{participant_id(), core_.holder(),
                             core_.join_count(), false,
                             describe(state.error()), {}};
      send(initiators_.at(core_.holder()), r, std::string{},
           std::vector<ckpt_recorded>{});
    } else {
      saved_ = std::move(*state);
      span_start_ = wall_clock_ns();
      span_epoch_ = core_.epoch();
      // What we still defer was sent before its sender's snapshot too.
      log_.clear();
      for (auto& d : deferred_)
        if (core_.record(d.stamp))
          log_[d.stamp.sender].push_back({d.stamp, d.payload});
      apply(core_.on_snapshot());
    }
  }
  if (st.resume) {
    for (auto& h : std::exchange(held_, {}))
      tell_message(h.to, std::move(h.msg));
    for (auto& d : std::exchange(deferred_, {}))
      on_app(d.stamp, std::move(d.payload), std::move(d.from));
  }
  if (core_.state() == checkpoint_participant::phase::idle) {
    log_.clear();
    saved_.clear();
    if (span_start_ != 0) {
      if (auto ctx = find_context(system()))
        ctx->spans.record(span{
          span_trace_, new_trace_id(), span_parent_, "checkpoint_member",
          "participant " + std::to_string(participant_id()), {}, span_start_,
          wall_clock_ns(),
          core_.epoch() > span_epoch_
            ? "committed, epoch " + std::to_string(core_.epoch())
            : "aborted, epoch " + std::to_string(core_.epoch()) + " kept",
          core_.epoch() > span_epoch_ ? "ok" : "error", 0});
      span_start_ = 0;
    }
  }
  // Whoever holds us: its failure must free us.
  if (auto h = core_.holder(); h != 0) {
    auto hdl = initiators_.at(h);
    if (watched_.emplace(hdl.address(), h).second)
      monitor(hdl);
  }
  // Keep the handles the core may still need.
  for (auto i = initiators_.begin(); i != initiators_.end();) {
    auto needed = i->first == core_.holder()
                  || std::any_of(core_.queued().begin(), core_.queued().end(),
                                 [&](auto& q) { return q.initiator == i->first; });
    i = needed ? std::next(i) : initiators_.erase(i);
  }
  if (st.resume)
    for (auto i = peers_.begin(); i != peers_.end();) {
      auto needed = core_.preds().count(i->first) > 0
                    || core_.succs().count(i->first) > 0;
      i = needed ? std::next(i) : peers_.erase(i);
    }
}

participant_status participant_base::status() const {
  participant_status x;
  x.id = core_.id();
  x.epoch = core_.epoch();
  x.phase = to_string(core_.state());
  x.holder = core_.holder();
  x.modified = core_.modified();
  for (auto& kv : core_.preds())
    x.preds.push_back(kv.first);
  x.succs.assign(core_.succs().begin(), core_.succs().end());
  x.held_sends = held_.size();
  x.deferred = deferred_.size();
  x.replay_pending.assign(core_.held().begin(), core_.held().end());
  return x;
}

// -- storage ------------------------------------------------------------------

std::string checkpoint_key(const std::string& prefix, uint64_t id) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%020llu",
                static_cast<unsigned long long>(id));
  return prefix + buf;
}

namespace {

std::string meta_key(const std::string& prefix, uint64_t id) {
  return checkpoint_key(prefix, id) + "/meta";
}

std::string state_key(const std::string& prefix, uint64_t id) {
  return checkpoint_key(prefix, id) + "/state";
}

std::string channel_key(const std::string& prefix, uint64_t id) {
  return checkpoint_key(prefix, id) + "/channel";
}

} // namespace

caf::expected<std::optional<checkpoint_record>>
load_checkpoint(stable_store& store, uint64_t id, const std::string& prefix) {
  auto meta = store.get(meta_key(prefix, id));
  if (!meta)
    return std::move(meta.error());
  if (!*meta)
    return std::optional<checkpoint_record>{};
  auto what = "checkpoint of participant " + std::to_string(id) + ": ";
  auto rec = from_snapshot<checkpoint_record>(**meta);
  if (!rec)
    return make_error(errc::corrupted, what + describe(rec.error()));
  auto state = store.get(state_key(prefix, id));
  if (!state)
    return std::move(state.error());
  if (!*state)
    return make_error(errc::corrupted, what + "state record missing");
  rec->state = std::move(**state);
  auto channel = store.get(channel_key(prefix, id));
  if (!channel)
    return std::move(channel.error());
  if (*channel)
    rec->channel = std::move(**channel);
  return std::optional<checkpoint_record>{std::move(*rec)};
}

caf::expected<std::vector<ckpt_recorded>>
decode_channel(caf::actor_system& sys, const std::string& channel) {
  std::vector<ckpt_recorded> xs;
  if (channel.empty())
    return xs;
  caf::binary_deserializer source{sys, channel.data(), channel.size()};
  if (auto err = source(xs))
    return make_error(errc::corrupted,
                      "channel state unreadable: " + describe(err));
  return xs;
}

void replay_channels(const std::vector<caf::actor>& restored) {
  for (auto& a : restored)
    caf::anon_send(a, ckpt_replay_atom::value);
}

// -- coordinator --------------------------------------------------------------

namespace {

struct snapshot {
  uint64_t lock = 0;
  std::string bytes;
};

/// A member's reported channel from one sender.
struct channel_piece {
  uint64_t lock = 0; // the sender's join
  std::vector<ckpt_recorded> msgs;
};

struct coordinator_state {
  stable_store* store = nullptr;
  checkpoint_options opts;
  std::vector<caf::actor> roots;
  std::optional<checkpoint_initiator> core; // from the run request on
  handle_map participants;
  handle_map initiators;
  std::map<caf::actor_addr, uint64_t> watched; // participants
  caf::actor_addr winner;                      // once merged
  std::map<uint64_t, snapshot> snapshots;
  /// (member, its join) -> sender -> channel.
  std::map<std::pair<uint64_t, uint64_t>, std::map<uint64_t, channel_piece>>
    channels;
  uint64_t in_flight = 0; // messages stored as channel state
  trace_context trace;    // our "checkpoint" span
  int64_t started = 0;
  caf::response_promise rp;

  static inline const char* name = "ftsr.checkpoint";
};

using coordinator = caf::stateful_actor<coordinator_state>;

uint64_t draw_initiator_id() {
  std::random_device rd;
  auto x = (uint64_t{rd()} << 32) | rd();
  return x != 0 ? x : 1;
}

/// Records the "checkpoint" span if we run in an ftsr node.
void record_span(coordinator* self, const std::string& outcome, bool ok) {
  auto& s = self->state;
  auto ctx = find_context(self->system());
  if (ctx == nullptr || s.started == 0)
    return;
  std::string members;
  if (s.core)
    for (auto& m : s.core->members())
      members += (members.empty() ? "" : ", ") + std::to_string(m.id);
  auto id = s.core ? s.core->id() : s.opts.initiator;
  ctx->spans.record(span{s.trace.trace_id, s.trace.span_id, 0, "checkpoint",
                         "checkpoint " + std::to_string(id), {}, s.started,
                         wall_clock_ns(),
                         outcome + "; members: "
                           + (members.empty() ? "none" : members),
                         ok ? "ok" : "error", 0});
  s.started = 0;
}

void fail(coordinator* self, caf::error err) {
  record_span(self, "failed: " + describe(err), false);
  self->state.rp.deliver(std::move(err));
  self->quit();
}

void apply(coordinator* self, ckpt_step st);

void send_to_participant(coordinator* self, uint64_t id, caf::message msg) {
  auto& s = self->state;
  auto i = s.participants.find(id);
  if (i == s.participants.end())
    return; // cannot happen: every id came with its handle
  if (s.watched.emplace(i->second.address(), id).second)
    self->monitor(i->second);
  self->send(i->second, std::move(msg));
}

/// The handles of `peers`, for their markers.
handle_map handles_of(coordinator* self, const std::vector<ckpt_peer>& peers) {
  handle_map hs;
  for (auto& p : peers)
    if (auto i = self->state.participants.find(p.id);
        i != self->state.participants.end())
      hs.insert(*i);
  return hs;
}

void send_to_initiator(coordinator* self, uint64_t id, caf::message msg) {
  auto& s = self->state;
  if (auto i = s.initiators.find(id); i != s.initiators.end())
    self->send(i->second, std::move(msg));
}

/// Appends a reported channel (`entries`, split by `cs`) to what we know.
void take_channels(coordinator* self, uint64_t member, uint64_t lock,
                   const std::vector<ckpt_channel>& cs,
                   std::vector<ckpt_recorded>& entries) {
  auto& pieces = self->state.channels[{member, lock}];
  size_t pos = 0;
  for (auto& c : cs) {
    auto n = std::min<size_t>(c.count, entries.size() - pos);
    auto first = entries.begin() + static_cast<std::ptrdiff_t>(pos);
    pieces[c.from] = channel_piece{
      c.lock, {std::make_move_iterator(first),
               std::make_move_iterator(first + static_cast<std::ptrdiff_t>(n))}};
    pos += n;
  }
}

/// The channel record of `to`: CAF binary of its in-flight messages.
caf::expected<std::string> encode_channel(coordinator* self, uint64_t to,
                                          std::vector<ckpt_recorded>& xs) {
  std::vector<char> buf;
  caf::binary_serializer sink{self->system(), buf};
  if (auto err = sink(xs)) {
    // Name the sender of the first message that does not serialize.
    uint64_t from = 0;
    for (auto& x : xs) {
      std::vector<char> one;
      caf::binary_serializer probe{self->system(), one};
      if (probe(x)) {
        from = x.stamp.sender;
        break;
      }
    }
    return make_error(errc::checkpoint_aborted,
                      "a message in flight from participant "
                        + std::to_string(from) + " to participant "
                        + std::to_string(to)
                        + " is not serializable: " + describe(err));
  }
  return std::string{buf.begin(), buf.end()};
}

/// The atomic write of every member's snapshot and channels: the commit
/// point.
caf::error write_snapshots(coordinator* self) {
  auto& s = self->state;
  write_batch batch;
  auto members = s.core->members();
  uint64_t in_flight = 0;
  for (auto& m : members) {
    auto i = s.snapshots.find(m.id);
    if (i == s.snapshots.end() || i->second.lock != m.lock)
      return make_error(errc::invalid_argument,
                        "no snapshot of member " + std::to_string(m.id));
    checkpoint_record meta{m.epoch + 1, s.core->id(), {}, {}};
    batch.put(meta_key(s.opts.prefix, m.id), to_snapshot(meta));
    batch.put(state_key(s.opts.prefix, m.id), std::move(i->second.bytes));
    std::vector<ckpt_recorded> in;
    auto& pieces = s.channels[{m.id, m.lock}];
    for (auto& o : members) {
      auto c = pieces.find(o.id);
      if (c == pieces.end() || c->second.lock != o.lock)
        return make_error(errc::invalid_argument,
                          "no channel state from member "
                            + std::to_string(o.id) + " to member "
                            + std::to_string(m.id));
      for (auto& x : c->second.msgs)
        in.push_back(std::move(x));
    }
    if (in.empty()) {
      batch.erase(channel_key(s.opts.prefix, m.id)); // an older one's
      continue;
    }
    auto bytes = encode_channel(self, m.id, in);
    if (!bytes)
      return std::move(bytes.error());
    in_flight += in.size();
    batch.put(channel_key(s.opts.prefix, m.id), std::move(*bytes));
  }
  s.snapshots.clear();
  s.channels.clear();
  if (auto err = s.store->write(batch))
    return err;
  s.in_flight = in_flight;
  return caf::none;
}

void finish(coordinator* self) {
  auto& core = *self->state.core;
  auto merged = core.winner() != 0
                  ? "merged into checkpoint " + std::to_string(core.winner())
                      + ", "
                  : std::string{};
  if (!core.committed()) {
    record_span(self, merged + "aborted: " + describe(core.error()), false);
    self->state.rp.deliver(core.error());
    self->quit();
    return;
  }
  checkpoint_result res;
  res.initiator = core.decided_by();
  for (auto& m : core.members())
    res.epochs[m.id] = m.epoch + 1;
  res.in_flight = self->state.in_flight;
  record_span(self,
              merged + "committed; in flight stored: "
                + std::to_string(res.in_flight),
              true);
  self->state.rp.deliver(std::move(res));
  self->quit();
}

void apply(coordinator* self, ckpt_step st) {
  auto& s = self->state;
  for (auto& e : st.out) {
    std::visit(
      [&](auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, ckpt_precommit>) {
          auto hs = handles_of(self, m.peers);
          send_to_participant(self, e.to,
                              caf::make_message(std::move(m), std::move(hs),
                                                s.trace));
        } else if constexpr (std::is_same_v<T, ckpt_mark>) {
          auto hs = handles_of(self, m.peers);
          send_to_participant(self, e.to,
                              caf::make_message(std::move(m), std::move(hs)));
        } else if constexpr (std::is_same_v<T, ckpt_build>
                             || std::is_same_v<T, ckpt_end>
                             || std::is_same_v<T, ckpt_reassign>)
          send_to_participant(self, e.to, caf::make_message(std::move(m)));
        else if constexpr (std::is_same_v<T, ckpt_build_reply>
                           || std::is_same_v<T, ckpt_merge>)
          // Forwarded or handed over: with the handles the ids refer to.
          send_to_initiator(self, e.to,
                            caf::make_message(std::move(m), s.participants,
                                              s.initiators));
        else if constexpr (std::is_same_v<T, ckpt_yield>)
          send_to_initiator(self, e.to,
                            caf::make_message(std::move(m), s.initiators));
        else if constexpr (std::is_same_v<T, ckpt_outcome>)
          send_to_initiator(self, e.to, caf::make_message(std::move(m)));
      },
      e.msg);
  }
  if (s.core->state() == checkpoint_initiator::phase::merged && !s.winner) {
    auto& w = s.initiators.at(s.core->winner());
    s.winner = w.address();
    self->monitor(w);
  }
  if (st.write) {
    auto err = write_snapshots(self);
    apply(self, s.core->on_written(err));
    return;
  }
  if (st.done)
    finish(self);
}

void learn(handle_map& into, handle_map& from) {
  for (auto& kv : from)
    into.insert(kv);
}

void start(coordinator* self, const std::vector<uint64_t>& roots) {
  auto& s = self->state;
  auto id = s.opts.initiator != 0 ? s.opts.initiator : draw_initiator_id();
  s.opts.initiator = id;
  s.core.emplace(id);
  s.initiators[id] = caf::actor_cast<caf::actor>(self);
  apply(self, s.core->start(roots));
}

caf::behavior coordinator_behavior(coordinator* self, stable_store* store,
                                   std::vector<caf::actor> roots,
                                   checkpoint_options opts) {
  self->state.store = store;
  self->state.opts = std::move(opts);
  self->state.roots = std::move(roots);
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& s = self->state;
    if (!s.core)
      return;
    if (auto i = s.watched.find(dm.source); i != s.watched.end()) {
      auto id = i->second;
      s.watched.erase(i);
      apply(self, s.core->on_participant_down(id, dm.reason));
    } else if (dm.source == s.winner) {
      apply(self, s.core->on_initiator_down(s.core->winner()));
    }
  });
  return {
    [self](ckpt_run_atom) -> caf::result<checkpoint_result> {
      auto& s = self->state;
      if (s.rp.pending() || s.core)
        return make_error(errc::invalid_argument, "coordinator already ran");
      if (s.roots.empty())
        return make_error(errc::invalid_argument, "checkpoint without roots");
      s.rp = self->make_response_promise();
      s.started = wall_clock_ns();
      s.trace = span_buffer::child_of({});
      self->delayed_send(self, s.opts.timeout, ckpt_timeout_atom::value);
      // The core speaks participant ids: ask the roots for theirs.
      auto ids = std::make_shared<std::vector<uint64_t>>();
      for (auto& r : s.roots)
        self->request(r, s.opts.timeout, ckpt_id_atom::value)
          .then(
            [self, ids, r](uint64_t id) {
              self->state.participants[id] = r;
              ids->push_back(id);
              if (ids->size() == self->state.roots.size())
                start(self, *ids);
            },
            [self](caf::error& err) {
              if (!self->state.core)
                fail(self, make_error(errc::invalid_argument,
                                      "a root is not a checkpoint "
                                      "participant: "
                                        + describe(err)));
            });
      return s.rp;
    },
    [self](ckpt_build_reply& r, handle_map& ps, handle_map& is) {
      learn(self->state.participants, ps);
      learn(self->state.initiators, is);
      apply(self, self->state.core->on_build_reply(r));
    },
    [self](ckpt_precommit_reply& r, std::string& bytes,
           std::vector<ckpt_recorded>& entries) {
      auto& s = self->state;
      if (r.ok) {
        s.snapshots[r.participant] = snapshot{r.lock, std::move(bytes)};
        take_channels(self, r.participant, r.lock, r.channels, entries);
      }
      apply(self, s.core->on_precommit_reply(r));
    },
    [self](ckpt_channels& r, std::vector<ckpt_recorded>& entries) {
      take_channels(self, r.participant, r.lock, r.channels, entries);
      apply(self, self->state.core->on_channels(r));
    },
    [self](ckpt_yield& y, handle_map& is) {
      learn(self->state.initiators, is);
      apply(self, self->state.core->on_yield(y));
    },
    [self](ckpt_merge& m, handle_map& ps, handle_map& is) {
      learn(self->state.participants, ps);
      learn(self->state.initiators, is);
      apply(self, self->state.core->on_merge(m));
    },
    [self](ckpt_outcome& o) {
      apply(self, self->state.core->on_outcome(o));
    },
    [self](ckpt_timeout_atom) {
      auto& s = self->state;
      if (!s.core)
        fail(self, make_error(errc::checkpoint_aborted,
                              "checkpoint: aborted: timed out during start: "
                              "roots did not answer in time"));
      else
        apply(self, s.core->on_timeout());
    },
  };
}

} // namespace

caf::actor spawn_checkpoint(caf::actor_system& sys, stable_store& store,
                            std::vector<caf::actor> roots,
                            checkpoint_options opts) {
  // Detached: the stable-store write blocks (fsync) and must not hold up a
  // scheduler thread the participants need.
  return sys.spawn<caf::detached>(coordinator_behavior, &store,
                                  std::move(roots), std::move(opts));
}

caf::expected<checkpoint_result>
checkpoint(caf::actor_system& sys, stable_store& store,
           std::vector<caf::actor> roots, checkpoint_options opts) {
  caf::scoped_actor self{sys};
  auto coord = spawn_checkpoint(sys, store, std::move(roots), std::move(opts));
  caf::expected<checkpoint_result> res
    = make_error(errc::fail_stop, "checkpoint: no answer from coordinator");
  self->request(coord, caf::infinite, ckpt_run_atom::value)
    .receive([&](checkpoint_result& r) { res = std::move(r); },
             [&](caf::error& err) { res = std::move(err); });
  return res;
}

} // namespace ftsr
