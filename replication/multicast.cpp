// Multicast endpoint actor: message plumbing around causal_order and
// total_order.
#include "replication/multicast.hpp"

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>

#include "caf/all.hpp"

#include "actors/errors.hpp"
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

void schedule_retry(endpoint_actor* self) {
  auto& st = self->state;
  if (st.use_directory && !st.retry_scheduled && !st.outbox.empty()) {
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
  for (auto m : self->state.members)
    if (m != self->state.self)
      send_to(self, m, msg);
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
  for (auto& x : *out)
    deliver(self, x.sender, x.payload);
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
  for (auto& d : *out)
    deliver(self, d.sender, d.payload);
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
}

multicast_status status_of(endpoint_actor* self) {
  auto& st = self->state;
  multicast_status s;
  s.self = st.self;
  s.members = st.members;
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
    [self](mcast_peer_atom, uint64_t member,
           caf::actor& hdl) -> caf::result<void> {
      auto& st = self->state;
      std::map<uint64_t, caf::actor> one{{member, hdl}};
      if (auto err = check_config(st.self, st.members, st.deliver_to, one))
        return err;
      st.peers[member] = std::move(hdl);
      flush_outbox(self, member);
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
