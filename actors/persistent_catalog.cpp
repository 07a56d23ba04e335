// The persistent catalog; see persistent_catalog.hpp.
#include "actors/persistent_catalog.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "caf/execution_unit.hpp"
#include "caf/binary_serializer.hpp"

#include "actors/directory.hpp"
#include "actors/durable_file.hpp"
#include "actors/errors.hpp"
#include "actors/stored_data.hpp"

namespace ftsr {

namespace {

constexpr const char* file_name = "persistent.bin";
/// The file's format: a framed file (durable_file.hpp) holding the CAF
/// binary serialization of a vector<catalog_entry>.
constexpr const char* file_magic = "ftsrpc01";

} // namespace

std::vector<catalog_entry> catalog_of(const directory& dir) {
  std::vector<catalog_entry> result;
  for (auto& spec : dir.restart_specs()) {
    auto ref = dir.lookup(spec.id);
    if (!ref || is(dir.failure_of(*ref), errc::destroyed))
      continue;
    result.push_back({spec, ref->node, ref->incarnation, ref->generation});
  }
  return result;
}

caf::expected<std::vector<char>>
encode_catalog(caf::execution_unit* ctx, const std::vector<catalog_entry>& xs) {
  std::vector<char> buf;
  caf::binary_serializer sink{ctx, buf};
  auto copy = xs;
  if (auto err = sink(copy))
    return err;
  return buf;
}

caf::error save_catalog(const std::string& dir, const std::vector<char>& bytes) {
  return write_framed_file(dir, file_name, file_magic, bytes);
}

caf::expected<std::vector<catalog_entry>>
load_catalog(caf::execution_unit* ctx, const std::string& dir) {
  auto bytes = read_framed_file(dir, file_name, file_magic);
  if (!bytes)
    return bytes.error();
  std::vector<catalog_entry> result;
  if (!*bytes)
    return result;
  auto path = dir + "/" + file_name;
  // Handles in restart arguments name processes of before the restart.
  if (auto err = load_stored(ctx->system(), **bytes,
                             [&](caf::deserializer& f) { return f(result); }))
    return make_error(errc::corrupted, path + " cannot be decoded: "
                                         + describe(err));
  return result;
}

caf::expected<std::string> set_aside_catalog(const std::string& dir) {
  auto path = dir + "/" + file_name;
  auto aside = path + ".damaged";
  if (::rename(path.c_str(), aside.c_str()) != 0)
    return make_error(errc::storage_error, "cannot rename " + path + " to "
                                             + aside + ": "
                                             + std::strerror(errno));
  return aside;
}

void restore_catalog(directory& dir, const std::vector<catalog_entry>& xs) {
  for (auto& x : xs) {
    dir.set_restart_spec(x.spec);
    if (!dir.lookup(x.spec.id))
      dir.bind(capability_ref{x.spec.id, x.spec.type, x.node, x.incarnation,
                              {}, {}, x.generation});
  }
}

} // namespace ftsr
