// ftsr-bank: the FT-SR banking system (transaction manager, lock manager,
// two data managers; txn/txn_actors.hpp) on a 3-host cluster.
//
//   ftsr-bank up [--config config/bank-3hosts.toml] [--dir ftsr-bank-run]
//   ftsr-bank open ACCOUNT AMOUNT | transfer FROM TO AMOUNT
//   ftsr-bank balance ACCOUNT | audit
//   ftsr-bank load [--clients 8 --count N --duration S --history FILE]
//   ftsr-bank chaos [--faults 50 --seed S | --schedule kill:host1 ...]
//   ftsr-bank check FILE | down
//   ftsr-bank node --config FILE --name hostN --data-dir DIR
//
// Every subcommand but `node` is its own client process (a client node of
// the cluster in the run directory) and finds the roles by name. The
// nodes run `ftsr-bank node`, which hosts the bank's actor types: the
// generic ftsr-node keeps only the framework's samples, and a bank node
// needs nothing but the bank's. Exit codes: 0 success, 1 a refused
// operation, bad input, an unreachable cluster or a failed check, 2 a bad
// command line; node mode as ftsr-node (3: fenced).
#include <atomic>
#include <fstream>
#include <iostream>
#include <limits>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>

#include "actors/errors.hpp"
#include "apps/bank/bank_client.hpp"
#include "apps/bank/bank_cluster.hpp"
#include "apps/bank/bank_history.hpp"
#include "apps/bank/bank_load.hpp"
#include "apps/node/node_main.hpp"
#include "txn/txn_actors.hpp"

using namespace ftsr;
using namespace ftsr::bank;

namespace {

constexpr auto op_bound = std::chrono::seconds(15);

int fail(const std::string& msg) {
  std::cerr << "ftsr-bank: " << msg << "\n";
  return 1;
}

caf::error check_account(const std::string& name) {
  if (name.empty() || name.size() > 64
      || name.find_first_of("/ \t\n") != std::string::npos)
    return make_error(errc::invalid_argument,
                      "account name '" + name
                        + "' must be 1-64 characters without '/' or spaces");
  return caf::none;
}

/// The message for an outcome other than "ok".
std::string explain(client& c, const std::string& outcome,
                    const std::vector<std::string>& accounts) {
  if (outcome == "unknown_account") {
    for (auto& a : accounts)
      if (auto r = c.read(a, op_bound); r && r->outcome == "unknown_account")
        return "unknown account '" + a + "'";
    return "unknown account";
  }
  if (outcome == "account_exists")
    return "account '" + accounts.front() + "' exists already";
  return "transaction aborted: " + outcome + " (nothing changed; try again)";
}

struct common {
  std::string dir = "ftsr-bank-run";
};

void add_dir(CLI::App* sub, common& c) {
  sub->add_option("--dir", c.dir, "run directory of the cluster (from up)")
    ->capture_default_str();
}

caf::expected<std::unique_ptr<client>> connect(const common& c) {
  run_dir dir{c.dir};
  if (dir.nodes().empty())
    return make_error(errc::node_unavailable,
                      "no bank cluster in " + c.dir + " (ftsr-bank up)");
  return client::connect(dir.cluster_file(), std::chrono::seconds(5));
}

/// Accounts of the bank; opens `n` accounts with `initial` each when it
/// has fewer than two.
caf::expected<std::vector<std::string>>
ensure_accounts(client& c, size_t n, int64_t initial) {
  auto all = c.audit();
  if (!all)
    return all.error();
  if (all->size() < 2) {
    for (size_t i = 0; i < n; ++i) {
      char name[32];
      std::snprintf(name, sizeof(name), "acct-%03zu", i);
      auto r = c.create(new_token(), name, initial, op_bound);
      if (!r)
        return r.error();
      if (r->outcome != "ok" && r->outcome != "account_exists")
        return make_error(errc::invalid_argument,
                          std::string{"cannot open "} + name + ": "
                            + r->outcome);
    }
    all = c.audit();
    if (!all)
      return all.error();
  }
  std::vector<std::string> names;
  for (auto& [k, v] : *all)
    names.push_back(k);
  return names;
}

int write_history(const std::string& file, const history& h) {
  if (file.empty())
    return 0;
  std::ofstream out{file};
  out << to_json(h) << "\n";
  if (!out)
    return fail("cannot write history " + file);
  std::cout << "history: " << file << "\n";
  return 0;
}

struct load_args {
  load_options opts;
  std::string history_file;
  size_t accounts = 10;
  int64_t initial = 10000;
};

void add_load_options(CLI::App* sub, load_args& a) {
  sub->add_option("--clients", a.opts.clients, "concurrent clients")
    ->capture_default_str()
    ->check(CLI::Range(1, 256));
  sub->add_option("--count", a.opts.count, "transfers in all")
    ->capture_default_str();
  sub->add_option_function<double>(
       "--duration",
       [&a](double s) {
         a.opts.duration = std::chrono::milliseconds(
           static_cast<int64_t>(s * 1000));
       },
       "seconds at most (default 30)")
    ->check(CLI::PositiveNumber);
  sub->add_option("--history", a.history_file, "write the history (JSON)");
  sub->add_option("--accounts", a.accounts,
                  "accounts opened when the bank has fewer than two")
    ->capture_default_str()
    ->check(CLI::Range(2, 10000));
  sub->add_option("--initial", a.initial, "their balance (cents)")
    ->capture_default_str()
    ->check(CLI::PositiveNumber);
  sub->add_option("--seed", a.opts.seed, "random seed")->capture_default_str();
  sub->add_flag("!--no-progress", a.opts.progress, "no live progress line");
}

/// Reads the final balances once every role serves again.
caf::expected<balances> final_audit(client& c) {
  if (auto err = c.await_serving(std::chrono::seconds(90)))
    return err;
  return c.audit();
}

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"ftsr-bank: the FT-SR banking system on a 3-host ftsr cluster"};
  app.require_subcommand(1);
  common com;

  node_process_options node_opts;
  auto* node_cmd = app.add_subcommand("node", "run one bank node (used by up)");
  add_node_options(*node_cmd, node_opts);

  std::string config = "config/bank-3hosts.toml";
  auto* up = app.add_subcommand("up", "start the three nodes and the roles");
  up->add_option("--config", config, "cluster file (3 nodes)")
    ->capture_default_str();
  add_dir(up, com);

  auto* down = app.add_subcommand("down", "stop the cluster's nodes");
  add_dir(down, com);

  std::string account, from, to, amount;
  auto* open = app.add_subcommand("open", "open ACCOUNT with AMOUNT cents");
  open->add_option("ACCOUNT", account)->required();
  open->add_option("AMOUNT", amount)->required();
  add_dir(open, com);

  auto* transfer = app.add_subcommand("transfer", "move AMOUNT from FROM to TO");
  transfer->add_option("FROM", from)->required();
  transfer->add_option("TO", to)->required();
  transfer->add_option("AMOUNT", amount)->required();
  add_dir(transfer, com);

  auto* balance = app.add_subcommand("balance", "print ACCOUNT's balance");
  balance->add_option("ACCOUNT", account)->required();
  add_dir(balance, com);

  auto* audit = app.add_subcommand("audit", "every balance and the total");
  add_dir(audit, com);

  load_args la;
  auto* load = app.add_subcommand("load", "concurrent transfers, a summary");
  add_load_options(load, la);
  add_dir(load, com);

  load_args ca;
  chaos_options co;
  auto* chaos = app.add_subcommand("chaos", "load with faults, then the check");
  add_load_options(chaos, ca);
  chaos->add_option("--faults", co.faults, "faults in all")
    ->capture_default_str();
  chaos->add_option_function<int>(
    "--interval",
    [&co](int ms) { co.interval = std::chrono::milliseconds(ms); },
    "ms between a recovery and the next fault (default 500)");
  chaos->add_option("--schedule", co.schedule,
                    "faults in order: kill:NODE stop:NODE destroy:ROLE "
                    "(ROLE tm, lm, dm1, dm2); default: random by --seed");
  add_dir(chaos, com);

  std::string check_file;
  auto* check_cmd = app.add_subcommand("check", "check a history file");
  check_cmd->add_option("FILE", check_file)->required();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    auto rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  node_opts.argv = argv;
  if (*node_cmd)
    return run_node_process("ftsr-bank", node_opts, add_txn_actor_types);

  if (*check_cmd) {
    std::ifstream in{check_file};
    if (!in)
      return fail("cannot read " + check_file);
    std::stringstream text;
    text << in.rdbuf();
    auto h = history_from_json(text.str());
    if (!h)
      return fail(describe(h.error()));
    auto v = check(*h);
    std::cout << to_string(v);
    return v.pass() ? 0 : 1;
  }

  run_dir dir{com.dir};
  if (*down) {
    auto n = stop_cluster(dir);
    if (n == 0)
      return fail("no bank cluster running in " + com.dir);
    std::cout << "stopped " << n << " nodes\n";
    return 0;
  }

  if (*up) {
    if (auto err = start_cluster(dir, self_exe(), config))
      return fail(describe(err));
    auto c = client::connect(dir.cluster_file(), std::chrono::seconds(30),
                             false);
    caf::error err;
    if (!c)
      err = c.error();
    else if (!(err = create_roles((*c)->cluster())))
      err = (*c)->await_serving(std::chrono::seconds(60));
    if (err) {
      stop_cluster(dir);
      return fail("up: " + describe(err) + " (logs in " + com.dir + ")");
    }
    auto names = dir.nodes();
    std::cout << "bank up in " << com.dir << ": " << names[0]
              << " transaction manager, " << names[1]
              << " lock manager and data managers 1-2, " << names[2]
              << " backups and second store replicas\n";
    return 0;
  }

  // Input is checked before the cluster is contacted.
  int64_t value = 0;
  if (*open || *transfer) {
    auto a = parse_amount(amount, static_cast<bool>(*open));
    if (!a)
      return fail(describe(a.error()));
    value = *a;
  }
  std::vector<const std::string*> names;
  if (*open || *balance)
    names = {&account};
  if (*transfer)
    names = {&from, &to};
  for (auto* name : names)
    if (auto err = check_account(*name))
      return fail(describe(err));
  if (*transfer && from == to)
    return fail("transfer from '" + from + "' to itself (the same account "
                "twice)");

  if (*chaos)
    if (auto err = check_schedule(co.schedule, dir.nodes()))
      return fail(describe(err));
  auto c = connect(com);
  if (!c)
    return fail(describe(c.error()));
  auto& cl = **c;

  if (*open) {
    auto r = cl.create(new_token(), account, value, op_bound);
    if (!r)
      return fail(describe(r.error()));
    if (r->outcome != "ok")
      return fail(explain(cl, r->outcome, {account}));
    std::cout << "opened " << account << " with " << value << "\n";
    return 0;
  }
  if (*transfer) {
    auto r = cl.transfer(new_token(), from, to, value, op_bound);
    if (!r)
      return fail(describe(r.error()) + " (outcome unknown)");
    if (r->outcome == "insufficient_funds") {
      auto b = cl.read(from, op_bound);
      return fail("insufficient funds: " + from + " has "
                  + (b ? std::to_string(b->value) : std::string{"less"})
                  + ", the transfer needs " + std::to_string(value));
    }
    if (r->outcome != "ok")
      return fail(explain(cl, r->outcome, {from, to}));
    std::cout << "transferred " << value << " from " << from << " to " << to
              << "\n";
    return 0;
  }
  if (*balance) {
    auto r = cl.read(account, op_bound);
    if (!r)
      return fail(describe(r.error()));
    if (r->outcome != "ok")
      return fail(explain(cl, r->outcome, {account}));
    std::cout << account << ": " << r->value << "\n";
    return 0;
  }
  if (*audit) {
    auto all = cl.audit();
    if (!all)
      return fail(describe(all.error()));
    int64_t total = 0;
    for (auto& [k, v] : *all) {
      std::cout << k << ": " << v << "\n";
      total += v;
    }
    std::cout << "total: " << total << " (" << all->size() << " accounts)\n";
    return 0;
  }

  auto& args = *load ? la : ca;
  auto accounts = ensure_accounts(cl, args.accounts, args.initial);
  if (!accounts)
    return fail(describe(accounts.error()));
  history h;
  auto initial = cl.audit();
  if (!initial)
    return fail(describe(initial.error()));
  h.initial = *initial;
  load_result result;
  std::vector<std::string> faults;
  caf::error fault_error;
  if (*load) {
    result = run_load(cl, *accounts, args.opts);
  } else {
    std::atomic<bool> stop{false};
    auto opts = args.opts;
    opts.count = std::numeric_limits<size_t>::max();
    opts.duration = std::chrono::hours(24);
    std::thread loader([&] { result = run_load(cl, *accounts, opts, &stop); });
    co.seed = args.opts.seed;
    auto done = run_faults(cl, dir, self_exe(), co, stop);
    stop = true;
    loader.join();
    if (done)
      faults = std::move(*done);
    else
      fault_error = done.error();
  }
  if (*chaos && !fault_error)
    fault_error = await_serving_supervised(cl, dir, self_exe(),
                                           std::chrono::seconds(90));
  if (fault_error)
    std::cerr << "ftsr-bank: chaos: " << describe(fault_error) << "\n";
  auto fin = final_audit(cl);
  if (!fin)
    return fail("final audit: " + describe(fin.error()));
  for (auto& op : result.ops)
    h.ops.push_back(op);
  // Transfers without an answer: the TM says whether each committed, once
  // none runs any more; the balances are read after that.
  if (settle_unknown(cl, h.ops, std::chrono::seconds(60)) > 0)
    std::cerr << "ftsr-bank: some unknown transfers could not be settled\n";
  fin = final_audit(cl);
  if (!fin)
    return fail("final audit: " + describe(fin.error()));
  h.final_ = *fin;
  std::cout << summary(result);
  if (*chaos)
    std::cout << "faults: " << faults.size() << "\n";
  if (auto rc = write_history(args.history_file, h))
    return rc;
  if (*chaos) {
    auto v = check(h);
    std::cout << to_string(v);
    return v.pass() && !fault_error ? 0 : 1;
  }
  return 0;
}
