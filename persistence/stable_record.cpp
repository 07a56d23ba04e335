#include "persistence/stable_record.hpp"

#include <cstring>

#include <boost/crc.hpp>

namespace ftsr::stable_record {

namespace {

// CRC-32C (Castagnoli, as in LevelDB): the SSE4.2 instruction where the
// CPU has it (much faster than a table), Boost's table-driven version
// otherwise; both compute the same values.
using crc32c_table = boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF,
                                        0xFFFFFFFF, true, true>;

#if defined(__x86_64__)
/// Continues the (pre-inverted) CRC-32C register `reg` over `p[0..n)`.
__attribute__((target("sse4.2"))) uint32_t
crc32c_sse42(uint32_t reg, const char* p, size_t n) {
  uint64_t r = reg;
  for (; n >= 8; n -= 8, p += 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    r = __builtin_ia32_crc32di(r, word);
  }
  auto r32 = static_cast<uint32_t>(r);
  for (; n > 0; --n, ++p)
    r32 = __builtin_ia32_crc32qi(r32, static_cast<unsigned char>(*p));
  return r32;
}
#endif

uint32_t record_crc(std::string_view key, const uint8_t* head,
                    const char* payload, size_t n) {
  auto* h = reinterpret_cast<const char*>(head);
#if defined(__x86_64__)
  static const bool sse42 = __builtin_cpu_supports("sse4.2");
  if (sse42) {
    auto reg = crc32c_sse42(0xFFFFFFFF, key.data(), key.size());
    reg = crc32c_sse42(reg, h, 5);
    return ~crc32c_sse42(reg, payload, n);
  }
#endif
  crc32c_table crc;
  crc.process_bytes(key.data(), key.size());
  crc.process_bytes(h, 5);
  crc.process_bytes(payload, n);
  return crc.checksum();
}

void store_le32(uint8_t* out, uint32_t x) {
  for (int i = 0; i < 4; ++i)
    out[i] = static_cast<uint8_t>(x >> (8 * i));
}

uint32_t load_le32(const uint8_t* in) {
  uint32_t x = 0;
  for (int i = 0; i < 4; ++i)
    x |= static_cast<uint32_t>(in[i]) << (8 * i);
  return x;
}

} // namespace

void encode(std::string_view key, std::string_view payload, void* out) {
  auto* p = static_cast<uint8_t*>(out);
  p[0] = version;
  store_le32(p + 1, static_cast<uint32_t>(payload.size()));
  store_le32(p + 5, record_crc(key, p, payload.data(), payload.size()));
  if (!payload.empty())
    std::memcpy(p + header, payload.data(), payload.size());
}

std::string check(std::string_view key, std::string_view bytes) {
  if (bytes.size() < header)
    return "truncated record (" + std::to_string(bytes.size()) + " bytes)";
  auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  if (p[0] != version)
    return "unknown record format " + std::to_string(p[0]);
  auto n = load_le32(p + 1);
  if (n != bytes.size() - header)
    return "torn record: header says " + std::to_string(n)
           + " payload bytes, found " + std::to_string(bytes.size() - header);
  if (load_le32(p + 5) != record_crc(key, p, bytes.data() + header, n))
    return "checksum mismatch";
  return {};
}

} // namespace ftsr::stable_record
