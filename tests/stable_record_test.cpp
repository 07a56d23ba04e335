// The stable store's record format (persistence/stable_record.hpp): every
// way stored bytes can be bad is refused with its reason, and a record
// checks only under its own key. (tests/fuzz/stable_record_fuzz.cpp tries
// arbitrary bytes.)
#include <gtest/gtest.h>

#include <string>

#include "persistence/stable_record.hpp"

namespace rec = ftsr::stable_record;

namespace {

std::string encode(std::string_view key, std::string_view payload) {
  std::string out(rec::header + payload.size(), '\0');
  rec::encode(key, payload, out.data());
  return out;
}

TEST(stable_record, encoded_record_checks_and_gives_its_payload) {
  auto r = encode("k", "value");
  EXPECT_EQ(r.size(), rec::header + 5);
  EXPECT_EQ(rec::check("k", r), "");
  EXPECT_EQ(rec::payload(r), "value");
  EXPECT_EQ(rec::check("", encode("", "")), "");
}

TEST(stable_record, every_damage_is_refused_with_its_reason) {
  auto r = encode("k", "value");
  EXPECT_EQ(rec::check("k", r.substr(0, 4)), "truncated record (4 bytes)");
  auto other_format = r;
  other_format[0] = 2;
  EXPECT_EQ(rec::check("k", other_format), "unknown record format 2");
  EXPECT_EQ(rec::check("k", r.substr(0, r.size() - 1)),
            "torn record: header says 5 payload bytes, found 4");
  auto flipped = r;
  flipped.back() ^= 0x01;
  EXPECT_EQ(rec::check("k", flipped), "checksum mismatch");
  // Moved under another key.
  EXPECT_EQ(rec::check("j", r), "checksum mismatch");
}

} // namespace
