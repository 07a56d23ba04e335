// Test resource with a declared interface: "tally" counts per key.
//   (bump, key, int64 n) -> int64      the key's new count (every replica)
//   (total) -> int64                   {primary}: the sum over all keys
#pragma once

#include <map>
#include <string>

#include <boost/serialization/map.hpp>
#include <boost/serialization/string.hpp>

#include "caf/all.hpp"

#include "replication/replica.hpp"
#include "replication/resource.hpp"

namespace ftsr::testing::tally {

using bump_atom = caf::atom_constant<caf::atom("bump")>;
using total_atom = caf::atom_constant<caf::atom("total")>;

using tally_if = caf::typed_actor<
  caf::replies_to<bump_atom, std::string, int64_t>::with<int64_t>,
  caf::replies_to<total_atom>::with<int64_t>>;

struct tally : resource<tally, tally_if> {
  std::map<std::string, int64_t> counts;

  tally_if::behavior_type typed_operations() override {
    return {
      [this](bump_atom, const std::string& key, int64_t n) {
        return counts[key] += n;
      },
      primary([this](total_atom) {
        int64_t sum = 0;
        for (auto& kv : counts)
          sum += kv.second;
        return sum;
      }),
    };
  }

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& counts;
  }
};

inline void add_tally(caf::actor_system_config& cfg) {
  add_resource_type<tally>(cfg, "tally");
}

} // namespace ftsr::testing::tally
