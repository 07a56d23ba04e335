// Implementation of the sample actors hosted by ftsr-node.
#include "apps/node/sample_actors.hpp"

#include <map>

#include "caf/all.hpp"

#include "actors/call.hpp"
#include "actors/monitor.hpp"
#include "apps/node/sample_persistent.hpp"
#include "apps/node/sample_resources.hpp"
#include "persistence/stable_store_group.hpp"

namespace ftsr::sample {

namespace {

using deliver_atom = caf::atom_constant<caf::atom("deliver")>;

// Replies to (echo, s, delay_ms) after delay_ms without blocking anyone, so
// the call stays in flight long enough to kill the node under it. A typed
// actor cannot receive its own timer messages, hence this helper.
using delayer_actor = caf::typed_actor<
  caf::replies_to<echo_atom, std::string, uint32_t>::with<std::string>,
  caf::reacts_to<deliver_atom, uint64_t>>;

struct delayer_state {
  uint64_t next = 0;
  std::map<uint64_t, std::pair<caf::response_promise, std::string>> pending;
};

delayer_actor::behavior_type
delayer(delayer_actor::stateful_pointer<delayer_state> self) {
  return {
    [self](echo_atom, std::string& s,
           uint32_t delay_ms) -> caf::result<std::string> {
      auto key = self->state.next++;
      self->state.pending.emplace(
        key, std::make_pair(self->make_response_promise(),
                            context_of(self->system()).self.name + ":" + s));
      self->delayed_send(self, std::chrono::milliseconds{delay_ms},
                         deliver_atom::value, key);
      return caf::delegated<std::string>{};
    },
    [self](deliver_atom, uint64_t key) {
      auto i = self->state.pending.find(key);
      i->second.first.deliver(std::move(i->second.second));
      self->state.pending.erase(i);
    },
  };
}

echo_actor::behavior_type echo(echo_actor::pointer self) {
  // Linked: the delayer dies with the echo actor, so no reply outlives it.
  auto helper = self->spawn<caf::linked>(delayer);
  return {
    [](echo_atom, std::string& s) { return std::move(s); },
    [self, helper](echo_atom, std::string& s, uint32_t delay_ms) {
      return self->delegate(helper, echo_atom::value, std::move(s), delay_ms);
    },
  };
}

caf::behavior caller(caf::event_based_actor* self) {
  return {
    [self](call_atom, const capability_ref& target,
           const capability_ref& backup, const std::string& payload,
           uint32_t delay_ms) -> caf::result<std::string> {
      auto rp = self->make_response_promise<std::string>();
      auto cap = capability<echo_actor>{target};
      auto c = ftsr::call(self, cap, echo_atom::value, payload, delay_ms);
      if (backup.id != 0)
        c.with_backup(capability<echo_actor>{backup});
      c.then([rp](std::string& reply) mutable { rp.deliver(std::move(reply)); },
             [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return rp;
    },
  };
}

caf::behavior observer(caf::event_based_actor* self) {
  return {
    [self](watch_atom, const capability_ref& target,
           const caf::actor& notify) -> monitor_id {
      // Handler args are captured now (FT-SR semantics): who to notify and
      // which capability failed.
      return ftsr::monitor(self, capability<>{target}, self, fired_atom::value,
                           target.id, notify);
    },
    [self](fired_atom, uint64_t cap_id, const caf::actor& notify) {
      self->send(notify, fired_atom::value, cap_id,
                 context_of(self->system()).self.name);
    },
  };
}

} // namespace

void add_sample_types(caf::actor_system_config& cfg) {
  add_sample_resources(cfg);
  add_stable_store_types(cfg);
  add_sample_persistent(cfg);
  cfg.add_actor_type("echo", echo)
    .add_actor_type("caller", caller)
    .add_actor_type("observer", observer);
}

} // namespace ftsr::sample
