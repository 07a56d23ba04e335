// Participants and coordinators of FTM checkpoints: message plumbing around
// checkpoint_participant and checkpoint_initiator; see checkpoint.hpp.
#include "persistence/checkpoint.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <random>
#include <utility>

#include "caf/all.hpp"

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
                                   uint64_t epoch)
  : caf::event_based_actor(cfg), core_(id, epoch) {
  // nop
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
      on_app(s, std::move(payload), sender());
    },
    [this, sender](const ckpt_dep_note& m) {
      peers_[m.participant] = sender();
      core_.on_dep_note(m);
    },
    [this, sender](const ckpt_build& m) {
      initiators_[m.initiator] = sender();
      apply(core_.on_build(m));
    },
    [this, sender](const ckpt_precommit& m) {
      initiators_[m.initiator] = sender();
      apply(core_.on_precommit(m));
    },
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
  if (d == checkpoint_participant::delivery::deliver_and_note)
    send(from, ckpt_dep_note{participant_id(), s.epoch});
  updates_(payload);
}

void participant_base::send_reply(const ckpt_envelope& e) {
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
    send(to->second, *r, std::string{});
  }
}

void participant_base::apply(ckpt_step st) {
  for (auto& e : st.out)
    send_reply(e);
  if (st.snapshot) {
    ckpt_precommit_reply r{participant_id(), core_.holder(), core_.lock(),
                           true, {}};
    auto state = save_state();
    if (!state) {
      r.ok = false;
      r.reason = describe(state.error());
    }
    send(initiators_.at(core_.holder()), r,
         state ? std::move(*state) : std::string{});
  }
  if (st.resume) {
    for (auto& h : std::exchange(held_, {}))
      tell_message(h.to, std::move(h.msg));
    for (auto& d : std::exchange(deferred_, {}))
      on_app(d.stamp, std::move(d.payload), std::move(d.from));
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
  return std::optional<checkpoint_record>{std::move(*rec)};
}

// -- coordinator --------------------------------------------------------------

namespace {

struct snapshot {
  uint64_t lock = 0;
  std::string bytes;
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
  caf::response_promise rp;

  static inline const char* name = "ftsr.checkpoint";
};

using coordinator = caf::stateful_actor<coordinator_state>;

uint64_t draw_initiator_id() {
  std::random_device rd;
  auto x = (uint64_t{rd()} << 32) | rd();
  return x != 0 ? x : 1;
}

void fail(coordinator* self, caf::error err) {
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

void send_to_initiator(coordinator* self, uint64_t id, caf::message msg) {
  auto& s = self->state;
  if (auto i = s.initiators.find(id); i != s.initiators.end())
    self->send(i->second, std::move(msg));
}

/// The atomic write of every member's snapshot: the commit point.
caf::error write_snapshots(coordinator* self) {
  auto& s = self->state;
  write_batch batch;
  for (auto& m : s.core->members()) {
    auto i = s.snapshots.find(m.id);
    if (i == s.snapshots.end() || i->second.lock != m.lock)
      return make_error(errc::invalid_argument,
                        "no snapshot of member " + std::to_string(m.id));
    checkpoint_record meta{m.epoch + 1, s.core->id(), {}};
    batch.put(meta_key(s.opts.prefix, m.id), to_snapshot(meta));
    batch.put(state_key(s.opts.prefix, m.id), std::move(i->second.bytes));
  }
  s.snapshots.clear();
  return s.store->write(batch);
}

void finish(coordinator* self) {
  auto& core = *self->state.core;
  if (!core.committed()) {
    fail(self, core.error());
    return;
  }
  checkpoint_result res;
  res.initiator = core.decided_by();
  for (auto& m : core.members())
    res.epochs[m.id] = m.epoch + 1;
  self->state.rp.deliver(std::move(res));
  self->quit();
}

void apply(coordinator* self, ckpt_step st) {
  auto& s = self->state;
  for (auto& e : st.out) {
    std::visit(
      [&](auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, ckpt_build>
                      || std::is_same_v<T, ckpt_precommit>
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
    [self](ckpt_precommit_reply& r, std::string& bytes) {
      auto& s = self->state;
      if (r.ok)
        s.snapshots[r.participant] = snapshot{r.lock, std::move(bytes)};
      apply(self, s.core->on_precommit_reply(r));
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
        fail(self, make_error(errc::timeout, "checkpoint: roots did not "
                                             "answer in time"));
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
