// The "counter" persistent sample actor: group commit of its state into a
// stableStore group before replying.
#include "apps/node/sample_persistent.hpp"

#include <memory>
#include <set>
#include <string>
#include <vector>

// set.hpp uses library_version_type without including it (Boost 1.74).
#include <boost/serialization/library_version_type.hpp>
#include <boost/serialization/set.hpp>
#include <boost/serialization/vector.hpp>

#include "caf/all.hpp"

#include "actors/monitor.hpp"
#include "persistence/persistent.hpp"
#include "persistence/snapshot.hpp"

namespace ftsr::sample {

namespace {

struct counter_state {
  int64_t total = 0;
  std::vector<uint64_t> tokens; // in the order applied
  std::set<uint64_t> applied;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& total& tokens& applied;
  }
};

struct counter_runtime {
  counter_state state;
  std::vector<std::string> history;
  /// Adds applied in memory, answered once the snapshot holding them is
  /// stored.
  std::vector<caf::typed_response_promise<int64_t>> waiting;
  bool writing = false;
  uint64_t id = 0;
  /// Replies recorded with the state (exactly-once invocations).
  std::shared_ptr<invocation_log> log;
};

/// Stores the current state, then answers every add it covers; adds that
/// arrive meanwhile wait for the next write (group commit: one write in
/// flight, so snapshots reach the store in order).
void commit(caf::event_based_actor* self, const capability<>& store,
            std::shared_ptr<counter_runtime> rt) {
  if (rt->writing || rt->waiting.empty())
    return;
  rt->writing = true;
  auto batch = std::move(rt->waiting);
  rt->waiting.clear();
  auto total = rt->state.total;
  save_snapshot(
    self, store, rt->id, rt->state, *rt->log,
    [self, store, rt, batch, total]() mutable {
      for (auto& rp : batch)
        rp.deliver(total);
      rt->writing = false;
      commit(self, store, rt);
    },
    [self, store, rt, batch](caf::error& err) mutable {
      for (auto& rp : batch)
        rp.deliver(err);
      rt->writing = false;
      commit(self, store, rt);
    });
}

/// `by_token`: "counter" applies each token once itself; "visits" applies
/// every invocation and leaves re-sends to the invocation log.
persistent_behavior counter(caf::event_based_actor* self, capability<> store,
                            bool by_token) {
  auto rt = std::make_shared<counter_runtime>();
  rt->log = std::make_shared<invocation_log>(self->system());
  rt->history.push_back("start");
  persistent_behavior result;
  result.operations = {
    [self, store, rt, by_token](add_atom, uint64_t token,
                                int64_t amount) -> caf::result<int64_t> {
      if (rt->id == 0)
        if (auto me = myresource(self))
          rt->id = me->id();
      rt->history.push_back("op");
      if (!by_token || rt->state.applied.insert(token).second) {
        rt->state.total += amount;
        rt->state.tokens.push_back(token);
      }
      rt->log->record_current(rt->state.total);
      auto rp = self->make_response_promise<int64_t>();
      rt->waiting.push_back(rp);
      commit(self, store, rt);
      return rp;
    },
    [rt](total_atom) {
      rt->history.push_back("op");
      return rt->state.total;
    },
    [rt](tokens_atom) {
      rt->history.push_back("op");
      return rt->state.tokens;
    },
    [rt](history_atom) { return rt->history; },
  };
  result.recovery = [self, store, rt](const recovery_info& info,
                                      recovery_done done) {
    rt->id = info.self.id;
    auto g = std::to_string(info.generation);
    rt->history.push_back("recovery_begin g" + g);
    load_snapshot<counter_state>(
      self, store, info.self.id, rt->log,
      [rt, g, done](std::optional<counter_state>& st) {
        if (st)
          rt->state = std::move(*st);
        rt->history.push_back("recovered g" + g);
        done();
      },
      [done](caf::error& err) { done.fail(std::move(err)); });
  };
  result.invocations = rt->log;
  return result;
}

} // namespace

void add_sample_persistent(caf::actor_system_config& cfg) {
  add_persistent_type(cfg, "counter",
                      [](caf::event_based_actor* self, capability<> store) {
                        return counter(self, store, true);
                      });
  add_persistent_type(cfg, "visits",
                      [](caf::event_based_actor* self, capability<> store) {
                        return counter(self, store, false);
                      });
}

} // namespace ftsr::sample
