// The replicated stableStore group: its operations and their refusals,
// a replica that fails its own storage stopping (fail-stop) while the
// group serves, and a node failure under concurrent writes followed by a
// join with state transfer, after which every replica's store holds the
// same records, on disk as well. First across three in-process nodes,
// then across real ftsr-node processes with kill -9.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>

#include "caf/all.hpp"
#include "caf/scoped_execution_unit.hpp"

#include "actors/call.hpp"
#include "apps/node/local_cluster.hpp"
#include "persistence/stable_store.hpp"
#include "persistence/stable_store_group.hpp"
#include "replication/group.hpp"
#include "replication/group_catalog.hpp"
#include "tests/support/call_load.hpp"
#include "tests/support/in_process_cluster.hpp"

using namespace ftsr;
using namespace std::chrono_literals;
using ftsr::testing::eventually;
namespace fs = std::filesystem;

namespace {

using records = std::vector<std::pair<std::string, std::string>>;
using strings = std::vector<std::string>;

group_spec store_spec(std::vector<std::string> nodes) {
  return {"stable_store", std::move(nodes), 1};
}

template <class T, class... Ts>
caf::expected<T> ask(node& n, const capability_ref& g, Ts&&... xs) {
  caf::scoped_actor self{n.system()};
  caf::expected<T> result{caf::none};
  ftsr::call(self, capability<>{g}, std::forward<Ts>(xs)...)
    .receive([&](T& x) { result = std::move(x); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

caf::expected<bool> put(node& n, const capability_ref& g, const std::string& k,
                        const std::string& v) {
  return ask<bool>(n, g, ss_put_atom::value, k, v);
}

/// The group's records with `prefix`, read through the group.
records scan(node& n, const capability_ref& g, const std::string& prefix = "") {
  auto flat = ask<strings>(n, g, ss_scan_atom::value, prefix);
  EXPECT_TRUE(flat) << describe(flat.error());
  records result;
  for (size_t i = 0; flat && i + 1 < flat->size(); i += 2)
    result.emplace_back((*flat)[i], (*flat)[i + 1]);
  return result;
}

/// Waits until `members` live replicas serve with one delivery log and
/// byte-identical snapshots (the whole store of each replica).
bool converged(node& n, const capability_ref& g, size_t members) {
  return eventually([&] {
    auto st = group_members_status(n, g);
    if (st.size() != members)
      return false;
    for (auto& s : st)
      if (s.digest != st[0].digest || s.delivered != st[0].delivered
          || s.state != st[0].state || !s.serving)
        return false;
    return true;
  });
}

/// A replica's store read straight from disk (its node must be stopped).
records on_disk(const std::string& data_dir, uint64_t group, uint64_t replica) {
  auto s = open_lmdb_store({stable_store_dir(data_dir, group, replica)});
  EXPECT_TRUE(s) << describe(s.error());
  if (!s)
    return {};
  auto all = (*s)->scan("");
  EXPECT_TRUE(all) << describe(all.error());
  records result;
  // Keys starting with NUL are the replica's own (its position).
  for (auto& kv : all ? *all : records{})
    if (kv.first.front() != '\0')
      result.push_back(kv);
  return result;
}

/// Clients writing unique keys ("w<client>-<i>" = "v<i>") through the
/// group.
class writers : public ftsr::testing::call_load<std::string> {
public:
  writers(std::vector<node*> clients, capability_ref group)
    : call_load(std::move(clients),
                [group](caf::scoped_actor& self, size_t c, uint64_t i) {
                  auto key = "w" + std::to_string(c) + "-" + std::to_string(i);
                  auto err = ftsr::testing::call_outcome<bool>(
                    self, group, ss_put_atom::value, key,
                    "v" + std::to_string(i));
                  return std::make_pair(key, err);
                }) {
    // nop
  }
};

/// Every acknowledged write is in `rs`, and every written key holds the
/// value its writer gave it.
void expect_writes_kept(const records& rs, const std::set<std::string>& acked) {
  std::map<std::string, std::string> m{rs.begin(), rs.end()};
  for (auto& k : acked)
    EXPECT_EQ(m.count(k), 1u) << "acknowledged write lost: " << k;
  for (auto& [k, v] : m) {
    if (k[0] == 'w') {
      EXPECT_EQ(v, "v" + k.substr(k.find('-') + 1)) << k;
    }
  }
}

/// The three in-process nodes of in_process_cluster (each with its own
/// data directory); a node can be stopped and started again (a new
/// incarnation), with or without its data directory.
class stable_store_group_test : public ftsr::testing::in_process_cluster {
public:
  void SetUp() override {
    in_process_cluster::SetUp();
    for (auto& n : nodes)
      data_dirs.push_back(n->context().data_dir);
  }

  /// Stops node `i` and starts it again; waits until `observer` sees it.
  void restart(size_t i, size_t observer, bool with_data_dir = true) {
    node_options opts;
    opts.cluster = at(observer).context().cluster;
    opts.name = names[i];
    if (with_data_dir)
      opts.data_dir = data_dirs[i];
    opts.add_types = [this](caf::actor_system_config& c) { add_types(c); };
    adjust(opts);
    nodes[i].reset();
    ASSERT_TRUE(at(observer).await_failed(names[i]));
    auto n = node::start(std::move(opts));
    ASSERT_TRUE(n) << describe(n.error());
    nodes[i] = std::move(*n);
    ASSERT_TRUE(nodes[i]->await_up(names));
    ASSERT_TRUE(at(observer).await_up({names[i]}));
  }

  void one_of_two_fails_under_writes(size_t victim);

  const std::vector<std::string> names{"host1", "host2", "host3"};
  std::vector<std::string> data_dirs;
};

} // namespace

TEST_F(stable_store_group_test, operations_and_their_refusals) {
  auto g = create_group(at(0), store_spec({"host1", "host2"}));
  ASSERT_TRUE(g) << describe(g.error());
  auto& n = at(2);
  EXPECT_EQ(*put(n, *g, "acct/1", "100"), true);
  EXPECT_EQ(*put(n, *g, "acct/1", "90"), false);
  EXPECT_EQ(*put(n, *g, "acct/2", "5"), true);
  EXPECT_EQ(*put(n, *g, "tm/status", "commit"), true);
  EXPECT_EQ(*ask<std::string>(n, *g, ss_get_atom::value, std::string{"acct/1"}),
            "90");
  auto absent = ask<std::string>(n, *g, ss_get_atom::value, std::string{"x"});
  ASSERT_FALSE(absent);
  EXPECT_TRUE(is(absent.error(), errc::invalid_argument));
  EXPECT_NE(describe(absent.error()).find("no record 'x'"), std::string::npos);
  EXPECT_EQ(*ask<bool>(n, *g, ss_erase_atom::value, std::string{"tm/status"}),
            true);
  EXPECT_EQ(*ask<bool>(n, *g, ss_erase_atom::value, std::string{"tm/status"}),
            false);
  // One atomic batch: erases, then puts.
  ASSERT_TRUE(ask<bool>(n, *g, ss_write_atom::value,
                        strings{"acct/3", "acct/4"}, strings{"7", "8"},
                        strings{"acct/2"}));
  EXPECT_EQ(scan(n, *g, "acct/"),
            (records{{"acct/1", "90"}, {"acct/3", "7"}, {"acct/4", "8"}}));
  // Refusals are replies; nothing changes.
  auto empty_key = put(n, *g, "", "v");
  ASSERT_FALSE(empty_key);
  EXPECT_TRUE(is(empty_key.error(), errc::invalid_argument));
  auto mismatched = ask<bool>(n, *g, ss_write_atom::value, strings{"a", "b"},
                              strings{"1"}, strings{});
  ASSERT_FALSE(mismatched);
  EXPECT_NE(describe(mismatched.error()).find("2 keys but 1 values"),
            std::string::npos);
  auto half_bad = ask<bool>(n, *g, ss_write_atom::value, strings{"ok", ""},
                            strings{"1", "2"}, strings{});
  ASSERT_FALSE(half_bad);
  EXPECT_EQ(scan(n, *g).size(), 3u);
  EXPECT_TRUE(converged(n, *g, 2));
}

// Each write stores the replica's position with it (what a cold restart
// compares to find the freshest replica); the position's key is reserved
// and never shows through the group.
TEST_F(stable_store_group_test, writes_store_the_replica_position) {
  auto g = create_group(at(0), store_spec({"host1", "host2"}));
  ASSERT_TRUE(g) << describe(g.error());
  auto& n = at(2);
  for (auto k : {"a", "b", "c"})
    ASSERT_TRUE(put(n, *g, k, "v"));
  auto nul = put(n, *g, std::string{"\0x", 2}, "v");
  ASSERT_FALSE(nul);
  EXPECT_TRUE(is(nul.error(), errc::invalid_argument))
    << describe(nul.error());
  EXPECT_EQ(scan(n, *g), (records{{"a", "v"}, {"b", "v"}, {"c", "v"}}));
  ASSERT_TRUE(converged(n, *g, 2));
  auto st = group_members_status(n, *g);
  ASSERT_EQ(st.size(), 2u);
  // The last write is the last entry but the refused put and the scan.
  auto last_write = st[0].delivered - 2;
  nodes[0].reset();
  nodes[1].reset();
  for (size_t i = 0; i < 2; ++i) {
    auto pos = stable_store_position(
      stable_store_dir(data_dirs[i], g->id, g->members[i].id));
    ASSERT_TRUE(pos) << describe(pos.error());
    ASSERT_TRUE(pos->has_value()) << "replica " << i << " kept no position";
    EXPECT_EQ((*pos)->seq, last_write) << "replica " << i;
    EXPECT_EQ((*pos)->view, st[0].view) << "replica " << i;
  }
  EXPECT_EQ(on_disk(data_dirs[0], g->id, g->members[0].id),
            (records{{"a", "v"}, {"b", "v"}, {"c", "v"}}));
}

// What a cold restart decides from the nodes' disks alone: each replica's
// node holds the group's record and the replica's position. host2 stops,
// the group goes on without it (a new group view, recorded on host1) and
// acknowledges a write host2 never saw; then host1 stops. The group comes
// back from host1 alone; host2's stale store is never a source, even once
// host1's store is lost (then the group waits: it cannot come back without
// losing an acknowledged write).
TEST_F(stable_store_group_test, disks_alone_tell_how_to_bring_a_group_back) {
  auto g = create_group(at(0), store_spec({"host1", "host2"}));
  ASSERT_TRUE(g) << describe(g.error());
  auto& n = at(2);
  for (auto k : {"a", "b"})
    ASSERT_TRUE(put(n, *g, k, "v"));
  ASSERT_TRUE(converged(n, *g, 2));
  // host2 stops first; host1 applies one more write alone.
  nodes[1].reset();
  ASSERT_TRUE(eventually([&] { return bool{put(n, *g, "c", "v")}; }, 20s))
    << "the group did not serve on after losing its backup";
  nodes[0].reset();
  caf::scoped_execution_unit unit{&n.system()};
  cold_start_planner planner;
  std::vector<replica_report> reports;
  std::vector<std::string> problems;
  for (size_t i = 0; i < 2; ++i) {
    std::vector<group_record> recs;
    for (auto& x : load_group_catalog(&unit, data_dirs[i])) {
      ASSERT_TRUE(x.record) << describe(x.record.error());
      recs.push_back(*x.record);
    }
    ASSERT_EQ(recs.size(), 1u) << names[i] << " keeps no group record";
    EXPECT_EQ(recs[0].id, g->id);
    EXPECT_EQ(recs[0].type, "stable_store");
    planner.add_records(recs);
    auto rs = stable_store_reports(data_dirs[i], names[i], recs, problems);
    ASSERT_EQ(rs.size(), 1u) << names[i];
    reports.push_back(rs[0]);
  }
  EXPECT_TRUE(problems.empty()) << problems.front();
  ASSERT_TRUE(reports[0].position && reports[1].position);
  EXPECT_LT(*reports[1].position, *reports[0].position);
  cold_start_planner without_host1 = planner;
  for (auto& r : reports)
    planner.add_report(r);
  auto plans = planner.ready();
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(plans[0].source.node, "host1");
  EXPECT_EQ(plans[0].members, std::vector<replica_place>{plans[0].source});
  EXPECT_GT(plans[0].group.view, 0u);
  // host1's store lost: its report says so.
  fs::remove_all(stable_store_dir(data_dirs[0], g->id, reports[0].replica.id));
  std::vector<group_record> recs{plans[0].group};
  auto lost = stable_store_reports(data_dirs[0], "host1", recs, problems);
  ASSERT_EQ(lost.size(), 1u);
  EXPECT_FALSE(lost[0].position);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("missing"), std::string::npos) << problems[0];
  without_host1.add_report(lost[0]);
  without_host1.add_report(reports[1]);
  EXPECT_TRUE(without_host1.ready().empty());
  EXPECT_EQ(without_host1.waiting().size(), 1u);
}

TEST_F(stable_store_group_test, quota_refuses_alike_at_every_replica) {
  // A quota of 1000 bytes; each record counts key + value + 64.
  auto g = create_group(at(0), store_spec({"host1", "host2", "host3"}),
                        caf::make_message(uint64_t{1000}));
  ASSERT_TRUE(g) << describe(g.error());
  ASSERT_TRUE(put(at(1), *g, "a", std::string(500, 'x')));
  auto full = put(at(1), *g, "b", std::string(500, 'x'));
  ASSERT_FALSE(full);
  EXPECT_TRUE(is(full.error(), errc::no_space)) << describe(full.error());
  EXPECT_NE(describe(full.error()).find("quota of 1000 bytes"),
            std::string::npos);
  // Overwriting with a smaller value and erasing free quota.
  ASSERT_TRUE(put(at(1), *g, "a", std::string(100, 'x')));
  ASSERT_TRUE(put(at(1), *g, "b", std::string(500, 'x')));
  ASSERT_TRUE(ask<bool>(at(1), *g, ss_erase_atom::value, std::string{"a"}));
  ASSERT_TRUE(put(at(1), *g, "c", std::string(300, 'x')));
  EXPECT_EQ(scan(at(1), *g).size(), 2u);
  EXPECT_TRUE(converged(at(1), *g, 3));
}

TEST_F(stable_store_group_test, node_without_data_dir_cannot_host_a_replica) {
  restart(2, 0, false);
  // Creation fails with the replica's reason; nothing is left behind.
  auto bad = create_group(at(0), store_spec({"host1", "host2", "host3"}));
  ASSERT_FALSE(bad);
  auto why = describe(bad.error());
  EXPECT_NE(why.find("storage_error: node host3 has no data directory"),
            std::string::npos)
    << why;
  // A replica added there fails the same way (it answers the state
  // transfer with the error: the primary must not die of that message),
  // and the group serves on with its two replicas.
  auto g = create_group(at(0), store_spec({"host1", "host2"}));
  ASSERT_TRUE(g) << describe(g.error());
  ASSERT_TRUE(put(at(0), *g, "k", "v"));
  auto joined = add_replica(at(0), *g, "host3");
  ASSERT_FALSE(joined);
  why = describe(joined.error());
  EXPECT_NE(why.find("storage_error: node host3 has no data directory"),
            std::string::npos)
    << why;
  ASSERT_TRUE(put(at(0), *g, "k2", "v"));
  auto& dir = at(0).context().dir;
  EXPECT_FALSE(dir.failure_of(g->members[0])) << "the primary died";
  EXPECT_FALSE(dir.failure_of(g->members[1]));
  EXPECT_TRUE(eventually([&] {
    auto st = group_members_status(at(0), *g);
    return st.size() == 2 && st[0].members.size() == 2 && st[0].serving;
  })) << "the failed joiner is still listed";
  EXPECT_TRUE(converged(at(0), *g, 2));
}

TEST_F(stable_store_group_test, corrupted_replica_stops_and_group_serves) {
  // FT-SR's two replicas: the intact one serves on alone.
  auto g = create_group(at(0), store_spec({"host1", "host2"}));
  ASSERT_TRUE(g) << describe(g.error());
  const std::string value = "balance-of-account-42-is-1000";
  ASSERT_TRUE(put(at(0), *g, "acct/42", value));
  ASSERT_TRUE(converged(at(0), *g, 2));
  // Flip a payload bit in the backup on host2, under its running store:
  // LMDB reads through a shared mapping of the file, so the replica sees it.
  auto backup = g->members[1];
  auto file = stable_store_dir(data_dirs[1], g->id, backup.id) + "/data.mdb";
  std::fstream f{file, std::ios::in | std::ios::out | std::ios::binary};
  std::string bytes{std::istreambuf_iterator<char>{f}, {}};
  auto at_payload = bytes.find(value);
  ASSERT_NE(at_payload, std::string::npos);
  f.seekp(static_cast<std::streamoff>(at_payload));
  f.put(static_cast<char>(value[0] ^ 0x01));
  f.close();
  // The primary answers with the intact value; the damaged backup stops
  // (fail-stop) instead of diverging, and the group goes on without it.
  EXPECT_EQ(*ask<std::string>(at(1), *g, ss_get_atom::value,
                              std::string{"acct/42"}),
            value);
  ASSERT_TRUE(eventually(
    [&] { return static_cast<bool>(at(0).context().dir.failure_of(backup)); }));
  // It stopped cleanly with the storage error (no exception).
  auto why = describe(at(0).context().dir.failure_of(backup));
  EXPECT_NE(why.find("record 'acct/42': checksum mismatch"), std::string::npos)
    << why;
  EXPECT_EQ(why.find("exception"), std::string::npos) << why;
  ASSERT_TRUE(put(at(1), *g, "after", "v"));
  EXPECT_TRUE(converged(at(0), *g, 1));
}

/// FT-SR's two replicas on host1 and host2, clients on host3: the node of
/// replica `victim` stops while clients write; the other replica serves on
/// alone (its node is in the cluster's primary partition); the node comes
/// back and a new replica there catches up by state transfer; both stores
/// are identical, on disk as well.
void stable_store_group_test::one_of_two_fails_under_writes(size_t victim) {
  uint64_t group_id = 0;
  std::vector<std::pair<size_t, uint64_t>> live; // (node, replica id)
  records through_group;
  {
    // Everything from host3: handles must not outlive the actor system
    // that made them.
    auto& n = at(2);
    auto g = create_group(n, store_spec({"host1", "host2"}));
    ASSERT_TRUE(g) << describe(g.error());
    for (int i = 0; i < 50; ++i)
      ASSERT_TRUE(put(n, *g, "init/" + std::to_string(i), "x"));
    writers w{{&at(2), &at(2)}, *g};
    ASSERT_TRUE(w.progress(100)) << "no progress before the failure";
    restart(victim, 2);
    ASSERT_TRUE(w.progress(100)) << "no progress after " << names[victim]
                                 << " failed";
    // The restarted node hosts a new replica: state transfer from the
    // survivor while the writes go on.
    auto rejoined = add_replica(n, *g, names[victim]);
    ASSERT_TRUE(rejoined) << describe(rejoined.error());
    auto grown = *g;
    grown.members.push_back(*rejoined);
    ASSERT_TRUE(w.progress(100)) << "no progress after the join";
    w.stop();

    ASSERT_TRUE(converged(n, grown, 2)) << "replicas differ";
    through_group = scan(n, grown);
    EXPECT_EQ(scan(n, grown, "init/").size(), 50u);
    expect_writes_kept(through_group, w.acked_tokens());
    group_id = g->id;
    live = {{1 - victim, g->members[1 - victim].id}, {victim, rejoined->id}};
  }
  // Straight from each live replica's LMDB environment.
  nodes.clear();
  for (auto& [i, replica] : live)
    EXPECT_EQ(on_disk(data_dirs[i], group_id, replica), through_group)
      << names[i];
}

TEST_F(stable_store_group_test, primary_node_failure_under_writes) {
  one_of_two_fails_under_writes(0);
}

TEST_F(stable_store_group_test, backup_node_failure_under_writes) {
  one_of_two_fails_under_writes(1);
}

// Real ftsr-node processes (each with its own --data-dir): kill -9 of the
// primary's node while clients write, restart of the process, join of a
// new replica there by state transfer.
TEST(stable_store_group_system, kill9_restart_and_state_transfer) {
  local_cluster_options opts;
  opts.node_bin = FTSR_NODE_BIN;
  local_cluster c{opts};
  auto& client = c.client();
  auto g = create_group(client, store_spec({"host1", "host2"}));
  ASSERT_TRUE(g) << describe(g.error());
  for (int i = 0; i < 50; ++i)
    ASSERT_TRUE(put(client, *g, "init/" + std::to_string(i), "x"));
  // FT-SR's two replicas: the survivor serves on alone.
  auto grown = *g;

  writers w{{&client, &client}, grown};
  ASSERT_TRUE(w.progress(100)) << "no progress before the kill";
  c.kill9("host1");
  ASSERT_TRUE(w.progress(100)) << "no progress after kill -9 of the primary";
  c.start("host1");
  ASSERT_TRUE(client.await_up({"host1"}));
  // The store of the replica killed mid-write is intact (sync commits):
  // it opens, checksums hold, and every record is one the writers wrote.
  // local_cluster gives each node the data directory data-<name> beside
  // its log.
  auto host1_data = fs::path{c.log_of("host1")}.parent_path() / "data-host1";
  auto killed = on_disk(host1_data.string(), g->id, g->members[0].id);
  EXPECT_GE(killed.size(), 50u);
  expect_writes_kept(killed, {});
  auto rejoined = add_replica(client, grown, "host1");
  ASSERT_TRUE(rejoined) << describe(rejoined.error()) << ", see "
                        << c.log_of("host1");
  grown.members.push_back(*rejoined);
  ASSERT_TRUE(w.progress(100)) << "no progress after the join";
  w.stop();

  ASSERT_TRUE(converged(client, grown, 2)) << "replicas differ";
  auto final_records = scan(client, grown);
  EXPECT_EQ(scan(client, grown, "init/").size(), 50u);
  expect_writes_kept(final_records, w.acked_tokens());

  // The new replica on host1 removed the killed one's stale directory.
  EXPECT_FALSE(fs::exists(stable_store_dir(host1_data.string(), g->id,
                                           g->members[0].id)));
  EXPECT_TRUE(fs::exists(stable_store_dir(host1_data.string(), g->id,
                                          rejoined->id)));
}
