// Durable replacement of a small file: write a temporary beside it, fsync,
// rename over the old one, fsync the directory. A crash leaves either the
// old or the new content, never a mix. Used for the membership state and
// the catalogs kept in a node's data directory. Framed files add a header
// (magic, length, CRC-32) so that a truncated, torn or damaged file is
// told apart from a valid one. Thread-safe (no shared state).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "caf/error.hpp"
#include "caf/expected.hpp"

#include "actors/errors.hpp"

namespace ftsr {

/// Replaces `dir`/`name` with `size` bytes at `data`. Errors carry `code`
/// and name the file and the system's reason.
caf::error write_file_durably(const std::string& dir, const std::string& name,
                              const char* data, size_t size, errc code);

/// Replaces `dir`/`name` with `payload` in a frame:
///   [magic:8][payload length:8 LE][crc32 of the payload:4 LE][payload]
/// `magic` names the content and its format version (exactly 8 bytes).
/// Errors as write_file_durably (errc::storage_error).
caf::error write_framed_file(const std::string& dir, const std::string& name,
                             const std::string& magic,
                             const std::vector<char>& payload);

/// The payload of `dir`/`name` written by write_framed_file with `magic`;
/// nothing if the file does not exist. errc::corrupted naming the file and
/// what is wrong if it is shorter than its header says, longer, of another
/// magic, or fails its checksum; errc::storage_error if it cannot be read.
caf::expected<std::optional<std::vector<char>>>
read_framed_file(const std::string& dir, const std::string& name,
                 const std::string& magic);

} // namespace ftsr
