// The replicated name table: validation, local changes and merges.
#include "actors/name_registry.hpp"

#include <tuple>

#include "actors/directory.hpp"
#include "actors/errors.hpp"

namespace ftsr {

caf::error name_registry::check_name(const std::string& name) {
  if (name.empty())
    return make_error(errc::invalid_argument, "capability name is empty");
  if (name.size() > max_name_size)
    return make_error(errc::invalid_argument,
                      "capability name of " + std::to_string(name.size())
                        + " bytes is longer than "
                        + std::to_string(max_name_size));
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f)
      return make_error(errc::invalid_argument,
                        "capability name '" + name
                          + "' contains a control character");
  return caf::none;
}

caf::expected<name_binding> name_registry::bind(const std::string& name,
                                                const capability_ref& cap,
                                                bool replace,
                                                const std::string& origin) {
  if (auto err = check_name(name))
    return err;
  if (cap.id == 0)
    return make_error(errc::invalid_argument,
                      "cannot register an invalid capability as '" + name
                        + "'");
  std::lock_guard<std::mutex> guard{mtx_};
  auto& cur = names_[name];
  if (cur.cap.id != 0 && cur.cap.id != cap.id && !replace)
    return make_error(errc::invalid_argument,
                      "name '" + name + "' is held by " + to_string(cur.cap)
                        + " (register with replace to rebind it)");
  cur = name_binding{name, cap, cur.version + 1, origin};
  return cur;
}

caf::expected<name_binding> name_registry::unbind(const std::string& name,
                                                  const std::string& origin) {
  if (auto err = check_name(name))
    return err;
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = names_.find(name);
  if (i == names_.end() || i->second.cap.id == 0)
    return make_error(errc::unknown_name,
                      "no capability is registered as '" + name + "'");
  i->second = name_binding{name, {}, i->second.version + 1, origin};
  return i->second;
}

bool name_registry::merge(const name_binding& x) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = names_.find(x.name);
  if (i != names_.end()
      && std::tie(x.version, x.origin)
           <= std::tie(i->second.version, i->second.origin))
    return false;
  names_[x.name] = x;
  return true;
}

caf::expected<capability_ref>
name_registry::resolve(const std::string& name, const directory& dir) const {
  if (auto err = check_name(name))
    return err;
  capability_ref cap;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = names_.find(name);
    if (i != names_.end())
      cap = i->second.cap;
  }
  if (cap.id == 0)
    return make_error(errc::unknown_name,
                      "no capability is registered as '" + name + "'");
  if (auto cur = dir.lookup(cap.id))
    return *cur;
  return cap;
}

std::vector<name_binding> name_registry::all() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<name_binding> result;
  for (auto& [name, x] : names_)
    result.push_back(x);
  return result;
}

} // namespace ftsr
