// The persistent catalog on disk: what it restores, and that a catalog
// which does not decode to what was written is refused instead of being
// restored as garbage restart specs.
#include <gtest/gtest.h>

#include "caf/all.hpp"
#include "caf/io/all.hpp"

#include "actors/errors.hpp"
#include "actors/persistent_catalog.hpp"
#include "actors/protocol.hpp"
#include "apps/node/local_cluster.hpp"

using namespace ftsr;

namespace {

struct persistent_catalog : ::testing::Test {
  persistent_catalog() : sys(init(cfg)), self(sys), dir(make_temp_dir()) {
  }

  static caf::actor_system_config& init(caf::actor_system_config& c) {
    c.load<caf::io::middleman>();
    add_protocol_types(c);
    return c;
  }

  catalog_entry entry(caf::message args) {
    catalog_entry e;
    e.spec = restart_spec{7, "visits", std::move(args),
                          {"host1", "host2", "host3"}};
    e.node = "host1";
    e.incarnation = 5;
    e.generation = 1;
    return e;
  }

  caf::actor_system_config cfg;
  caf::actor_system sys;
  caf::scoped_actor self;
  std::string dir;
};

} // namespace

TEST_F(persistent_catalog, entries_without_handles_come_back) {
  auto bytes = encode_catalog(self->context(),
                              {entry(caf::make_message(uint64_t{2}))});
  ASSERT_TRUE(bytes) << describe(bytes.error());
  ASSERT_FALSE(save_catalog(dir, *bytes));
  auto xs = load_catalog(self->context(), dir);
  ASSERT_TRUE(xs) << describe(xs.error());
  ASSERT_EQ(xs->size(), 1u);
  EXPECT_EQ((*xs)[0].spec.args.get_as<uint64_t>(0), 2u);
  EXPECT_EQ((*xs)[0].spec.nodes,
            (std::vector<std::string>{"host1", "host2", "host3"}));
  EXPECT_EQ((*xs)[0].node, "host1");
  EXPECT_EQ((*xs)[0].generation, 1u);
}

// A restart argument holding a capability (with an actor handle, as the
// bank's stable store arguments do): CAF reads the message back as empty
// and the rest of the file as garbage. The catalog is refused, and what
// was on disk stays there.
TEST_F(persistent_catalog, arguments_with_handles_are_refused_not_misread) {
  capability_ref store{42, "stable_store", "host2", 7, {}, {}, 0};
  auto bytes = encode_catalog(self->context(),
                              {entry(caf::make_message(capability<>{store}))});
  ASSERT_TRUE(bytes) << describe(bytes.error());
  ASSERT_FALSE(save_catalog(dir, *bytes));
  auto xs = load_catalog(self->context(), dir);
  ASSERT_FALSE(xs) << "restored " << xs->size() << " entries, the first with "
                   << "arguments " << caf::to_string(xs->front().spec.args);
  EXPECT_TRUE(is(xs.error(), errc::corrupted)) << describe(xs.error());
  EXPECT_NE(describe(xs.error()).find("does not decode to what was written"),
            std::string::npos)
    << describe(xs.error());
}

TEST_F(persistent_catalog, a_missing_catalog_is_empty) {
  auto xs = load_catalog(self->context(), dir + "/none");
  ASSERT_TRUE(xs) << describe(xs.error());
  EXPECT_TRUE(xs->empty());
}
