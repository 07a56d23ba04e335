// Replica actor: decodes the group protocol's messages into inputs of a
// replica_machine (replica_machine.hpp), which decides everything, and
// applies the steps it returns: sends, client answers, monitors, timers,
// owns-sends and imports, quit. Persistent groups restore their size by
// spawning replacements through the node manager, as restore_planner says.
#include "replication/replica.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "caf/all.hpp"
#include "caf/io/broker.hpp"
#include "caf/io/middleman.hpp"

#include "actors/call.hpp"
#include "actors/log.hpp"
#include "actors/monitor.hpp"
#include "actors/node.hpp"
#include "actors/protocol.hpp"
#include "replication/group_catalog.hpp"
#include "replication/group_protocol.hpp"
#include "replication/replica_inputs.hpp"
#include "replication/replica_machine.hpp"
#include "replication/restore_planner.hpp"

namespace ftsr {

namespace {

constexpr auto ack_delay = std::chrono::milliseconds(2);
constexpr auto lag_delay = std::chrono::milliseconds(2);

/// (group_restore): the primary of a persistent group tries again to
/// restart a missing replica (see spawn_replacement).
using group_restore_atom = caf::atom_constant<caf::atom("ftsr_grst")>;

/// How long a primary that found no backup node for a missing replica
/// waits before it tries again.
constexpr auto restore_retry = std::chrono::milliseconds(500);

struct replica_state {
  ~replica_state() {
    if (ctx != nullptr && machine && machine->has_state())
      ctx->replicas.remove(machine->core().self());
  }

  node_context* ctx = nullptr;
  resource_factory factory;
  size_t max_sf = 0;
  group_mode mode;
  std::optional<replica_machine> machine;
  /// Clients the machine holds, by ticket.
  std::map<uint64_t, caf::response_promise> promises;
  uint64_t next_ticket = 1;
  /// Persistent groups (primary): replacements for failed replicas.
  std::optional<restore_planner> restore;
  /// The group's creation arguments (empty for a replica that joined: a
  /// state transfer does not carry them), kept in the group catalog.
  caf::message args;
  /// The group view last written to this node's group catalog.
  std::optional<uint64_t> recorded_view;
  /// The view and members last shown on the node's replica board.
  bool on_board = false;
  uint64_t board_view = 0;
  std::vector<uint64_t> board_members;

  static inline const char* name = "ftsr.replica";
};

using replica_actor = caf::stateful_actor<replica_state>;
using io_replica_actor = caf::stateful_actor<replica_state, caf::io::broker>;

template <class Self>
caf::actor handle_of(Self* self, uint64_t member) {
  if (auto ref = self->state.ctx->dir.lookup(member))
    return self->state.ctx->dir.resolve(*ref);
  return {};
}

template <class Self>
uint64_t ticket_of(Self* self, caf::response_promise rp) {
  auto& st = self->state;
  auto t = st.next_ticket++;
  st.promises.emplace(t, std::move(rp));
  return t;
}

// -- apply: a step's effects ----------------------------------------------------

template <class Self>
void send_peer(Self* self, uint64_t to, peer_msg& msg) {
  auto& st = self->state;
  if (auto hdl = handle_of(self, to))
    self->send(hdl, peer_message(msg, {st.machine->group(), to,
                                       uint64_t{st.max_sf}, st.mode}));
}

template <class Self>
void answer(Self* self, client_answer& a) {
  auto& promises = self->state.promises;
  auto i = promises.find(a.ticket);
  if (i == promises.end())
    return;
  auto rp = std::move(i->second);
  promises.erase(i);
  switch (a.kind) {
    case client_answer::single:
      rp.deliver(std::move(a.value));
      break;
    case client_answer::collated:
      rp.deliver(std::move(a.values));
      break;
    case client_answer::error:
      rp.deliver(std::move(a.err));
      break;
    case client_answer::unit:
      rp.deliver(caf::unit);
      break;
  }
}

/// Replier: answers a client in the primary's place, as the primary's
/// response promise would (same request message id). `to` is the entry's
/// reply_to, set by the group_invoke handler; anything else is ignored.
template <class Self>
void answer_client(Self* self, const caf::message& to, caf::message reply) {
  if (!to.match_elements<caf::strong_actor_ptr, uint64_t>())
    return;
  auto& dest = to.get_as<caf::strong_actor_ptr>(0);
  if (!dest)
    return;
  caf::message_id request{to.get_as<uint64_t>(1)};
  dest->enqueue(self->ctrl(), request.response_id(), std::move(reply),
                self->context());
}

template <class Self>
void apply(Self* self, replica_step s);

/// True if `err` shows that the target executed the invocation (any reply,
/// an application error included), false if it may not have.
bool answered(const caf::error& err) {
  return !(detail::is_callee_failure(err) || is(err, errc::no_quorum)
           || is(err, errc::not_primary));
}

/// FT-SR imports: the primary invokes the target under the import's id;
/// once answered, an import_done entry retires it at every replica. If the
/// target does not answer, the import stays pending and the next primary
/// (after a view change) sends it again.
template <class Self>
void send_import(Self* self, uint64_t id, const outgoing_call& imp) {
  auto done = [self, id] { apply(self, self->state.machine->on_import_done(id)); };
  ftsr::call(self, capability<>{imp.target}, imp.payload)
    .request_id(id)
    .then([done] { done(); },
          [done](caf::error& err) {
            // Any other reply than an empty one also proves execution.
            if (err == caf::sec::unexpected_response || answered(err))
              done();
          });
}

template <class Self>
void arm(Self* self, replica_timer t) {
  auto me = caf::actor_cast<caf::actor>(self);
  switch (t) {
    case replica_timer::send_orders:
      self->send(me, group_send_orders_atom::value);
      return;
    case replica_timer::send_acks:
      self->delayed_send(me, ack_delay, group_send_acks_atom::value);
      return;
    case replica_timer::send_lagging:
      self->delayed_send(me, lag_delay, group_send_lagging_atom::value);
      return;
    case replica_timer::lease:
      self->delayed_send(me, self->state.ctx->cluster.heartbeat_interval,
                         group_lease_atom::value);
      return;
    case replica_timer::depart:
      self->send(me, group_leave_atom::value);
      return;
  }
}

template <class Self>
void restarted(Self* self, uint64_t newcomer, bool joined);
template <class Self>
void restore_size(Self* self);

/// Keeps this node's group catalog record (group_catalog.hpp) in step with
/// the group's view: the members and where they run, for a cold restart.
/// A record that cannot be written is logged; the replica serves on (only
/// a later cold restart depends on it).
template <class Self>
void record_view(Self* self) {
  auto& st = self->state;
  if (st.ctx->data_dir.empty() || !st.machine->has_state())
    return;
  auto& core = st.machine->core();
  if (st.recorded_view == core.view() || !core.is_member())
    return;
  group_record x;
  auto group = st.machine->group();
  x.id = group.id;
  x.type = resource_type_of(group.type);
  x.args = st.args;
  x.max_sf = st.max_sf;
  x.mode = st.mode;
  x.view = core.view();
  for (auto m : core.members()) {
    auto ref = st.ctx->dir.lookup(m);
    if (!ref)
      return; // not bound here yet: the next view writes it
    x.members.push_back({m, ref->node});
  }
  if (auto err = save_group_record(self->context(), st.ctx->data_dir, x)) {
    st.ctx->spans.event({}, "group_catalog_error", to_string(group),
                        describe(err));
    FTSR_LOG(error, "{}: group catalog: {}", log_name(st.ctx->self),
             describe(err));
    return;
  }
  st.recorded_view = core.view();
}

/// Shows this replica on its node's replica board (introspection): the
/// whole entry when its view or members changed, or `regroup` (the group
/// capability was rebound), else only the delivered sequence number and
/// serving flag (no allocation per invocation). The machine knows nothing
/// of the board: this reads its state after a step.
template <class Self>
void publish_board(Self* self, bool regroup = false) {
  auto& st = self->state;
  if (!st.machine->has_state())
    return;
  auto& core = st.machine->core();
  if (!regroup && st.on_board && core.view() == st.board_view
      && core.members() == st.board_members) {
    st.ctx->replicas.progress(core.self(), core.delivered(), core.serving());
    return;
  }
  st.on_board = true;
  st.board_view = core.view();
  st.board_members = core.members();
  auto& group = st.machine->group();
  std::vector<group_member_ref> refs;
  for (auto& m : group.members)
    refs.push_back({m.id, m.node, m.incarnation});
  st.ctx->replicas.publish({group.id, group.type, std::move(refs), core.self(),
                            core.view(), core.members(), core.delivered(),
                            core.serving()});
}

/// Performs a step of the machine (replica_step says the order).
template <class Self>
void apply(Self* self, replica_step s) {
  auto& st = self->state;
  for (auto& [name, detail] : s.events) {
    auto group = to_string(st.machine->group());
    st.ctx->spans.event({}, name, group, detail);
    if (name == "replica_failed") {
      st.ctx->meters.replica_failures.inc();
      FTSR_LOG(error, "{}: replica of group {} stopped: {}",
               log_name(st.ctx->self), group, detail);
    } else if (name == "quorum_lost") {
      FTSR_LOG(warn, "{}: group {} lost its majority", log_name(st.ctx->self),
               group);
    } else if (name == "view_installed") {
      st.ctx->meters.group_views.inc();
      FTSR_LOG(info, "{}: group {} view installed: {}",
               log_name(st.ctx->self), group, detail);
    }
  }
  for (auto& out : s.sends)
    send_peer(self, out.to, out.msg);
  for (auto& a : s.answers)
    answer(self, a);
  for (auto t : s.released)
    st.promises.erase(t);
  for (auto& d : s.direct)
    answer_client(self, d.to, std::move(d.reply));
  for (auto& o : s.owned)
    if (auto hdl = st.ctx->dir.resolve(o.target))
      hdl->enqueue(caf::make_mailbox_element(nullptr, caf::make_message_id(),
                                             {}, std::move(o.payload)),
                   self->context());
  for (auto& [id, imp] : s.imports)
    send_import(self, id, imp);
  for (auto m : s.watch)
    if (auto ref = st.ctx->dir.lookup(m))
      ftsr::monitor(self, capability<>{*ref}, caf::actor_cast<caf::actor>(self),
                    member_failed_atom::value, m);
  for (auto t : s.timers)
    arm(self, t);
  for (auto n : s.joined)
    restarted(self, n, true);
  record_view(self);
  if (s.installed) {
    auto& ms = st.machine->core().members();
    for (auto member : st.restore->joining())
      restarted(self, member,
                std::find(ms.begin(), ms.end(), member) != ms.end());
    restore_size(self);
  }
  publish_board(self);
  if (s.quit)
    self->quit(s.quit);
}

// -- persistent groups: restoring the group's size (restore_planner) ---------

/// The group capability with the current members, bound in every node's
/// directory (as resize_group does): holders keep being served, and no
/// node counts replaced members against the group's quorum.
template <class Self>
void rebind_group(Self* self) {
  auto& st = self->state;
  std::vector<capability_ref> members;
  for (auto m : st.machine->core().members())
    if (auto ref = st.ctx->dir.lookup(m))
      members.push_back(*ref);
  if (members.empty())
    return;
  auto group = st.machine->group();
  group.members = std::move(members);
  group.handle = group.members.front().handle;
  group.generation = st.machine->core().view();
  st.machine->set_group(group);
  publish_board(self, true);
  self->send(st.ctx->manager, publish_atom::value, group);
}

/// A replacement replica joined (state transferred) or did not make it.
template <class Self>
void restarted(Self* self, uint64_t newcomer, bool joined) {
  auto& st = self->state;
  auto on = st.restore->finished(newcomer, joined);
  if (!on)
    return;
  if (joined) {
    st.ctx->spans.event({}, "restart", to_string(st.machine->group()),
                        "replica " + std::to_string(newcomer) + " on " + *on
                          + " joined with state transfer");
    st.ctx->meters.replica_restarts.inc();
    FTSR_LOG(info, "{}: group {}: replica {} restarted on {} joined",
             log_name(st.ctx->self), to_string(st.machine->group()),
             newcomer, *on);
    rebind_group(self);
  }
  restore_size(self);
}

/// Tries the backup nodes of `candidates` from `i` on: spawns a replica
/// there and joins it.
template <class Self>
void spawn_replacement(Self* self,
                       std::shared_ptr<std::vector<std::string>> candidates,
                       size_t i) {
  auto& st = self->state;
  if (i >= candidates->size()) {
    st.restore->given_up();
    // No backup node could take it now (failed, restarting, or not known
    // to this node yet). A node coming back changes no view of this
    // group, so nothing else would try again: the primary does, shortly.
    if (!candidates->empty())
      self->delayed_send(self, restore_retry, group_restore_atom::value);
    return;
  }
  auto on = (*candidates)[i];
  self
    ->request(st.ctx->manager, std::chrono::seconds(10), spawn_atom::value, on,
              resource_type_of(st.machine->group().type), caf::message{},
              std::vector<std::string>{}, trace_context{})
    .then(
      [self, on](capability_ref& ref) {
        auto& st = self->state;
        auto& core = st.machine->core();
        if (!core.serving() || !core.is_primary()) {
          // A view change meanwhile: the next install tries again.
          self->send(st.ctx->manager, destroy_atom::value, ref,
                     trace_context{});
          st.restore->given_up();
          return;
        }
        st.ctx->spans.event({}, "restart", to_string(st.machine->group()),
                            "spawned replica " + std::to_string(ref.id)
                              + " on " + on);
        st.restore->spawned(ref.id, on);
        st.ctx->dir.bind(ref);
        apply(self, st.machine->on_join(ref.id, std::nullopt));
      },
      [self, candidates, i](caf::error& err) {
        auto& st = self->state;
        auto on = (*candidates)[i];
        st.restore->spawn_failed(on, is(err, errc::node_unavailable));
        st.ctx->spans.event({}, "restart", to_string(st.machine->group()),
                            "no replica on " + on + ": " + describe(err));
        spawn_replacement(self, candidates, i + 1);
      });
}

/// Persistent groups (primary, serving): restarts a replica while the view
/// is smaller than the group was created with (restore_planner).
template <class Self>
void restore_size(Self* self) {
  auto& st = self->state;
  auto& core = st.machine->core();
  if (!core.serving() || !core.is_primary())
    return;
  std::set<std::string> hosting;
  for (auto m : core.members())
    if (auto ref = st.ctx->dir.lookup(m))
      hosting.insert(ref->node);
  auto candidates = st.restore->plan(hosting, core.members().size());
  if (!candidates.empty())
    spawn_replacement(self, std::make_shared<std::vector<std::string>>(
                              std::move(candidates)),
                      0);
}

/// Records this replica's part of a traced invocation (`kind`: sequencing
/// at the primary, delivery at a backup) as span `self_tc`, a child of
/// `parent`, from `start` to now.
void record_group_span(replica_state& st, const char* kind,
                       const trace_context& parent,
                       const trace_context& self_tc, int64_t start) {
  bool ok = !st.machine->core().resource().failure();
  span s{self_tc.trace_id, self_tc.span_id, parent.span_id, kind,
         to_string(st.machine->group()), {}, start, wall_clock_ns(), {},
         ok ? "ok" : "error", st.machine->core().view()};
  st.ctx->spans.record(std::move(s));
}

// -- decode: messages to machine inputs -------------------------------------

template <class Self>
caf::behavior serving(Self* self) {
  auto& m = *self->state.machine;
  return caf::message_handler{
    [self, &m](group_invoke_atom, const invocation& inv) {
      auto rp = self->make_response_promise();
      // A plain request (no forwarding stages) can be answered by a backup.
      caf::message reply_to;
      if (rp.stages().empty() && rp.source() != nullptr)
        reply_to = caf::make_message(rp.source(), rp.id().integer_value());
      auto start = inv.tc.trace_id != 0 ? wall_clock_ns() : 0;
      apply(self, m.on_invoke(inv, ticket_of(self, rp), std::move(reply_to)));
      if (start != 0)
        record_group_span(self->state, "group_sequence", inv.tc,
                          sequencing_context(inv), start);
      return rp;
    },
    [self](group_restore_atom) { restore_size(self); },
    [self, &m](group_join_atom, const capability_ref& newcomer) {
      auto rp = self->make_response_promise();
      if (m.has_state() && m.core().serving() && m.core().is_primary())
        self->state.ctx->dir.bind(newcomer);
      apply(self, m.on_join(newcomer.id, ticket_of(self, rp)));
      return rp;
    },
    [self, &m](group_leave_atom, uint64_t member) {
      auto rp = self->make_response_promise();
      apply(self, m.on_leave(member, ticket_of(self, rp)));
      return rp;
    },
    // replica_timer::depart: the primary left its own group.
    [self](group_leave_atom) {
      self->quit(make_error(errc::destroyed, "left the group"));
    },
    [&m](group_status_atom) { return m.status(); },
  }.or_else(replica_inputs(
    m, {[self](replica_step step) { apply(self, std::move(step)); },
        [self](const std::vector<log_entry>& entries, int64_t start) {
          for (auto& e : entries)
            if (e.tc.trace_id != 0)
              record_group_span(self->state, "group_deliver", e.tc,
                                span_buffer::child_of(e.tc), start);
        }}));
}

template <class Self>
void become_serving(Self* self) {
  // Malformed or unknown messages get sec::unexpected_message, silently.
  self->set_default_handler(caf::drop);
  self->become(serving(self));
}

template <class Self>
caf::behavior replica(Self* self, resource_factory factory) {
  // Group traffic that overtakes the init/transfer waits for it.
  self->set_default_handler(caf::skip);
  // Error messages that are not responses (e.g. a joiner that could not
  // take its state transfer answers the transfer with an error) must not
  // kill this replica (CAF's default): the joiner stops, and its failure
  // reaches the group through the monitors as any other.
  self->set_error_handler([self](caf::error& err) {
    self->state.ctx->spans.event({}, "replica_error_message",
                                 to_string(self->state.machine->group()),
                                 describe(err));
  });
  auto& st = self->state;
  st.ctx = &context_of(self->system());
  st.factory = std::move(factory);
  st.machine.emplace(to_string(st.ctx->self), [ctx = st.ctx] {
    return node_standing{ctx->member, ctx->leased.load(), ctx->in_majority()};
  });
  self->delayed_send(self, st.ctx->replica_state_timeout,
                     group_state_timeout_atom::value);
  // The resource, attached to this node as member `me` of `group`; null
  // (and the replica stopped) if it cannot set up its state (fail-stop).
  auto make_resource = [self](const capability_ref& group, uint64_t me,
                              uint64_t max_sf, const group_mode& mode,
                              caf::error& err) {
    auto& st = self->state;
    st.max_sf = max_sf;
    st.mode = mode;
    st.restore.emplace(mode.backups, mode.replicas);
    st.machine->set_group(group);
    for (auto& m : group.members)
      st.ctx->dir.bind(m);
    auto res = st.factory();
    if ((err = res->attach(*st.ctx, group, me))) {
      self->quit(err);
      res.reset();
    }
    return res;
  };
  // Applies the first step; the error it stops with, if any.
  auto started = [self](replica_step s) {
    auto err = s.quit;
    apply(self, std::move(s));
    if (!err)
      become_serving(self);
    return err;
  };
  return {
    // Created as a member of a new group (FT-SR create ... on vms).
    // Errors (attach or init failed: the replica stopped) go to the
    // creator, which destroys the group.
    [self, make_resource, started](group_init_atom, const capability_ref& group,
                                   uint64_t me, uint64_t max_sf,
                                   const group_mode& mode,
                                   caf::message& args) -> caf::result<void> {
      caf::error err;
      auto res = make_resource(group, me, max_sf, mode, err);
      if (!res)
        return err;
      self->state.args = args;
      std::vector<uint64_t> members;
      for (auto& m : group.members)
        members.push_back(m.id);
      if (auto err = started(self->state.machine->start(
            me, std::move(members), max_sf, mode, std::move(res), args)))
        return err;
      return caf::unit;
    },
    // A newcomer whose join entry survived its primary's failure, but not
    // its state transfer: answered without state (replica_machine).
    [self](group_flush_atom, uint64_t new_view,
           std::vector<uint64_t>& survivors, uint64_t me) {
      apply(self, self->state.machine->on_flush(
                    {new_view, std::move(survivors), me}));
    },
    // No state in time: the join it was spawned for is lost (fail-stop).
    [self](group_state_timeout_atom) {
      auto wait = self->state.ctx->replica_state_timeout.count();
      self->quit(make_error(errc::timeout,
                            "replica got no group state within "
                              + std::to_string(wait) + " ms"));
    },
    // Joining an existing group: state transfer from the primary.
    [self, make_resource, started](group_transfer_atom,
                                   const capability_ref& group, uint64_t me,
                                   uint64_t max_sf, const group_mode& mode,
                                   const state_transfer& transfer)
      -> caf::result<void> {
      if (!self->state.machine->wants_state(transfer))
        return caf::unit; // stale: the coordinator sends a newer one
      caf::error err;
      auto res = make_resource(group, me, max_sf, mode, err);
      if (!res)
        return err;
      if (auto err = started(self->state.machine->start_from(
            me, max_sf, mode, std::move(res), transfer)))
        return err;
      return caf::unit;
    },
  };
}

} // namespace

void add_resource_type(caf::actor_system_config& cfg, const std::string& name,
                       resource_factory factory, replica_executor executor) {
  add_group_types(cfg);
  if (executor == replica_executor::scheduler) {
    cfg.add_actor_type(name, [factory](replica_actor* self) {
      return replica(self, factory);
    });
    return;
  }
  // A broker runs in the multiplexer, so it has to be launched there:
  // CAF's factory launches on the spawning context (cfg.host) otherwise.
  auto make = caf::make_actor_factory([factory](io_replica_actor* self) {
    return replica(self, factory);
  });
  cfg.add_actor_factory(name, [make](caf::actor_config& acfg,
                                     caf::message& args) {
    acfg.host = &acfg.host->system().middleman().backend();
    return make(acfg, args);
  });
}

} // namespace ftsr
