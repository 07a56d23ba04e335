// Rendering and construction of ftsr errors.
#include "actors/errors.hpp"

#include "caf/actor_system_config.hpp"
#include "caf/deep_to_string.hpp"

namespace ftsr {

const char* to_string(errc x) {
  switch (x) {
    case errc::fail_stop: return "fail_stop";
    case errc::destroyed: return "destroyed";
    case errc::unknown_node: return "unknown_node";
    case errc::node_unavailable: return "node_unavailable";
    case errc::fenced: return "fenced";
    case errc::bad_config: return "bad_config";
    case errc::invalid_argument: return "invalid_argument";
    case errc::unknown_actor_type: return "unknown_actor_type";
    case errc::restart_intensity_exceeded: return "restart_intensity_exceeded";
    case errc::timeout: return "timeout";
    case errc::not_primary: return "not_primary";
    case errc::no_quorum: return "no_quorum";
    case errc::storage_error: return "storage_error";
    case errc::corrupted: return "corrupted";
    case errc::no_space: return "no_space";
    case errc::checkpoint_aborted: return "checkpoint_aborted";
    case errc::no_answer: return "no_answer";
    case errc::unknown_name: return "unknown_name";
    case errc::unauthenticated: return "unauthenticated";
  }
  return "unknown_error";
}

caf::error make_error(errc code, std::string detail) {
  return caf::error{static_cast<uint8_t>(code), error_category,
                    caf::make_message(std::move(detail))};
}

bool is(const caf::error& e, errc code) {
  // CAF 0.17 cannot take the category of an empty error (no error).
  return e && e.category() == error_category
         && e.code() == static_cast<uint8_t>(code);
}

namespace {

std::string render(uint8_t code, const caf::message& ctx) {
  std::string out = to_string(static_cast<errc>(code));
  if (ctx.match_elements<std::string>() && !ctx.get_as<std::string>(0).empty())
    out += ": " + ctx.get_as<std::string>(0);
  return out;
}

} // namespace

std::string describe(const caf::error& e) {
  if (!e)
    return "no error";
  if (e.category() == error_category)
    return "ftsr: " + render(e.code(), e.context());
  return caf::to_string(e);
}

void add_error_category(caf::actor_system_config& cfg) {
  cfg.add_error_category(error_category,
                         [](uint8_t code, caf::atom_value,
                            const caf::message& ctx) {
                           return render(code, ctx);
                         });
}

} // namespace ftsr
