// The group catalog; see group_catalog.hpp.
#include "replication/group_catalog.hpp"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <unistd.h>

#include "caf/binary_serializer.hpp"

#include "actors/durable_file.hpp"
#include "actors/errors.hpp"
#include "actors/stored_data.hpp"

namespace ftsr {

namespace {

constexpr const char* file_prefix = "group-";
constexpr const char* file_suffix = ".bin";
/// The files' format: a framed file holding the CAF binary serialization
/// of one group_record.
constexpr const char* file_magic = "ftsrgc01";

std::string file_name(uint64_t id) {
  return file_prefix + std::to_string(id) + file_suffix;
}

} // namespace

std::string group_catalog_file(const std::string& dir, uint64_t id) {
  return dir + "/" + file_name(id);
}

caf::error save_group_record(caf::execution_unit* ctx, const std::string& dir,
                             const group_record& x) {
  std::vector<char> buf;
  caf::binary_serializer sink{ctx, buf};
  auto copy = x;
  if (auto err = sink(copy))
    return make_error(errc::storage_error,
                      "cannot encode the record of group "
                        + std::to_string(x.id) + ": " + to_string(err));
  return write_framed_file(dir, file_name(x.id), file_magic, buf);
}

caf::error remove_group_record(const std::string& dir, uint64_t id) {
  auto path = group_catalog_file(dir, id);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    return make_error(errc::storage_error, "cannot remove " + path + ": "
                                             + std::strerror(errno));
  return caf::none;
}

std::vector<group_catalog_entry> load_group_catalog(caf::execution_unit* ctx,
                                                    const std::string& dir) {
  namespace fs = std::filesystem;
  std::vector<group_catalog_entry> result;
  std::error_code ec;
  std::string prefix = file_prefix;
  std::string suffix = file_suffix;
  for (auto& entry : fs::directory_iterator{dir, ec}) {
    auto name = entry.path().filename().string();
    if (name.size() <= prefix.size() + suffix.size()
        || name.compare(0, prefix.size(), prefix) != 0
        || name.compare(name.size() - suffix.size(), suffix.size(), suffix)
             != 0)
      continue;
    auto path = entry.path().string();
    auto digits = name.substr(prefix.size(),
                              name.size() - prefix.size() - suffix.size());
    char* end = nullptr;
    auto id = std::strtoull(digits.c_str(), &end, 10);
    auto bytes = read_framed_file(dir, name, file_magic);
    if (!bytes) {
      result.push_back({path, bytes.error()});
      continue;
    }
    if (!*bytes) // removed meanwhile
      continue;
    group_record x;
    // Handles in creation arguments name processes of before the restart.
    if (auto err = load_stored(ctx->system(), **bytes,
                               [&](caf::deserializer& f) { return f(x); })) {
      result.push_back({path, make_error(errc::corrupted,
                                         path + " cannot be decoded: "
                                           + describe(err))});
      continue;
    }
    if (*end != '\0' || x.id != id) {
      result.push_back({path, make_error(errc::corrupted,
                                         path + " holds group "
                                           + std::to_string(x.id)
                                           + ", not the one its name says")});
      continue;
    }
    result.push_back({path, std::move(x)});
  }
  return result;
}

} // namespace ftsr
