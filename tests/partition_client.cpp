// partition_client: the client side of the partition tests, one ftsr client
// node (node_options with an empty name) per process, run in the root
// namespace or inside a node's network namespace.
//
//   create-kv       creates the kv group (persistent: failed replicas are
//                   replaced on the group's nodes) and writes its ids
//   create-counter  creates a stableStore group and a persistent counter
//                   using it, and writes their ids
//   load            a bounded load (count, time, SIGTERM) of writes of
//                   unique tokens and reads (optionally from reader-only
//                   threads), recorded as a history (JSON lines,
//                   tests/support/history_check.hpp)
//   settle          waits (bounded) until every node sees every node up and
//                   every replica serves identically, then reads everything
//                   back and writes the final state (JSON)
//
// kv: a write appends "<token>;" to key k<n> (n from the token), a read gets
// a random key and returns its tokens. counter: a write is add(token, 1), a
// read the total (a count), each answer recording which incarnation of the
// counter sent it. Every call has its own timeout (outcome unknown).
//
// Exit codes: 0 done, 1 setup failed (message on stderr), 2 bad arguments.
// The process ends with _Exit once its output is written: calls still in
// flight to a partitioned node must not hold up the actor system's shutdown.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "caf/all.hpp"
#include "caf/io/all.hpp"

#include "actors/call.hpp"
#include "actors/errors.hpp"
#include "actors/node.hpp"
#include "actors/transport.hpp"
#include "apps/node/sample_actors.hpp"
#include "apps/node/sample_persistent.hpp"
#include "apps/node/sample_resources.hpp"
#include "replication/group.hpp"
#include "tests/support/history_check.hpp"

using namespace ftsr;
using namespace ftsr::sample;
using ftsr::testing::op_outcome;
using ftsr::testing::op_record;
using nlohmann::json;

namespace {

using op_timeout_atom = caf::atom_constant<caf::atom("optimeout")>;

std::atomic<bool> stop_requested{false};

extern "C" void on_stop_signal(int) {
  stop_requested = true;
}

[[noreturn]] void die(const std::string& what) {
  std::cerr << "partition_client: " << what << std::endl;
  std::fflush(nullptr);
  std::_Exit(1);
}

[[noreturn]] void finish() {
  std::cout << "partition_client: done" << std::endl;
  std::fflush(nullptr);
  std::_Exit(0);
}

int64_t now_ns() {
  // CLOCK_MONOTONIC, shared by all network namespaces.
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::istringstream in{s};
  std::string x;
  while (std::getline(in, x, sep))
    if (!x.empty())
      out.push_back(x);
  return out;
}

std::unique_ptr<node> start_client(const std::string& config_path) {
  auto cluster = load_cluster_config(config_path);
  if (!cluster)
    die(describe(cluster.error()));
  node_options opts;
  opts.cluster = std::move(*cluster);
  opts.add_types = add_sample_types;
  auto n = node::start(std::move(opts));
  if (!n)
    die("cannot start the client node: " + describe(n.error()));
  return std::move(*n);
}

std::vector<std::string> node_names(node& n) {
  std::vector<std::string> names;
  for (auto& m : n.context().cluster.nodes)
    names.push_back(m.name);
  return names;
}

// -- finding what the test created --------------------------------------
// Until named capabilities exist, a client process rebuilds a capability
// from the ids the creating process wrote: a group from its members (each
// bound in every directory), a persistent actor from its own binding.
// This is the one place to switch to names.

json group_ids(const capability_ref& g) {
  json members = json::array();
  for (auto& m : g.members)
    members.push_back(m.id);
  return {{"id", g.id}, {"type", g.type}, {"members", members}};
}

/// The group of `ids` with `member_ids` (rank order) as its members: those
/// this client's directory knows (a client started after a member failed
/// may never learn of it). Nothing if it knows none, or if `all` and it
/// does not know them all yet.
std::optional<capability_ref> lookup_group(node& n, const json& ids,
                                           const std::vector<uint64_t>& member_ids,
                                           bool all) {
  capability_ref g;
  g.id = ids.at("id").get<uint64_t>();
  g.type = ids.at("type").get<std::string>();
  for (auto id : member_ids) {
    if (auto m = n.context().dir.lookup(id))
      g.members.push_back(*m);
    else if (all)
      return std::nullopt;
  }
  if (g.members.empty())
    return std::nullopt;
  g.handle = g.members.front().handle;
  return g;
}

/// The group as created.
std::optional<capability_ref> lookup_group(node& n, const json& ids,
                                           bool all) {
  return lookup_group(n, ids, ids.at("members").get<std::vector<uint64_t>>(),
                      all);
}

/// Waits (bounded) until this client's directory knows `ids`' objects.
template <class F>
auto await_lookup(F lookup, const std::string& what,
                  std::chrono::milliseconds bound = std::chrono::seconds(15)) {
  auto deadline = std::chrono::steady_clock::now() + bound;
  for (;;) {
    if (auto x = lookup())
      return *x;
    if (std::chrono::steady_clock::now() >= deadline)
      die(what + " is unknown to this client's directory after "
          + std::to_string(bound.count()) + " ms");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

json read_ids(const std::string& path) {
  std::ifstream in{path};
  if (!in)
    die("cannot open ids file " + path);
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    die(path + ": " + e.what());
  }
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out{path};
  out << text << "\n";
  if (!out)
    die("cannot write " + path);
}

// -- calls with a timeout -----------------------------------------------

struct call_result {
  op_outcome outcome = op_outcome::unknown;
  caf::message reply;
  std::string error;
  /// The actor that answered (an incarnation), rendered.
  std::string sender;
};

/// ftsr::call(target, xs...) from a fresh event-based actor, waiting at
/// most `timeout` (then: unknown; the actor stops, a late reply is
/// dropped). A caller-side timeout: ftsr::call has none yet.
template <class Reply, class... Ts>
call_result timed_call(caf::actor_system& sys, const capability_ref& target,
                       std::chrono::milliseconds timeout, Ts... xs) {
  auto done = std::make_shared<std::promise<call_result>>();
  auto once = std::make_shared<std::atomic<bool>>(false);
  auto deliver = [done, once](call_result r) {
    if (!once->exchange(true))
      done->set_value(std::move(r));
  };
  sys.spawn([=](caf::event_based_actor* self) -> caf::behavior {
    ftsr::call(self, capability<>{target}, xs...)
      .then(
        [=](Reply& x) {
          call_result r;
          r.outcome = op_outcome::ok;
          r.reply = caf::make_message(std::move(x));
          r.sender = caf::to_string(self->current_sender());
          deliver(std::move(r));
          self->quit();
        },
        [=](caf::error& err) {
          call_result r;
          r.outcome = op_outcome::fail;
          r.error = describe(err);
          deliver(std::move(r));
          self->quit();
        });
    self->delayed_send(self, timeout, op_timeout_atom::value);
    return {[=](op_timeout_atom) {
      call_result r;
      r.error = "no answer within " + std::to_string(timeout.count()) + " ms";
      deliver(std::move(r));
      self->quit();
    }};
  });
  // The actor always answers by its timeout; the bound is a safety net.
  auto fut = done->get_future();
  if (fut.wait_for(timeout + std::chrono::seconds(5))
      != std::future_status::ready) {
    call_result r;
    r.error = "the calling actor did not report";
    return r;
  }
  return fut.get();
}

// -- create ---------------------------------------------------------------

int create_kv(const std::string& config, const std::string& nodes,
              size_t max_sf, size_t keys, const std::string& out) {
  auto n = start_client(config);
  if (auto up = n->await_up(node_names(*n)); !up)
    die(describe(up.error()));
  group_spec spec{"kv", split(nodes, ','), max_sf};
  // Persistent: a replica lost with a fenced node is replaced on the
  // group's nodes once they are back (as a new incarnation).
  spec.backups = spec.nodes;
  auto g = create_group(*n, spec);
  if (!g)
    die("create_group: " + describe(g.error()));
  write_file(out, json{{"kind", "kv"},
                       {"group", group_ids(*g)},
                       {"replicas", spec.nodes.size()},
                       {"keys", keys}}
                    .dump());
  finish();
}

int create_counter(const std::string& config, const std::string& on,
                   const std::string& backups, const std::string& store_nodes,
                   const std::string& out) {
  auto n = start_client(config);
  if (auto up = n->await_up(node_names(*n)); !up)
    die(describe(up.error()));
  group_spec spec{"stable_store", split(store_nodes, ','), 1};
  auto store = create_group(*n, spec);
  if (!store)
    die("create_group(stable_store): " + describe(store.error()));
  auto counter = n->spawn_persistent(on, split(backups, ','), "counter",
                                     caf::make_message(capability<>{*store}));
  if (!counter)
    die("spawn_persistent(counter): " + describe(counter.error()));
  write_file(out, json{{"kind", "counter"},
                       {"counter", counter->id},
                       {"store", group_ids(*store)},
                       {"replicas", spec.nodes.size()}}
                    .dump());
  finish();
}

// -- load -----------------------------------------------------------------

struct load_options {
  std::string client = "c";
  uint64_t client_id = 1;
  size_t threads = 2;
  uint64_t max_ops = 20000;
  int64_t duration_ms = 30000;
  int64_t interval_ms = 5;
  int64_t op_timeout_ms = 3000;
  int64_t fail_pause_ms = 50;
  /// One read in `read_every` operations...
  uint64_t read_every = 4;
  /// ...except for the first `readers` threads, which only read (a
  /// continuous probe while the writers wait for timeouts).
  size_t readers = 0;

  bool reads(size_t thread, uint64_t i) const {
    return thread < readers || i % read_every == read_every - 1;
  }
};

class history_writer {
public:
  explicit history_writer(const std::string& path) : out_(path) {
    if (!out_)
      die("cannot write history " + path);
  }

  void add(const op_record& op) {
    std::lock_guard<std::mutex> guard{mtx_};
    out_ << ftsr::testing::to_json_line(op) << "\n";
    out_.flush(); // the test reads progress while the load runs
  }

private:
  std::mutex mtx_;
  std::ofstream out_;
};

void record(op_record& op, const call_result& r) {
  op.outcome = r.outcome;
  op.error = r.error;
}

/// One kv operation: append a unique token, or read a random key.
op_record kv_op(caf::actor_system& sys, const capability_ref& g, size_t keys,
                const load_options& o, size_t t, uint64_t i,
                std::minstd_rand& rng) {
  op_record op;
  op.client = o.client + "." + std::to_string(t);
  auto timeout = std::chrono::milliseconds(o.op_timeout_ms);
  op.start_ns = now_ns();
  if (o.reads(t, i)) {
    op.kind = "read";
    op.key = "k" + std::to_string(rng() % keys);
    auto r = timed_call<std::string>(sys, g, timeout, get_atom::value, op.key);
    op.end_ns = now_ns();
    record(op, r);
    if (r.outcome == op_outcome::ok)
      op.values = split(r.reply.get_as<std::string>(0), ';');
  } else {
    op.kind = "write";
    op.value = o.client + "." + std::to_string(t) + "." + std::to_string(i);
    op.key = "k" + std::to_string((i * 7 + t) % keys);
    auto r = timed_call<uint64_t>(sys, g, timeout, append_atom::value, op.key,
                                  op.value + ";");
    op.end_ns = now_ns();
    record(op, r);
  }
  return op;
}

/// One counter operation: add a unique token, or read the total.
op_record counter_op(caf::actor_system& sys, const capability_ref& counter,
                     const load_options& o, size_t t, uint64_t i) {
  op_record op;
  op.client = o.client + "." + std::to_string(t);
  op.key = "counter";
  op.actor = "counter#" + std::to_string(counter.id);
  auto timeout = std::chrono::milliseconds(o.op_timeout_ms);
  op.start_ns = now_ns();
  if (o.reads(t, i)) {
    op.kind = "read";
    auto r = timed_call<int64_t>(sys, counter, timeout, total_atom::value);
    op.end_ns = now_ns();
    record(op, r);
    if (r.outcome == op_outcome::ok) {
      op.count = r.reply.get_as<int64_t>(0);
      op.incarnation = r.sender;
    }
  } else {
    op.kind = "write";
    auto token = (o.client_id << 40) | (uint64_t{t} << 32) | i;
    op.value = std::to_string(token);
    auto r = timed_call<int64_t>(sys, counter, timeout, add_atom::value, token,
                                 int64_t{1});
    op.end_ns = now_ns();
    record(op, r);
    if (r.outcome == op_outcome::ok)
      op.incarnation = r.sender;
  }
  return op;
}

int run_load(const std::string& config, const std::string& ids_path,
             const std::string& history_path, const load_options& o) {
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGINT, on_stop_signal);
  auto ids = read_ids(ids_path);
  auto n = start_client(config);
  if (auto up = n->await_up(node_names(*n)); !up)
    die(describe(up.error()));
  auto kind = ids.at("kind").get<std::string>();
  capability_ref target;
  size_t keys = 1;
  if (kind == "kv") {
    target = await_lookup(
      [&] { return lookup_group(*n, ids.at("group"), true); },
      "the kv group");
    keys = ids.at("keys").get<size_t>();
  } else {
    auto id = ids.at("counter").get<uint64_t>();
    target = await_lookup([&] { return n->context().dir.lookup(id); },
                          "the counter");
  }
  history_writer history{history_path};
  std::cout << "partition_client " << o.client << ": load started"
            << std::endl;
  auto deadline = std::chrono::steady_clock::now()
                  + std::chrono::milliseconds(o.duration_ms);
  std::atomic<uint64_t> issued{0};
  std::vector<std::thread> threads;
  for (size_t t = 0; t < o.threads; ++t)
    threads.emplace_back([&, t] {
      std::minstd_rand rng(static_cast<unsigned>(o.client_id * 1000 + t));
      for (uint64_t i = 0;; ++i) {
        if (stop_requested || std::chrono::steady_clock::now() >= deadline
            || issued++ >= o.max_ops)
          return;
        auto op = kind == "kv" ? kv_op(n->system(), target, keys, o, t, i, rng)
                               : counter_op(n->system(), target, o, t, i);
        history.add(op);
        // A failing cluster fails calls fast: back off so that the history
        // stays small.
        std::this_thread::sleep_for(std::chrono::milliseconds(
          op.outcome == op_outcome::fail ? o.fail_pause_ms : o.interval_ms));
      }
    });
  for (auto& th : threads)
    th.join();
  finish();
}

// -- settle ---------------------------------------------------------------

using ftsr::testing::final_state;
using ftsr::testing::group_state;
using ftsr::testing::node_view;

/// Member `name`'s own view of the cluster, asked of its manager.
node_view view_of(node& n, const std::string& name) {
  node_view v;
  v.node = name;
  auto* addr = n.context().cluster.find(name);
  auto mgr = ftsr::remote_actor(n.system(), addr->host, addr->port,
                                std::chrono::seconds(2));
  if (!mgr)
    return v;
  caf::scoped_actor self{n.system()};
  self->request(*mgr, std::chrono::seconds(2), view_atom::value)
    .receive(
      [&](member_id&, std::vector<member_status>& members) {
        v.reachable = true;
        for (auto& m : members)
          v.members[m.name] = {m.state == member_state::up, m.incarnation};
      },
      [](caf::error&) {});
  return v;
}

/// The replicas of group `g` in the view of its serving members (members
/// that replaced failed ones included).
group_state replicas_of(node& n, const std::string& name,
                        const capability_ref& g, size_t created,
                        std::vector<uint64_t>& latest_members) {
  group_state gs;
  gs.name = name;
  gs.created_replicas = created;
  auto& dir = n.context().dir;
  std::set<uint64_t> asked;
  std::vector<capability_ref> todo = g.members;
  uint64_t latest_view = 0;
  caf::scoped_actor self{n.system()};
  while (!todo.empty()) {
    auto m = todo.back();
    todo.pop_back();
    if (!asked.insert(m.id).second || dir.failure_of(m))
      continue;
    self->request(dir.resolve(m), std::chrono::seconds(2),
                  group_status_atom::value)
      .receive(
        [&](group_status& st) {
          gs.replicas.push_back({st.member, st.view, st.delivered, st.digest,
                                 st.serving,
                                 std::hash<std::string>{}(st.state)});
          if (st.serving && st.view >= latest_view) {
            latest_view = st.view;
            latest_members = st.members;
          }
          for (auto id : st.members)
            if (auto ref = dir.lookup(id))
              todo.push_back(*ref);
        },
        [](caf::error&) {});
  }
  std::sort(gs.replicas.begin(), gs.replicas.end(),
            [](auto& a, auto& b) { return a.member < b.member; });
  return gs;
}

/// Empty if `st` shows a settled cluster, else what is missing.
std::string unsettled(const final_state& st) {
  std::map<std::string, uint64_t> incarnation;
  for (auto& v : st.views) {
    if (!v.reachable)
      return v.node + " does not answer";
    for (auto& name : st.nodes) {
      auto m = v.members.find(name);
      if (m == v.members.end() || !m->second.first)
        return v.node + " does not see " + name + " up";
      auto [known, fresh] = incarnation.emplace(name, m->second.second);
      if (!fresh && known->second != m->second.second)
        return "the nodes disagree on the incarnation of " + name;
    }
  }
  for (auto& g : st.groups) {
    if (2 * g.replicas.size() <= g.created_replicas)
      return "group " + g.name + " has " + std::to_string(g.replicas.size())
             + " live replicas of " + std::to_string(g.created_replicas);
    for (auto& r : g.replicas)
      if (!r.serving || r.digest != g.replicas.front().digest
          || r.delivered != g.replicas.front().delivered
          || r.state_hash != g.replicas.front().state_hash)
        return "group " + g.name + ": replica " + std::to_string(r.member)
               + " is not serving in step with the others";
  }
  return {};
}

int settle(const std::string& config, const std::string& ids_path,
           const std::string& out, int64_t bound_ms, int64_t op_timeout_ms) {
  auto ids = read_ids(ids_path);
  auto n = start_client(config);
  final_state st;
  st.nodes = node_names(*n);
  auto kind = ids.at("kind").get<std::string>();
  auto created = ids.at("replicas").get<size_t>();
  auto group_json = kind == "kv" ? ids.at("group") : ids.at("store");
  auto deadline = std::chrono::steady_clock::now()
                  + std::chrono::milliseconds(bound_ms);
  std::optional<capability_ref> g;
  for (;;) {
    st.views.clear();
    st.groups.clear();
    for (auto& name : st.nodes)
      st.views.push_back(view_of(*n, name));
    g = lookup_group(*n, group_json, false);
    if (g) {
      std::vector<uint64_t> latest;
      st.groups.push_back(replicas_of(*n, kind == "kv" ? "kv" : "stable_store",
                                      *g, created, latest));
      // Reads go to the members of the latest view (replacements
      // included), so that redirects to its primary can be followed.
      if (auto cur = lookup_group(*n, group_json, latest, false)) {
        g = cur;
        // The first member of a view is its primary.
        if (g->members.size() == latest.size())
          st.groups.back().primary = g->members.front().node;
      }
    }
    st.reason = g ? unsettled(st)
                  : "no member of the group is known to this client";
    if (st.reason.empty()) {
      st.settled = true;
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      st.reason += " (still, after " + std::to_string(bound_ms) + " ms)";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto timeout = std::chrono::milliseconds(op_timeout_ms);
  if (kind == "kv") {
    // A group that does not answer three reads in a row will not answer
    // the others: they are reported unread, keeping the wait bounded.
    auto keys = ids.at("keys").get<size_t>();
    size_t failed_in_a_row = 0;
    for (size_t k = 0; k < keys; ++k) {
      auto key = "k" + std::to_string(k);
      if (!g) {
        st.unreadable[key] = "no member of the group is known to this "
                             "client";
        continue;
      }
      if (failed_in_a_row >= 3) {
        st.unreadable[key] = "not read: the three reads before it failed";
        continue;
      }
      auto r = timed_call<std::string>(n->system(), *g, timeout,
                                       get_atom::value, key);
      if (r.outcome == op_outcome::ok) {
        st.contents[key] = split(r.reply.get_as<std::string>(0), ';');
        failed_in_a_row = 0;
      } else {
        st.unreadable[key] = r.error;
        ++failed_in_a_row;
      }
    }
  } else {
    auto id = ids.at("counter").get<uint64_t>();
    auto counter = n->context().dir.lookup(id);
    if (!counter) {
      st.unreadable["counter"] = "counter#" + std::to_string(id)
                                 + " is unknown to the cluster's directory";
    } else {
      auto r = timed_call<std::vector<uint64_t>>(n->system(), *counter,
                                                 timeout, tokens_atom::value);
      if (r.outcome == op_outcome::ok) {
        auto& tokens = st.contents["counter"];
        for (auto t : r.reply.get_as<std::vector<uint64_t>>(0))
          tokens.push_back(std::to_string(t));
      } else {
        st.unreadable["counter"] = r.error;
      }
    }
  }
  write_file(out, ftsr::testing::to_json(st));
  finish();
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"partition_client: client side of the partition tests"};
  app.require_subcommand(1);
  std::string config, out, ids, history, nodes, on, backups, store;
  size_t max_sf = 1, keys = 64;
  int64_t bound_ms = 20000, op_timeout_ms = 3000;
  load_options lo;

  auto* kv = app.add_subcommand("create-kv", "create the kv group");
  kv->add_option("--config", config, "cluster file")->required();
  kv->add_option("--nodes", nodes, "replica nodes, comma-separated")
    ->required();
  kv->add_option("--max-sf", max_sf, "failures tolerated");
  kv->add_option("--keys", keys, "keys the load spreads its writes over");
  kv->add_option("--out", out, "ids file to write")->required();

  auto* ctr = app.add_subcommand("create-counter",
                                 "create a stableStore group and a "
                                 "persistent counter");
  ctr->add_option("--config", config, "cluster file")->required();
  ctr->add_option("--on", on, "the counter's node")->required();
  ctr->add_option("--backups", backups, "its restart nodes, comma-separated")
    ->required();
  ctr->add_option("--store", store, "stableStore replica nodes")->required();
  ctr->add_option("--out", out, "ids file to write")->required();

  auto* load = app.add_subcommand("load", "run a bounded load");
  load->add_option("--config", config, "cluster file")->required();
  load->add_option("--ids", ids, "ids file from create-*")->required();
  load->add_option("--history", history, "history to write (JSON lines)")
    ->required();
  load->add_option("--client", lo.client, "client name in the history");
  load->add_option("--client-id", lo.client_id,
                   "distinct per client process (counter tokens)")
    ->check(CLI::Range(uint64_t{1}, uint64_t{1} << 20));
  load->add_option("--threads", lo.threads, "concurrent callers")
    ->check(CLI::Range(size_t{1}, size_t{64}));
  load->add_option("--max-ops", lo.max_ops, "bound on operations");
  load->add_option("--duration-ms", lo.duration_ms, "bound on time");
  load->add_option("--interval-ms", lo.interval_ms,
                   "pause between a thread's operations");
  load->add_option("--fail-pause-ms", lo.fail_pause_ms,
                   "pause after a failed operation");
  load->add_option("--op-timeout-ms", lo.op_timeout_ms,
                   "a call unanswered this long is unknown");
  load->add_option("--readers", lo.readers,
                   "threads that only read (the first ones)");
  load->add_option("--read-every", lo.read_every, "one read in N operations")
    ->check(CLI::Range(uint64_t{1}, uint64_t{1000}));

  auto* st = app.add_subcommand("settle", "wait for the cluster to serve "
                                          "again, write the final state");
  st->add_option("--config", config, "cluster file")->required();
  st->add_option("--ids", ids, "ids file from create-*")->required();
  st->add_option("--out", out, "final state to write (JSON)")->required();
  st->add_option("--bound-ms", bound_ms, "how long to wait for the cluster");
  st->add_option("--op-timeout-ms", op_timeout_ms, "timeout of each read");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    auto rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (*kv)
    return create_kv(config, nodes, max_sf, keys, out);
  if (*ctr)
    return create_counter(config, on, backups, store, out);
  if (*load)
    return run_load(config, ids, history, lo);
  return settle(config, ids, out, bound_ms, op_timeout_ms);
}
