// Group creation, joins and status queries.
#include "replication/group.hpp"

#include <set>

#include "caf/all.hpp"

#include "actors/errors.hpp"

namespace ftsr {

void add_group_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<log_entry>("ftsr::log_entry")
    .add_message_type<std::vector<log_entry>>("std::vector<ftsr::log_entry>")
    .add_message_type<std::vector<uint64_t>>("std::vector<uint64_t>")
    .add_message_type<group_status>("ftsr::group_status")
    .add_message_type<group_mode>("ftsr::group_mode")
    .add_message_type<state_transfer>("ftsr::state_transfer");
}

caf::error validate(const group_spec& spec, const cluster_config& cluster) {
  if (spec.type.empty())
    return make_error(errc::invalid_argument, "group spec: empty type");
  if (spec.nodes.empty())
    return make_error(errc::invalid_argument,
                      "group spec: N = 0 replicas (need at least 1)");
  if (spec.max_sf >= spec.nodes.size())
    return make_error(errc::invalid_argument,
                      "group spec: max_sf = " + std::to_string(spec.max_sf)
                        + " must be below N = "
                        + std::to_string(spec.nodes.size()));
  for (auto& n : spec.nodes)
    if (cluster.find(n) == nullptr)
      return make_error(errc::unknown_node,
                        "group spec: node '" + n + "' is not part of cluster '"
                          + cluster.name + "'");
  return caf::none;
}

caf::expected<capability_ref> create_group(node& n, const group_spec& spec,
                                           caf::message args,
                                           std::chrono::milliseconds timeout) {
  if (auto err = validate(spec, n.context().cluster))
    return err;
  capability_ref group;
  group.id = new_trace_id();
  group.type = "group:" + spec.type;
  for (auto& on : spec.nodes) {
    auto ref = n.spawn(on, spec.type, {}, timeout);
    if (!ref) {
      for (auto& m : group.members)
        n.destroy(m);
      return ref.error();
    }
    group.members.push_back(std::move(*ref));
  }
  group.handle = group.members.front().handle;
  caf::scoped_actor self{n.system()};
  caf::error failure;
  for (auto& m : group.members)
    self->request(m.handle, timeout, group_init_atom::value, group, m.id,
                  uint64_t{spec.max_sf}, spec.mode, args)
      .receive([] {}, [&](caf::error& err) { failure = err; });
  if (failure) {
    for (auto& m : group.members)
      n.destroy(m);
    return failure;
  }
  n.context().spans.event({}, "group_created", to_string(group),
                          std::to_string(group.members.size())
                            + " replicas, max_sf "
                            + std::to_string(spec.max_sf));
  return group;
}

std::vector<group_status> group_members_status(node& n,
                                               const capability_ref& group,
                                               std::chrono::milliseconds t) {
  std::vector<group_status> result;
  caf::scoped_actor self{n.system()};
  for (auto& m : group.members) {
    if (n.context().dir.failure_of(m))
      continue;
    self->request(n.context().dir.resolve(m), t, group_status_atom::value)
      .receive([&](group_status& st) { result.push_back(std::move(st)); },
               [](caf::error&) {});
  }
  return result;
}

caf::expected<capability_ref> add_replica(node& n, const capability_ref& group,
                                          const std::string& on,
                                          std::chrono::milliseconds timeout) {
  auto ref = n.spawn(on, group.type.substr(6), {}, timeout);
  if (!ref)
    return ref.error();
  caf::scoped_actor self{n.system()};
  caf::error failure = make_error(errc::fail_stop, "no live primary");
  // Ask members in rank order; a backup redirects to the primary.
  for (auto& m : group.members) {
    if (n.context().dir.failure_of(m))
      continue;
    self->request(n.context().dir.resolve(m), timeout, group_join_atom::value,
                  *ref)
      .receive([&] { failure = caf::none; },
               [&](caf::error& err) { failure = err; });
    if (!failure)
      return ref;
  }
  n.destroy(*ref);
  return failure;
}

} // namespace ftsr
