// The ledger persistent actor; see ledger.hpp.
#include "ledger.hpp"

#include <memory>
#include <set>

// set.hpp uses library_version_type without including it (Boost 1.74).
#include <boost/serialization/library_version_type.hpp>
#include <boost/serialization/set.hpp>

namespace ledger {

namespace {

/// What survives a failure: stored in the stable store as a snapshot.
struct ledger_state {
  int64_t balance = 0;
  std::set<uint64_t> applied; // tokens of applied deposits
  uint64_t recoveries = 0;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& balance& applied& recoveries;
  }
};

ftsr::persistent_behavior ledger(caf::event_based_actor* self,
                                 ftsr::capability<> store) {
  auto st = std::make_shared<ledger_state>();
  // The snapshot key is the actor's capability id. A recovery handler
  // learns it from recovery_info; on the first start (generation 0) no
  // recovery runs, so the actor asks for its own capability.
  auto id = std::make_shared<uint64_t>(0);
  auto my_id = [self, id] {
    if (*id == 0)
      if (auto me = ftsr::myresource(self))
        *id = me->id();
    return *id;
  };
  ftsr::persistent_behavior result;
  result.operations = {
    [=](deposit_atom, uint64_t token, int64_t amount) -> caf::result<int64_t> {
      if (st->applied.count(token) != 0)
        return st->balance; // a retry: answered, not applied again
      st->balance += amount;
      st->applied.insert(token);
      // Answer only once the state is stable: an acknowledged deposit
      // survives a kill -9 of this node.
      auto rp = self->make_response_promise<int64_t>();
      ftsr::save_snapshot(
        self, store, my_id(), *st,
        [rp, balance = st->balance]() mutable { rp.deliver(balance); },
        [rp](caf::error& err) mutable { rp.deliver(err); });
      return rp;
    },
    [=](balance_atom) { return st->balance; },
    [=](where_atom) {
      return ftsr::context_of(self->system()).self.name + " after "
             + std::to_string(st->recoveries) + " recoveries";
    },
  };
  // Runs on a restart, before any invocation is served (those wait).
  result.recovery = [=](const ftsr::recovery_info& info,
                        ftsr::recovery_done done) {
    *id = info.self.id;
    ftsr::load_snapshot<ledger_state>(
      self, store, *id,
      [st, done](std::optional<ledger_state>& stored) {
        if (stored)
          *st = std::move(*stored);
        ++st->recoveries;
        done();
      },
      [done](caf::error& err) { done.fail(std::move(err)); });
  };
  return result;
}

} // namespace

void register_types(caf::actor_system_config& cfg) {
  ftsr::add_stable_store_types(cfg);
  ftsr::add_persistent_type(cfg, "ledger", ledger);
}

} // namespace ledger
