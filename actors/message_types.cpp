// Application message types across processes; see message_types.hpp.
#include "actors/message_types.hpp"

#include <cxxabi.h>

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "caf/all.hpp"
#include "caf/uniform_type_info_map.hpp"

#include "actors/errors.hpp"

namespace ftsr {

std::string cpp_type_name(const std::type_info& ti) {
  int status = 0;
  std::unique_ptr<char, decltype(&std::free)> name{
    abi::__cxa_demangle(ti.name(), nullptr, nullptr, &status), &std::free};
  if (status != 0 || name == nullptr)
    return ti.name();
  std::string result = name.get();
  const std::string verbose = "std::__cxx11::basic_string<char, "
                              "std::char_traits<char>, std::allocator<char> >";
  for (auto i = result.find(verbose); i != std::string::npos;
       i = result.find(verbose, i))
    result.replace(i, verbose.size(), "std::string");
  return result;
}

namespace {

/// The C++ type of CAF's built-in type number `nr` (CAF gives messages no
/// type_info for those).
template <class... Ts>
const std::type_info* builtin_type(uint16_t nr, caf::detail::type_list<Ts...>) {
  static const std::type_info* table[] = {&typeid(Ts)...};
  return nr >= 1 && nr <= sizeof...(Ts) ? table[nr - 1] : nullptr;
}

} // namespace

std::string cpp_type_names(const caf::message& msg) {
  std::string result = "(";
  for (size_t i = 0; i < msg.size(); ++i) {
    auto rtti = msg.type(i);
    auto* ti = rtti.second != nullptr
                 ? rtti.second
                 : builtin_type(rtti.first, caf::sorted_builtin_types{});
    if (i > 0)
      result += ", ";
    result += ti != nullptr ? cpp_type_name(*ti) : "?";
  }
  return result + ")";
}

bool is_registered(const caf::actor_system& sys, const std::type_info& ti) {
  auto& types = sys.types();
  // portable_name(0, nullptr): the name CAF gives types nobody registered.
  return types.portable_name(0, &ti) != types.portable_name(0, nullptr);
}

caf::error unregistered_type_error(size_t position, const std::type_info* ti,
                                   const std::string& what) {
  return make_error(errc::invalid_argument,
                    "argument " + std::to_string(position) + " of " + what
                      + " has type "
                      + (ti != nullptr ? cpp_type_name(*ti) : std::string{"?"})
                      + ", which this process has not registered: add "
                        "cfg.add_message_type<T>(\"name\") to its add_types "
                        "(the same function on every node and client)");
}

caf::expected<std::vector<std::string>>
application_type_names(const caf::actor_system& sys, const caf::message& msg,
                       const std::string& what) {
  auto& types = sys.types();
  // The name CAF gives types nobody registered.
  auto& unregistered = types.portable_name(0, nullptr);
  std::vector<std::string> result;
  for (size_t i = 0; i < msg.size(); ++i) {
    auto rtti = msg.type(i);
    if (rtti.first != 0)
      continue; // built-in
    auto& name = types.portable_name(rtti);
    if (name == unregistered)
      return unregistered_type_error(i + 1, rtti.second, what);
    if (std::find(result.begin(), result.end(), name) == result.end())
      result.push_back(name);
  }
  return result;
}

std::vector<std::string>
unknown_type_names(const caf::actor_system& sys,
                   const std::vector<std::string>& names) {
  std::vector<std::string> result;
  for (auto& name : names)
    if (sys.types().make_value(name) == nullptr)
      result.push_back(name);
  return result;
}

caf::error missing_types_error(const std::string& on, const std::string& what,
                               const std::vector<std::string>& missing) {
  std::string list;
  for (auto& name : missing)
    list += (list.empty() ? "'" : ", '") + name + "'";
  return make_error(errc::invalid_argument,
                    "node '" + on + "' has not registered the message type"
                      + (missing.size() > 1 ? "s " : " ") + list + " used by "
                      + what
                      + ": its add_types (ftsr::node_main's registration "
                        "function) must register the same types as this "
                        "process's");
}

} // namespace ftsr
