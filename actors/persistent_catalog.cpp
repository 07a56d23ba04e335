// The persistent catalog; see persistent_catalog.hpp.
#include "actors/persistent_catalog.hpp"

#include <fstream>
#include <iterator>

#include "caf/execution_unit.hpp"
#include "caf/binary_deserializer.hpp"
#include "caf/binary_serializer.hpp"

#include "actors/directory.hpp"
#include "actors/durable_file.hpp"
#include "actors/errors.hpp"

namespace ftsr {

namespace {

constexpr const char* file_name = "persistent.bin";

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
  return write_file_durably(dir, file_name, bytes.data(), bytes.size(),
                            errc::storage_error);
}

caf::expected<std::vector<catalog_entry>>
load_catalog(caf::execution_unit* ctx, const std::string& dir) {
  auto path = dir + "/" + file_name;
  std::ifstream in{path, std::ios::binary};
  if (!in)
    return std::vector<catalog_entry>{};
  std::vector<char> buf{std::istreambuf_iterator<char>{in},
                        std::istreambuf_iterator<char>{}};
  std::vector<catalog_entry> result;
  caf::binary_deserializer source{ctx, buf};
  if (auto err = source(result))
    return make_error(errc::corrupted,
                      path + " cannot be decoded: " + to_string(err));
  return result;
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
