// Unit tests of the persistent catalog file (persistent.bin): what a node
// writes is what a restarted node reads, whatever the restart arguments
// hold, and a damaged file is refused with an error naming it.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "caf/all.hpp"
#include "caf/io/middleman.hpp"
#include "caf/scoped_execution_unit.hpp"

#include "actors/errors.hpp"
#include "actors/persistent_catalog.hpp"
#include "actors/protocol.hpp"

using namespace ftsr;

namespace {

struct config : caf::actor_system_config {
  config() {
    add_protocol_types(*this);
    // Gives the system a node id, as on a node.
    load<caf::io::middleman>();
  }
};

struct persistent_catalog_test : ::testing::Test {
  persistent_catalog_test() : sys(cfg), ctx(&sys) {
    char tmpl[] = "/tmp/ftsr-catalog-XXXXXX";
    dir = ::mkdtemp(tmpl);
    capability_ref store{41, "group:stable_store", "host2", 3, {}, {}};
    store.members = {capability_ref{42, "stable_store", "host2", 3, {}, {}},
                     capability_ref{43, "stable_store", "host3", 4, {}, {}}};
    entries.push_back(
      {restart_spec{7, "counter", caf::make_message(capability<>{store}),
                    {"host1", "host2", "host3"}},
       "host1", 2, 1});
    entries.push_back({restart_spec{8, "echo", caf::make_message(
                                                 std::string{"hi"}, 5),
                                    {"host2"}},
                       "host2", 3, 0});
  }

  ~persistent_catalog_test() override {
    std::filesystem::remove_all(dir);
  }

  void write_raw(const std::vector<char>& bytes) {
    std::ofstream out{dir + "/persistent.bin", std::ios::binary};
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  config cfg;
  caf::actor_system sys;
  caf::scoped_execution_unit ctx;
  std::string dir;
  std::vector<catalog_entry> entries;
};

void expect_same(const std::vector<catalog_entry>& xs,
                 const std::vector<catalog_entry>& ys) {
  ASSERT_EQ(xs.size(), ys.size());
  for (size_t i = 0; i < xs.size(); ++i) {
    EXPECT_EQ(xs[i].spec.id, ys[i].spec.id);
    EXPECT_EQ(xs[i].spec.type, ys[i].spec.type);
    EXPECT_EQ(xs[i].spec.nodes, ys[i].spec.nodes);
    EXPECT_EQ(to_string(xs[i].spec.args), to_string(ys[i].spec.args));
    EXPECT_EQ(xs[i].node, ys[i].node);
    EXPECT_EQ(xs[i].incarnation, ys[i].incarnation);
    EXPECT_EQ(xs[i].generation, ys[i].generation);
  }
}

} // namespace

TEST_F(persistent_catalog_test, round_trip_through_the_file) {
  auto bytes = encode_catalog(&ctx, entries);
  ASSERT_TRUE(bytes) << sys.render(bytes.error());
  ASSERT_FALSE(save_catalog(dir, *bytes));
  auto back = load_catalog(&ctx, dir);
  ASSERT_TRUE(back) << describe(back.error());
  expect_same(*back, entries);
  auto store = back->front().spec.args.get_as<capability<>>(0);
  ASSERT_EQ(store.ref().members.size(), 2u);
  EXPECT_EQ(store.ref().members[1].node, "host3");
}

// What a restarted node reads: handles of actors of another process (the
// node before its restart) in the restart arguments. They load as null
// handles (the capability resolves by id), and the rest of the catalog
// loads intact.
TEST_F(persistent_catalog_test, handles_of_a_gone_process_load_as_null) {
  config other_cfg;
  caf::actor_system other{other_cfg};
  ASSERT_NE(other.node(), sys.node()) << "the test needs two node ids";
  auto replica = other.spawn([] { return caf::behavior{[](int) {}}; });
  caf::scoped_execution_unit other_ctx{&other};
  auto& store = entries.front().spec.args.get_mutable_as<capability<>>(0);
  auto ref = store.ref();
  ref.handle = replica;
  ref.members[0].handle = replica;
  store = capability<>{ref};
  auto bytes = encode_catalog(&other_ctx, entries);
  ASSERT_TRUE(bytes) << other.render(bytes.error());
  ASSERT_FALSE(save_catalog(dir, *bytes));
  caf::anon_send_exit(replica, caf::exit_reason::kill);
  auto back = load_catalog(&ctx, dir);
  ASSERT_TRUE(back) << describe(back.error());
  ASSERT_EQ(back->size(), 2u);
  auto loaded = back->front().spec.args.get_as<capability<>>(0);
  EXPECT_FALSE(loaded.ref().handle);
  EXPECT_FALSE(loaded.ref().members[0].handle);
  EXPECT_EQ(loaded.ref().members[1].id, 43u);
  EXPECT_EQ(back->back().spec.args.get_as<std::string>(0), "hi");
}

TEST_F(persistent_catalog_test, empty_catalog_round_trips) {
  auto bytes = encode_catalog(&ctx, {});
  ASSERT_TRUE(bytes);
  ASSERT_FALSE(save_catalog(dir, *bytes));
  auto back = load_catalog(&ctx, dir);
  ASSERT_TRUE(back) << describe(back.error());
  EXPECT_TRUE(back->empty());
}

TEST_F(persistent_catalog_test, no_file_is_an_empty_catalog) {
  auto back = load_catalog(&ctx, dir);
  ASSERT_TRUE(back) << describe(back.error());
  EXPECT_TRUE(back->empty());
}

TEST_F(persistent_catalog_test, truncated_file_is_refused_naming_it) {
  auto bytes = encode_catalog(&ctx, entries);
  ASSERT_TRUE(bytes);
  for (auto cut : {size_t{0}, size_t{1}, bytes->size() / 2,
                   bytes->size() - 1}) {
    write_raw({bytes->begin(), bytes->begin() + static_cast<long>(cut)});
    auto back = load_catalog(&ctx, dir);
    ASSERT_FALSE(back) << "a file cut to " << cut << " of " << bytes->size()
                       << " bytes was accepted";
    EXPECT_TRUE(is(back.error(), errc::corrupted)) << describe(back.error());
    EXPECT_NE(describe(back.error()).find(dir + "/persistent.bin"),
              std::string::npos)
      << describe(back.error());
  }
}

TEST_F(persistent_catalog_test, corrupt_file_is_refused_and_left_in_place) {
  auto bytes = encode_catalog(&ctx, entries);
  ASSERT_TRUE(bytes);
  auto damaged = *bytes;
  damaged[damaged.size() / 2] ^= 0x5a;
  write_raw(damaged);
  auto back = load_catalog(&ctx, dir);
  ASSERT_FALSE(back);
  EXPECT_TRUE(is(back.error(), errc::corrupted)) << describe(back.error());
  // The damaged file stays for the operator to look at.
  std::ifstream in{dir + "/persistent.bin", std::ios::binary};
  std::vector<char> kept{std::istreambuf_iterator<char>{in},
                         std::istreambuf_iterator<char>{}};
  EXPECT_EQ(kept, damaged);
}

TEST_F(persistent_catalog_test, trailing_bytes_are_refused) {
  auto bytes = encode_catalog(&ctx, entries);
  ASSERT_TRUE(bytes);
  auto longer = *bytes;
  longer.push_back('x');
  write_raw(longer);
  auto back = load_catalog(&ctx, dir);
  ASSERT_FALSE(back);
  EXPECT_TRUE(is(back.error(), errc::corrupted)) << describe(back.error());
}

TEST_F(persistent_catalog_test, damaged_file_is_set_aside_for_an_empty_start) {
  write_raw({'n', 'o', 'p', 'e'});
  ASSERT_FALSE(load_catalog(&ctx, dir));
  auto aside = set_aside_catalog(dir);
  ASSERT_TRUE(aside) << describe(aside.error());
  EXPECT_EQ(*aside, dir + "/persistent.bin.damaged");
  EXPECT_TRUE(std::filesystem::exists(*aside));
  auto back = load_catalog(&ctx, dir);
  ASSERT_TRUE(back) << describe(back.error());
  EXPECT_TRUE(back->empty());
}

TEST_F(persistent_catalog_test, unwritable_directory_is_an_error_naming_it) {
  auto bytes = encode_catalog(&ctx, entries);
  ASSERT_TRUE(bytes);
  auto err = save_catalog(dir + "/missing", *bytes);
  ASSERT_TRUE(err);
  EXPECT_TRUE(is(err, errc::storage_error)) << describe(err);
  EXPECT_NE(describe(err).find(dir + "/missing"), std::string::npos)
    << describe(err);
}
