// A persistent actor's invocation log; see invocation_log.hpp.
#include "persistence/invocation_log.hpp"

#include <sstream>
#include <vector>

#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
// map.hpp uses library_version_type without including it (Boost 1.74).
#include <boost/serialization/library_version_type.hpp>
#include <boost/serialization/map.hpp>
#include <boost/serialization/string.hpp>

#include "caf/binary_deserializer.hpp"
#include "caf/binary_serializer.hpp"

#include "actors/errors.hpp"

namespace ftsr {

invocation_log::invocation_log(caf::actor_system& sys, size_t per_caller,
                               size_t callers)
  : sys_(sys), table_(per_caller, callers) {
  // nop
}

void invocation_log::record(const invocation_key& k,
                            const caf::message& reply) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys_, buf};
  auto copy = reply;
  // A reply the system cannot serialize cannot be stored: the invocation
  // stays unrecorded (at least once), as documented for unrecorded ones.
  if (sink(copy))
    return;
  table_.record(k, std::string{buf.begin(), buf.end()});
}

invocation_log::admission invocation_log::admit(const invocation_key& k,
                                                uint64_t floor) {
  admission result;
  auto a = table_.admit(k, floor);
  result.what = a.what;
  if (a.what == invocation_table::verdict::stale) {
    result.error = make_error(
      errc::invalid_argument,
      "invocation " + std::to_string(k.caller) + ":" + std::to_string(k.seq)
        + " was answered before and its reply is no longer kept");
  } else if (a.what == invocation_table::verdict::replay) {
    caf::binary_deserializer src{sys_, a.reply->data(), a.reply->size()};
    if (auto err = src(result.reply))
      result.error = make_error(errc::corrupted,
                                "recorded reply of invocation "
                                  + std::to_string(k.seq)
                                  + " does not decode: " + describe(err));
  }
  return result;
}

std::string invocation_log::encode() const {
  std::ostringstream os;
  {
    boost::archive::binary_oarchive ar{os};
    ar << table_;
  }
  return os.str();
}

caf::error invocation_log::decode(const std::string& blob) {
  invocation_table t;
  try {
    std::istringstream is{blob};
    boost::archive::binary_iarchive ar{is};
    ar >> t;
  } catch (const std::exception& e) {
    return make_error(errc::corrupted, std::string{"invocation log does not "
                                                   "parse: "}
                                         + e.what());
  }
  table_ = std::move(t);
  return caf::none;
}

} // namespace ftsr
