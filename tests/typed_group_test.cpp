// Typed resource groups: a resource declaring its interface as a
// caf::typed_actor (operations checked at compile time, calls on a
// capability<Interface> too: see typed_call_mismatch.cpp), and the runtime
// refusal of an invocation no operation takes, naming its argument types
// and, for a typed resource, the interface's signatures.
#include <gtest/gtest.h>

#include <string>

#include "caf/all.hpp"

#include "actors/call.hpp"
#include "apps/node/sample_resources.hpp"
#include "replication/group.hpp"
#include "tests/support/in_process_cluster.hpp"
#include "tests/support/typed_tally.hpp"

namespace ftsr {
namespace {

using namespace testing::tally;

class typed_group_test : public testing::in_process_cluster {
public:
  void add_types(caf::actor_system_config& cfg) override {
    testing::in_process_cluster::add_types(cfg);
    add_tally(cfg);
  }

  template <class T, class Handle, class... Ts>
  caf::expected<T> ask(const capability<Handle>& g, Ts&&... xs) {
    caf::scoped_actor self{at(0).system()};
    caf::expected<T> result{caf::none};
    ftsr::call(self, g, std::forward<Ts>(xs)...)
      .receive([&](T& x) { result = std::move(x); },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }
};

TEST_F(typed_group_test, typed_calls_reach_every_replica) {
  auto g = create_group(at(0), {"tally", {"host1", "host2", "host3"}, 1});
  ASSERT_TRUE(g) << describe(g.error());
  capability<tally_if> t{*g};
  EXPECT_EQ(*ask<int64_t>(t, bump_atom::value, std::string{"a"}, int64_t{2}), 2);
  EXPECT_EQ(*ask<int64_t>(t, bump_atom::value, std::string{"a"}, int64_t{3}), 5);
  // The {primary} operation of a typed resource.
  EXPECT_EQ(*ask<int64_t>(t, total_atom::value), 5);
  // Every replica reaches the same state.
  EXPECT_TRUE(testing::eventually([&] {
    auto members = group_members_status(at(0), *g);
    for (auto& m : members)
      if (m.digest != members[0].digest)
        return false;
    return members.size() == 3;
  })) << "the replicas' states differ";
}

TEST_F(typed_group_test, mismatch_names_the_types_and_the_signatures) {
  auto g = create_group(at(0), {"tally", {"host1", "host2", "host3"}, 1});
  ASSERT_TRUE(g) << describe(g.error());
  capability<tally_if> t{*g};
  ASSERT_TRUE(ask<int64_t>(t, bump_atom::value, std::string{"a"}, int64_t{2}));
  // Untyped, an int where the interface wants an int64_t.
  auto bad = ask<int64_t>(capability<>{*g}, bump_atom::value, std::string{"a"},
                          2);
  ASSERT_FALSE(bad);
  EXPECT_TRUE(is(bad.error(), errc::invalid_argument)) << describe(bad.error());
  auto msg = describe(bad.error());
  EXPECT_NE(msg.find("of types (caf::atom_value, std::string, int)"),
            std::string::npos)
    << msg;
  EXPECT_NE(msg.find("the operations are (bump, std::string, long) -> long, "
                     "(total) -> long"),
            std::string::npos)
    << msg;
  // Nothing was ordered: the state is intact.
  EXPECT_EQ(*ask<int64_t>(t, total_atom::value), 2);
}

TEST_F(typed_group_test, untyped_resource_mismatch_suggests_an_interface) {
  auto g = create_group(at(0), {"kv", {"host1", "host2", "host3"}, 1});
  ASSERT_TRUE(g) << describe(g.error());
  auto bad = ask<bool>(capability<>{*g}, sample::put_atom::value, 1, 2);
  ASSERT_FALSE(bad);
  auto msg = describe(bad.error());
  EXPECT_NE(msg.find("declares no interface"), std::string::npos) << msg;
  EXPECT_NE(msg.find("of types (caf::atom_value, int, int)"),
            std::string::npos)
    << msg;
}

TEST(typed_group, signature_labels) {
  using sig = caf::replies_to<bump_atom, std::string, int64_t>::with<int64_t>;
  EXPECT_EQ(detail::signature_label<sig>::get(),
            "(bump, std::string, long) -> long");
  using two = caf::replies_to<total_atom>::with<int64_t, std::string>;
  EXPECT_EQ(detail::signature_label<two>::get(), "(total) -> (long, std::string)");
}

} // namespace
} // namespace ftsr
