// Load and chaos runs of the bank; see bank_load.hpp.
#include "apps/bank/bank_load.hpp"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "caf/all.hpp"

#include "actors/errors.hpp"
#include "txn/txn_actors.hpp"

namespace ftsr::bank {

namespace {

using clock_type = std::chrono::steady_clock;

double since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty())
    return 0;
  auto i = static_cast<size_t>(std::ceil(p * sorted.size())) - 1;
  return sorted[std::min(i, sorted.size() - 1)];
}

} // namespace

load_result run_load(client& c, const std::vector<std::string>& accounts,
                     const load_options& opts, const std::atomic<bool>* stop) {
  load_result result;
  std::mutex mtx;
  std::atomic<size_t> issued{0};
  std::atomic<size_t> ok{0};
  std::atomic<size_t> fail{0};
  std::atomic<size_t> unknown{0};
  std::atomic<bool> done{false};
  auto t0 = clock_type::now();
  auto deadline = t0 + opts.duration;
  auto more = [&] {
    return clock_type::now() < deadline && !(stop && stop->load())
           && issued.fetch_add(1) < opts.count;
  };
  std::vector<std::thread> workers;
  for (size_t w = 0; w < opts.clients; ++w)
    workers.emplace_back([&, w] {
      std::mt19937_64 gen{opts.seed * 1000003 + w};
      std::uniform_int_distribution<size_t> pick{0, accounts.size() - 1};
      std::uniform_int_distribution<int64_t> amount{1, opts.max_amount};
      while (more()) {
        auto from = pick(gen);
        auto to = pick(gen);
        while (to == from)
          to = pick(gen);
        history_op op{accounts[from], accounts[to], amount(gen), "", "",
                      new_token()};
        auto start = clock_type::now();
        auto r = c.transfer(op.token, op.from, op.to, op.amount,
                            opts.op_timeout);
        auto ms = since(start) * 1000;
        std::string reason;
        if (!r) {
          op.outcome = "unknown";
          reason = "unknown: " + describe(r.error()).substr(0, 60);
          ++unknown;
        } else if (r->outcome == "ok") {
          op.outcome = "ok";
          ++ok;
        } else {
          op.outcome = "fail";
          reason = r->outcome;
          ++fail;
        }
        std::lock_guard<std::mutex> guard{mtx};
        if (op.outcome == "ok")
          result.latencies.push_back(ms);
        else
          ++result.reasons[reason];
        result.ops.push_back(std::move(op));
      }
    });
  std::thread progress;
  if (opts.progress)
    progress = std::thread([&] {
      while (!done) {
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        auto s = since(t0);
        std::fprintf(stderr,
                     "\r%6.1fs  committed %zu  failed %zu  unknown %zu  "
                     "%.0f commits/s   ",
                     s, ok.load(), fail.load(), unknown.load(),
                     s > 0 ? ok.load() / s : 0.0);
      }
      std::fprintf(stderr, "\n");
    });
  for (auto& t : workers)
    t.join();
  done = true;
  if (progress.joinable())
    progress.join();
  result.seconds = since(t0);
  std::sort(result.latencies.begin(), result.latencies.end());
  return result;
}

size_t settle_unknown(client& c, std::vector<history_op>& ops,
                      std::chrono::milliseconds bound) {
  auto deadline = clock_type::now() + bound;
  size_t left = 0;
  for (auto& op : ops) {
    if (op.outcome != "unknown" || !op.settled.empty())
      continue;
    for (;;) {
      auto r = c.status(op.token, std::chrono::seconds(2));
      if (r && (r->outcome == "committed" || r->outcome == "not_committed")) {
        op.settled = r->outcome;
        break;
      }
      // Still running, or the TM did not answer (recovering): again.
      if (clock_type::now() >= deadline) {
        ++left;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  return left;
}

std::string summary(const load_result& r) {
  std::ostringstream os;
  size_t failed = 0;
  for (auto& [reason, n] : r.reasons)
    failed += n;
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                "transfers: %zu in %.1f s; committed %zu (%.0f/s), "
                "p50 %.1f ms, p99 %.1f ms\n",
                r.ops.size(), r.seconds, r.latencies.size(),
                r.seconds > 0 ? r.latencies.size() / r.seconds : 0.0,
                percentile(r.latencies, 0.5), percentile(r.latencies, 0.99));
  os << buf;
  if (failed > 0)
    os << "not committed: " << failed << "\n";
  for (auto& [reason, n] : r.reasons)
    os << "  " << reason << ": " << n << "\n";
  return os.str();
}

namespace {

const std::vector<std::string> role_names{"tm", "lm", "dm1", "dm2"};

/// Destroys role `role` and spawns it anew with the same arguments on the
/// same nodes (its store, hence its state, carries over).
caf::error destroy_role(client& c, const std::string& role) {
  auto& ctx = c.cluster().context();
  std::string type = role == "tm" ? tm_type : role == "lm" ? lm_type : dm_type;
  uint64_t id = role == "dm1" ? 1 : role == "dm2" ? 2 : 0;
  auto ref = find_role(ctx, type, id);
  if (!ref)
    return make_error(errc::invalid_argument, "role " + role + " not found");
  auto spec = ctx.dir.restart_spec_of(ref->id);
  if (!spec || spec->nodes.size() < 2)
    return make_error(errc::invalid_argument,
                      "role " + role + " has no restart spec");
  // A node restarted by the previous fault may be up before this client
  // can reach its manager (the destroy is then refused at once), and the
  // role may be restarting elsewhere, its binding here still naming the
  // incarnation that died (refused by that node's new incarnation):
  // bounded retries, each with the role's current binding.
  auto deadline = clock_type::now() + std::chrono::seconds(10);
  for (auto res = c.cluster().destroy(*ref); !res;
       res = c.cluster().destroy(*ref)) {
    if (is(ctx.dir.failure_of(*ref), errc::destroyed))
      break; // an earlier attempt did it
    if (clock_type::now() >= deadline)
      return res.error();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (auto current = find_role(ctx, type, id))
      ref = std::move(current);
  }
  // Its nodes in turn (each time with the others as backups), again until
  // the deadline: the client may see a node up again before it reached
  // that node's manager, and such a spawn is refused for now.
  caf::error last;
  auto spawn_deadline = clock_type::now() + std::chrono::seconds(10);
  do {
    auto nodes = spec->nodes;
    for (size_t i = 0; i < nodes.size(); ++i) {
      std::vector<std::string> backups(nodes.begin() + 1, nodes.end());
      auto respawned = c.cluster().spawn_persistent(nodes.front(), backups,
                                                    spec->type, spec->args);
      if (respawned)
        return caf::none;
      last = respawned.error();
      std::rotate(nodes.begin(), nodes.begin() + 1, nodes.end());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  } while (clock_type::now() < spawn_deadline);
  return make_error(errc::node_unavailable, "role " + role
                                              + " could not be spawned anew: "
                                              + describe(last));
}

/// The incarnation of `name` the client sees up (0: none).
uint64_t up_incarnation(client& c, const std::string& name) {
  if (auto v = c.cluster().view())
    for (auto& m : *v)
      if (m.name == name && m.state == member_state::up)
        return m.incarnation;
  return 0;
}

/// kill -9 or SIGSTOP/SIGCONT of node `name`; a node that dies (killed,
/// or fenced after the stop) is started again.
caf::error node_fault(client& c, const run_dir& dir, const std::string& exe,
                      const std::string& kind, const std::string& name) {
  if (!dir.running(name))
    return dir.start_node(exe, name);
  if (kind == "kill") {
    auto old = up_incarnation(c, name);
    dir.signal(name, SIGKILL);
    dir.await_exit(name, std::chrono::seconds(10));
    // Until the cluster saw the failure, the old incarnation looks up and
    // await_serving would pass before the repair (the next fault then hits
    // a store that still misses this node's replicas).
    auto timeout = c.cluster().context().cluster.failure_timeout;
    auto deadline = clock_type::now() + timeout * 20;
    while (old != 0 && up_incarnation(c, name) == old) {
      if (clock_type::now() >= deadline)
        return make_error(errc::timeout, name + " killed but not seen failed");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  } else {
    // Frozen for longer than the failure timeout: the cluster declares
    // it failed, and it fences itself when it runs again (exit 3).
    auto timeout = c.cluster().context().cluster.failure_timeout;
    dir.signal(name, SIGSTOP);
    if (auto res = c.cluster().await_failed(name, timeout * 20); !res) {
      dir.signal(name, SIGCONT);
      return res.error();
    }
    dir.signal(name, SIGCONT);
    if (!dir.await_exit(name, std::chrono::seconds(10))) {
      dir.signal(name, SIGKILL);
      dir.await_exit(name, std::chrono::seconds(10));
    }
  }
  return dir.start_node(exe, name);
}

} // namespace

caf::error check_schedule(const std::vector<std::string>& schedule,
                          const std::vector<std::string>& nodes) {
  for (auto& entry : schedule) {
    auto colon = entry.find(':');
    auto kind = entry.substr(0, colon);
    auto target = colon == std::string::npos ? "" : entry.substr(colon + 1);
    bool node_target = std::count(nodes.begin(), nodes.end(), target) > 0;
    bool role_target = std::count(role_names.begin(), role_names.end(), target)
                       > 0;
    if (!(((kind == "kill" || kind == "stop") && node_target)
          || (kind == "destroy" && role_target)))
      return make_error(errc::invalid_argument,
                        "bad fault '" + entry
                          + "' (kill:NODE, stop:NODE or destroy:ROLE with "
                            "ROLE tm, lm, dm1, dm2)");
  }
  return caf::none;
}

caf::error await_serving_supervised(client& c, const run_dir& dir,
                                    const std::string& exe,
                                    std::chrono::milliseconds bound) {
  auto deadline = clock_type::now() + bound;
  for (;;) {
    for (auto& name : dir.nodes())
      if (!dir.running(name)) {
        std::cerr << "\nsupervisor: " << name
                  << " exited on its own (see its log), started again"
                  << std::endl;
        if (auto err = dir.start_node(exe, name))
          return err;
      }
    // Short rounds, so that a node exiting meanwhile is seen soon.
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - clock_type::now());
    auto err = c.await_serving(std::min(left, std::chrono::milliseconds(2000)));
    if (!err || left <= std::chrono::milliseconds(2000))
      return err;
  }
}

caf::expected<std::vector<std::string>>
run_faults(client& c, const run_dir& dir, const std::string& exe,
           const chaos_options& opts, std::atomic<bool>& stop) {
  auto nodes = dir.nodes();
  std::mt19937_64 gen{opts.seed};
  std::vector<std::string> done;
  if (auto err = check_schedule(opts.schedule, nodes))
    return err;
  for (size_t i = 0; i < opts.faults && !stop; ++i) {
    std::string kind;
    std::string target;
    if (!opts.schedule.empty()) {
      auto& entry = opts.schedule[i % opts.schedule.size()];
      kind = entry.substr(0, entry.find(':'));
      target = entry.substr(entry.find(':') + 1);
    } else {
      auto k = gen() % 5; // kill twice as often as the others
      kind = k < 2 ? "kill" : k < 4 ? "stop" : "destroy";
      target = kind == "destroy" ? role_names[gen() % role_names.size()]
                                 : nodes[gen() % nodes.size()];
    }
    auto t0 = clock_type::now();
    auto err = kind == "destroy" ? destroy_role(c, target)
                                 : node_fault(c, dir, exe, kind, target);
    if (err)
      return make_error(errc::timeout, "fault " + std::to_string(i + 1) + " ("
                                         + kind + " " + target
                                         + ") failed: " + describe(err));
    if (auto err = await_serving_supervised(c, dir, exe, opts.recovery_bound))
      return make_error(errc::timeout,
                        "after fault " + std::to_string(i + 1) + " (" + kind
                          + " " + target + "): " + describe(err));
    char buf[128];
    std::snprintf(buf, sizeof(buf), "fault %zu: %s %s, serving again after %.1f s",
                  i + 1, kind.c_str(), target.c_str(), since(t0));
    done.push_back(buf);
    std::cerr << "\n" << buf << std::endl;
    std::this_thread::sleep_for(opts.interval);
  }
  return done;
}

} // namespace ftsr::bank
