// ftsr-bench-checkpoint: time of one FTM consistent checkpoint of three
// communicating actors, each with a 1 MiB state, into the LMDB stable store
// (durability::sync, the default, and durability::async), and into an
// in-memory store (protocol and serialization alone, no storage).
//
//   ftsr-bench-checkpoint [--rounds 100] [--warmup 5] [--state-kib 1024]
//                         [--dir /tmp/...]
//
// One actor system, three participants in a ring. Each round first passes
// a token once around the ring (every actor changes a byte of its state and
// now depends on its predecessor), waits for it, then times checkpoint()
// rooted at actor 1: spawning the coordinator, the build wave (which finds
// actors 2 and 3 through the dependencies), precommit (three 1 MiB Boost
// snapshots, and the markers every member sends every member, itself
// included, to close the channels: 9 messages), the single atomic write
// of all three records, and commit. The token is back before the
// checkpoint starts, so the channels are empty: this measures the
// protocol, not recorded traffic. Every round must commit all three
// actors with nothing in flight. Prints median, p99 (nearest rank), mean,
// min and max per store. Exit code: 0, or 1 on a failed round (message on
// stderr).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include <boost/serialization/string.hpp>

#include "caf/all.hpp"

#include "actors/errors.hpp"
#include "apps/bench/latency.hpp"
#include "persistence/checkpoint.hpp"
#include "persistence/stable_store.hpp"

using namespace ftsr;
using clock_type = std::chrono::steady_clock;

namespace {

using connect_atom = caf::atom_constant<caf::atom("connect")>;
using fill_atom = caf::atom_constant<caf::atom("fill")>;
using touch_atom = caf::atom_constant<caf::atom("touch")>;
using done_atom = caf::atom_constant<caf::atom("done")>;

constexpr auto bound = std::chrono::seconds(10);

struct blob_state {
  uint64_t touches = 0;
  std::string bytes;

  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar & touches & bytes;
  }
};

class blob_actor : public participant<blob_state> {
public:
  using participant::participant;

  void on_exit() override {
    next_ = caf::actor{};
    participant::on_exit();
  }

protected:
  caf::behavior updates() override {
    return {
      [this](connect_atom, caf::actor next) { next_ = std::move(next); },
      [this](fill_atom, uint64_t size) { state.bytes.assign(size, 'x'); },
      [this](touch_atom, uint64_t hops, const caf::actor& notify) {
        auto& b = state.bytes;
        if (!b.empty())
          b[state.touches % b.size()] ^= 1;
        ++state.touches;
        if (hops > 0)
          tell(next_, touch_atom::value, hops - 1, notify);
        else
          send(notify, done_atom::value);
      },
    };
  }

private:
  caf::actor next_;
};

/// Storage-free baseline: what the protocol and the snapshots cost alone.
class memory_store : public stable_store {
public:
  caf::expected<std::optional<std::string>>
  get(std::string_view key) override {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = data_.find(std::string{key});
    if (i == data_.end())
      return std::optional<std::string>{};
    return std::optional<std::string>{i->second};
  }

  caf::error write(const write_batch& batch) override {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& op : batch.ops())
      if (op.value)
        data_[op.key] = *op.value;
      else
        data_.erase(op.key);
    return caf::none;
  }

  caf::expected<std::vector<std::pair<std::string, std::string>>>
  scan(std::string_view prefix) override {
    std::lock_guard<std::mutex> guard{mtx_};
    std::vector<std::pair<std::string, std::string>> xs;
    for (auto i = data_.lower_bound(std::string{prefix});
         i != data_.end() && i->first.compare(0, prefix.size(), prefix) == 0;
         ++i)
      xs.push_back(*i);
    return xs;
  }

  size_t max_key_size() const noexcept override {
    return 511;
  }

private:
  std::mutex mtx_;
  std::map<std::string, std::string> data_;
};

/// Runs warmup + rounds checkpoints into `store`; returns the samples (ms).
std::vector<double> run(caf::actor_system& sys, stable_store& store,
                        int warmup, int rounds, uint64_t state_bytes) {
  caf::scoped_actor self{sys};
  std::vector<caf::actor> ring;
  for (uint64_t id = 1; id <= 3; ++id)
    ring.push_back(spawn_participant<blob_actor>(sys, id));
  for (size_t i = 0; i < ring.size(); ++i) {
    self->send(ring[i], connect_atom::value, ring[(i + 1) % ring.size()]);
    self->send(ring[i], fill_atom::value, state_bytes);
  }
  std::vector<double> samples;
  for (int r = 0; r < warmup + rounds; ++r) {
    // Link the ring: 1 -> 2 -> 3 -> 1, every actor changed.
    self->send(ring[0], touch_atom::value, uint64_t{3},
               caf::actor_cast<caf::actor>(self));
    bool ok = false;
    self->receive([&](done_atom) { ok = true; },
                  caf::after(bound) >> [] {});
    if (!ok)
      throw std::runtime_error("token did not come back");
    auto t0 = clock_type::now();
    auto res = checkpoint(sys, store, {ring[0]});
    auto t1 = clock_type::now();
    if (!res)
      throw std::runtime_error("checkpoint failed: " + describe(res.error()));
    if (res->epochs.size() != 3)
      throw std::runtime_error("checkpoint took "
                               + std::to_string(res->epochs.size())
                               + " actors, not 3");
    if (res->in_flight != 0)
      throw std::runtime_error("checkpoint stored "
                               + std::to_string(res->in_flight)
                               + " in-flight messages of a quiet ring");
    if (r >= warmup)
      samples.push_back(
        std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  for (auto& a : ring)
    self->send_exit(a, caf::exit_reason::user_shutdown);
  return samples;
}

void print(const char* name, const std::vector<double>& samples) {
  auto s = bench::summarize(samples);
  std::printf("  %-14s %5zu %9.3f %9.3f %9.3f %9.3f %9.3f\n", name, s.n,
              s.p50_ms, s.p99_ms, s.mean_ms, s.min_ms, s.max_ms);
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"FTM checkpoint of 3 actors with large states into stable "
               "storage"};
  int rounds = 100;
  int warmup = 5;
  uint64_t state_kib = 1024;
  std::string dir;
  app.add_option("--rounds", rounds, "timed checkpoints per store")
    ->check(CLI::Range(1, 100000));
  app.add_option("--warmup", warmup, "untimed checkpoints first")
    ->check(CLI::Range(0, 1000));
  app.add_option("--state-kib", state_kib, "state size per actor (KiB)")
    ->check(CLI::Range(1, 65536));
  app.add_option("--dir", dir, "parent of the LMDB data directories "
                               "(default: a new temp dir, removed after)");
  CLI11_PARSE(app, argc, argv);
  bool own_dir = dir.empty();
  if (own_dir) {
    char tmpl[] = "/tmp/ftsr-bench-ckpt-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      std::perror("mkdtemp");
      return 1;
    }
    dir = tmpl;
  }
  caf::actor_system_config cfg;
  add_checkpoint_types(cfg);
  add_error_category(cfg);
  caf::actor_system sys{cfg};
  int rc = 0;
  try {
    std::printf("3 actors x %llu KiB, %d rounds (+%d warmup)\n",
                static_cast<unsigned long long>(state_kib), rounds, warmup);
    std::printf("  %-14s %5s %9s %9s %9s %9s %9s\n", "store", "n",
                "p50 [ms]", "p99 [ms]", "mean", "min", "max");
    for (auto mode : {durability::sync, durability::async}) {
      auto name = mode == durability::sync ? "lmdb-sync" : "lmdb-async";
      auto st = open_lmdb_store({dir + "/" + name, mode});
      if (!st)
        throw std::runtime_error(describe(st.error()));
      print(name, run(sys, **st, warmup, rounds, state_kib * 1024));
    }
    memory_store mem;
    print("memory", run(sys, mem, warmup, rounds, state_kib * 1024));
  } catch (const std::exception& e) {
    std::cerr << "ftsr-bench-checkpoint: " << e.what() << '\n';
    rc = 1;
  }
  if (own_dir)
    std::filesystem::remove_all(dir);
  return rc;
}
