// Types registered on one side only: a client or node that lacks an
// application message type, a node that lacks a resource type, wrong
// arguments for a persistent actor. Each is an immediate error naming the
// type (never a silent drop and a timeout), and the cluster stays usable.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include <boost/serialization/map.hpp>
#include <boost/serialization/string.hpp>

#include "caf/all.hpp"

#include "actors/call.hpp"
#include "actors/errors.hpp"
#include "actors/message_types.hpp"
#include "replication/group.hpp"
#include "replication/replica.hpp"
#include "replication/resource.hpp"
#include "tests/support/in_process_cluster.hpp"

namespace ftsr {
namespace {

/// An application message type, registered as "test.item".
struct item {
  std::string name;
  int64_t count = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, item& x) {
  return f(caf::meta::type_name("test.item"), x.name, x.count);
}

using count_atom = caf::atom_constant<caf::atom("count")>;

/// A resource created from items: (count, name) -> the item's count.
struct stock : resource<stock> {
  std::map<std::string, int64_t> items;

  void init(const caf::message& args) override {
    if (args.match_elements<item>()) {
      auto& x = args.get_as<item>(0);
      items[x.name] = x.count;
    }
  }

  caf::behavior operations() override {
    return {
      [this](count_atom, const std::string& name) { return items[name]; },
      [this](const item& x) { return items[x.name] += x.count; },
    };
  }

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& items;
  }
};

void add_stock(caf::actor_system_config& cfg) {
  add_resource_type<stock>(cfg, "stock");
  cfg.add_message_type<item>("test.item");
}

/// host3 registers the samples only (like a stock ftsr-node); host1 and
/// host2 also the application's types.
class message_types_test : public testing::in_process_cluster {
public:
  void adjust(node_options& opts) override {
    if (opts.name != "host3")
      opts.add_types = [](caf::actor_system_config& cfg) {
        sample::add_sample_types(cfg);
        add_stock(cfg);
      };
  }

  /// A client of the cluster registering `add_types`.
  std::unique_ptr<node> client(std::function<void(caf::actor_system_config&)>
                                 add_types) {
    node_options opts;
    opts.cluster = at(0).context().cluster;
    opts.add_types = std::move(add_types);
    auto n = node::start(std::move(opts));
    EXPECT_TRUE(n) << describe(n.error());
    if (!n)
      return nullptr;
    EXPECT_TRUE((*n)->await_up({"host1", "host2", "host3"}));
    return std::move(*n);
  }

  caf::expected<int64_t> count(node& n, const capability_ref& g,
                               const std::string& name) {
    caf::scoped_actor self{n.system()};
    caf::expected<int64_t> result{caf::none};
    ftsr::call(self, capability<>{g}, count_atom::value, name)
      .receive([&](int64_t x) { result = x; },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  /// Every member can still create and use a group of the application.
  void expect_usable() {
    auto g = create_group(at(0), {"stock", {"host1", "host2"}, 1},
                          caf::make_message(item{"apples", 7}));
    ASSERT_TRUE(g) << describe(g.error());
    auto n = count(at(0), *g, "apples");
    ASSERT_TRUE(n) << describe(n.error());
    EXPECT_EQ(*n, 7);
  }
};

TEST_F(message_types_test, names_the_cpp_type_a_client_did_not_register) {
  auto c = client(sample::add_sample_types); // forgot add_stock
  ASSERT_NE(c, nullptr);
  auto g = create_group(*c, {"stock", {"host1", "host2"}, 1},
                        caf::make_message(item{"apples", 7}));
  ASSERT_FALSE(g);
  EXPECT_TRUE(is(g.error(), errc::invalid_argument)) << describe(g.error());
  auto msg = describe(g.error());
  EXPECT_NE(msg.find("ftsr::(anonymous namespace)::item"), std::string::npos)
    << msg;
  EXPECT_NE(msg.find("creation arguments of 'stock'"), std::string::npos)
    << msg;
  expect_usable();
}

TEST_F(message_types_test, a_call_with_a_type_the_caller_did_not_register) {
  auto g = create_group(at(0), {"stock", {"host1", "host2"}, 1},
                        caf::make_message(item{"apples", 7}));
  ASSERT_TRUE(g) << describe(g.error());
  auto deliver = [&](node& n) {
    caf::scoped_actor self{n.system()};
    caf::expected<int64_t> result{caf::none};
    ftsr::call(self, capability<>{*g}, item{"apples", 3})
      .with_timeout(std::chrono::seconds(30))
      .receive([&](int64_t x) { result = x; },
               [&](caf::error& err) { result = std::move(err); });
    return result;
  };
  auto c = client(sample::add_sample_types); // forgot add_stock
  ASSERT_NE(c, nullptr);
  auto refused = deliver(*c);
  ASSERT_FALSE(refused) << "a call CAF cannot send was answered";
  // Refused before sending, not the call's timeout.
  EXPECT_TRUE(is(refused.error(), errc::invalid_argument))
    << describe(refused.error());
  auto msg = describe(refused.error());
  EXPECT_NE(msg.find("argument 1 of the call of"), std::string::npos) << msg;
  EXPECT_NE(msg.find("ftsr::(anonymous namespace)::item"), std::string::npos)
    << msg;
  // A caller that registered it is served; the refused call changed nothing.
  auto served = deliver(at(1));
  ASSERT_TRUE(served) << describe(served.error());
  EXPECT_EQ(*served, 10);
}

TEST_F(message_types_test, names_the_type_a_member_did_not_register) {
  auto c = client([](caf::actor_system_config& cfg) {
    sample::add_sample_types(cfg);
    add_stock(cfg);
  });
  ASSERT_NE(c, nullptr);
  // host3 as a backup of the group: it would restart a replica with them.
  group_spec spec{"stock", {"host1", "host2"}, 1};
  spec.backups = {"host3"};
  auto g = create_group(*c, spec, caf::make_message(item{"apples", 7}));
  ASSERT_FALSE(g);
  EXPECT_TRUE(is(g.error(), errc::invalid_argument)) << describe(g.error());
  auto msg = describe(g.error());
  EXPECT_NE(msg.find("node 'host3'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'test.item'"), std::string::npos) << msg;
  // Nothing was spawned for the refused group.
  for (auto& n : nodes)
    for (auto& ref : n->context().dir.alive())
      EXPECT_NE(ref.type, "stock") << to_string(ref);
  expect_usable();
}

TEST_F(message_types_test, names_the_resource_type_a_member_does_not_host) {
  auto g = create_group(at(0), {"stock", {"host1", "host3"}, 1},
                        caf::make_message(item{"apples", 7}));
  ASSERT_FALSE(g);
  // The application type passes the check only on host1: host3 lacks it.
  EXPECT_TRUE(is(g.error(), errc::invalid_argument)) << describe(g.error());
  auto plain = create_group(at(0), {"stock", {"host1", "host3"}, 1});
  ASSERT_FALSE(plain);
  EXPECT_TRUE(is(plain.error(), errc::unknown_actor_type))
    << describe(plain.error());
  auto msg = describe(plain.error());
  EXPECT_NE(msg.find("host3 hosts no actor type 'stock'"), std::string::npos)
    << msg;
  EXPECT_NE(msg.find("ftsr::node_main"), std::string::npos) << msg;
  expect_usable();
}

TEST_F(message_types_test, wrong_arguments_of_a_persistent_actor) {
  // "counter" takes a capability<> (its store), not an int.
  auto counter = at(0).spawn_persistent("host3", {"host2"}, "counter",
                                        caf::make_message(int32_t{1}));
  ASSERT_FALSE(counter);
  EXPECT_TRUE(is(counter.error(), errc::invalid_argument))
    << describe(counter.error());
  auto msg = describe(counter.error());
  EXPECT_NE(msg.find("cannot be created from the arguments (int)"),
            std::string::npos)
    << msg;
  EXPECT_TRUE(at(0).spawn("host3", "echo"));
}

TEST(message_types, describes_cpp_types) {
  EXPECT_EQ(cpp_type_names(caf::make_message(int32_t{1}, std::string{"x"})),
            "(int, std::string)");
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto names = application_type_names(sys, caf::make_message(1, item{}),
                                      "the test's");
  ASSERT_FALSE(names);
  EXPECT_NE(describe(names.error()).find("argument 2 of the test's"),
            std::string::npos)
    << describe(names.error());
}

} // namespace
} // namespace ftsr
