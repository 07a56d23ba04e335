// The inventory resource; see inventory.hpp.
#include "inventory.hpp"

#include <chrono>
#include <map>

#include <boost/serialization/map.hpp>
#include <boost/serialization/string.hpp>

namespace inventory {

namespace {

struct stock : ftsr::resource<stock> {
  std::map<std::string, int64_t> items;
  int64_t audits = 0;
  int64_t last_audit_ms = 0;

  caf::behavior operations() override {
    return {
      // Deterministic: every replica applies it in the same order.
      [this](add_atom, const delivery& d) { return items[d.item] += d.count; },
      [this](count_atom, const std::string& item) {
        auto i = items.find(item);
        return i == items.end() ? int64_t{0} : i->second;
      },
      // Reads the clock: runs at the primary only, which then ships the
      // resulting state to the backups.
      ftsr::primary([this](audit_atom) {
        last_audit_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
        return ++audits;
      }),
    };
  }

  // The state, for state transfer and {primary} updates (Boost).
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& items& audits& last_audit_ms;
  }

  // How it is replicated, declared where it is defined (CMSL: server
  // inventory model crash tolerate (1) hosts (host1)): three replicas on
  // distinct live nodes, host1 preferred as the first primary, the others
  // picked by the runtime.
  static ftsr::group_declaration declaration() {
    return ftsr::group_declaration{}.tolerate(1).hosts({"host1"});
  }
};

} // namespace

void register_types(caf::actor_system_config& cfg) {
  ftsr::add_resource_type<stock>(cfg, "inventory");
  cfg.add_message_type<delivery>("inventory.delivery");
}

} // namespace inventory
