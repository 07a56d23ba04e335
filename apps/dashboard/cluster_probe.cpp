// Cluster probe: a client node that asks members for their reports.
#include "apps/dashboard/cluster_probe.hpp"

#include <algorithm>
#include <cstdlib>
#include <future>
#include <iostream>
#include <thread>

#include "actors/errors.hpp"
#include "apps/node/sample_actors.hpp"
#include "txn/txn_protocol.hpp"

namespace ftsr::dashboard {

namespace {

using clock_type = std::chrono::steady_clock;

constexpr auto retry_pause = std::chrono::milliseconds(20);

} // namespace

cluster_probe::cluster_probe(std::unique_ptr<node> client)
  : client_(std::move(client)) {
  // nop
}

caf::expected<std::unique_ptr<cluster_probe>>
cluster_probe::connect(const std::string& config_file,
                       std::chrono::milliseconds bound) {
  auto cfg = load_cluster_config(config_file);
  if (!cfg)
    return cfg.error();
  return connect(std::move(*cfg), config_file, bound);
}

caf::expected<std::unique_ptr<cluster_probe>>
cluster_probe::connect(cluster_config cfg, const std::string& origin,
                       std::chrono::milliseconds bound) {
  std::string tried;
  for (auto& n : cfg.nodes)
    tried += (tried.empty() ? "" : ", ") + n.name + " at " + n.host + ":"
             + std::to_string(n.port);
  auto cluster_name = cfg.name;
  node_options opts;
  opts.cluster = std::move(cfg);
  // The members' bindings and restart specs carry the arguments of their
  // actors: this client decodes those of the repository's samples and bank.
  opts.add_types = [](caf::actor_system_config& c) {
    sample::add_sample_types(c);
    add_txn_types(c);
  };
  // A probe records nothing worth keeping: a small buffer.
  opts.span_capacity = 256;
  auto n = node::start(std::move(opts));
  if (!n)
    return n.error();
  auto deadline = clock_type::now() + bound;
  for (;;) {
    if (auto v = (*n)->view(); v
        && std::any_of(v->begin(), v->end(), [](const member_status& m) {
             return m.state == member_state::up;
           }))
      break;
    if (clock_type::now() >= deadline)
      return make_error(errc::node_unavailable,
                        "cluster '" + cluster_name + "' (" + origin
                          + ") unreachable: no member admitted this client "
                            "within "
                          + std::to_string(bound.count()) + " ms (tried "
                          + tried + ")");
    std::this_thread::sleep_for(retry_pause);
  }
  return std::unique_ptr<cluster_probe>{new cluster_probe(std::move(*n))};
}

std::vector<member_answer>
cluster_probe::collect(introspect_query q, std::chrono::milliseconds bound,
                       bool await_connections,
                       const std::map<std::string, uint64_t>& events_after) {
  auto deadline = clock_type::now() + bound;
  std::vector<member_status> view;
  if (auto v = client_->view(bound))
    view = std::move(*v);
  auto ask = [&](const std::string& name) {
    member_answer a{name, std::nullopt, {}};
    auto m = std::find_if(view.begin(), view.end(),
                          [&](auto& x) { return x.name == name; });
    bool in_view = await_connections && m != view.end()
                   && (m->state == member_state::up
                       || m->state == member_state::suspected);
    auto query = q;
    query.node = name;
    if (auto i = events_after.find(name); i != events_after.end())
      query.events_after = i->second;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - clock_type::now());
      auto r = client_->introspect(query,
                                   std::max(left, std::chrono::milliseconds{1}));
      if (r) {
        a.report = std::move(*r);
        return a;
      }
      a.error = describe(r.error());
      if (!in_view || !is(r.error(), errc::node_unavailable)
          || clock_type::now() + retry_pause >= deadline)
        return a;
      std::this_thread::sleep_for(retry_pause);
    }
  };
  // Asked in parallel: a frozen member costs the bound once, not per node.
  std::vector<std::future<member_answer>> pending;
  for (auto& addr : cluster().nodes)
    pending.push_back(std::async(std::launch::async, ask, addr.name));
  std::vector<member_answer> result;
  for (auto& f : pending)
    result.push_back(f.get());
  return result;
}

int connect_exit_code(const caf::error& err) {
  return is(err, errc::node_unavailable) ? 1 : 2;
}

void finish_tool(int code) {
  std::cout.flush();
  std::cerr.flush();
  std::_Exit(code);
}

} // namespace ftsr::dashboard
