// libFuzzer target: the group protocol messages a node accepts from its
// peers. Input: one byte choosing the receiving replica and its node's
// standing, then up to eight caf::message values in CAF's binary format, as
// they arrive in a BASP payload. Each is deserialized with every type a
// sample node registers (any registered type may appear, so every inspect()
// of the wire types is exercised) and, if it decodes, handed to a
// replica_machine through replica_inputs, the decoder replica.cpp uses.
// Every input must be refused or handled without a crash, a sanitizer
// report or an escaping exception. Built and run by scripts/fuzz.sh.
//
// With FTSR_FUZZ_WRITE_SEEDS=DIR set, the target instead writes the
// messages of a small real run (an invocation and a member failure in a
// three-member group) to DIR, one seed per message: the committed corpus
// tests/fuzz/corpus/protocol.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "caf/all.hpp"

#include "actors/errors.hpp"
#include "actors/protocol.hpp"
#include "apps/node/sample_actors.hpp"
#include "apps/node/sample_resources.hpp"
#include "replication/replica_inputs.hpp"
#include "replication/replica_machine.hpp"

using namespace ftsr;

namespace {

constexpr size_t max_messages = 8;
const std::vector<uint64_t> members{1, 2, 3};

caf::actor_system& wire_system() {
  static auto* cfg = [] {
    auto* c = new caf::actor_system_config;
    add_error_category(*c);
    add_protocol_types(*c);
    sample::add_sample_types(*c);
    c->set("scheduler.max-threads", 1);
    c->set("logger.file-verbosity", caf::atom("quiet"));
    return c;
  }();
  static auto* sys = new caf::actor_system(*cfg);
  return *sys;
}

/// A started member `me` of the group {1, 2, 3} (1 is the primary).
std::unique_ptr<replica_machine> make_member(uint64_t me, node_standing s) {
  auto m = std::make_unique<replica_machine>("host" + std::to_string(me),
                                             [s] { return s; });
  m->set_group(capability_ref{100, "kv", "host1", 1});
  m->start(me, members, 1, {}, std::make_unique<sample::kv_store>(), {});
  return m;
}

// -- seeds: the messages of a small real run ----------------------------------

void write_seed(const std::string& dir, size_t n, uint64_t to,
                caf::message msg) {
  std::vector<char> buf{static_cast<char>(to - 1)};
  caf::binary_serializer sink{wire_system(), buf};
  if (auto err = sink(msg)) {
    std::fprintf(stderr, "cannot serialize a seed: %s\n",
                 wire_system().render(err).c_str());
    std::exit(1);
  }
  std::ofstream out{dir + "/seed-" + std::to_string(n), std::ios::binary};
  out.write(buf.data(), static_cast<std::streamsize>(buf.size()));
}

void write_seeds(const std::string& dir) {
  node_standing standing{true, true, true};
  std::map<uint64_t, std::unique_ptr<replica_machine>> group;
  for (auto id : members)
    group[id] = make_member(id, standing);
  size_t written = 0;
  std::vector<std::pair<uint64_t, replica_step>> steps;
  auto run = [&](uint64_t at, replica_step s) {
    steps.emplace_back(at, std::move(s));
    // Deliver every send and fire every timer, bounded.
    for (size_t i = 0; i < steps.size() && i < 200; ++i) {
      auto [from, step] = std::move(steps[i]);
      for (auto t : step.timers)
        if (t != replica_timer::depart)
          steps.emplace_back(from, group[from]->on_timer(t));
      for (auto& out : step.sends) {
        auto msg = peer_message(out.msg, {group[out.to]->group(), out.to, 1,
                                          {}});
        write_seed(dir, written++, out.to, msg);
        auto& to = *group[out.to];
        replica_inputs(to, {[&](replica_step next) {
                         steps.emplace_back(out.to, std::move(next));
                       }})(msg);
      }
    }
    steps.clear();
  };
  invocation put{7, reply_policy::first,
                 caf::make_message(sample::put_atom::value, std::string{"k"},
                                   std::string{"v"}),
                 {}, {}};
  run(1, group[1]->on_invoke(put, 1, {}));
  group.erase(3);
  run(1, group[1]->on_member_failed(3));
  run(2, group[2]->on_member_failed(3));
  std::fprintf(stderr, "wrote %zu seeds to %s\n", written, dir.c_str());
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  wire_system();
  if (auto* dir = std::getenv("FTSR_FUZZ_WRITE_SEEDS")) {
    write_seeds(dir);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0)
    return 0;
  auto me = members[data[0] % members.size()];
  node_standing standing{true, (data[0] & 4) != 0, (data[0] & 8) != 0};
  auto m = make_member(me, standing);
  auto inputs = replica_inputs(*m, {[](replica_step) {}});
  caf::binary_deserializer source{wire_system(),
                                  reinterpret_cast<const char*>(data + 1),
                                  size - 1};
  for (size_t i = 0; i < max_messages && source.remaining() > 0; ++i) {
    caf::message msg;
    if (source(msg))
      break; // refused: the node drops what does not decode
    inputs(msg);
  }
  return 0;
}
