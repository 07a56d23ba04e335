// The stable store's record format (stable_store.cpp keeps one record per
// key in LMDB):
//
//   [version:1 = 1][payload length:4 LE][crc32c:4 LE][payload]
//
// The CRC-32C covers the key, the version and length bytes and the
// payload, so that a record moved under another key, torn or bit-flipped
// fails its check. Pure functions of their arguments; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ftsr::stable_record {

constexpr uint8_t version = 1;
constexpr size_t header = 9;
constexpr uint64_t max_payload = UINT32_MAX - header;

/// Writes the record of `payload` under `key` (header + payload bytes) to
/// `out`, which has room for header + payload.size() bytes;
/// payload.size() <= max_payload.
void encode(std::string_view key, std::string_view payload, void* out);

/// Why `bytes`, stored under `key`, are not a valid record (truncated,
/// unknown format, torn, checksum mismatch); empty if valid.
std::string check(std::string_view key, std::string_view bytes);

/// The payload of a record that passed check().
inline std::string_view payload(std::string_view bytes) {
  return bytes.substr(header);
}

} // namespace ftsr::stable_record
