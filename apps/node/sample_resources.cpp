// The sample resources' operations.
#include "apps/node/sample_resources.hpp"

#include "caf/all.hpp"

#include "actors/trace.hpp"
#include "replication/replica.hpp"

namespace ftsr::sample {

caf::behavior kv_store::operations() {
  return {
    [this](put_atom, const std::string& k, const std::string& v) {
      return data.insert_or_assign(k, v).second;
    },
    [this](get_atom, const std::string& k) {
      auto i = data.find(k);
      return i != data.end() ? i->second : std::string{};
    },
    [this](append_atom, const std::string& k, const std::string& s) {
      auto& v = data[k];
      v += s;
      return uint64_t{v.size()};
    },
    [this](size_atom) { return uint64_t{data.size()}; },
    [](forward_atom, const capability_ref& target, const std::string& k,
       const std::string& s) {
      imports(target, append_atom::value, k, s);
      return true;
    },
    [](whoami_atom) {
      auto g = mygroup();
      return g ? g->id() : uint64_t{0};
    },
    [](notify_atom, const capability_ref& sink, const std::string& s) {
      owns(sink, s);
      return true;
    },
    // Non-deterministic (reads the clock): FT-SR {primary}.
    primary([this](stamp_atom, const std::string& k) {
      auto now = wall_clock_ns();
      data[k] = std::to_string(now);
      return now;
    }),
  };
}

caf::behavior bounded_buffer::operations() {
  return {
    [this](deposit_atom, std::string& item) -> caf::result<uint64_t> {
      if (items.size() >= capacity)
        return make_error(errc::invalid_argument,
                          "full: capacity " + std::to_string(capacity));
      items.push_back(std::move(item));
      return uint64_t{items.size()};
    },
    [this](fetch_atom) -> caf::result<std::string> {
      if (items.empty())
        return make_error(errc::invalid_argument, "empty");
      auto x = std::move(items.front());
      items.pop_front();
      return x;
    },
    [this](size_atom) { return uint64_t{items.size()}; },
  };
}

void bounded_buffer::init(const caf::message& args) {
  if (args.match_elements<uint64_t>() && args.get_as<uint64_t>(0) > 0)
    capacity = args.get_as<uint64_t>(0);
}

void add_sample_resources(caf::actor_system_config& cfg) {
  // In-memory handlers that never block: run on the I/O thread.
  add_resource_type<kv_store>(cfg, "kv", replica_executor::io_thread);
  add_resource_type<bounded_buffer>(cfg, "bounded_buffer");
}

} // namespace ftsr::sample
