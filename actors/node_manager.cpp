// Node manager: failure detector, membership with incarnation fencing,
// directory replication and remote spawn.
#include "actors/node_manager.hpp"

#include <chrono>
#include <map>
#include <set>
#include <unordered_map>

#include "caf/all.hpp"
#include "caf/io/middleman.hpp"
#include "caf/io/middleman_actor.hpp"

#include "actors/errors.hpp"
#include "actors/node.hpp"
#include "actors/protocol.hpp"
#include "actors/transport.hpp"

namespace ftsr {

namespace {

using clock_type = std::chrono::steady_clock;

struct peer {
  node_address addr;
  member_state state = member_state::unknown;
  uint64_t incarnation = 0;
  /// Highest incarnation of this name declared failed: fenced forever.
  uint64_t fenced = 0;
  caf::actor manager;
  clock_type::time_point last_seen;
  bool connecting = false;
  bool reported_unreachable = false;
  std::string reason;
};

struct manager_state {
  std::shared_ptr<node_context> ctx;
  std::map<std::string, peer> peers;
  /// Clients: they receive directory and failure gossip like members.
  std::vector<caf::actor> clients;
  /// Local actors subscribed to node_event messages.
  std::vector<caf::actor> event_subscribers;
  /// Locally hosted ftsr actors, by CAF address.
  std::map<caf::actor_addr, capability_ref> local_actors;
  /// Pending destroy requests, answered when the actor is down.
  std::map<uint64_t, std::vector<caf::response_promise>> destroying;
  manager_stats stats;
  /// Pending back-off timers (after_atom), by key.
  std::map<uint64_t, caf::response_promise> timers;
  uint64_t next_timer = 0;
  clock_type::time_point last_tick;
  uint64_t next_cap_seq = 1;

  static inline const char* name = "ftsr.node_manager";
};

using manager_actor = caf::stateful_actor<manager_state>;

peer* find_peer(manager_state& st, const std::string& name) {
  auto i = st.peers.find(name);
  return i != st.peers.end() ? &i->second : nullptr;
}

/// Sends `xs` to every live member and every client.
template <class... Ts>
void broadcast(manager_actor* self, const Ts&... xs) {
  for (auto& [name, p] : self->state.peers)
    if (p.state == member_state::up && p.manager)
      self->send(p.manager, xs...);
  for (auto& c : self->state.clients)
    self->send(c, xs...);
}

void publish_event(manager_actor* self, const node_event& ev) {
  for (auto& s : self->state.event_subscribers)
    self->send(s, ev);
}

/// Fail-stop of this node: the cluster excluded this incarnation, so it must
/// never act again. Kills every local ftsr actor, then lets the owner know.
void self_fence(manager_actor* self, const std::string& reason) {
  auto& ctx = *self->state.ctx;
  if (ctx.fenced.exchange(true))
    return;
  ctx.spans.event({}, "fenced", to_string(ctx.self), reason);
  for (auto& [addr, ref] : self->state.local_actors)
    self->send_exit(ref.handle, caf::exit_reason::kill);
  if (ctx.on_fenced)
    ctx.on_fenced(reason);
  self->quit(make_error(errc::fenced, reason));
}

void restart_orphans(manager_actor* self, const trace_context& tc);

void count_peers_up(manager_state& st) {
  uint32_t n = 0;
  for (auto& [name, p] : st.peers)
    if (p.state == member_state::up)
      ++n;
  st.ctx->peers_up = n;
}

void declare_failed(manager_actor* self, peer& p, const std::string& reason,
                    trace_context tc) {
  if (p.state != member_state::up)
    return;
  auto& ctx = *self->state.ctx;
  p.state = member_state::failed;
  p.reason = reason;
  p.fenced = std::max(p.fenced, p.incarnation);
  count_peers_up(self->state);
  member_id failed{p.addr.name, p.incarnation};
  auto span_tc = ctx.spans.event(tc, "failure_detected", to_string(failed),
                                 reason);
  ctx.dir.node_failed(p.addr.name, p.incarnation, reason, span_tc);
  if (p.manager) {
    self->demonitor(p.manager);
    p.manager = nullptr;
  }
  publish_event(self, node_event{failed, false, reason});
  broadcast(self, node_down_atom::value, ctx.self, failed, reason, span_tc);
  restart_orphans(self, span_tc);
}

void admit(manager_actor* self, peer& p, const member_id& who,
           caf::actor manager, trace_context tc) {
  auto now = clock_type::now();
  if (p.state == member_state::up && p.incarnation == who.incarnation) {
    p.last_seen = now;
    return;
  }
  if (p.state == member_state::up)
    declare_failed(self, p, "restarted as incarnation "
                              + std::to_string(who.incarnation),
                   tc);
  auto& ctx = *self->state.ctx;
  p.state = member_state::up;
  count_peers_up(self->state);
  p.incarnation = who.incarnation;
  p.manager = std::move(manager);
  p.last_seen = now;
  p.reason.clear();
  p.reported_unreachable = false;
  self->monitor(p.manager);
  ctx.spans.event(tc, "node_up", to_string(who));
  publish_event(self, node_event{who, true, {}});
}

/// Checks the sender of a protocol message: unknown names and fenced
/// incarnations are dropped (and the latter told so).
bool accept(manager_actor* self, const member_id& from) {
  auto& st = self->state;
  auto p = find_peer(st, from.name);
  if (p == nullptr) {
    ++st.stats.dropped_unknown;
    return false;
  }
  if (from.incarnation <= p->fenced) {
    ++st.stats.dropped_fenced;
    if (auto sender = caf::actor_cast<caf::actor>(self->current_sender()))
      self->send(sender, fenced_atom::value, from);
    return false;
  }
  return p->state == member_state::up && p->incarnation == from.incarnation;
}

void merge_directory(manager_actor* self, const std::vector<capability_ref>& xs,
                     std::vector<restart_spec>& specs) {
  auto& ctx = *self->state.ctx;
  for (auto& spec : specs)
    ctx.dir.set_restart_spec(std::move(spec));
  for (auto& ref : xs)
    ctx.dir.bind(ref);
  restart_orphans(self, {});
}

void connect(manager_actor* self, peer& p) {
  if (p.connecting)
    return;
  p.connecting = true;
  auto name = p.addr.name;
  auto mm = transport_handle(self->system());
  auto& ctx = *self->state.ctx;
  auto timeout = std::max(std::chrono::milliseconds{2000},
                          2 * ctx.cluster.failure_timeout);
  auto on_error = [self, name](const caf::error& err) {
    auto p = find_peer(self->state, name);
    if (p == nullptr)
      return;
    p->connecting = false;
    if (!p->reported_unreachable) {
      p->reported_unreachable = true;
      self->state.ctx->spans.event({}, "peer_unreachable", name,
                                   p->addr.host + ":"
                                     + std::to_string(p->addr.port) + ": "
                                     + self->system().render(err));
    }
  };
  self->request(mm, timeout, caf::connect_atom::value, p.addr.host, p.addr.port)
    .then(
      [self, name, timeout, on_error](caf::node_id&, caf::strong_actor_ptr& ptr,
                                      std::set<std::string>&) {
        auto remote = caf::actor_cast<caf::actor>(ptr);
        if (!remote) {
          on_error(make_error(errc::node_unavailable, "no manager published"));
          return;
        }
        auto& ctx = *self->state.ctx;
        self
          ->request(remote, timeout, hello_atom::value, ctx.self, ctx.member,
                    trace_context{})
          .then(
            [self, name, remote](member_id& who,
                                 std::vector<capability_ref>& dir,
                                 std::vector<restart_spec>& specs) {
              auto p = find_peer(self->state, name);
              if (p == nullptr)
                return;
              p->connecting = false;
              if (who.name != name || who.incarnation <= p->fenced)
                return; // a stranger or a zombie answered at that address
              admit(self, *p, who, remote, {});
              merge_directory(self, dir, specs);
            },
            [self, on_error](caf::error& err) {
              if (is(err, errc::fenced))
                self_fence(self, "peer refused hello: " + describe(err));
              else
                on_error(err);
            });
      },
      [on_error](caf::error& err) { on_error(err); });
}

void tick(manager_actor* self) {
  auto& st = self->state;
  auto& ctx = *st.ctx;
  auto now = clock_type::now();
  auto timeout = ctx.cluster.failure_timeout;
  if (ctx.member && now - st.last_tick > timeout) {
    // This process did not run for longer than the failure timeout
    // (SIGSTOP, swapped out): the others have declared it failed by now.
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
      now - st.last_tick);
    self_fence(self, "frozen for " + std::to_string(ms.count()) + " ms");
    return;
  }
  st.last_tick = now;
  ctx.dir.expire_calls(now);
  for (auto& [name, p] : st.peers) {
    if (p.state == member_state::up) {
      if (ctx.member && now - p.last_seen > timeout) {
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
          now - p.last_seen);
        declare_failed(self, p,
                       "no heartbeat for " + std::to_string(ms.count())
                         + " ms",
                       {});
        continue;
      }
      if (ctx.member)
        self->send(p.manager, heartbeat_atom::value, ctx.self, trace_context{});
    } else {
      connect(self, p);
    }
  }
  self->delayed_send(self, ctx.cluster.heartbeat_interval, tick_atom::value);
}

/// Spawns `type` here. A persistent actor (`spec` given) is bound under
/// `spec->id` at `generation` and first gets its persistent_start message.
caf::expected<capability_ref>
spawn_local(manager_actor* self, const std::string& type, caf::message args,
            trace_context tc, const restart_spec* spec = nullptr,
            uint64_t generation = 0) {
  auto& st = self->state;
  auto& ctx = *st.ctx;
  auto hdl = self->system().spawn<caf::actor>(type, std::move(args), nullptr,
                                              false);
  if (!hdl)
    return make_error(errc::unknown_actor_type,
                      "cannot spawn '" + type + "' on node " + ctx.self.name
                        + ": " + self->system().render(hdl.error()));
  // Unique cluster-wide: incarnations are unique per name and never reused.
  capability_ref ref{spec != nullptr ? spec->id : new_trace_id(),
                     type, ctx.self.name, ctx.self.incarnation, *hdl, {},
                     generation};
  self->monitor(*hdl);
  st.local_actors.emplace(hdl->address(), ref);
  if (spec != nullptr) {
    // Everyone learns how to restart it before anyone can see it fail.
    ctx.dir.set_restart_spec(*spec);
    broadcast(self, restart_spec_atom::value, ctx.self, *spec, tc);
    self->send(*hdl, persistent_start_atom::value, ref, generation);
  }
  ctx.dir.bind(ref);
  auto span_tc = ctx.spans.event(tc, generation > 0 ? "restart" : "spawn",
                                 to_string(ref),
                                 generation > 0 ? "generation "
                                                    + std::to_string(generation)
                                                : std::string{});
  broadcast(self, bind_atom::value, ctx.self, ref, span_tc);
  return ref;
}

/// FT-SR persistent actors: after a node failure, this node restarts every
/// orphaned persistent actor for which it is the next live node of its
/// list after the failed one. Every member applies the same rule to its
/// own view, so exactly one restarts each actor (as long as their views of
/// who is up agree).
void restart_orphans(manager_actor* self, const trace_context& tc) {
  auto& st = self->state;
  auto& ctx = *st.ctx;
  if (!ctx.member || ctx.fenced)
    return;
  for (auto& [spec, failed] : ctx.dir.orphans()) {
    auto& nodes = spec.nodes;
    auto n = nodes.size();
    auto pos = std::find(nodes.begin(), nodes.end(), failed.node)
               - nodes.begin();
    for (size_t k = 1; k <= n; ++k) {
      auto& candidate = nodes[(pos + k) % n];
      if (candidate == ctx.self.name) {
        auto ref = spawn_local(self, spec.type, spec.args, tc, &spec,
                               failed.generation + 1);
        if (!ref)
          ctx.spans.event(tc, "restart_failed", to_string(failed),
                          describe(ref.error()));
        break;
      }
      auto p = find_peer(st, candidate);
      if (p != nullptr && p->state == member_state::up)
        break; // its job
    }
  }
}

void on_down(manager_actor* self, const caf::down_msg& dm) {
  auto& st = self->state;
  auto& ctx = *st.ctx;
  if (auto i = st.local_actors.find(dm.source); i != st.local_actors.end()) {
    auto ref = std::move(i->second);
    st.local_actors.erase(i);
    auto d = st.destroying.find(ref.id);
    // Destroyed on request, or it ended itself as destroyed (e.g. a replica
    // that left its group).
    bool destroyed = d != st.destroying.end() || is(dm.reason, errc::destroyed);
    auto reason = destroyed ? std::string{"destroyed"}
                            : "terminated: " + self->system().render(dm.reason);
    auto tc = ctx.spans.event({}, destroyed ? "destroyed" : "actor_failed",
                              to_string(ref), reason);
    ctx.dir.actor_failed(ref.id, ref.generation, reason, destroyed, tc);
    broadcast(self, actor_down_atom::value, ctx.self, ref.id, ref.generation,
              reason, destroyed, tc);
    if (d != st.destroying.end()) {
      for (auto& rp : d->second)
        rp.deliver(caf::unit);
      st.destroying.erase(d);
    }
    return;
  }
  for (auto& [name, p] : st.peers)
    if (p.state == member_state::up && p.manager
        && p.manager.address() == dm.source) {
      declare_failed(self, p, "connection lost", {});
      return;
    }
  auto drop = [&](std::vector<caf::actor>& xs) {
    xs.erase(std::remove_if(xs.begin(), xs.end(),
                            [&](const caf::actor& x) {
                              return x.address() == dm.source;
                            }),
             xs.end());
  };
  drop(st.clients);
  drop(st.event_subscribers);
}

std::vector<member_status> view_of(const manager_state& st) {
  std::vector<member_status> result;
  auto& ctx = *st.ctx;
  if (ctx.member)
    result.push_back({ctx.self.name, ctx.self.incarnation,
                      ctx.fenced ? member_state::failed : member_state::up,
                      {}});
  for (auto& [name, p] : st.peers)
    result.push_back({name, p.incarnation, p.state, p.reason});
  return result;
}

caf::behavior manager(manager_actor* self, std::shared_ptr<node_context> ctx) {
  auto& st = self->state;
  st.ctx = ctx;
  for (auto& addr : ctx->cluster.nodes)
    if (addr.name != ctx->self.name)
      st.peers[addr.name].addr = addr;
  st.last_tick = clock_type::now();
  self->set_down_handler([self](caf::down_msg& dm) { on_down(self, dm); });
  // Local ftsr actors live as long as their node: a node shutdown takes
  // them along (the actor system would otherwise wait for them forever).
  self->set_exit_handler([self](caf::exit_msg& msg) {
    for (auto& [addr, ref] : self->state.local_actors)
      self->send_exit(ref.handle, msg.reason);
    self->quit(msg.reason);
  });
  self->send(self, tick_atom::value);
  return {
    [self](tick_atom) { tick(self); },
    [self](heartbeat_atom, const member_id& from, const trace_context&) {
      if (accept(self, from)) {
        ++self->state.stats.heartbeats_received;
        self->state.peers[from.name].last_seen = clock_type::now();
      }
    },
    [self](hello_atom, const member_id& from, bool is_member,
           const trace_context& tc)
      -> caf::result<member_id, std::vector<capability_ref>,
                     std::vector<restart_spec>> {
      auto& st = self->state;
      auto& ctx = *st.ctx;
      auto sender = caf::actor_cast<caf::actor>(self->current_sender());
      if (!sender)
        return make_error(errc::invalid_argument, "anonymous hello");
      if (!is_member) {
        st.clients.push_back(sender);
        self->monitor(sender);
        return {ctx.self, ctx.dir.alive(), ctx.dir.restart_specs()};
      }
      auto p = find_peer(st, from.name);
      if (p == nullptr) {
        ++st.stats.dropped_unknown;
        return make_error(errc::unknown_node,
                          "node '" + from.name + "' is not part of cluster '"
                            + ctx.cluster.name + "'");
      }
      if (from.incarnation <= p->fenced) {
        ++st.stats.dropped_fenced;
        return make_error(errc::fenced,
                          to_string(from) + " was declared failed");
      }
      admit(self, *p, from, sender, tc);
      return {ctx.self, ctx.dir.alive(), ctx.dir.restart_specs()};
    },
    [self](node_down_atom, const member_id& from, const member_id& failed,
           const std::string& why, const trace_context& tc) {
      auto& st = self->state;
      auto& ctx = *st.ctx;
      if (!accept(self, from))
        return;
      if (ctx.member && failed == ctx.self) {
        self_fence(self, "declared failed by " + from.name + ": " + why);
        return;
      }
      auto p = find_peer(st, failed.name);
      if (p == nullptr)
        return;
      auto reason = why + " (reported by " + from.name + ")";
      if (p->state == member_state::up && p->incarnation == failed.incarnation) {
        declare_failed(self, *p, reason, tc);
      } else if (failed.incarnation > p->fenced) {
        p->fenced = failed.incarnation;
        ctx.dir.node_failed(failed.name, failed.incarnation, reason, tc);
        restart_orphans(self, tc);
      }
    },
    [self](fenced_atom, const member_id& you) {
      auto& ctx = *self->state.ctx;
      if (ctx.member && you == ctx.self)
        self_fence(self, "a peer reported this incarnation as fenced");
    },
    [self](bind_atom, const member_id& from, const capability_ref& ref,
           const trace_context&) {
      if (accept(self, from))
        self->state.ctx->dir.bind(ref);
    },
    [self](publish_atom, const capability_ref& ref) {
      auto& ctx = *self->state.ctx;
      ctx.dir.bind(ref);
      broadcast(self, bind_atom::value, ctx.self, ref,
                ctx.spans.event({}, "rebind", to_string(ref)));
    },
    [self](restart_spec_atom, const member_id& from, restart_spec& spec,
           const trace_context&) {
      if (accept(self, from))
        self->state.ctx->dir.set_restart_spec(std::move(spec));
    },
    [self](actor_down_atom, const member_id& from, uint64_t cap,
           uint64_t generation, const std::string& why, bool destroyed,
           const trace_context& tc) {
      if (accept(self, from))
        self->state.ctx->dir.actor_failed(cap, generation, why, destroyed, tc);
    },
    [self](spawn_atom, const std::string& on, const std::string& type,
           caf::message& args, std::vector<std::string>& backups,
           const trace_context& tc) -> caf::result<capability_ref> {
      auto& st = self->state;
      auto& ctx = *st.ctx;
      if (ctx.member && on == ctx.self.name) {
        if (backups.empty())
          return spawn_local(self, type, std::move(args), tc);
        for (auto& b : backups)
          if (b == on || ctx.cluster.find(b) == nullptr)
            return make_error(errc::invalid_argument,
                              "backup node '" + b + "' of a persistent '"
                                + type + "' on '" + on
                                + (b == on ? "' is its home node"
                                           : "' is not part of the cluster"));
        restart_spec spec{new_trace_id(), type, args, {on}};
        spec.nodes.insert(spec.nodes.end(), backups.begin(), backups.end());
        return spawn_local(self, type, std::move(args), tc, &spec);
      }
      auto p = find_peer(st, on);
      if (p == nullptr)
        return make_error(errc::unknown_node,
                          "node '" + on + "' is not part of cluster '"
                            + ctx.cluster.name + "'");
      if (p->state != member_state::up)
        return make_error(errc::node_unavailable,
                          "node '" + on + "' is " + to_string(p->state)
                            + (p->reason.empty() ? "" : ": " + p->reason));
      self->delegate(p->manager, spawn_atom::value, on, type, std::move(args),
                     std::move(backups), tc);
      return caf::delegated<capability_ref>{};
    },
    [self](respawn_atom, const restart_spec& spec, uint64_t generation,
           const trace_context& tc) -> caf::result<capability_ref> {
      auto& ctx = *self->state.ctx;
      if (!ctx.member)
        return make_error(errc::invalid_argument, "a client hosts no actors");
      auto current = ctx.dir.lookup(spec.id);
      if (current && current->generation >= generation)
        return make_error(errc::invalid_argument,
                          to_string(*current) + " is already at generation "
                            + std::to_string(current->generation));
      return spawn_local(self, spec.type, spec.args, tc, &spec, generation);
    },
    [self](restart_atom, const capability_ref& cap, caf::message& args,
           std::vector<std::string>& nodes,
           const trace_context& tc) -> caf::result<capability_ref> {
      auto& st = self->state;
      auto& ctx = *st.ctx;
      auto spec = ctx.dir.restart_spec_of(cap.id);
      auto current = ctx.dir.lookup(cap.id);
      if (!spec || !current)
        return make_error(errc::invalid_argument,
                          to_string(cap) + " is not a persistent actor");
      auto err = ctx.dir.failure_of(*current);
      if (!err)
        return make_error(errc::invalid_argument,
                          to_string(*current)
                            + " is alive: restart applies to failed actors");
      if (is(err, errc::destroyed))
        return err;
      if (nodes.empty())
        return make_error(errc::invalid_argument, "restart needs a node list");
      for (auto& n : nodes)
        if (ctx.cluster.find(n) == nullptr)
          return make_error(errc::unknown_node,
                            "node '" + n + "' is not part of cluster '"
                              + ctx.cluster.name + "'");
      spec->args = std::move(args);
      spec->nodes = std::move(nodes);
      // The first live node of the list hosts the new generation.
      for (auto& n : spec->nodes) {
        if (ctx.member && n == ctx.self.name)
          return spawn_local(self, spec->type, spec->args, tc, &*spec,
                             current->generation + 1);
        auto p = find_peer(st, n);
        if (p != nullptr && p->state == member_state::up) {
          self->delegate(p->manager, respawn_atom::value, *spec,
                         current->generation + 1, tc);
          return caf::delegated<capability_ref>{};
        }
      }
      return make_error(errc::node_unavailable,
                        "no node of the restart list is up");
    },
    [self](destroy_atom, const capability_ref& ref,
           const trace_context& tc) -> caf::result<caf::unit_t> {
      auto& st = self->state;
      auto& ctx = *st.ctx;
      if (auto err = ctx.dir.failure_of(ref))
        return err;
      if (ref.node != ctx.self.name) {
        auto p = find_peer(st, ref.node);
        if (p == nullptr || p->state != member_state::up)
          return make_error(errc::fail_stop,
                            "capability " + to_string(ref)
                              + " is on an unavailable node");
        // Answer only once this node's directory knows it too: a caller
        // that sees destroy complete must never find the actor alive here.
        auto rp = self->make_response_promise();
        self->request(p->manager, caf::infinite, destroy_atom::value, ref, tc)
          .then(
            [self, rp, ref, tc]() mutable {
              auto& dir = self->state.ctx->dir;
              auto bound = dir.lookup(ref.id);
              dir.actor_failed(ref.id, bound ? bound->generation : 0,
                               "destroyed", true, tc);
              rp.deliver(caf::unit);
            },
            [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      }
      if (ref.incarnation != ctx.self.incarnation
          || st.local_actors.count(ref.handle.address()) == 0)
        return make_error(errc::fail_stop,
                          "capability " + to_string(ref)
                            + " is not hosted by " + to_string(ctx.self));
      auto rp = self->make_response_promise();
      st.destroying[ref.id].push_back(rp);
      self->send_exit(ref.handle, caf::exit_reason::user_shutdown);
      return rp;
    },
    [self](monitor_atom, const capability_ref& ref, caf::actor& dest,
           caf::message& handler) -> uint64_t {
      auto& ctx = *self->state.ctx;
      auto tc = ctx.spans.event({}, "monitor", to_string(ref));
      return ctx.dir.add_monitor(ref, std::move(dest), std::move(handler), tc);
    },
    [self](monitorend_atom, uint64_t id) {
      return self->state.ctx->dir.remove_monitor(id);
    },
    [self](lookup_atom, uint64_t id) -> caf::result<capability_ref> {
      if (auto ref = self->state.ctx->dir.lookup(id))
        return *ref;
      return make_error(errc::invalid_argument,
                        "no capability with id " + std::to_string(id));
    },
    [self](subscribe_atom, caf::actor& who) {
      self->monitor(who);
      self->state.event_subscribers.push_back(std::move(who));
    },
    [self](view_atom) {
      return caf::make_message(self->state.ctx->self,
                               view_of(self->state));
    },
    [self](spans_atom, uint64_t max) {
      return self->state.ctx->spans.snapshot(max);
    },
    [self](after_atom, uint32_t ms) {
      auto key = self->state.next_timer++;
      self->state.timers.emplace(key, self->make_response_promise());
      self->delayed_send(self, std::chrono::milliseconds{ms}, after_atom::value,
                         key);
      return caf::delegated<void>{};
    },
    [self](after_atom, uint64_t key) {
      auto i = self->state.timers.find(key);
      if (i != self->state.timers.end()) {
        i->second.deliver(caf::unit);
        self->state.timers.erase(i);
      }
    },
    [self](stats_atom) {
      auto result = self->state.stats;
      result.pending_calls = self->state.ctx->dir.pending_calls();
      result.monitors = self->state.ctx->dir.monitors();
      return result;
    },
  };
}

} // namespace

caf::actor spawn_node_manager(caf::actor_system& sys,
                              std::shared_ptr<node_context> ctx) {
  return sys.spawn(manager, std::move(ctx));
}

} // namespace ftsr
