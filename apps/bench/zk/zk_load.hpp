// Load generator for the ZooKeeper side of the ordered-write comparison,
// on the ZooKeeper C client (libzookeeper_mt): setData on one znode,
// (a) synchronously, one request outstanding, (b) asynchronously with a
// window of W outstanding requests; bounded by a request count AND a time
// limit; per-request latency, throughput, p50/p99 (nearest rank). Also the
// leader failover measurement: kill -9 the leader, write until a write
// succeeds, time from the kill to that write's completion.
#pragma once

#include <zookeeper/zookeeper.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "apps/bench/latency.hpp"

namespace ftsr::bench::zk {

class ensemble;

/// Routes the C client's own log (connection errors during failover, ...)
/// to `path` at `level`; process-wide. Empty path: stderr.
void set_client_log(const std::string& path,
                    ZooLogLevel level = ZOO_LOG_LEVEL_WARN);

/// One ZooKeeper session (zhandle_t), closed by the destructor.
class client {
public:
  /// Starts connecting to `hosts` ("h:p,h:p,..."); does not wait.
  /// Throws std::runtime_error when zookeeper_init fails.
  explicit client(const std::string& hosts,
                  std::chrono::milliseconds session_timeout
                  = std::chrono::milliseconds(10000));
  ~client();
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  /// Waits (bounded) for the session to be connected.
  bool wait_connected(std::chrono::milliseconds timeout);

  zhandle_t* handle() const {
    return zh_;
  }

  /// "127.0.0.1:port" of the server this session is connected to (or was
  /// last connected to), "" if unknown.
  std::string current_server() const;

  /// Creates `path` (empty data) unless it exists; true on success.
  bool ensure_znode(const std::string& path);

private:
  static void on_event(zhandle_t* zh, int type, int state, const char* path,
                       void* ctx);

  zhandle_t* zh_ = nullptr;
  std::mutex mtx_;
  std::condition_variable cv_;
  int state_ = 0;
};

struct load_options {
  std::string path = "/bench";
  /// Upper bound on the number of writes.
  size_t requests = 2000;
  /// Upper bound on the time spent issuing writes.
  std::chrono::milliseconds max_time = std::chrono::seconds(20);
  /// Outstanding requests (async only; sync is always 1).
  size_t window = 16;
  /// Bytes of data per setData.
  size_t payload = 16;
  /// Stall watchdog (work-around for ZOOKEEPER-4537 in ZooKeeper 3.8.0,
  /// see README.md): when writes are outstanding and nothing completed for
  /// this long, a second session on the same server issues one
  /// exists(path) read, which wakes the server's CommitProcessor. Costs
  /// nothing while requests complete; 0 disables it.
  std::chrono::milliseconds stall_nudge{20};
};

using ftsr::bench::latency_summary;
using ftsr::bench::summarize;


struct load_result {
  size_t ok = 0;
  size_t errors = 0;
  /// First error code (ZOK when none), see zerror().
  int first_error = 0;
  /// From the first request issued to the last completion.
  double seconds = 0;
  double ops_per_s = 0;
  latency_summary latency;
  /// The znode versions returned by successive successful completions
  /// strictly increased: the writes were applied in issue order.
  bool ordered = true;
  /// Times the version advanced by more than one between two successful
  /// completions: a write in between failed on the client (e.g. timed out)
  /// but was applied. 0 when errors == 0 (single writer).
  size_t version_gaps = 0;
  /// Stopped by max_time before `requests` writes.
  bool hit_time_limit = false;
  /// Reads issued by the stall watchdog (each: writes outstanding, no
  /// completion for stall_nudge).
  size_t nudges = 0;
};

/// (a) N synchronous zoo_set2 calls, one outstanding.
load_result run_sync(client& c, const load_options& opts);

/// (b) zoo_aset with `opts.window` outstanding requests.
load_result run_async(client& c, const load_options& opts);

struct failover_result {
  bool ok = false;
  std::string error;
  /// Index and myid - 1 of the killed leader, and the new leader.
  size_t old_leader = 0;
  std::optional<size_t> new_leader;
  /// The server the writing client was connected to before the kill, and
  /// whether that was the leader.
  std::string client_server;
  bool client_on_leader = false;
  /// kill -9 -> first successful write's completion.
  double write_ms = -1;
  /// kill -9 -> a surviving server first answers `srvr` with Mode: leader
  /// (polled every 2 ms on a side thread); -1 when not observed.
  double election_ms = -1;
  /// Writes issued until one succeeded (incl. the successful one), and
  /// sessions opened (> 1 when the first one expired).
  size_t attempts = 0;
  size_t sessions = 1;
};

/// One failover round on a serving ensemble: connect a client to the whole
/// connect string, write a few times, kill -9 the leader, write (retrying
/// on connection loss / timeouts, reopening the session if it expired)
/// until a write succeeds or `bound` passes. Does not restart the killed
/// server (the caller does: ensemble::restart + wait_serving).
failover_result measure_failover(ensemble& ens, const std::string& path,
                                 std::chrono::milliseconds bound
                                 = std::chrono::seconds(30),
                                 std::chrono::milliseconds session_timeout
                                 = std::chrono::milliseconds(10000));

} // namespace ftsr::bench::zk
