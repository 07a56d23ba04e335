// Load and chaos runs of the bank: concurrent clients transferring between
// random accounts (each client a thread with its own calls), bounded by
// count and time, optionally with faults injected on the run's nodes and
// roles; the result is a history (bank_history.hpp) and figures.
// Not thread-safe: one run at a time per client.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "apps/bank/bank_client.hpp"
#include "apps/bank/bank_cluster.hpp"
#include "apps/bank/bank_history.hpp"

namespace ftsr::bank {

struct load_options {
  size_t clients = 8;
  /// Transfers in all (bound by count) ...
  size_t count = 1000;
  /// ... and by time.
  std::chrono::milliseconds duration = std::chrono::seconds(30);
  /// Longest wait for one transfer's answer (then its outcome is unknown).
  std::chrono::milliseconds op_timeout = std::chrono::seconds(15);
  int64_t max_amount = 100;
  uint64_t seed = 1;
  /// Print a live progress line on stderr.
  bool progress = true;
};

struct load_result {
  std::vector<history_op> ops;
  /// Failed transfers by reason (aborts: deadlock, lock_timeout, ...;
  /// refusals: insufficient_funds ...); unknown ones by error.
  std::map<std::string, size_t> reasons;
  /// Latencies of committed transfers, ms, sorted.
  std::vector<double> latencies;
  double seconds = 0;
};

/// Runs transfers among `accounts` until `opts.count` were issued,
/// `opts.duration` passed or `stop` is set.
load_result run_load(client& c, const std::vector<std::string>& accounts,
                     const load_options& opts,
                     const std::atomic<bool>* stop = nullptr);

/// Settles the unknown ops of `ops` at quiescence: asks the TM what became
/// of each one's token (tm_status) and records "committed" or
/// "not_committed"; one the TM still runs is asked again until `bound`.
/// Ops it cannot settle (no answer) stay unsettled. Returns how many stay.
size_t settle_unknown(client& c, std::vector<history_op>& ops,
                      std::chrono::milliseconds bound);

/// The summary: committed, aborted by reason, unknown, throughput, p50/p99.
std::string summary(const load_result& r);

struct chaos_options {
  size_t faults = 50;
  /// Pause between one fault's recovery and the next fault.
  std::chrono::milliseconds interval = std::chrono::milliseconds(500);
  uint64_t seed = 1;
  /// Faults in order instead of random ones: "kill:NODE", "stop:NODE",
  /// "destroy:ROLE" (tm, lm, dm1, dm2); repeated until `faults`.
  std::vector<std::string> schedule;
  /// Longest wait for the cluster to serve again after a fault.
  std::chrono::milliseconds recovery_bound = std::chrono::seconds(90);
};

/// Error (invalid_argument naming the entry) if a schedule entry is not
/// kill:NODE, stop:NODE or destroy:ROLE.
caf::error check_schedule(const std::vector<std::string>& schedule,
                          const std::vector<std::string>& nodes);

/// Waits like client::await_serving for up to `bound`, acting meanwhile as
/// the nodes' process supervisor (what systemd or a container runtime does
/// in production): a node whose process exited on its own, fenced after the
/// others suspected it (exit 3), is started again as a new incarnation and
/// reported on stderr. Error: the timeout of await_serving, or a node that
/// cannot be started.
caf::error await_serving_supervised(client& c, const run_dir& dir,
                                    const std::string& exe,
                                    std::chrono::milliseconds bound);

/// Injects faults on the run's nodes (kill -9 and SIGSTOP/SIGCONT; the
/// nodes that die are started again as new incarnations) and roles
/// (destroy, then spawn anew on the same store), waiting after each until
/// every role serves again. Returns the faults done, one line each; an
/// error if the cluster did not recover (or a schedule entry is bad).
caf::expected<std::vector<std::string>>
run_faults(client& c, const run_dir& dir, const std::string& exe,
           const chaos_options& opts, std::atomic<bool>& stop);

} // namespace ftsr::bank
