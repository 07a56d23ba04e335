// Multicast endpoint actor: message plumbing around causal_order and
// total_order.
#include "replication/multicast.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <optional>
#include <set>
#include <utility>

#include "caf/all.hpp"

#include "actors/errors.hpp"
#include "actors/directory.hpp"
#include "actors/node.hpp"

namespace ftsr {

namespace {

/// Internal: retry sends held back for unresolved peers (directory mode).
using mcast_retry_atom = caf::atom_constant<caf::atom("ftsr_mrtry")>;

/// A member that only receives reports its clock after this many causal
/// deliveries, so that the others can drop stable messages.
constexpr uint64_t clock_every = 64;

constexpr auto retry_interval = std::chrono::milliseconds(20);

struct endpoint_state {
  uint64_t self = 0; // 0 until initialized
  std::vector<uint64_t> members;
  caf::actor deliver_to;
  std::optional<causal_order> causal;
  std::optional<total_order> total;
  /// Explicitly given endpoints of other members.
  std::map<uint64_t, caf::actor> peers;
  /// Resolve members missing from `peers` through the node directory.
  bool use_directory = false;
  /// Messages for members whose endpoint is not known yet, in send order.
  std::map<uint64_t, std::vector<caf::message>> outbox;
  bool retry_scheduled = false;
  uint64_t delivered = 0;
  uint64_t rejected = 0;
  std::string last_error;
  uint64_t received_since_clock = 0;
  /// Members whose failure this endpoint learned of (never sent to again).
  std::set<uint64_t> failed;
  /// Members whose failure is monitored (CAF monitor or directory monitor).
  std::set<uint64_t> watched;
  /// CBCAST flushes in progress: failed member -> survivors whose flush is
  /// still missing.
  std::map<uint64_t, std::set<uint64_t>> awaiting_flush;
  /// Failed members whose view notification is not delivered yet, in the
  /// order their failures were learned here.
  std::deque<uint64_t> pending_views;
  /// The current view (initial order): members minus announced failures.
  std::vector<uint64_t> view;
  uint64_t discarded = 0;

  static inline const char* name = "ftsr.multicast";
};

using endpoint_actor = caf::stateful_actor<endpoint_state>;

caf::actor peer_handle(endpoint_actor* self, uint64_t member) {
  auto& st = self->state;
  if (auto i = st.peers.find(member); i != st.peers.end())
    return i->second;
  if (st.use_directory) {
    auto& dir = context_of(self->system()).dir;
    if (auto ref = dir.lookup(member))
      return dir.resolve(*ref);
  }
  return {};
}

/// Sends the held-back messages of `member` if its endpoint is known now.
void flush_outbox(endpoint_actor* self, uint64_t member) {
  auto& st = self->state;
  auto i = st.outbox.find(member);
  if (i == st.outbox.end())
    return;
  auto hdl = peer_handle(self, member);
  if (!hdl)
    return;
  for (auto& msg : i->second)
    self->send(hdl, std::move(msg));
  st.outbox.erase(i);
}

bool all_watched(endpoint_actor* self);

void schedule_retry(endpoint_actor* self) {
  auto& st = self->state;
  if (st.use_directory && !st.retry_scheduled
      && (!st.outbox.empty() || !all_watched(self))) {
    st.retry_scheduled = true;
    self->delayed_send(self, retry_interval, mcast_retry_atom::value);
  }
}

/// Sends `msg` to the endpoint of `member` after anything held back for it.
void send_to(endpoint_actor* self, uint64_t member, caf::message msg) {
  auto& st = self->state;
  flush_outbox(self, member);
  auto hdl = st.outbox.count(member) == 0 ? peer_handle(self, member)
                                          : caf::actor{};
  if (hdl) {
    self->send(hdl, std::move(msg));
    return;
  }
  st.outbox[member].push_back(std::move(msg));
  schedule_retry(self);
}

void send_to_others(endpoint_actor* self, const caf::message& msg) {
  auto& st = self->state;
  for (auto m : st.members)
    if (m != st.self && st.failed.count(m) == 0)
      send_to(self, m, msg);
}

bool all_watched(endpoint_actor* self) {
  auto& st = self->state;
  for (auto m : st.members)
    if (m != st.self && st.failed.count(m) == 0 && st.watched.count(m) == 0)
      return false;
  return true;
}

/// Monitors every member whose endpoint is known now: a CAF monitor on an
/// explicitly given endpoint, else an ftsr monitor on its capability.
void watch_members(endpoint_actor* self) {
  auto& st = self->state;
  for (auto m : st.members) {
    if (m == st.self || st.failed.count(m) > 0 || st.watched.count(m) > 0)
      continue;
    if (auto i = st.peers.find(m); i != st.peers.end()) {
      self->monitor(i->second);
      st.watched.insert(m);
    } else if (st.use_directory) {
      auto& dir = context_of(self->system()).dir;
      if (auto ref = dir.lookup(m)) {
        dir.add_monitor(*ref, caf::actor_cast<caf::actor>(self),
                        caf::make_message(mcast_suspect_atom::value, m));
        st.watched.insert(m);
      }
    }
  }
}

void reject(endpoint_actor* self, const caf::error& err) {
  auto& st = self->state;
  ++st.rejected;
  st.last_error = describe(err);
}

void deliver(endpoint_actor* self, uint64_t sender,
             const caf::message& payload) {
  ++self->state.delivered;
  self->send(self->state.deliver_to, mcast_delivered_atom::value, sender,
             payload);
}

/// Delivers the view notifications whose failed member has nothing left to
/// deliver in either ordering, in the order the failures were learned.
void deliver_views(endpoint_actor* self) {
  auto& st = self->state;
  while (!st.pending_views.empty()) {
    auto f = st.pending_views.front();
    if (st.causal->is_live(f) || st.causal->buffered_from(f) > 0
        || !st.total->taken_over(f) || st.total->pending_from(f) > 0)
      return;
    st.pending_views.pop_front();
    st.view.erase(std::remove(st.view.begin(), st.view.end(), f),
                  st.view.end());
    self->send(st.deliver_to, mcast_view_atom::value, st.view);
  }
}

template <class Messages>
void deliver_all(endpoint_actor* self, const Messages& ms) {
  for (auto& x : ms)
    deliver(self, x.sender, x.payload);
  if (!ms.empty())
    deliver_views(self);
}

// -- CBCAST -------------------------------------------------------------------

void causal_send(endpoint_actor* self, caf::message payload) {
  auto& st = self->state;
  auto m = st.causal->stamp(std::move(payload));
  st.received_since_clock = 0; // the timestamp carries the clock
  deliver(self, m.sender, m.payload);
  send_to_others(self, caf::make_message(mcast_causal_atom::value, m));
}

void causal_receive(endpoint_actor* self, stamped_message m) {
  auto& st = self->state;
  auto out = st.causal->receive(std::move(m));
  if (!out) {
    reject(self, out.error());
    return;
  }
  deliver_all(self, *out);
  st.received_since_clock += out->size();
  if (st.received_since_clock >= clock_every) {
    st.received_since_clock = 0;
    send_to_others(self, caf::make_message(mcast_clock_atom::value, st.self,
                                           st.causal->clock()));
  }
}

// -- ABCAST -------------------------------------------------------------------

void total_final(endpoint_actor* self, const abcast_final& f) {
  auto out = self->state.total->on_final(f);
  if (!out) {
    reject(self, out.error());
    return;
  }
  deliver_all(self, *out);
}

void total_proposal(endpoint_actor* self, const abcast_proposal& p) {
  auto f = self->state.total->on_proposal(p);
  if (!f) {
    reject(self, f.error());
    return;
  }
  if (!*f)
    return;
  send_to_others(self, caf::make_message(mcast_final_atom::value, **f));
  total_final(self, **f);
}

void total_data(endpoint_actor* self, abcast_data d) {
  auto& st = self->state;
  auto sender = d.sender;
  auto p = st.total->on_data(std::move(d));
  if (!p) {
    reject(self, p.error());
    return;
  }
  if (!*p)
    return;
  if (sender == st.self)
    total_proposal(self, **p);
  else
    send_to(self, sender, caf::make_message(mcast_propose_atom::value, **p));
}

void total_send(endpoint_actor* self, caf::message payload) {
  auto d = self->state.total->submit(std::move(payload));
  send_to_others(self, caf::make_message(mcast_data_atom::value, d));
  total_data(self, std::move(d));
}

// -- failures -----------------------------------------------------------------

/// Installs the CBCAST view without `f` once every other survivor's flush
/// for it arrived.
void causal_try_remove(endpoint_actor* self, uint64_t f) {
  auto& st = self->state;
  auto i = st.awaiting_flush.find(f);
  if (i == st.awaiting_flush.end() || !i->second.empty())
    return;
  st.awaiting_flush.erase(i);
  auto gone = st.causal->remove(f);
  if (!gone) {
    reject(self, gone.error());
    return;
  }
  st.discarded += gone->size();
}

void total_decide(endpoint_actor* self);

void total_report(endpoint_actor* self, const abcast_report& r) {
  if (auto err = self->state.total->on_report(r)) {
    reject(self, err);
    return;
  }
  total_decide(self);
}

void total_takeover(endpoint_actor* self, const abcast_takeover& t) {
  auto out = self->state.total->on_takeover(t);
  if (!out) {
    reject(self, out.error());
    return;
  }
  deliver_all(self, *out);
  deliver_views(self);
}

void total_decide(endpoint_actor* self) {
  for (auto& t : self->state.total->decide()) {
    send_to_others(self, caf::make_message(mcast_takeover_atom::value, t));
    total_takeover(self, t);
  }
}

/// Learns that member `f` failed: starts the CBCAST flush and the ABCAST
/// takeover for it. Idempotent.
void member_failed(endpoint_actor* self, uint64_t f) {
  auto& st = self->state;
  if (f == st.self || st.failed.count(f) > 0
      || std::find(st.members.begin(), st.members.end(), f)
           == st.members.end())
    return;
  st.failed.insert(f);
  st.outbox.erase(f);
  st.pending_views.push_back(f);
  // CBCAST: flush f's messages to the survivors, await theirs.
  auto msgs = st.causal->flush(f);
  if (!msgs) {
    reject(self, msgs.error());
  } else {
    std::set<uint64_t> others;
    for (auto m : st.members)
      if (m != st.self && st.failed.count(m) == 0)
        others.insert(m);
    st.awaiting_flush[f] = others;
    send_to_others(self, caf::make_message(mcast_flush_atom::value, st.self,
                                           f, std::move(*msgs)));
  }
  // A survivor failing during another flush will not send that flush.
  std::vector<uint64_t> flushing;
  for (auto& [g, waiting] : st.awaiting_flush) {
    waiting.erase(f);
    flushing.push_back(g);
  }
  for (auto g : flushing)
    causal_try_remove(self, g);
  // ABCAST: finish own messages, report f's to the coordinator.
  auto steps = st.total->fail(f);
  if (!steps) {
    reject(self, steps.error());
  } else {
    for (auto& fin : steps->finals) {
      send_to_others(self, caf::make_message(mcast_final_atom::value, fin));
      total_final(self, fin);
    }
    auto coordinator = st.total->coordinator();
    for (auto& r : steps->reports) {
      if (coordinator == st.self) {
        if (auto err = st.total->on_report(r))
          reject(self, err);
      } else {
        send_to(self, coordinator,
                caf::make_message(mcast_report_atom::value, r));
      }
    }
    total_decide(self);
  }
  deliver_views(self);
}

void causal_flushed(endpoint_actor* self, uint64_t from, uint64_t f,
                    std::vector<stamped_message> msgs) {
  auto& st = self->state;
  member_failed(self, f); // a flush may be the first news of the failure
  auto out = st.causal->receive_flushed(std::move(msgs));
  if (!out) {
    reject(self, out.error());
  } else {
    deliver_all(self, *out);
  }
  if (auto i = st.awaiting_flush.find(f); i != st.awaiting_flush.end())
    i->second.erase(from);
  causal_try_remove(self, f);
  deliver_views(self);
}

// -- behaviors ----------------------------------------------------------------

caf::error check_config(uint64_t self_id, const std::vector<uint64_t>& members,
                        const caf::actor& deliver_to,
                        const std::map<uint64_t, caf::actor>& peers) {
  if (auto err = validate_members(self_id, members))
    return err;
  if (!deliver_to)
    return make_error(errc::invalid_argument,
                      "multicast endpoint " + std::to_string(self_id)
                        + ": no deliver_to actor");
  for (auto& [m, hdl] : peers) {
    if (m == self_id
        || std::find(members.begin(), members.end(), m) == members.end())
      return make_error(errc::invalid_argument,
                        "multicast endpoint " + std::to_string(self_id)
                          + ": peer " + std::to_string(m)
                          + " is not another member of the group");
    if (!hdl)
      return make_error(errc::invalid_argument,
                        "multicast endpoint " + std::to_string(self_id)
                          + ": invalid handle for peer " + std::to_string(m));
  }
  return caf::none;
}

void init(endpoint_actor* self, uint64_t self_id,
          std::vector<uint64_t> members, caf::actor deliver_to,
          std::map<uint64_t, caf::actor> peers, bool use_directory) {
  auto& st = self->state;
  st.self = self_id;
  st.members = std::move(members);
  st.deliver_to = std::move(deliver_to);
  st.peers = std::move(peers);
  st.use_directory = use_directory;
  st.causal.emplace(self_id, st.members);
  st.total.emplace(self_id, st.members);
  st.view = st.members;
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& st = self->state;
    std::vector<uint64_t> gone;
    for (auto& [m, hdl] : st.peers)
      if (hdl.address() == dm.source)
        gone.push_back(m);
    for (auto m : gone)
      member_failed(self, m);
  });
  watch_members(self);
  schedule_retry(self);
}

multicast_status status_of(endpoint_actor* self) {
  auto& st = self->state;
  multicast_status s;
  s.self = st.self;
  s.members = st.members;
  s.view = st.view;
  s.failed.assign(st.failed.begin(), st.failed.end());
  s.discarded = st.discarded;
  if (st.causal) {
    s.clock = st.causal->clock();
    s.causal_buffered = st.causal->buffered();
  }
  if (st.total)
    s.total_pending = st.total->pending();
  s.delivered = st.delivered;
  s.rejected = st.rejected;
  s.last_error = st.last_error;
  return s;
}

caf::behavior running(endpoint_actor* self) {
  return {
    [self](mcast_atom, ordering o, caf::message& payload)
      -> caf::result<void> {
      switch (o) {
        case ordering::causal:
          causal_send(self, std::move(payload));
          return caf::unit;
        case ordering::total:
          total_send(self, std::move(payload));
          return caf::unit;
      }
      return make_error(errc::invalid_argument,
                        "multicast: unknown ordering "
                          + std::to_string(static_cast<int>(o)));
    },
    [self](mcast_causal_atom, stamped_message& m) {
      causal_receive(self, std::move(m));
    },
    [self](mcast_clock_atom, uint64_t member,
           const std::vector<uint64_t>& clock) {
      if (auto err = self->state.causal->learn(member, clock))
        reject(self, err);
    },
    [self](mcast_data_atom, abcast_data& d) { total_data(self, std::move(d)); },
    [self](mcast_propose_atom, const abcast_proposal& p) {
      total_proposal(self, p);
    },
    [self](mcast_final_atom, const abcast_final& f) { total_final(self, f); },
    [self](mcast_suspect_atom, uint64_t member) -> caf::result<void> {
      auto& st = self->state;
      if (member == st.self
          || std::find(st.members.begin(), st.members.end(), member)
               == st.members.end())
        return make_error(errc::invalid_argument,
                          "multicast endpoint " + std::to_string(st.self)
                            + ": " + std::to_string(member)
                            + " is not another member of the group");
      member_failed(self, member);
      return caf::unit;
    },
    [self](mcast_flush_atom, uint64_t from, uint64_t failed,
           std::vector<stamped_message>& msgs) {
      auto& st = self->state;
      if (failed == st.self
          || std::find(st.members.begin(), st.members.end(), failed)
               == st.members.end()) {
        reject(self, make_error(errc::invalid_argument,
                                "CBCAST flush of " + std::to_string(failed)
                                  + ", not another member"));
        return;
      }
      causal_flushed(self, from, failed, std::move(msgs));
    },
    [self](mcast_report_atom, const abcast_report& r) {
      if (r.failed != self->state.self)
        member_failed(self, r.failed);
      total_report(self, r);
    },
    [self](mcast_takeover_atom, const abcast_takeover& t) {
      if (t.failed != self->state.self)
        member_failed(self, t.failed);
      total_takeover(self, t);
    },
    [self](mcast_peer_atom, uint64_t member,
           caf::actor& hdl) -> caf::result<void> {
      auto& st = self->state;
      std::map<uint64_t, caf::actor> one{{member, hdl}};
      if (auto err = check_config(st.self, st.members, st.deliver_to, one))
        return err;
      if (st.failed.count(member) > 0)
        return caf::unit; // a failed member never comes back
      st.peers[member] = std::move(hdl);
      flush_outbox(self, member);
      watch_members(self);
      return caf::unit;
    },
    [self](mcast_retry_atom) {
      auto& st = self->state;
      st.retry_scheduled = false;
      std::vector<uint64_t> waiting;
      for (auto& [m, msgs] : st.outbox)
        waiting.push_back(m);
      for (auto m : waiting)
        flush_outbox(self, m);
      watch_members(self);
      schedule_retry(self);
    },
    [self](mcast_status_atom) { return status_of(self); },
    [self](mcast_init_atom, uint64_t, const std::vector<uint64_t>&,
           const caf::actor&) -> caf::result<void> {
      return make_error(errc::invalid_argument,
                        "multicast endpoint " + std::to_string(self->state.self)
                          + " is already initialized");
    },
  };
}

/// Spawned by name on an ftsr node: waits for its init message; any other
/// message (a fast peer's) stays in the mailbox until then.
caf::behavior uninitialized(endpoint_actor* self) {
  self->set_default_handler(caf::skip);
  return {
    [self](mcast_init_atom, uint64_t self_id, std::vector<uint64_t>& members,
           caf::actor& deliver_to) -> caf::result<void> {
      if (auto err = check_config(self_id, members, deliver_to, {}))
        return err;
      init(self, self_id, std::move(members), std::move(deliver_to), {}, true);
      self->set_default_handler(caf::print_and_drop);
      self->become(running(self));
      return caf::unit;
    },
    [self](mcast_status_atom) { return status_of(self); },
  };
}

caf::behavior configured(endpoint_actor* self, uint64_t self_id,
                         std::vector<uint64_t> members, caf::actor deliver_to,
                         std::map<uint64_t, caf::actor> peers) {
  init(self, self_id, std::move(members), std::move(deliver_to),
       std::move(peers), false);
  return running(self);
}

} // namespace

std::string to_string(ordering x) {
  switch (x) {
    case ordering::causal: return "causal";
    case ordering::total: return "total";
  }
  return "ordering(" + std::to_string(static_cast<int>(x)) + ")";
}

void add_multicast_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<ordering>("ftsr::ordering")
    .add_message_type<stamped_message>("ftsr::stamped_message")
    .add_message_type<abcast_data>("ftsr::abcast_data")
    .add_message_type<abcast_proposal>("ftsr::abcast_proposal")
    .add_message_type<abcast_final>("ftsr::abcast_final")
    .add_message_type<abcast_report>("ftsr::abcast_report")
    .add_message_type<abcast_takeover>("ftsr::abcast_takeover")
    .add_message_type<std::vector<stamped_message>>(
      "std::vector<ftsr::stamped_message>")
    .add_message_type<multicast_status>("ftsr::multicast_status")
    .add_message_type<std::vector<uint64_t>>("std::vector<uint64_t>");
  cfg.add_actor_type(multicast_actor_type, uninitialized);
}

caf::expected<caf::actor>
spawn_multicast_endpoint(caf::actor_system& sys, uint64_t self_id,
                         std::vector<uint64_t> members, caf::actor deliver_to,
                         std::map<uint64_t, caf::actor> peers) {
  if (auto err = check_config(self_id, members, deliver_to, peers))
    return err;
  return sys.spawn(configured, self_id, std::move(members),
                   std::move(deliver_to), std::move(peers));
}

void connect_multicast_endpoints(
  const std::map<uint64_t, caf::actor>& endpoints) {
  for (auto& [m, hdl] : endpoints)
    for (auto& [other, other_hdl] : endpoints)
      if (m != other)
        caf::anon_send(hdl, mcast_peer_atom::value, other, other_hdl);
}

} // namespace ftsr
