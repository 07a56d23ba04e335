// The group catalog files (replication/group_catalog.hpp): a record
// written is the record read back; damaged files are reported one by one,
// naming the file, without hiding the good ones.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "caf/all.hpp"
#include "caf/scoped_execution_unit.hpp"

#include "actors/errors.hpp"
#include "actors/protocol.hpp"
#include "replication/group_catalog.hpp"

using namespace ftsr;

namespace {

struct config : caf::actor_system_config {
  config() {
    add_protocol_types(*this);
  }
};

struct group_catalog_test : ::testing::Test {
  group_catalog_test() : sys(cfg), ctx(&sys) {
    char tmpl[] = "/tmp/ftsr-groups-XXXXXX";
    dir = ::mkdtemp(tmpl);
    rec.id = 77;
    rec.type = "stable_store";
    rec.args = caf::make_message(uint64_t{1} << 20);
    rec.max_sf = 1;
    rec.mode.backups = {"host3"};
    rec.mode.replicas = 2;
    rec.view = 4;
    rec.members = {{101, "host1"}, {102, "host2"}};
  }

  ~group_catalog_test() override {
    std::filesystem::remove_all(dir);
  }

  std::vector<char> file_bytes(uint64_t id) {
    std::ifstream in{group_catalog_file(dir, id), std::ios::binary};
    return {std::istreambuf_iterator<char>{in},
            std::istreambuf_iterator<char>{}};
  }

  void write_bytes(uint64_t id, const std::vector<char>& xs) {
    std::ofstream out{group_catalog_file(dir, id), std::ios::binary};
    out.write(xs.data(), static_cast<std::streamsize>(xs.size()));
  }

  config cfg;
  caf::actor_system sys;
  caf::scoped_execution_unit ctx;
  std::string dir;
  group_record rec;
};

} // namespace

TEST_F(group_catalog_test, record_round_trips) {
  ASSERT_FALSE(save_group_record(&ctx, dir, rec));
  auto xs = load_group_catalog(&ctx, dir);
  ASSERT_EQ(xs.size(), 1u);
  ASSERT_TRUE(xs[0].record) << describe(xs[0].record.error());
  auto& r = *xs[0].record;
  EXPECT_EQ(r.id, 77u);
  EXPECT_EQ(r.type, "stable_store");
  EXPECT_EQ(r.args.get_as<uint64_t>(0), uint64_t{1} << 20);
  EXPECT_EQ(r.max_sf, 1u);
  EXPECT_EQ(r.mode.backups, std::vector<std::string>{"host3"});
  EXPECT_EQ(r.mode.replicas, 2u);
  EXPECT_EQ(r.view, 4u);
  EXPECT_EQ(r.members, rec.members);
}

TEST_F(group_catalog_test, newer_view_replaces_and_removal_forgets) {
  ASSERT_FALSE(save_group_record(&ctx, dir, rec));
  rec.view = 5;
  rec.members = {{102, "host2"}, {103, "host3"}};
  ASSERT_FALSE(save_group_record(&ctx, dir, rec));
  auto xs = load_group_catalog(&ctx, dir);
  ASSERT_EQ(xs.size(), 1u);
  ASSERT_TRUE(xs[0].record);
  EXPECT_EQ(xs[0].record->view, 5u);
  EXPECT_EQ(xs[0].record->members, rec.members);
  ASSERT_FALSE(remove_group_record(dir, 77));
  EXPECT_TRUE(load_group_catalog(&ctx, dir).empty());
  EXPECT_FALSE(remove_group_record(dir, 77)) << "removing twice is fine";
}

TEST_F(group_catalog_test, damaged_files_are_reported_one_by_one) {
  ASSERT_FALSE(save_group_record(&ctx, dir, rec));
  auto good = file_bytes(77);
  // 78: truncated; 79: a bit flipped; 80: 77's record under another name.
  write_bytes(78, {good.begin(), good.begin() + good.size() / 2});
  auto flipped = good;
  flipped.back() ^= 0x01;
  write_bytes(79, flipped);
  write_bytes(80, good);
  auto xs = load_group_catalog(&ctx, dir);
  ASSERT_EQ(xs.size(), 4u);
  size_t ok = 0;
  for (auto& x : xs) {
    if (x.record) {
      ++ok;
      EXPECT_EQ(x.file, group_catalog_file(dir, 77));
      continue;
    }
    EXPECT_TRUE(is(x.record.error(), errc::corrupted))
      << describe(x.record.error());
    EXPECT_NE(describe(x.record.error()).find(x.file), std::string::npos)
      << describe(x.record.error());
  }
  EXPECT_EQ(ok, 1u);
}

TEST_F(group_catalog_test, other_files_are_left_alone) {
  std::ofstream{dir + "/membership.json"} << "{}";
  std::ofstream{dir + "/group-notes.txt"} << "x";
  std::filesystem::create_directory(dir + "/stable-store-77-101");
  EXPECT_TRUE(load_group_catalog(&ctx, dir).empty());
}

TEST_F(group_catalog_test, missing_directory_is_an_empty_catalog) {
  EXPECT_TRUE(load_group_catalog(&ctx, dir + "/nowhere").empty());
  auto err = save_group_record(&ctx, dir + "/nowhere", rec);
  ASSERT_TRUE(err);
  EXPECT_TRUE(is(err, errc::storage_error)) << describe(err);
}
