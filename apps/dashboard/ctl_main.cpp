// ftsr-ctl: the cluster in a terminal (Erlang's nodes(), Akka Management's
// /cluster/members). Joins the cluster named by --config as a client and
// prints what its members report:
//
//   ftsr-ctl --config FILE status           nodes, incarnations, health
//   ftsr-ctl --config FILE groups           groups: view, primary, seqno
//   ftsr-ctl --config FILE actors           persistent actors
//   ftsr-ctl --config FILE events [--follow] failure journal, timestamped
//
// Exit codes: 0 done, 1 cluster unreachable, 2 bad command line or cluster
// file (the message on stderr names what is wrong).
#include <csignal>
#include <cstdio>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>

#include "actors/errors.hpp"
#include "apps/dashboard/cluster_model.hpp"
#include "apps/dashboard/cluster_probe.hpp"

using namespace ftsr;
using namespace ftsr::dashboard;

namespace {

const char* prog = "ftsr-ctl";

std::string timestamp(int64_t ns) {
  std::time_t secs = ns / 1'000'000'000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  std::ostringstream os;
  os << std::put_time(&tm, "%Y-%m-%d %H:%M:%S") << '.' << std::setfill('0')
     << std::setw(3) << (ns / 1'000'000) % 1000 << 'Z';
  return os.str();
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) {
      width.resize(std::max(width.size(), r.size()));
      width[i] = std::max(width[i], r[i].size());
    }
  for (auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i)
      line += i + 1 < r.size() ? r[i] + std::string(width[i] - r[i].size() + 2, ' ')
                               : r[i];
    std::cout << line << "\n";
  }
}

std::string join(const std::vector<std::string>& xs) {
  std::string out;
  for (auto& x : xs)
    out += (out.empty() ? "" : " ") + x;
  return out;
}

void print_status(const cluster_model& m) {
  std::cout << "cluster " << m.cluster << ": view " << m.view_number
            << " (as " << m.view_source << " sees it)\n";
  std::vector<std::vector<std::string>> rows{
    {"NODE", "ADDRESS", "INCARNATION", "STATE", "DETAIL"}};
  for (auto& n : m.nodes)
    rows.push_back({n.name, n.address, std::to_string(n.incarnation), n.state,
                    !n.reason.empty() ? n.reason
                    : n.answered      ? ""
                                      : "no answer: " + n.error});
  print_table(rows);
}

void print_groups(const cluster_model& m) {
  if (m.groups.empty()) {
    std::cout << "no groups\n";
    return;
  }
  std::vector<std::vector<std::string>> rows{
    {"GROUP", "NAME", "TYPE", "VIEW", "PRIMARY", "SEQNO", "SERVING",
     "MEMBERS"}};
  for (auto& g : m.groups)
    rows.push_back({hex_id(g.id), g.name.empty() ? "-" : g.name, g.type,
                    std::to_string(g.view),
                    g.primary.empty() ? "?" : g.primary,
                    std::to_string(g.seqno), g.serving ? "yes" : "no",
                    join(g.members)});
  print_table(rows);
}

void print_actors(const cluster_model& m) {
  if (m.actors.empty()) {
    std::cout << "no persistent actors\n";
    return;
  }
  std::vector<std::vector<std::string>> rows{
    {"ACTOR", "TYPE", "NODE", "INCARNATION", "GENERATION", "STATE",
     "RESTART LIST"}};
  for (auto& a : m.actors)
    rows.push_back({hex_id(a.id), a.type, a.node,
                    std::to_string(a.incarnation),
                    std::to_string(a.generation), a.state, join(a.nodes)});
  print_table(rows);
}

void print_event(const event_row& e) {
  std::cout << timestamp(e.event.start_ns) << "  " << e.reporter << "  "
            << e.event.kind << "  " << e.event.name;
  if (e.event.end_ns > e.event.start_ns)
    std::cout << "  (" << (e.event.end_ns - e.event.start_ns) / 1000 << " us)";
  if (!e.event.detail.empty())
    std::cout << "  " << e.event.detail;
  std::cout << "\n";
}

volatile std::sig_atomic_t stop_requested = 0;

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"ftsr-ctl: the state of an ftsr cluster, as its members "
               "report it"};
  app.name(prog);
  std::string config;
  int timeout_ms = 3000;
  bool follow = false;
  app.add_option("--config", config, "cluster file (TOML)")->required();
  app.add_option("--timeout", timeout_ms,
                 "milliseconds to wait for the cluster to answer")
    ->check(CLI::Range(1, 600000));
  // Extras are reported below, naming an unknown subcommand as such.
  app.require_subcommand(0, 1);
  app.allow_extras();
  auto status = app.add_subcommand("status", "nodes, incarnations, health");
  auto groups = app.add_subcommand(
    "groups", "resource groups: view, members, primary, sequence number");
  auto actors = app.add_subcommand(
    "actors", "persistent actors: node, incarnation, generation");
  auto events = app.add_subcommand("events",
                                   "failure events of every member, oldest "
                                   "first");
  events->add_flag("--follow", follow, "keep printing new events until "
                                       "interrupted");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    auto code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  auto extra = app.remaining(true);
  if (app.get_subcommands().empty()) {
    std::cerr << prog << ": "
              << (extra.empty() ? std::string{"a subcommand is required"}
                                : "unknown subcommand '" + extra.front() + "'")
              << " (one of: status, groups, actors, events)\n";
    return 2;
  }
  if (!extra.empty()) {
    std::cerr << prog << ": unexpected argument '" << extra.front() << "' for "
              << app.get_subcommands().front()->get_name() << "\n";
    return 2;
  }
  std::chrono::milliseconds bound{timeout_ms};
  auto probe = cluster_probe::connect(config, bound);
  if (!probe) {
    std::cerr << prog << ": " << describe(probe.error()) << "\n";
    finish_tool(connect_exit_code(probe.error()));
  }
  auto& p = **probe;
  introspect_query q;
  q.max_spans = 0;
  if (!events->parsed())
    q.max_events = 0;
  auto answers = p.collect(q, bound);
  auto model = build_model(p.cluster(), answers, merge_events(answers));
  if (status->parsed())
    print_status(model);
  else if (groups->parsed())
    print_groups(model);
  else if (actors->parsed())
    print_actors(model);
  if (!events->parsed())
    finish_tool(0);
  for (auto& e : model.events)
    print_event(e);
  if (!follow)
    finish_tool(0);
  std::signal(SIGINT, [](int) { stop_requested = 1; });
  std::signal(SIGTERM, [](int) { stop_requested = 1; });
  // Per node incarnation: the last journal entry printed.
  std::map<std::string, uint64_t> seen;
  for (auto& a : answers)
    if (a.report && !a.report->events.empty())
      seen[to_string(a.report->self)] = a.report->events.back().seq;
  std::cout.flush();
  while (stop_requested == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    std::vector<event_row> fresh;
    for (auto& a : p.collect(q, bound, false)) {
      if (!a.report)
        continue;
      auto who = to_string(a.report->self);
      auto& last = seen[who];
      for (auto& e : a.report->events)
        if (e.seq > last) {
          fresh.push_back({who, e.event});
          last = e.seq;
        }
    }
    std::stable_sort(fresh.begin(), fresh.end(), [](auto& x, auto& y) {
      return x.event.start_ns < y.event.start_ns;
    });
    for (auto& e : fresh)
      print_event(e);
    std::cout.flush();
  }
  finish_tool(0);
}
