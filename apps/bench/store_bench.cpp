// ftsr-bench-store: the cost of stable_store (LMDB plus checksummed
// records, batches, error values) against raw LMDB doing the same
// operations in the same run, durable (sync) and async; then the latency
// of replicated stableStore group writes against the in-memory kv group,
// on three ftsr-node processes on loopback.
//
//   put: one single-key write transaction per operation, keys cycling
//        over --keys, --value bytes each; raw = mdb_txn_begin, mdb_put,
//        mdb_txn_commit with the same environment flags.
//   get: a read transaction per operation returning a std::string copy of
//        the value (raw: mdb_get plus the copy).
// Raw and store alternate in --rounds rounds (order flipped every round),
// each in its own environment under --dir, so that noise hits both.
#include <lmdb.h>
#include <sys/vfs.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "caf/all.hpp"

#include "actors/call.hpp"
#include "apps/bench/latency.hpp"
#include "apps/node/local_cluster.hpp"
#include "apps/node/sample_resources.hpp"
#include "persistence/stable_store.hpp"
#include "persistence/stable_store_group.hpp"
#include "replication/group.hpp"

using namespace ftsr;
using clock_type = std::chrono::steady_clock;

namespace {

struct options {
  size_t sync_ops = 2000;
  size_t async_ops = 20000;
  size_t get_ops = 100000;
  size_t group_ops = 1000;
  size_t keys = 1000;
  size_t value = 100;
  size_t rounds = 10;
  std::string dir;
  std::string node_bin = FTSR_NODE_BIN;
};

double us_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::micro>(clock_type::now() - t0)
    .count();
}

void check(int rc, const char* what) {
  if (rc != 0)
    throw std::runtime_error(std::string{what} + ": " + mdb_strerror(rc));
}

/// The baseline: LMDB used directly, same flags as stable_store.
class raw_lmdb {
public:
  raw_lmdb(const std::string& dir, durability mode) {
    std::filesystem::create_directories(dir);
    check(mdb_env_create(&env_), "mdb_env_create");
    check(mdb_env_set_mapsize(env_, size_t{1} << 30), "mdb_env_set_mapsize");
    unsigned flags = MDB_NOTLS;
    if (mode == durability::async)
      flags |= MDB_NOSYNC;
    check(mdb_env_open(env_, dir.c_str(), flags, 0644), "mdb_env_open");
    MDB_txn* txn = nullptr;
    check(mdb_txn_begin(env_, nullptr, 0, &txn), "mdb_txn_begin");
    check(mdb_dbi_open(txn, nullptr, 0, &dbi_), "mdb_dbi_open");
    check(mdb_txn_commit(txn), "mdb_txn_commit");
  }

  ~raw_lmdb() {
    mdb_env_close(env_);
  }

  void put(const std::string& key, const std::string& value) {
    MDB_txn* txn = nullptr;
    check(mdb_txn_begin(env_, nullptr, 0, &txn), "mdb_txn_begin");
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    MDB_val v{value.size(), const_cast<char*>(value.data())};
    check(mdb_put(txn, dbi_, &k, &v, 0), "mdb_put");
    check(mdb_txn_commit(txn), "mdb_txn_commit");
  }

  std::string get(const std::string& key) {
    MDB_txn* txn = nullptr;
    check(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn), "mdb_txn_begin");
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    MDB_val v;
    int rc = mdb_get(txn, dbi_, &k, &v);
    std::string result;
    if (rc == 0)
      result.assign(static_cast<const char*>(v.mv_data), v.mv_size);
    mdb_txn_abort(txn);
    check(rc, "mdb_get");
    return result;
  }

private:
  MDB_env* env_ = nullptr;
  MDB_dbi dbi_ = 0;
};

struct comparison {
  std::vector<double> raw_us, store_us;
};

/// Runs `ops` operations split in `rounds`, alternating which side goes
/// first; `raw_op(i)` / `store_op(i)` perform operation i.
template <class Raw, class Store>
comparison compare(size_t ops, size_t rounds, Raw raw_op, Store store_op) {
  comparison c;
  auto per_round = std::max<size_t>(1, ops / rounds);
  size_t i = 0;
  for (size_t r = 0; r < rounds; ++r) {
    auto run_raw = [&] {
      for (size_t j = 0; j < per_round; ++j) {
        auto t0 = clock_type::now();
        raw_op(i + j);
        c.raw_us.push_back(us_since(t0));
      }
    };
    auto run_store = [&] {
      for (size_t j = 0; j < per_round; ++j) {
        auto t0 = clock_type::now();
        store_op(i + j);
        c.store_us.push_back(us_since(t0));
      }
    };
    if (r % 2 == 0) {
      run_raw();
      run_store();
    } else {
      run_store();
      run_raw();
    }
    i += per_round;
  }
  return c;
}

void print_row(const char* op, const char* mode, comparison c) {
  // summarize() works in "ms" units; here the samples are microseconds.
  auto raw = bench::summarize(std::move(c.raw_us));
  auto st = bench::summarize(std::move(c.store_us));
  std::printf("  %-4s %-6s %9.2f %9.2f %6.3f | %9.2f %9.2f %6.3f | %9.2f "
              "%9.2f  (n=%zu)\n",
              op, mode, raw.p50_ms, st.p50_ms, st.p50_ms / raw.p50_ms,
              raw.mean_ms, st.mean_ms, st.mean_ms / raw.mean_ms, raw.p99_ms,
              st.p99_ms, st.n);
}

void local_stores(const options& opts) {
  std::vector<std::string> keys;
  for (size_t i = 0; i < opts.keys; ++i)
    keys.push_back("key/" + std::to_string(i));
  std::string value(opts.value, 'v');
  struct statfs fs;
  std::string fs_type = "?";
  if (::statfs(opts.dir.c_str(), &fs) == 0)
    fs_type = fs.f_type == 0xEF53 ? "ext2/3/4" : std::to_string(fs.f_type);
  std::printf("stable_store vs raw LMDB 0.9 in %s (%s), %zu-byte values, "
              "%zu keys, %zu rounds\n",
              opts.dir.c_str(), fs_type.c_str(), opts.value, opts.keys,
              opts.rounds);
  std::printf("  %-4s %-6s %9s %9s %6s | %9s %9s %6s | %9s %9s\n", "op", "mode",
              "raw p50", "ftsr p50", "ratio", "raw mean", "ftsr mean",
              "ratio", "raw p99", "ftsr p99");
  for (auto mode : {durability::sync, durability::async}) {
    auto name = mode == durability::sync ? "sync" : "async";
    auto base = opts.dir + "/" + name;
    raw_lmdb raw{base + "-raw", mode};
    auto store = open_lmdb_store({base + "-ftsr", mode});
    if (!store)
      throw std::runtime_error(describe(store.error()));
    auto& s = **store;
    auto puts = mode == durability::sync ? opts.sync_ops : opts.async_ops;
    // Fill every key first (not timed): all timed puts overwrite.
    for (auto& k : keys) {
      raw.put(k, value);
      if (auto err = s.put(k, value))
        throw std::runtime_error(describe(err));
    }
    print_row(
      "put", name,
      compare(
        puts, opts.rounds,
        [&](size_t i) { raw.put(keys[i % keys.size()], value); },
        [&](size_t i) {
          if (auto err = s.put(keys[i % keys.size()], value))
            throw std::runtime_error(describe(err));
        }));
    // Reads are the same in both modes: a scattered key order.
    auto scattered = [&](size_t i) -> const std::string& {
      return keys[(i * 7919) % keys.size()];
    };
    size_t sink = 0;
    print_row(
      "get", name,
      compare(
        opts.get_ops, opts.rounds,
        [&](size_t i) { sink += raw.get(scattered(i)).size(); },
        [&](size_t i) {
          auto v = s.get(scattered(i));
          if (!v || !*v)
            throw std::runtime_error("get failed");
          sink += (*v)->size();
        }));
    if (sink == 0)
      throw std::runtime_error("nothing read");
  }
  std::printf("ratio = ftsr / raw (< 1 or > 1 by noise alone: +-5-10 %%)\n");
}

void replicated(const options& opts) {
  local_cluster_options copts;
  copts.node_bin = opts.node_bin;
  local_cluster c{copts};
  auto& client = c.client();
  struct target {
    const char* name;
    capability_ref group;
    std::vector<double> ms;
    size_t errors = 0;
  };
  std::vector<target> targets;
  auto add = [&](const char* name, group_spec spec) {
    auto g = create_group(client, spec);
    if (!g)
      throw std::runtime_error(describe(g.error()));
    targets.push_back({name, *g, {}, 0});
  };
  add("kv x3 (memory)", {"kv", {"host1", "host2", "host3"}, 1});
  add("stable_store x3", {"stable_store", {"host1", "host2", "host3"}, 1});
  add("stable_store x2", {"stable_store", {"host1", "host2"}, 1});
  caf::scoped_actor self{client.system()};
  std::string value(opts.value, 'v');
  auto write = [&](target& t, size_t i, bool timed) {
    auto key = "key/" + std::to_string(i % opts.keys);
    auto t0 = clock_type::now();
    auto done = [&] {
      if (timed)
        t.ms.push_back(us_since(t0) / 1000.0);
    };
    auto failed = [&](caf::error&) { ++t.errors; };
    if (std::string{t.name}.rfind("kv", 0) == 0)
      ftsr::call(self, capability<>{t.group}, sample::put_atom::value, key,
                 value)
        .receive([&](bool) { done(); }, failed);
    else
      ftsr::call(self, capability<>{t.group}, ss_put_atom::value, key, value)
        .receive([&](bool) { done(); }, failed);
  };
  // Warm-up: connections, allocators, every key written once.
  for (auto& t : targets)
    for (size_t i = 0; i < opts.keys; ++i)
      write(t, i, false);
  auto per_round = std::max<size_t>(1, opts.group_ops / opts.rounds);
  for (size_t r = 0; r < opts.rounds; ++r)
    for (size_t k = 0; k < targets.size(); ++k) {
      auto& t = targets[(k + r) % targets.size()];
      for (size_t i = 0; i < per_round; ++i)
        write(t, r * per_round + i, true);
    }
  std::printf("replicated writes through the group (ftsr::call, one "
              "synchronous client), 3 ftsr-node processes on loopback, "
              "max_sf 1, %zu-byte values\n",
              opts.value);
  std::printf("  %-18s %9s %9s %9s %9s\n", "group", "p50 ms", "p99 ms",
              "mean ms", "errors");
  for (auto& t : targets) {
    auto s = bench::summarize(t.ms);
    std::printf("  %-18s %9.3f %9.3f %9.3f %9zu  (n=%zu)\n", t.name, s.p50_ms,
                s.p99_ms, s.mean_ms, t.errors, s.n);
  }
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"ftsr-bench-store: stable_store vs raw LMDB, replicated "
               "stableStore writes"};
  options opts;
  bool local_only = false;
  app.add_option("--sync-ops", opts.sync_ops, "durable puts per side");
  app.add_option("--async-ops", opts.async_ops, "async puts per side");
  app.add_option("--get-ops", opts.get_ops, "gets per side and mode");
  app.add_option("--group-ops", opts.group_ops, "timed writes per group");
  app.add_option("--keys", opts.keys, "distinct keys");
  app.add_option("--value", opts.value, "value bytes");
  app.add_option("--rounds", opts.rounds, "interleaved rounds");
  app.add_option("--dir", opts.dir,
                 "where the stores live (default: a new /tmp directory)");
  app.add_option("--node-bin", opts.node_bin, "ftsr-node executable");
  app.add_flag("--local-only", local_only, "skip the replicated part");
  CLI11_PARSE(app, argc, argv);
  try {
    bool own_dir = opts.dir.empty();
    if (own_dir)
      opts.dir = make_temp_dir();
    local_stores(opts);
    if (own_dir)
      std::filesystem::remove_all(opts.dir);
    if (!local_only)
      replicated(opts);
  } catch (const std::exception& e) {
    std::cerr << "ftsr-bench-store: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
