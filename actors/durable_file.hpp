// Durable replacement of a small file: write a temporary beside it, fsync,
// rename over the old one, fsync the directory. A crash leaves either the
// old or the new content, never a mix. Used for the membership state and
// the persistent catalog kept in a node's data directory.
#pragma once

#include <cstddef>
#include <string>

#include "caf/error.hpp"

#include "actors/errors.hpp"

namespace ftsr {

/// Replaces `dir`/`name` with `size` bytes at `data`. Errors carry `code`
/// and name the file and the system's reason.
caf::error write_file_durably(const std::string& dir, const std::string& name,
                              const char* data, size_t size, errc code);

} // namespace ftsr
