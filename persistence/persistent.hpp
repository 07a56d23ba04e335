// Persistent actors (FT-SR `persistent` resources with `recovery ... end`).
//
//   ftsr::add_persistent_type(cfg, "account",
//     [](caf::event_based_actor* self, ftsr::capability<> store) {
//       auto balance = std::make_shared<int64_t>(0);
//       return ftsr::persistent_behavior{
//         {[=](deposit_atom, int64_t x) { ... }},          // operations
//         [=](const ftsr::recovery_info& info, ftsr::recovery_done done) {
//           ... read the state back from `store` ...; done();  // recovery
//         }};
//     });
//   node.spawn_persistent("host1", {"host3"}, "account", make_message(store));
//
// A persistent actor is spawned with a list of backup nodes
// (node::spawn_persistent). When its node fails, the next live node of the
// list restarts it with its original arguments under the same capability
// (actors/node_manager.cpp); holders keep using the capability, and calls
// without backup that were cut by the failure wait for the restart and are
// sent again (actors/call.hpp).
//
// Recovery contract: on a restart, the recovery handler runs before the
// actor accepts any invocation. Invocations arriving meanwhile are queued
// (CAF skip) and delivered after done() in arrival order; replies to the
// actor's own requests made during recovery are delivered as usual. On the
// first start (generation 0) the recovery handler does not run. done.fail()
// ends the actor with the error (fail-stop: it counts as a failure).
// Exactly once: ftsr::call sends invocations of a persistent actor with an
// id kept across re-sends; with an invocation log
// (persistence/invocation_log.hpp) the actor answers a re-sent invocation
// whose reply it recorded with that reply instead of running it again.
// Like any actor state, the actor's memory is lost with its node: state
// that must survive is kept in stable storage (the FT-SR stableStore group,
// persistence/stable_store_group.hpp) and read back during recovery.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "caf/actor_system_config.hpp"
#include "caf/behavior.hpp"
#include "caf/detail/type_list.hpp"
#include "caf/detail/type_traits.hpp"
#include "caf/event_based_actor.hpp"

#include "actors/capability.hpp"
#include "actors/node.hpp"
#include "actors/protocol.hpp"
#include "persistence/invocation_log.hpp"

namespace ftsr {

/// What a recovery handler learns about the restart.
struct recovery_info {
  /// The actor's capability (same id as before the failure).
  capability_ref self;
  /// Restarts so far (>= 1 in a recovery handler).
  uint64_t generation = 0;
};

/// Completion of a recovery handler: call it exactly once.
class recovery_done {
public:
  recovery_done(std::function<void()> ok, std::function<void(caf::error)> err)
    : ok_(std::move(ok)), err_(std::move(err)) {
    // nop
  }

  /// Recovery finished: the actor starts serving queued invocations.
  void operator()() const {
    ok_();
  }

  /// Recovery failed: the actor terminates with `reason`.
  void fail(caf::error reason) const {
    err_(std::move(reason));
  }

private:
  std::function<void()> ok_;
  std::function<void(caf::error)> err_;
};

/// A persistent actor's definition: its operations, its recovery handler
/// (optional) and its invocation log (optional; without one, invocations
/// re-sent after a failover run again: at least once).
struct persistent_behavior {
  caf::behavior operations;
  std::function<void(const recovery_info&, recovery_done)> recovery;
  std::shared_ptr<invocation_log> invocations;
};

namespace detail {

/// The first behavior of a persistent actor: queues everything until the
/// node manager's persistent_start arrived and recovery (if any) finished.
caf::behavior persistent_start(caf::event_based_actor* self,
                               std::shared_ptr<persistent_behavior> def);

template <class F, class... Ts>
void add_persistent_type(caf::actor_system_config& cfg, const std::string& name,
                         F fun, caf::detail::type_list<Ts...>) {
  cfg.add_actor_type(name, [fun](caf::event_based_actor* self,
                                 std::decay_t<Ts>... xs) {
    auto def = std::make_shared<persistent_behavior>(fun(self, std::move(xs)...));
    return persistent_start(self, std::move(def));
  });
}

} // namespace detail

/// FT-SR `restart cap(args) on nodes`. For a persistent actor (failed, not
/// destroyed): node::restart, a new incarnation with `args` on the first
/// live node of `nodes`, which becomes its restart list. For a resource
/// group: a restart with a different number of replicas while it serves,
/// one replica on each node of `nodes` (resize_group; the state carries
/// over by state transfer, so `args` are not used).
caf::expected<capability_ref>
restart(node& n, const capability_ref& cap, caf::message args,
        const std::vector<std::string>& nodes,
        std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// Registers a persistent actor type: `fun(caf::event_based_actor* self,
/// args...)` returns its persistent_behavior. Spawn it with
/// node::spawn_persistent (or as an ordinary actor with node::spawn).
template <class F>
void add_persistent_type(caf::actor_system_config& cfg, const std::string& name,
                         F fun) {
  using args = typename caf::detail::get_callable_trait<F>::arg_types;
  static_assert(
    std::is_same<caf::detail::tl_head_t<args>, caf::event_based_actor*>::value,
    "a persistent actor's first argument is caf::event_based_actor*");
  detail::add_persistent_type(cfg, name, std::move(fun),
                              caf::detail::tl_tail_t<args>{});
}

} // namespace ftsr
