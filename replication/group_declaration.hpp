// Replication declared where a resource is defined: the properties of
// CMSL's `server` expression (ADM, seeds/001 section 3.3.1) for resource
// groups. A resource type states how it is replicated, and
// create_group(node, "kv") places a group of it on the cluster's live
// nodes; an explicit group_spec still overrides.
//
//   struct kv : ftsr::resource<kv> {
//     // CMSL `server kv model crash tolerate (1) hosts (host1)`
//     static ftsr::group_declaration declaration() {
//       return ftsr::group_declaration{}.tolerate(1).hosts({"host1"});
//     }
//     ...
//   };
//   ftsr::add_resource_type<kv>(cfg, "kv"); // records the declaration too
//   auto g = ftsr::create_group(node, "kv"); // replicas on live nodes
//
// Properties (any order, each optional):
// - replicas(n): at least n replicas (default 1);
// - tolerate(f): the group survives f simultaneous replica crashes. A group
//   serves only with a majority of its previous view (no split brain), so
//   that takes 2f+1 replicas (not CMSL's f+1): replicas are raised to it
//   where needed. A group of n replicas is created with max_sf (n-1)/2,
//   the most a majority allows;
// - model(m): the failure model; only failure_model::crash is accepted
//   (the default): ftsr tolerates crashes, not Byzantine faults, and
//   `correct` (no failures at all) is not a promise it can make;
// - hosts(h1, h2, ...): preferred nodes, earlier first (the first live one
//   hosts the first primary). Named nodes that are not live are skipped;
//   the runtime picks the rest from the live members in cluster order. Two
//   replicas never share a node;
// - disjoint(): for an array of groups created at once (create_groups),
//   each group on nodes of its own where the live nodes suffice; otherwise
//   every two groups share either all their nodes or none;
// - backups(b1, ...): a persistent group (group_spec::backups): failed
//   replicas are replaced on these nodes.
// `{primary}` stays a property of each operation (ftsr::primary()).
//
// The declaration is data, copied freely. Registrations live in the
// actor_system_config (its settings, under ftsr.group-declarations), so
// the process that creates a group must register the resource type (as
// clients do anyway, node_main.hpp). Errors are reported when a group is
// placed (placement.hpp), not when a declaration is made.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "caf/actor_system_config.hpp"

namespace ftsr {

/// CMSL's failure models of replicas.
enum class failure_model : uint8_t {
  correct,   // replicas never fail
  crash,     // a failed replica stops (ftsr's model)
  byzantine, // a failed replica may do anything
};

const char* to_string(failure_model x);

/// The replication properties of a resource type or of one creation.
class group_declaration {
public:
  group_declaration& replicas(size_t n) {
    replicas_ = n;
    return *this;
  }

  group_declaration& tolerate(size_t f) {
    tolerate_ = f;
    return *this;
  }

  group_declaration& model(failure_model m) {
    model_ = m;
    return *this;
  }

  group_declaration& hosts(std::vector<std::string> names) {
    hosts_ = std::move(names);
    return *this;
  }

  group_declaration& disjoint(bool on = true) {
    disjoint_ = on;
    return *this;
  }

  group_declaration& backups(std::vector<std::string> names) {
    backups_ = std::move(names);
    return *this;
  }

  size_t replicas() const noexcept {
    return replicas_;
  }

  size_t tolerate() const noexcept {
    return tolerate_;
  }

  failure_model model() const noexcept {
    return model_;
  }

  const std::vector<std::string>& hosts() const noexcept {
    return hosts_;
  }

  bool disjoint() const noexcept {
    return disjoint_;
  }

  const std::vector<std::string>& backups() const noexcept {
    return backups_;
  }

  /// The number of replicas: replicas(), raised to 2 * tolerate() + 1.
  size_t replica_count() const noexcept {
    return std::max(replicas_, 2 * tolerate_ + 1);
  }

  /// CMSL-like text: "replicas(3) tolerate(1) model(crash) hosts(host1)".
  std::string to_string() const;

  friend bool operator==(const group_declaration& x,
                         const group_declaration& y) {
    return x.replicas_ == y.replicas_ && x.tolerate_ == y.tolerate_
           && x.model_ == y.model_ && x.hosts_ == y.hosts_
           && x.disjoint_ == y.disjoint_ && x.backups_ == y.backups_;
  }

private:
  size_t replicas_ = 1;
  size_t tolerate_ = 0;
  failure_model model_ = failure_model::crash;
  std::vector<std::string> hosts_;
  bool disjoint_ = false;
  std::vector<std::string> backups_;
};

/// True if resource type T declares its replication with a static member
/// function `ftsr::group_declaration declaration()`.
template <class T, class = void>
struct has_group_declaration : std::false_type {};

template <class T>
struct has_group_declaration<T, std::void_t<decltype(T::declaration())>>
  : std::is_convertible<decltype(T::declaration()), group_declaration> {};

/// Records `decl` as the declaration of resource type `type` in `cfg`
/// (replacing an earlier one). add_resource_type<T> calls it for a T with a
/// declaration(); types registered with a factory call it themselves.
void declare_group(caf::actor_system_config& cfg, const std::string& type,
                   const group_declaration& decl);

/// The declaration recorded for `type` in `cfg`, if any.
std::optional<group_declaration>
declared_group(const caf::actor_system_config& cfg, const std::string& type);

} // namespace ftsr
