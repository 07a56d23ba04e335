// Node manager: membership (majority-agreed views with leases, see
// membership_core.hpp), directory replication and remote spawn.
#include "actors/node_manager.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <map>
#include <set>
#include <thread>
#include <unordered_map>

#include "caf/all.hpp"
#include "caf/io/middleman.hpp"
#include "caf/io/middleman_actor.hpp"

#include "actors/errors.hpp"
#include "actors/log.hpp"
#include "actors/membership_core.hpp"
#include "actors/message_types.hpp"
#include "actors/node.hpp"
#include "actors/persistent_catalog.hpp"
#include "actors/protocol.hpp"
#include "actors/transport.hpp"

namespace ftsr {

namespace {

using clock_type = std::chrono::steady_clock;

struct peer {
  node_address addr;
  member_state state = member_state::unknown;
  /// Incarnation of `manager` (members), or the one last seen (clients).
  uint64_t incarnation = 0;
  caf::actor manager;
  /// Clients: the highest incarnation a member reported removed.
  uint64_t fenced = 0;
  bool connecting = false;
  bool reported_unreachable = false;
  std::string reason;
};

/// A removed member whose failure is acted on once its lease certainly
/// ended (membership_core::removal_delay).
struct pending_failure {
  member_id member;
  clock_type::time_point due;
  std::string reason;
  trace_context tc;
};

/// A persistent actor that a view's removal orphaned, and which member of
/// that view restarts it. The decision is a function of the agreed view
/// alone (the first node of the actor's list in it), so every member
/// reaches the same one and the actor is restarted once per failure.
struct pending_restart {
  std::string assignee;
  clock_type::time_point due;
  /// The failure that orphaned it: the restart joins its trace.
  trace_context tc;
};

struct manager_state {
  std::shared_ptr<node_context> ctx;
  std::unique_ptr<membership_core> gms;
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
  uint64_t next_cap_seq = 1;
  std::vector<pending_failure> failures;
  std::map<uint64_t, pending_restart> restarts;
  /// The view the last applied step left installed.
  cluster_view last_view;
  /// The persistent catalog as last written to the data directory.
  std::vector<char> saved_catalog;
  /// Members of the view this node suspected at the last tick (journaled and
  /// logged: one event and line when suspicion starts, one when it ends).
  std::vector<member_id> suspected;
  bool catalog_loaded = false;
  /// Requests for this node to host an actor that arrived before it was
  /// admitted (a client may learn the view first): run at admission, or
  /// refused at their deadline.
  std::vector<std::pair<clock_type::time_point, std::function<void()>>>
    until_admitted;

  static inline const char* name = "ftsr.node_manager";
};

using manager_actor = caf::stateful_actor<manager_state>;

peer* find_peer(manager_state& st, const std::string& name) {
  auto i = st.peers.find(name);
  return i != st.peers.end() ? &i->second : nullptr;
}

/// The peer `name` if it is up and this node holds a connection to its
/// manager. A peer can be up without one: a client learns from a member's
/// view that a node came back before it reconnected (the old connection
/// was dropped at the node's failure), and a member may install a view
/// admitting a node before that node's hello reached it.
peer* connected_peer(manager_state& st, const std::string& name) {
  auto p = find_peer(st, name);
  return p != nullptr && p->state == member_state::up && p->manager ? p
                                                                   : nullptr;
}

/// The peer to forward a request for node `name` to, or why there is none:
/// unknown_node, or node_unavailable when it is not up or up but not
/// connected yet (its manager handle is null then: never send to it).
caf::expected<peer*> forward_target(manager_state& st, const std::string& name) {
  auto p = find_peer(st, name);
  if (p == nullptr)
    return make_error(errc::unknown_node,
                      "node '" + name + "' is not part of cluster '"
                        + st.ctx->cluster.name + "'");
  if (p->state != member_state::up)
    return make_error(errc::node_unavailable,
                      "node '" + name + "' is " + to_string(p->state)
                        + (p->reason.empty() ? "" : ": " + p->reason));
  if (!p->manager)
    return make_error(errc::node_unavailable,
                      "node '" + name + "' is up but not connected yet");
  return p;
}

/// Sends `xs` to every connected member or joining node and every client.
template <class... Ts>
void broadcast(manager_actor* self, const Ts&... xs) {
  for (auto& [name, p] : self->state.peers)
    if (p.manager && p.state != member_state::failed)
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
  ctx.lease_until = std::numeric_limits<int64_t>::min();
  ctx.spans.event({}, "fenced", to_string(ctx.self), reason);
  FTSR_LOG(error, "{}: fenced: {}", log_name(ctx.self), reason);
  for (auto& [addr, ref] : self->state.local_actors)
    self->send_exit(ref.handle, caf::exit_reason::kill);
  if (ctx.on_fenced)
    ctx.on_fenced(reason);
  self->quit(make_error(errc::fenced, reason));
}

caf::expected<capability_ref>
spawn_local(manager_actor* self, const std::string& type, caf::message args,
            trace_context tc, const restart_spec* spec = nullptr,
            uint64_t generation = 0);

// -- membership ----------------------------------------------------------------

void on_view_installed(manager_actor* self, const cluster_view& prev,
                       const cluster_view& v);

/// Applies one step of the membership core: durable state first, then the
/// messages, then the views it installed.
void apply(manager_actor* self, gms_step step) {
  auto& st = self->state;
  auto& ctx = *st.ctx;
  if (ctx.fenced)
    return;
  if (step.persist && !ctx.data_dir.empty()) {
    if (auto err = save_membership(ctx.data_dir, st.gms->state())) {
      self_fence(self, "cannot keep membership state: " + describe(err));
      return;
    }
  }
  for (auto& [name, msg] : step.send)
    if (auto p = find_peer(st, name); p != nullptr && p->manager)
      self->send(p->manager, gms_atom::value, std::move(msg));
  for (auto& v : step.installed) {
    auto prev = std::move(st.last_view);
    st.last_view = v;
    on_view_installed(self, prev, v);
  }
  ctx.lease_until = st.gms->lease_expiry().time_since_epoch().count();
  if (st.gms->is_member() && !st.until_admitted.empty())
    for (auto& f : std::exchange(st.until_admitted, {}))
      f.second();
  if (!ctx.leased && st.gms->serving(clock_type::now()))
    ctx.leased = true;
  if (!step.fenced.empty()) {
    self_fence(self, step.fenced);
    return;
  }
  if (!step.refused.empty()) {
    ctx.fenced = true;
    ctx.spans.event({}, "refused", to_string(ctx.self), step.refused);
    FTSR_LOG(error, "{}: cannot join: {}", log_name(ctx.self), step.refused);
    if (ctx.on_refused)
      ctx.on_refused(step.refused);
    self->quit(make_error(errc::node_unavailable, step.refused));
  }
}

void catalog_error(node_context& ctx, const caf::error& err) {
  ctx.spans.event({}, "catalog_error", to_string(ctx.self), describe(err));
  FTSR_LOG(error, "{}: persistent catalog: {}", log_name(ctx.self),
           describe(err));
}

/// Keeps the persistent catalog on disk in step with the directory (only
/// writes when it changed).
void save_catalog_if_changed(manager_actor* self) {
  auto& st = self->state;
  auto& ctx = *st.ctx;
  if (ctx.data_dir.empty() || !ctx.member || ctx.fenced)
    return;
  auto bytes = encode_catalog(self->context(), catalog_of(ctx.dir));
  if (!bytes) {
    catalog_error(ctx, bytes.error());
    return;
  }
  if (*bytes == st.saved_catalog)
    return;
  if (auto err = save_catalog(ctx.data_dir, *bytes))
    catalog_error(ctx, err);
  else
    st.saved_catalog = std::move(*bytes);
}

/// Schedules the failure of each member `v` removed, and decides which
/// member of `v` restarts each persistent actor that the removal orphaned.
void on_view_installed(manager_actor* self, const cluster_view& prev,
                       const cluster_view& v) {
  auto& st = self->state;
  auto& ctx = *st.ctx;
  auto now = clock_type::now();
  auto tc = ctx.spans.event({}, "view_installed", to_string(v));
  FTSR_LOG(info, "{}: view {} installed: {}", log_name(ctx.self), v.number,
           to_string(v));
  ctx.meters.membership_views.inc();
  ctx.meters.view_number.set(static_cast<int64_t>(v.number));
  ctx.meters.nodes_up.set(static_cast<int64_t>(v.members.size()));
  for (auto& c : st.clients)
    self->send(c, cluster_view_atom::value, v);
  for (auto& m : v.members) {
    if (m == ctx.self || prev.contains(m))
      continue;
    auto& p = st.peers[m.name];
    p.state = member_state::up;
    p.incarnation = m.incarnation;
    p.reason.clear();
    ctx.spans.event(tc, "node_up", to_string(m));
    FTSR_LOG(info, "{}: peer {} up (view {})", log_name(ctx.self),
             to_string(m), v.number);
    publish_event(self, node_event{m, true, {}});
  }
  for (auto& m : prev.members) {
    if (v.contains(m) || m == ctx.self)
      continue;
    auto delay = st.gms->removal_delay(v, m);
    auto reason = "removed by view " + std::to_string(v.number);
    if (delay.count() == 0)
      reason += " (process gone)";
    // Shown as failed once the removal takes effect (act_on_due).
    auto ftc = ctx.spans.event(tc, "failure_detected", to_string(m), reason);
    FTSR_LOG(warn, "{}: peer {} {}", log_name(ctx.self), to_string(m),
             reason);
    ctx.meters.node_failures.inc();
    st.failures.push_back({m, now + delay, reason, ftc});
    for (auto& spec : ctx.dir.restart_specs()) {
      auto cur = ctx.dir.lookup(spec.id);
      auto pending = st.restarts.find(spec.id);
      bool orphaned = cur && cur->node == m.name
                      && cur->incarnation == m.incarnation;
      bool assignee_gone = pending != st.restarts.end()
                           && pending->second.assignee == m.name;
      if (!orphaned && !assignee_gone)
        continue;
      for (auto& n : spec.nodes)
        if (auto member = v.find(n); member != nullptr) {
          st.restarts[spec.id] = pending_restart{n, now + delay, ftc};
          break;
        }
    }
  }
}

/// Acts on removals whose delay passed: fail-stop notification (monitors,
/// pending calls, group views), then this node's restarts.
void act_on_due(manager_actor* self) {
  auto& st = self->state;
  auto& ctx = *st.ctx;
  auto now = clock_type::now();
  for (auto i = st.failures.begin(); i != st.failures.end();) {
    if (i->due > now) {
      ++i;
      continue;
    }
    auto f = std::move(*i);
    i = st.failures.erase(i);
    if (auto p = find_peer(st, f.member.name);
        p != nullptr && p->incarnation <= f.member.incarnation) {
      p->state = member_state::failed;
      p->reason = f.reason;
    }
    ctx.spans.event(f.tc, "node_failed", to_string(f.member), f.reason);
    FTSR_LOG(warn, "{}: peer {} failed ({})", log_name(ctx.self),
             to_string(f.member), f.reason);
    ctx.dir.node_failed(f.member.name, f.member.incarnation, f.reason, f.tc);
    publish_event(self, node_event{f.member, false, f.reason});
    for (auto& c : st.clients)
      self->send(c, node_down_atom::value, ctx.self, f.member, f.reason, f.tc);
  }
  for (auto i = st.restarts.begin(); i != st.restarts.end();) {
    auto& [id, r] = *i;
    if (r.due > now) {
      ++i;
      continue;
    }
    auto spec = ctx.dir.restart_spec_of(id);
    auto cur = ctx.dir.lookup(id);
    if (r.assignee == ctx.self.name && spec && cur) {
      auto err = ctx.dir.failure_of(*cur);
      if (err && !is(err, errc::destroyed)) {
        auto ref = spawn_local(self, spec->type, spec->args, r.tc, &*spec,
                               cur->generation + 1);
        if (!ref) {
          ctx.spans.event({}, "restart_failed", to_string(*cur),
                          describe(ref.error()));
          FTSR_LOG(error, "{}: cannot restart {}: {}", log_name(ctx.self),
                   to_string(*cur), describe(ref.error()));
        }
      }
    }
    i = st.restarts.erase(i);
  }
}

// -- connections ---------------------------------------------------------------

/// Whether `host:port` refuses a TCP connection (nothing listens there: the
/// process that did has exited). A timeout or unreachable network is not a
/// refusal: that is what a partition looks like.
bool refuses_connection(const std::string& host, uint16_t port,
                        std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res)
      != 0)
    return false;
  bool refused = false;
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    0);
  if (fd >= 0) {
    if (::connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
      if (errno == ECONNREFUSED) {
        refused = true;
      } else if (errno == EINPROGRESS) {
        pollfd pfd{fd, POLLOUT, 0};
        if (::poll(&pfd, 1, static_cast<int>(timeout.count())) == 1) {
          int err = 0;
          socklen_t len = sizeof(err);
          ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
          refused = err == ECONNREFUSED;
        }
      }
    }
    ::close(fd);
  }
  freeaddrinfo(res);
  return refused;
}

/// After a member's connection broke: finds out off the actor's thread
/// whether its process is gone (see refuses_connection).
void probe(manager_actor* self, const peer& p, const member_id& who) {
  auto host = p.addr.host;
  auto port = p.addr.port;
  auto timeout = self->state.ctx->cluster.failure_timeout;
  caf::actor me = caf::actor_cast<caf::actor>(self);
  std::thread{[me, host, port, who, timeout] {
    if (refuses_connection(host, port, timeout))
      caf::anon_send(me, probe_atom::value, who);
  }}.detach();
}

void merge_directory(manager_actor* self, const std::vector<capability_ref>& xs,
                     std::vector<restart_spec>& specs) {
  auto& ctx = *self->state.ctx;
  for (auto& spec : specs)
    ctx.dir.set_restart_spec(std::move(spec));
  for (auto& ref : xs)
    ctx.dir.bind(ref);
}

/// A connection to `name`'s address reached `who` with `remote` as its
/// manager.
void connected(manager_actor* self, const std::string& name,
               const member_id& who, caf::actor remote) {
  auto& st = self->state;
  auto& ctx = *st.ctx;
  auto p = find_peer(st, name);
  if (p == nullptr || who.name != name)
    return; // a stranger answered at that address
  if (p->manager && p->incarnation >= who.incarnation)
    return;
  if (p->manager)
    self->demonitor(p->manager);
  p->manager = std::move(remote);
  p->incarnation = who.incarnation;
  p->reported_unreachable = false;
  self->monitor(p->manager);
  // Clients follow the members' word (cluster_view_atom, node_down_atom).
  if (ctx.member)
    apply(self, st.gms->on_reached(who, clock_type::now()));
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
      auto& ctx = *self->state.ctx;
      auto what = p->addr.host + ":" + std::to_string(p->addr.port) + ": "
                  + self->system().render(err);
      ctx.spans.event({}, "peer_unreachable", name, what);
      FTSR_LOG(warn, "{}: peer {} unreachable at {}", log_name(ctx.self),
               name, what);
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
                                 std::vector<restart_spec>& specs,
                                 std::vector<name_binding>& names) {
              auto p = find_peer(self->state, name);
              if (p == nullptr)
                return;
              p->connecting = false;
              connected(self, name, who, remote);
              merge_directory(self, dir, specs);
              for (auto& x : names)
                self->state.ctx->names.merge(x);
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

/// Records a span (the dashboard's "suspected" health) and a log line where
/// this node's suspicion of a view member began or ended.
void note_suspicions(manager_actor* self, clock_type::time_point now) {
  auto& st = self->state;
  auto& ctx = *st.ctx;
  auto in = [](const std::vector<member_id>& xs, const member_id& x) {
    return std::find(xs.begin(), xs.end(), x) != xs.end();
  };
  std::vector<member_id> now_suspected;
  for (auto& m : st.gms->view().members)
    if (!(m == ctx.self) && st.gms->suspects(m, now))
      now_suspected.push_back(m);
  for (auto& m : now_suspected)
    if (!in(st.suspected, m)) {
      ctx.spans.event({}, "suspected", to_string(m));
      FTSR_LOG(warn, "{}: peer {} suspected", log_name(ctx.self),
               to_string(m));
    }
  for (auto& m : st.suspected)
    if (!in(now_suspected, m)) {
      ctx.spans.event({}, "unsuspected", to_string(m));
      if (st.gms->view().contains(m))
        FTSR_LOG(info, "{}: peer {} no longer suspected", log_name(ctx.self),
                 to_string(m));
    }
  st.suspected = std::move(now_suspected);
}

void tick(manager_actor* self) {
  auto& st = self->state;
  auto& ctx = *st.ctx;
  auto now = clock_type::now();
  ctx.dir.expire_calls(now);
  for (auto& [name, p] : st.peers)
    if (!p.manager)
      connect(self, p);
  if (ctx.member) {
    apply(self, st.gms->on_tick(now));
    if (ctx.fenced)
      return;
    note_suspicions(self, now);
    act_on_due(self);
    save_catalog_if_changed(self);
    auto late = std::stable_partition(st.until_admitted.begin(),
                                      st.until_admitted.end(),
                                      [now](auto& f) { return f.first > now; });
    std::vector<std::function<void()>> refuse;
    for (auto i = late; i != st.until_admitted.end(); ++i)
      refuse.push_back(std::move(i->second));
    st.until_admitted.erase(late, st.until_admitted.end());
    for (auto& f : refuse)
      f();
  }
  self->delayed_send(self, ctx.cluster.heartbeat_interval, tick_atom::value);
}

/// Spawns `type` here. A persistent actor (`spec` given) is bound under
/// `spec->id` at `generation` and first gets its persistent_start message.
caf::expected<capability_ref>
spawn_local(manager_actor* self, const std::string& type, caf::message args,
            trace_context tc, const restart_spec* spec,
            uint64_t generation) {
  auto& st = self->state;
  auto& ctx = *st.ctx;
  auto arg_types = cpp_type_names(args);
  auto hdl = self->system().spawn<caf::actor>(type, std::move(args), nullptr,
                                              false);
  if (!hdl && hdl.error() == caf::sec::cannot_spawn_actor_from_arguments)
    return make_error(errc::invalid_argument,
                      "actor type '" + type + "' on node " + ctx.self.name
                        + " cannot be created from the arguments "
                        + arg_types);
  if (!hdl)
    return make_error(errc::unknown_actor_type,
                      "node " + ctx.self.name + " hosts no actor type '"
                        + type + "' (" + self->system().render(hdl.error())
                        + "): a node hosts the types its add_types function "
                          "registers; ftsr-node hosts only the samples, run "
                          "a node with ftsr::node_main for your own");
  // Unique cluster-wide: incarnations are unique per name and never reused.
  capability_ref ref{spec != nullptr ? spec->id : new_trace_id(),
                     type, ctx.self.name, ctx.self.incarnation, *hdl, {},
                     generation};
  self->monitor(*hdl);
  st.local_actors.emplace(hdl->address(), ref);
  auto span_tc = ctx.spans.event(tc, generation > 0 ? "restart" : "spawn",
                                 to_string(ref),
                                 generation > 0 ? "generation "
                                                    + std::to_string(generation)
                                                : std::string{});
  if (spec != nullptr) {
    // Everyone learns how to restart it before anyone can see it fail.
    ctx.dir.set_restart_spec(*spec);
    broadcast(self, restart_spec_atom::value, ctx.self, *spec, tc);
    // The recovery handler's span joins the restart's trace.
    self->send(*hdl, persistent_start_atom::value, ref, generation, span_tc);
  }
  ctx.dir.bind(ref);
  broadcast(self, bind_atom::value, ctx.self, ref, span_tc);
  if (generation > 0) {
    ctx.meters.persistent_restarts.inc();
    FTSR_LOG(info, "{}: restarted persistent actor {} (generation {})",
             log_name(ctx.self), to_string(ref), generation);
  } else {
    FTSR_LOG(debug, "{}: spawned {}", log_name(ctx.self), to_string(ref));
  }
  return ref;
}

/// Checks the sender of a protocol message: unknown names, incarnations
/// the cluster removed, and incarnations older than one already seen are
/// dropped.
bool accept(manager_actor* self, const member_id& from) {
  auto& st = self->state;
  auto p = find_peer(st, from.name);
  if (p == nullptr) {
    ++st.stats.dropped_unknown;
    return false;
  }
  auto fenced = st.gms ? st.gms->state().fenced_of(from.name) : p->fenced;
  auto latest = st.gms ? st.gms->latest_incarnation(from.name)
                       : p->incarnation;
  if (from.incarnation <= fenced || from.incarnation < latest) {
    ++st.stats.dropped_fenced;
    return false;
  }
  return true;
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
    if (destroyed) {
      FTSR_LOG(debug, "{}: {} destroyed", log_name(ctx.self), to_string(ref));
    } else {
      ctx.meters.actor_failures.inc();
      FTSR_LOG(warn, "{}: actor {} {}", log_name(ctx.self), to_string(ref),
               reason);
    }
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
    if (p.manager && p.manager.address() == dm.source) {
      member_id who{name, p.incarnation};
      p.manager = nullptr;
      // A hint only: the agreed view decides (clients wait for a member's
      // word). A refused reconnection proves the process gone.
      if (st.gms) {
        apply(self, st.gms->on_connection_lost(who, false, clock_type::now()));
        probe(self, p, who);
      }
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
  auto now = clock_type::now();
  if (ctx.member) {
    auto state = ctx.fenced ? member_state::failed
                 : st.gms->is_member() ? member_state::up
                                       : member_state::unknown;
    result.push_back({ctx.self.name, ctx.self.incarnation, state, {}});
  }
  for (auto& [name, p] : st.peers) {
    member_status s{name, p.incarnation, p.state, p.reason};
    if (st.gms) {
      if (auto m = st.gms->view().find(name)) {
        s.incarnation = m->incarnation;
        s.state = st.gms->suspects(*m, now) ? member_state::suspected
                                            : member_state::up;
        s.reason.clear();
      } else if (s.state == member_state::up) {
        s.state = member_state::unknown;
      }
    }
    result.push_back(std::move(s));
  }
  return result;
}

/// What introspect_atom answers about this node.
node_report report_of(const manager_state& st, const introspect_query& q) {
  auto& ctx = *st.ctx;
  node_report r;
  r.self = ctx.self;
  r.member = ctx.member;
  r.fenced = ctx.fenced;
  r.in_majority = ctx.member && ctx.in_majority();
  r.view_number = st.last_view.number;
  r.members = view_of(st);
  std::map<uint64_t, std::string> names;
  for (auto& b : ctx.names.all())
    if (b.cap.id != 0)
      names.emplace(b.cap.id, b.name);
  auto add_group = [&](uint64_t id, const std::string& type,
                       std::vector<group_member_ref> members) {
    for (auto& g : r.groups)
      if (g.id == id)
        return;
    auto prefix = std::string{"group:"};
    group_info g{id, type.rfind(prefix, 0) == 0 ? type.substr(prefix.size())
                                                : type,
                 {}, std::move(members)};
    if (auto i = names.find(id); i != names.end())
      g.name = i->second;
    r.groups.push_back(std::move(g));
  };
  // Published groups (a replica was replaced since the group was created)
  // first: their bindings are newer than the hosted replicas' copies.
  for (auto& ref : ctx.dir.alive())
    if (ref.is_group()) {
      std::vector<group_member_ref> members;
      for (auto& m : ref.members)
        members.push_back({m.id, m.node, m.incarnation});
      add_group(ref.id, ref.type, std::move(members));
    }
  r.replicas = ctx.replicas.snapshot();
  for (auto& x : r.replicas)
    add_group(x.group, x.type, x.group_members);
  for (auto& spec : ctx.dir.restart_specs()) {
    persistent_info p{spec.id, spec.type, {}, 0, 0, "unknown", spec.nodes};
    if (auto cur = ctx.dir.lookup(spec.id)) {
      p.node = cur->node;
      p.incarnation = cur->incarnation;
      p.generation = cur->generation;
      auto err = ctx.dir.failure_of(*cur);
      p.state = err ? describe(err) : "alive";
    }
    r.persistent.push_back(std::move(p));
  }
  r.events = ctx.journal.since(q.events_after, q.max_events);
  r.spans = ctx.spans.snapshot(q.max_spans);
  r.spans_dropped = ctx.spans.dropped();
  r.now_ns = wall_clock_ns();
  return r;
}

/// A client's name change: made by the first member up (clients hold a
/// replica but do not speak for the cluster); its answer is merged here
/// before the requester hears of it, so a lookup right after sees it.
caf::result<name_binding> forward_name_change(manager_actor* self,
                                              const std::string& name,
                                              const caf::message& change) {
  auto& ctx = *self->state.ctx;
  for (auto& [member, p] : self->state.peers) {
    if (p.state != member_state::up || !p.manager)
      continue;
    auto rp = self->make_response_promise<name_binding>();
    self
      ->request(p.manager, 2 * ctx.cluster.failure_timeout, change)
      .then(
        [self, rp](name_binding& x) mutable {
          self->state.ctx->names.merge(x);
          rp.deliver(std::move(x));
        },
        [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
    return rp;
  }
  return make_error(errc::node_unavailable,
                    "no member is up to register name '" + name + "'");
}

/// A member's name change `x` (or its error): sent to every member and
/// client, and answered.
caf::result<name_binding> publish_name(manager_actor* self,
                                       caf::expected<name_binding> x) {
  if (!x)
    return x.error();
  auto& ctx = *self->state.ctx;
  broadcast(self, name_bind_atom::value, ctx.self, *x,
            ctx.spans.event({}, "name", x->name,
                            x->cap.id == 0 ? "unregistered"
                                           : to_string(x->cap)));
  return std::move(*x);
}

caf::behavior manager(manager_actor* self, std::shared_ptr<node_context> ctx,
                      membership_state loaded, bool found) {
  auto& st = self->state;
  st.ctx = ctx;
  for (auto& addr : ctx->cluster.nodes)
    if (addr.name != ctx->self.name)
      st.peers[addr.name].addr = addr;
  if (ctx->member) {
    std::vector<std::string> names;
    for (auto& addr : ctx->cluster.nodes)
      names.push_back(addr.name);
    membership_options opts{ctx->cluster.heartbeat_interval,
                            ctx->cluster.failure_timeout, ctx->cluster.lease};
    st.last_view = loaded.view;
    st.gms = std::make_unique<membership_core>(ctx->self, std::move(names),
                                               opts, std::move(loaded), found,
                                               clock_type::now());
  }
  self->set_down_handler([self](caf::down_msg& dm) { on_down(self, dm); });
  // Local ftsr actors live as long as their node: a node shutdown takes
  // them along (the actor system would otherwise wait for them forever).
  self->set_exit_handler([self](caf::exit_msg& msg) {
    for (auto& [addr, ref] : self->state.local_actors)
      self->send_exit(ref.handle, msg.reason);
    self->quit(msg.reason);
  });
  // The first tick comes from node::start once the node listens.
  return {
    [self](tick_atom) {
      auto& st = self->state;
      auto& ctx = *st.ctx;
      if (!st.catalog_loaded && ctx.member && !ctx.data_dir.empty()) {
        // The persistent actors known before a stop: a cold restart brings
        // them back once the first view removed their old incarnations.
        // Read here, in an actor, since their arguments may hold handles.
        st.catalog_loaded = true;
        if (auto xs = load_catalog(self->context(), ctx.data_dir)) {
          restore_catalog(ctx.dir, *xs);
        } else {
          catalog_error(ctx, xs.error());
          if (is(xs.error(), errc::corrupted)) {
            // persistent_catalog.hpp: set aside, start empty, learn the
            // catalog from the other members.
            auto aside = set_aside_catalog(ctx.data_dir);
            if (aside)
              FTSR_LOG(warn, "{}: damaged persistent catalog kept as {}; "
                             "starting with an empty one",
                       log_name(ctx.self), *aside);
            else
              catalog_error(ctx, aside.error());
          }
        }
      }
      tick(self);
    },
    [self](gms_atom, const gms_msg& m) {
      auto& st = self->state;
      // The core answers even removed incarnations (with the views that
      // removed them); accept() only counts them.
      if (!st.gms || (!accept(self, m.from) && find_peer(st, m.from.name) == nullptr))
        return;
      if (m.kind == gms_kind::heartbeat)
        ++st.stats.heartbeats_received;
      apply(self, st.gms->on_message(m, clock_type::now()));
    },
    [self](cluster_view_atom, const cluster_view& v) {
      // A client: the newest agreed view says who is up.
      auto& st = self->state;
      auto& ctx = *st.ctx;
      if (ctx.member || v.number <= st.last_view.number)
        return;
      st.last_view = v;
      for (auto& [name, p] : st.peers) {
        auto m = v.find(name);
        if (m != nullptr && m->incarnation > p.fenced
            && (p.state != member_state::up || p.incarnation != m->incarnation)) {
          p.state = member_state::up;
          p.incarnation = m->incarnation;
          p.reason.clear();
          ctx.spans.event({}, "node_up", to_string(*m));
          publish_event(self, node_event{*m, true, {}});
        } else if (m == nullptr && p.state == member_state::up) {
          p.state = member_state::unknown;
        }
      }
    },
    [self](probe_atom, const member_id& gone) {
      auto& st = self->state;
      if (st.gms)
        apply(self, st.gms->on_connection_lost(gone, true, clock_type::now()));
    },
    [self](hello_atom, const member_id& from, bool is_member,
           const trace_context&)
      -> caf::result<member_id, std::vector<capability_ref>,
                     std::vector<restart_spec>, std::vector<name_binding>> {
      auto& st = self->state;
      auto& ctx = *st.ctx;
      auto sender = caf::actor_cast<caf::actor>(self->current_sender());
      if (!sender)
        return make_error(errc::invalid_argument, "anonymous hello");
      if (!is_member) {
        st.clients.push_back(sender);
        self->monitor(sender);
        if (st.gms && st.gms->view().number > 0)
          self->send(sender, cluster_view_atom::value, st.gms->view());
        return {ctx.self, ctx.dir.alive(), ctx.dir.restart_specs(),
                ctx.names.all()};
      }
      auto p = find_peer(st, from.name);
      if (p == nullptr) {
        ++st.stats.dropped_unknown;
        return make_error(errc::unknown_node,
                          "node '" + from.name + "' is not part of cluster '"
                            + ctx.cluster.name + "'");
      }
      if (st.gms && from.incarnation <= st.gms->state().fenced_of(from.name)) {
        ++st.stats.dropped_fenced;
        return make_error(errc::fenced,
                          to_string(from) + " was removed from the cluster");
      }
      // Talk to the newest incarnation; whether it is a member is up to
      // the agreed view.
      if (!p->manager || p->incarnation < from.incarnation) {
        if (p->manager)
          self->demonitor(p->manager);
        p->manager = sender;
        p->incarnation = from.incarnation;
        self->monitor(sender);
        // The newcomer will not ask back (it has a connection now): give
        // it what the answer of its own hello would (a node that rejoined
        // after a partition learns the restarts it missed).
        for (auto& spec : ctx.dir.restart_specs())
          self->send(sender, restart_spec_atom::value, ctx.self, spec,
                     trace_context{});
        for (auto& ref : ctx.dir.alive())
          self->send(sender, bind_atom::value, ctx.self, ref, trace_context{});
      }
      return {ctx.self, ctx.dir.alive(), ctx.dir.restart_specs(),
              ctx.names.all()};
    },
    [self](node_down_atom, const member_id& from, const member_id& failed,
           const std::string& why, const trace_context& tc) {
      // Members act on agreed views only; clients on the members' word.
      auto& st = self->state;
      auto& ctx = *st.ctx;
      if (ctx.member || !accept(self, from))
        return;
      auto p = find_peer(st, failed.name);
      if (p == nullptr || failed.incarnation <= p->fenced)
        return;
      p->fenced = failed.incarnation;
      auto reason = why + " (reported by " + from.name + ")";
      if (p->incarnation <= failed.incarnation) {
        p->state = member_state::failed;
        p->reason = reason;
        if (p->manager) {
          self->demonitor(p->manager);
          p->manager = nullptr;
        }
      }
      ctx.dir.node_failed(failed.name, failed.incarnation, reason, tc);
      publish_event(self, node_event{failed, false, reason});
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
        if (!st.gms->is_member() && !ctx.fenced) {
          // Asked before its admission reached it: answer once admitted.
          auto rp = self->make_response_promise<capability_ref>();
          auto deadline = clock_type::now() + 4 * ctx.cluster.failure_timeout;
          st.until_admitted.emplace_back(
            deadline, [self, rp, on, type, args, backups, tc]() mutable {
              caf::message retry = caf::make_message(spawn_atom::value, on,
                                                     type, args, backups, tc);
              if (!self->state.gms->is_member()) {
                rp.deliver(make_error(errc::node_unavailable,
                                      "node "
                                        + to_string(self->state.ctx->self)
                                        + " is not in the cluster view"));
                return;
              }
              self->request(caf::actor_cast<caf::actor>(self), caf::infinite,
                            std::move(retry))
                .then(
                  [rp](capability_ref& ref) mutable { rp.deliver(ref); },
                  [rp](caf::error& err) mutable { rp.deliver(err); });
            });
          return rp;
        }
        if (ctx.fenced)
          return make_error(errc::fenced,
                            "node " + to_string(ctx.self) + " was removed");
        if (backups.empty())
          return spawn_local(self, type, std::move(args), tc);
        if (auto twice = repeated_name(backups))
          return make_error(errc::invalid_argument,
                            "backup node '" + *twice + "' of a persistent '"
                              + type + "' is listed twice");
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
      auto p = forward_target(st, on);
      if (!p)
        return std::move(p.error());
      self->delegate((*p)->manager, spawn_atom::value, on, type,
                     std::move(args), std::move(backups), tc);
      return caf::delegated<capability_ref>{};
    },
    [self](types_atom, const std::string& on,
           const std::vector<std::string>& names)
      -> caf::result<std::vector<std::string>> {
      auto& st = self->state;
      auto& ctx = *st.ctx;
      if (ctx.member && on == ctx.self.name)
        return unknown_type_names(self->system(), names);
      auto p = forward_target(st, on);
      if (!p)
        return std::move(p.error());
      self->delegate((*p)->manager, types_atom::value, on, names);
      return caf::delegated<std::vector<std::string>>{};
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
      if (auto twice = repeated_name(nodes))
        return make_error(errc::invalid_argument,
                          "restart list names node '" + *twice + "' twice");
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
        if (auto p = connected_peer(st, n); p != nullptr) {
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
        auto p = forward_target(st, ref.node);
        if (!p)
          return make_error(errc::fail_stop,
                            "capability " + to_string(ref)
                              + " is on an unavailable node: "
                              + describe(p.error()));
        // Answer only once this node's directory knows it too: a caller
        // that sees destroy complete must never find the actor alive here.
        auto rp = self->make_response_promise();
        self->request((*p)->manager, caf::infinite, destroy_atom::value, ref,
                      tc)
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
    [self](introspect_atom,
           introspect_query& q) -> caf::result<node_report> {
      auto& st = self->state;
      auto& ctx = *st.ctx;
      if (q.node.empty() || (ctx.member && q.node == ctx.self.name))
        return report_of(st, q);
      auto p = forward_target(st, q.node);
      if (!p)
        return std::move(p.error());
      auto target = (*p)->manager;
      q.node.clear();
      self->delegate(target, introspect_atom::value, std::move(q));
      return caf::delegated<node_report>{};
    },
    [self](stats_atom) {
      auto result = self->state.stats;
      result.pending_calls = self->state.ctx->dir.pending_calls();
      result.monitors = self->state.ctx->dir.monitors();
      return result;
    },
    // -- named capabilities (actors/name_registry.hpp) ----------------------
    [self](name_atom, const std::string& name, const capability_ref& cap,
           bool replace) -> caf::result<name_binding> {
      auto& ctx = *self->state.ctx;
      if (!ctx.member)
        return forward_name_change(self, name,
                                   caf::make_message(name_atom::value, name,
                                                     cap, replace));
      return publish_name(self, ctx.names.bind(name, cap, replace,
                                               ctx.self.name));
    },
    [self](name_unregister_atom,
           const std::string& name) -> caf::result<name_binding> {
      auto& ctx = *self->state.ctx;
      if (!ctx.member)
        return forward_name_change(
          self, name, caf::make_message(name_unregister_atom::value, name));
      return publish_name(self, ctx.names.unbind(name, ctx.self.name));
    },
    [self](name_bind_atom, const member_id& from, const name_binding& x,
           const trace_context&) {
      if (accept(self, from))
        self->state.ctx->names.merge(x);
    },
    [self](name_lookup_atom,
           const std::string& name) -> caf::result<capability_ref> {
      auto& ctx = *self->state.ctx;
      auto ref = ctx.names.resolve(name, ctx.dir);
      if (!ref)
        return ref.error();
      return std::move(*ref);
    },
  };
}

} // namespace

caf::actor spawn_node_manager(caf::actor_system& sys,
                              std::shared_ptr<node_context> ctx,
                              membership_state loaded, bool found) {
  return sys.spawn(manager, std::move(ctx), std::move(loaded), found);
}

} // namespace ftsr
