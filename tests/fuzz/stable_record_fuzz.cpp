// libFuzzer target: the stable store's record decoder
// (persistence/stable_record.hpp) on arbitrary stored bytes. Input: one byte
// giving the key length, the key, then the bytes stored under it. Every
// input must be accepted or refused with a reason, never crash; a record it
// accepts must re-encode to the same bytes, and any payload, encoded, must
// pass the check. Built and run by scripts/fuzz.sh.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "persistence/stable_record.hpp"

namespace rec = ftsr::stable_record;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  auto* chars = reinterpret_cast<const char*>(data);
  size_t klen = std::min<size_t>(data[0], size - 1);
  std::string_view key{chars + 1, klen};
  std::string_view bytes{chars + 1 + klen, size - 1 - klen};
  if (rec::check(key, bytes).empty()) {
    std::string again(bytes.size(), '\0');
    rec::encode(key, rec::payload(bytes), again.data());
    if (again != bytes)
      std::abort();
  }
  std::string encoded(rec::header + bytes.size(), '\0');
  rec::encode(key, bytes, encoded.data());
  if (!rec::check(key, encoded).empty())
    std::abort();
  // Under another key, the same record fails (the key is in the checksum)
  // unless the keys are equal.
  std::string other{key};
  other.push_back('x');
  if (rec::check(other, encoded).empty())
    std::abort();
  return 0;
}
