// Group creation, joins and status queries.
#include "replication/group.hpp"

#include <algorithm>
#include <set>
#include <thread>

#include "caf/all.hpp"

#include "actors/call.hpp"
#include "actors/errors.hpp"
#include "replication/placement.hpp"

namespace ftsr {

void add_group_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<log_entry>("ftsr::log_entry")
    .add_message_type<std::vector<log_entry>>("std::vector<ftsr::log_entry>")
    .add_message_type<std::vector<uint64_t>>("std::vector<uint64_t>")
    .add_message_type<group_status>("ftsr::group_status")
    .add_message_type<group_mode>("ftsr::group_mode")
    .add_message_type<outgoing_call>("ftsr::outgoing_call")
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
  for (auto& n : spec.backups)
    if (cluster.find(n) == nullptr)
      return make_error(errc::unknown_node,
                        "group spec: backup node '" + n
                          + "' is not part of cluster '" + cluster.name + "'");
  if (auto twice = repeated_name(spec.nodes))
    return make_error(errc::invalid_argument,
                      "group spec: node '" + *twice
                        + "' is listed twice (one replica per node)");
  if (auto twice = repeated_name(spec.backups))
    return make_error(errc::invalid_argument,
                      "group spec: backup node '" + *twice
                        + "' is listed twice");
  if (!spec.name.empty())
    if (auto err = name_registry::check_name(spec.name))
      return err;
  return caf::none;
}

caf::expected<capability_ref> create_group(node& n, const group_spec& spec,
                                           caf::message args,
                                           std::chrono::milliseconds timeout) {
  if (auto err = validate(spec, n.context().cluster))
    return err;
  if (!spec.name.empty())
    if (auto holder = n.lookup_name(spec.name))
      return make_error(errc::invalid_argument,
                        "group spec: name '" + spec.name + "' is held by "
                          + to_string(*holder));
  // One deadline for the whole creation: `timeout` bounds it all.
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto hosts = spec.nodes;
  hosts.insert(hosts.end(), spec.backups.begin(), spec.backups.end());
  if (auto err = n.check_message_types(
        hosts, args, "the creation arguments of '" + spec.type + "'", timeout))
    return err;
  capability_ref group;
  group.id = new_trace_id();
  group.type = group_type_of(spec.type);
  for (auto& on : spec.nodes) {
    auto ref = n.spawn(on, spec.type, {}, node::time_left(deadline));
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
  auto mode = spec.mode;
  mode.backups = spec.backups;
  mode.replicas = spec.backups.empty() ? 0 : spec.nodes.size();
  for (auto& m : group.members)
    self->request(m.handle, node::time_left(deadline), group_init_atom::value,
                  group, m.id,
                  uint64_t{spec.max_sf}, mode, args)
      .receive([] {}, [&](caf::error& err) { failure = err; });
  if (!failure && !spec.name.empty())
    if (auto named = n.register_name(spec.name, group, false,
                                     node::time_left(deadline));
        !named)
      failure = named.error(); // registered meanwhile by someone else
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

namespace {

caf::expected<group_declaration> declaration_of(node& n,
                                                const std::string& type) {
  auto& cfg = n.system().config();
  if (auto decl = declared_group(cfg, type))
    return *decl;
  if (cfg.actor_factories.count(type) == 0)
    return make_error(errc::invalid_argument,
                      "resource type '" + type
                        + "' is not registered on this process: register "
                          "the application's types here too "
                          "(node_options::add_types), or pass a group_spec");
  return make_error(errc::invalid_argument,
                    "resource type '" + type
                      + "' declares no replication: give it a static "
                        "declaration() (or call declare_group), or pass a "
                        "group_declaration or a group_spec");
}

} // namespace

caf::expected<std::vector<capability_ref>>
create_groups(node& n, std::string_view type, size_t count,
              const group_declaration& decl, caf::message args,
              std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto view = n.view(timeout);
  if (!view)
    return view.error();
  std::set<std::string> live;
  for (auto& member : *view)
    if (member.state == member_state::up)
      live.insert(member.name);
  auto specs = place_groups(std::string{type}, decl, count,
                            n.context().cluster, live);
  if (!specs)
    return specs.error();
  std::vector<capability_ref> result;
  for (auto& spec : *specs) {
    auto group = create_group(n, spec, args, node::time_left(deadline));
    if (!group) {
      for (auto& created : result)
        for (auto& m : created.members)
          n.destroy(m);
      return group.error();
    }
    result.push_back(std::move(*group));
  }
  return result;
}

caf::expected<std::vector<capability_ref>>
create_groups(node& n, std::string_view type, size_t count,
              caf::message args, std::chrono::milliseconds timeout) {
  auto decl = declaration_of(n, std::string{type});
  if (!decl)
    return decl.error();
  return create_groups(n, type, count, *decl, std::move(args), timeout);
}

caf::expected<capability_ref>
create_group(node& n, std::string_view type, const group_declaration& decl,
             caf::message args, std::chrono::milliseconds timeout) {
  auto groups = create_groups(n, type, 1, decl, std::move(args), timeout);
  if (!groups)
    return groups.error();
  return std::move(groups->front());
}

caf::expected<capability_ref> create_group(node& n, std::string_view type,
                                           caf::message args,
                                           std::chrono::milliseconds timeout) {
  auto decl = declaration_of(n, std::string{type});
  if (!decl)
    return decl.error();
  return create_group(n, type, *decl, std::move(args), timeout);
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

namespace {

/// Sends a membership request to the group's primary: asks the live
/// members in rank order, moving on when one is not the primary (or died
/// meanwhile), and returns the primary's answer. While a view change is
/// under way (after a failure or a leave) every member refuses: it asks
/// again until `timeout`.
template <class... Ts>
caf::error ask_primary(node& n, const std::vector<capability_ref>& members,
                       std::chrono::milliseconds timeout, const Ts&... xs) {
  auto& dir = n.context().dir;
  caf::scoped_actor self{n.system()};
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    caf::error failure = make_error(errc::fail_stop, "no live primary");
    for (auto& m : members) {
      if (dir.failure_of(m))
        continue;
      self->request(dir.resolve(m), timeout, xs...)
        .receive([&] { failure = caf::none; },
                 [&](caf::error& err) { failure = err; });
      if (!is(failure, errc::not_primary)
          && !detail::is_callee_failure(failure))
        return failure;
    }
    if (!is(failure, errc::not_primary)
        || std::chrono::steady_clock::now() >= deadline)
      return failure;
    std::this_thread::sleep_for(std::chrono::milliseconds{2});
  }
}

} // namespace

caf::expected<capability_ref> add_replica(node& n, const capability_ref& group,
                                          const std::string& on,
                                          std::chrono::milliseconds timeout) {
  auto ref = n.spawn(on, resource_type_of(group.type), {}, timeout);
  if (!ref)
    return ref.error();
  auto failure = ask_primary(n, group.members, timeout,
                             group_join_atom::value, *ref);
  if (!failure) {
    // The join is ordered and the state on its way: the newcomer answers
    // a status query once it took its state (it holds other messages
    // until then), or stops if it cannot (resource_base::attach failed,
    // corrupt state): then the join fails with its reason.
    auto& dir = n.context().dir;
    caf::scoped_actor self{n.system()};
    self->request(dir.resolve(*ref), timeout, group_status_atom::value)
      .receive([](group_status&) {}, [&](caf::error& err) { failure = err; });
    if (!failure)
      return ref;
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!dir.failure_of(*ref)
           && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds{2});
    if (auto why = dir.failure_of(*ref))
      failure = why;
  }
  n.destroy(*ref);
  return failure;
}

} // namespace ftsr

namespace ftsr {

caf::expected<capability_ref> resize_group(node& n,
                                           const capability_ref& group,
                                           const std::vector<std::string>& nodes,
                                           std::chrono::milliseconds timeout) {
  auto& ctx = n.context();
  if (nodes.empty())
    return make_error(errc::invalid_argument,
                      "resize_group: N = 0 replicas (need at least 1)");
  for (auto& on : nodes)
    if (ctx.cluster.find(on) == nullptr)
      return make_error(errc::unknown_node,
                        "resize_group: node '" + on
                          + "' is not part of cluster '" + ctx.cluster.name
                          + "'");
  if (auto twice = repeated_name(nodes))
    return make_error(errc::invalid_argument,
                      "resize_group: node '" + *twice
                        + "' is listed twice (one replica per node)");
  if (auto err = ctx.dir.failure_of(group))
    return err;
  auto current = group;
  auto live = [&] {
    std::vector<capability_ref> result;
    for (auto& m : current.members)
      if (!ctx.dir.failure_of(m))
        result.push_back(m);
    return result;
  };
  current.members = live();
  // Grow first, so that shrinking never drops below the new size.
  for (auto& on : nodes) {
    auto hosted = std::any_of(current.members.begin(), current.members.end(),
                              [&](auto& m) { return m.node == on; });
    if (hosted)
      continue;
    auto joined = add_replica(n, current, on, timeout);
    if (!joined)
      return joined.error();
    current.members.push_back(std::move(*joined));
  }
  auto keep = [&](const capability_ref& m) {
    return std::find(nodes.begin(), nodes.end(), m.node) != nodes.end();
  };
  for (auto& m : std::vector<capability_ref>{current.members}) {
    if (keep(m))
      continue;
    if (auto failure = ask_primary(n, current.members, timeout,
                                   group_leave_atom::value, m.id))
      return failure;
    // Wait (bounded) until the leaver is gone before the next leave.
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!ctx.dir.failure_of(m)) {
      if (std::chrono::steady_clock::now() >= deadline)
        return make_error(errc::timeout, "member " + to_string(m)
                                           + " did not leave in time");
      std::this_thread::sleep_for(std::chrono::milliseconds{2});
    }
    current.members = live();
  }
  current.handle = current.members.front().handle;
  // Every node learns the new member list (and stops counting the members
  // that left against the group's quorum).
  caf::anon_send(ctx.manager, publish_atom::value, current);
  ctx.dir.bind(current);
  return current;
}

} // namespace ftsr
