// Reading back stored CAF data; see stored_data.hpp.
#include "actors/stored_data.hpp"

#include <string>

#include "caf/actor_system.hpp"
#include "caf/binary_deserializer.hpp"
#include "caf/proxy_registry.hpp"
#include "caf/scoped_execution_unit.hpp"

#include "actors/errors.hpp"

namespace ftsr {

namespace {

/// Makes no proxies: a handle of another process loads as null.
class no_proxies : public caf::proxy_registry::backend {
public:
  caf::strong_actor_ptr make_proxy(caf::node_id, caf::actor_id) override {
    return nullptr;
  }

  void set_last_hop(caf::node_id*) override {
    // nop
  }
};

} // namespace

caf::error load_stored(caf::actor_system& sys, const std::vector<char>& bytes,
                       const std::function<caf::error(caf::deserializer&)>& load) {
  no_proxies backend;
  caf::proxy_registry registry{sys, backend};
  caf::scoped_execution_unit unit{&sys};
  unit.proxy_registry_ptr(&registry);
  caf::binary_deserializer source{&unit, bytes};
  if (auto err = load(source))
    return err;
  if (source.remaining() != 0)
    return make_error(errc::corrupted,
                      std::to_string(source.remaining())
                        + " bytes left over after the content");
  return caf::none;
}

} // namespace ftsr
