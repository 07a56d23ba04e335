// Registration of the protocol types with CAF, and their rendering.
#include "actors/protocol.hpp"

#include "caf/actor_system_config.hpp"

#include "actors/group_invocation.hpp"
#include "actors/introspection.hpp"
#include "actors/membership.hpp"

namespace ftsr {

std::string to_string(const member_id& x) {
  return x.name + "/" + std::to_string(x.incarnation);
}

const char* to_string(member_state x) {
  switch (x) {
    case member_state::unknown: return "unknown";
    case member_state::up: return "up";
    case member_state::suspected: return "suspected";
    case member_state::failed: return "failed";
  }
  return "invalid";
}

void add_protocol_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<trace_context>("ftsr::trace_context")
    .add_message_type<span>("ftsr::span")
    .add_message_type<std::vector<span>>("std::vector<ftsr::span>")
    .add_message_type<member_id>("ftsr::member_id")
    .add_message_type<gms_msg>("ftsr::gms_msg")
    .add_message_type<cluster_view>("ftsr::cluster_view")
    .add_message_type<member_status>("ftsr::member_status")
    .add_message_type<std::vector<member_status>>(
      "std::vector<ftsr::member_status>")
    .add_message_type<node_event>("ftsr::node_event")
    .add_message_type<manager_stats>("ftsr::manager_stats")
    .add_message_type<capability_ref>("ftsr::capability_ref")
    .add_message_type<std::vector<capability_ref>>(
      "std::vector<ftsr::capability_ref>")
    .add_message_type<capability<>>("ftsr::capability")
    .add_message_type<restart_spec>("ftsr::restart_spec")
    .add_message_type<std::vector<restart_spec>>(
      "std::vector<ftsr::restart_spec>")
    .add_message_type<name_binding>("ftsr::name_binding")
    .add_message_type<std::vector<name_binding>>(
      "std::vector<ftsr::name_binding>")
    .add_message_type<invocation>("ftsr::invocation")
    .add_message_type<std::vector<caf::message>>("std::vector<caf::message>");
  add_introspection_types(cfg);
}

} // namespace ftsr
