// ZooKeeper C client load: sync and windowed async setData, leader failover.
#include "apps/bench/zk/zk_load.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <thread>

#include "apps/bench/zk/zk_ensemble.hpp"

using clock_type = std::chrono::steady_clock;

namespace ftsr::bench::zk {

namespace {

double ms_between(clock_type::time_point t0, clock_type::time_point t1) {
  return std::chrono::duration<double, std::milli>(t1 - t0).count();
}

/// Payload of write `i`: its index, padded to `size` bytes.
void fill_payload(std::vector<char>& buf, size_t i) {
  std::fill(buf.begin(), buf.end(), '.');
  auto text = std::to_string(i);
  std::copy_n(text.begin(), std::min(text.size(), buf.size()), buf.begin());
}

FILE* client_log = nullptr;

} // namespace

void set_client_log(const std::string& path, ZooLogLevel level) {
  zoo_set_debug_level(level);
  if (path.empty()) {
    zoo_set_log_stream(stderr);
    return;
  }
  auto f = std::fopen(path.c_str(), "a");
  if (!f)
    return;
  zoo_set_log_stream(f);
  if (client_log)
    std::fclose(client_log);
  client_log = f;
}

// -- client ------------------------------------------------------------------

client::client(const std::string& hosts,
               std::chrono::milliseconds session_timeout) {
  zh_ = zookeeper_init(hosts.c_str(), &client::on_event,
                       static_cast<int>(session_timeout.count()), nullptr,
                       this, 0);
  if (!zh_)
    throw std::runtime_error("zookeeper_init(" + hosts + ") failed");
}

client::~client() {
  if (zh_)
    zookeeper_close(zh_);
}

void client::on_event(zhandle_t*, int type, int state, const char*,
                      void* ctx) {
  if (type != ZOO_SESSION_EVENT)
    return;
  auto self = static_cast<client*>(ctx);
  std::lock_guard<std::mutex> guard{self->mtx_};
  self->state_ = state;
  self->cv_.notify_all();
}

bool client::wait_connected(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> guard{mtx_};
  return cv_.wait_for(guard, timeout, [&] {
    return state_ == ZOO_CONNECTED_STATE || zoo_state(zh_) == ZOO_CONNECTED_STATE;
  });
}

std::string client::current_server() const {
  auto s = zoo_get_current_server(zh_);
  if (!s)
    return {};
  return s; // the library's (thread-local) static buffer: not ours to free
}

bool client::ensure_znode(const std::string& path) {
  auto rc = zoo_create(zh_, path.c_str(), "", 0, &ZOO_OPEN_ACL_UNSAFE, 0,
                       nullptr, 0);
  return rc == ZOK || rc == ZNODEEXISTS;
}

// -- statistics --------------------------------------------------------------

// -- stall watchdog ------------------------------------------------------------

namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           clock_type::now().time_since_epoch())
    .count();
}

/// Progress of a workload, shared with the watchdog thread.
struct progress {
  std::atomic<int64_t> last_ns{0}; // last issue or completion
  std::atomic<size_t> outstanding{0};

  void touch() {
    last_ns.store(now_ns(), std::memory_order_relaxed);
  }
};

void on_nudge_done(int, const Stat*, const void*) {
}

/// While alive: when writes are outstanding and `p` saw no progress for
/// `threshold`, sends one exists(path) through a second session on the
/// server the load client is connected to (once per stall).
class watchdog {
public:
  watchdog(const client& c, const std::string& path, progress& p,
           std::chrono::milliseconds threshold)
    : path_(path), p_(p), threshold_ns_(threshold.count() * 1000000) {
    if (threshold.count() <= 0)
      return;
    auto server = c.current_server();
    if (server.empty())
      return;
    nudger_ = std::make_unique<client>(server);
    if (!nudger_->wait_connected(std::chrono::seconds(10)))
      throw std::runtime_error("stall watchdog cannot connect to " + server);
    thread_ = std::thread([this] { run(); });
  }

  ~watchdog() {
    stop_ = true;
    if (thread_.joinable())
      thread_.join();
  }

  size_t nudges() const {
    return nudges_;
  }

private:
  void run() {
    int64_t nudged_at = -1; // last_ns value of the stall already nudged
    while (!stop_) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      auto last = p_.last_ns.load(std::memory_order_relaxed);
      if (p_.outstanding.load() == 0 || last == nudged_at
          || now_ns() - last < threshold_ns_)
        continue;
      nudged_at = last;
      if (zoo_aexists(nudger_->handle(), path_.c_str(), 0, on_nudge_done,
                      nullptr)
          == ZOK)
        ++nudges_;
    }
  }

  std::string path_;
  progress& p_;
  int64_t threshold_ns_;
  std::unique_ptr<client> nudger_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> nudges_{0};
};

} // namespace

// -- (a) synchronous -----------------------------------------------------------

load_result run_sync(client& c, const load_options& opts) {
  load_result r;
  std::vector<char> buf(opts.payload);
  std::vector<double> lat;
  lat.reserve(std::min<size_t>(opts.requests, 1 << 20));
  int32_t last_version = -1;
  progress prog;
  watchdog dog{c, opts.path, prog, opts.stall_nudge};
  auto t_begin = clock_type::now();
  auto deadline = t_begin + opts.max_time;
  auto t_end = t_begin;
  for (size_t i = 0; i < opts.requests; ++i) {
    if (clock_type::now() >= deadline) {
      r.hit_time_limit = true;
      break;
    }
    fill_payload(buf, i);
    Stat stat{};
    prog.touch();
    prog.outstanding = 1;
    auto t0 = clock_type::now();
    auto rc = zoo_set2(c.handle(), opts.path.c_str(), buf.data(),
                       static_cast<int>(buf.size()), -1, &stat);
    t_end = clock_type::now();
    prog.outstanding = 0;
    if (rc != ZOK) {
      if (r.errors++ == 0)
        r.first_error = rc;
      continue;
    }
    ++r.ok;
    lat.push_back(ms_between(t0, t_end));
    if (last_version >= 0 && stat.version <= last_version)
      r.ordered = false;
    else if (last_version >= 0 && stat.version > last_version + 1)
      ++r.version_gaps;
    last_version = stat.version;
  }
  r.seconds = ms_between(t_begin, t_end) / 1000.0;
  r.ops_per_s = r.seconds > 0 ? static_cast<double>(r.ok) / r.seconds : 0;
  r.latency = summarize(std::move(lat));
  r.nudges = dog.nudges();
  return r;
}

// -- (b) asynchronous window ---------------------------------------------------

namespace {

struct async_state;

struct slot {
  async_state* st = nullptr;
  clock_type::time_point start;
  double latency_ms = -1;
  int rc = ZOK;
};

struct async_state {
  progress prog;
  std::mutex mtx;
  std::condition_variable cv;
  size_t inflight = 0;
  size_t completed = 0;
  int32_t last_version = -1;
  bool ordered = true;
  size_t version_gaps = 0;
  clock_type::time_point last_done;
  std::vector<slot> slots;
};

void on_set_done(int rc, const Stat* stat, const void* data) {
  auto now = clock_type::now();
  auto s = static_cast<slot*>(const_cast<void*>(data));
  auto st = s->st;
  s->rc = rc;
  s->latency_ms = ms_between(s->start, now);
  std::lock_guard<std::mutex> guard{st->mtx};
  if (rc == ZOK && stat) {
    if (st->last_version >= 0 && stat->version <= st->last_version)
      st->ordered = false;
    else if (st->last_version >= 0 && stat->version > st->last_version + 1)
      ++st->version_gaps;
    st->last_version = stat->version;
  }
  st->last_done = now;
  ++st->completed;
  --st->inflight;
  st->prog.outstanding = st->inflight;
  st->prog.touch();
  st->cv.notify_one();
}

} // namespace

load_result run_async(client& c, const load_options& opts) {
  load_result r;
  auto window = std::max<size_t>(opts.window, 1);
  // Leaked on purpose if completions never arrive (see below): pending
  // callbacks would otherwise touch freed memory.
  auto st = std::make_unique<async_state>();
  st->slots.resize(opts.requests);
  std::vector<char> buf(opts.payload);
  std::optional<watchdog> dog;
  dog.emplace(c, opts.path, st->prog, opts.stall_nudge);
  auto t_begin = clock_type::now();
  auto deadline = t_begin + opts.max_time;
  size_t issued = 0;
  while (issued < opts.requests) {
    {
      std::unique_lock<std::mutex> guard{st->mtx};
      if (!st->cv.wait_until(guard, deadline,
                             [&] { return st->inflight < window; }))
        break;
      ++st->inflight;
      st->prog.outstanding = st->inflight;
      st->prog.touch();
    }
    if (clock_type::now() >= deadline) {
      std::lock_guard<std::mutex> guard{st->mtx};
      --st->inflight;
      st->prog.outstanding = st->inflight;
      break;
    }
    auto& s = st->slots[issued];
    s.st = st.get();
    fill_payload(buf, issued);
    s.start = clock_type::now();
    // zoo_aset copies the buffer into the request before returning.
    auto rc = zoo_aset(c.handle(), opts.path.c_str(), buf.data(),
                       static_cast<int>(buf.size()), -1, on_set_done, &s);
    if (rc != ZOK) {
      std::lock_guard<std::mutex> guard{st->mtx};
      --st->inflight;
      st->prog.outstanding = st->inflight;
      ++r.errors;
      r.first_error = rc;
      break;
    }
    ++issued;
  }
  r.hit_time_limit = issued < opts.requests && r.errors == 0;
  // Drain (bounded): every issued request completes with a result or with
  // ZCONNECTIONLOSS/ZOPERATIONTIMEOUT within the session timeout.
  bool drained;
  {
    std::unique_lock<std::mutex> guard{st->mtx};
    drained = st->cv.wait_for(guard, std::chrono::seconds(60),
                              [&] { return st->inflight == 0; });
  }
  r.nudges = dog->nudges();
  dog.reset();
  if (!drained) {
    st.release(); // see above
    throw std::runtime_error("async setData: requests still outstanding 60 s "
                             "after the last one was issued");
  }
  std::vector<double> lat;
  lat.reserve(issued);
  for (size_t i = 0; i < issued; ++i) {
    auto& s = st->slots[i];
    if (s.rc == ZOK) {
      ++r.ok;
      lat.push_back(s.latency_ms);
    } else if (r.errors++ == 0) {
      r.first_error = s.rc;
    }
  }
  r.ordered = st->ordered;
  r.version_gaps = st->version_gaps;
  r.seconds = issued > 0 ? ms_between(t_begin, st->last_done) / 1000.0 : 0;
  r.ops_per_s = r.seconds > 0 ? static_cast<double>(r.ok) / r.seconds : 0;
  r.latency = summarize(std::move(lat));
  return r;
}

// -- leader failover ---------------------------------------------------------

failover_result measure_failover(ensemble& ens, const std::string& path,
                                 std::chrono::milliseconds bound,
                                 std::chrono::milliseconds session_timeout) {
  failover_result r;
  auto leader = ens.wait_leader(std::chrono::seconds(10));
  if (!leader) {
    r.error = "no leader before the kill";
    return r;
  }
  r.old_leader = *leader;
  auto c = std::make_unique<client>(ens.connect_string(), session_timeout);
  if (!c->wait_connected(std::chrono::seconds(10)) || !c->ensure_znode(path)) {
    r.error = "client cannot connect / create " + path + " before the kill";
    return r;
  }
  std::vector<char> buf(16);
  for (size_t i = 0; i < 5; ++i) {
    fill_payload(buf, i);
    if (auto rc = zoo_set(c->handle(), path.c_str(), buf.data(),
                          static_cast<int>(buf.size()), -1);
        rc != ZOK) {
      r.error = std::string("write before the kill failed: ") + zerror(rc);
      return r;
    }
  }
  r.client_server = c->current_server();
  r.client_on_leader = r.client_server == ens.address_of(*leader);
  // Side thread: when does a survivor report leadership?
  std::vector<std::pair<size_t, int>> survivors;
  for (size_t i = 0; i < ens.size(); ++i)
    if (i != *leader && ens.pid(i) > 0)
      survivors.emplace_back(i, ens.client_port(i));
  std::atomic<int64_t> poll_until{0};
  std::atomic<bool> started{false};
  clock_type::time_point t0;
  double election_ms = -1;
  std::optional<size_t> elected;
  std::thread poller([&] {
    while (!started.load())
      std::this_thread::yield();
    for (;;) {
      for (auto& [idx, port] : survivors) {
        auto reply = four_letter(port, "srvr", std::chrono::milliseconds(200));
        if (reply.find("Mode: leader") != std::string::npos) {
          election_ms = ms_between(t0, clock_type::now());
          elected = idx;
          return;
        }
      }
      if (clock_type::now().time_since_epoch().count() >= poll_until.load())
        return;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  t0 = clock_type::now();
  poll_until = (t0 + bound).time_since_epoch().count();
  auto killed = ens.kill9(*leader);
  started = true;
  if (!killed) {
    poll_until = 0;
    poller.join();
    r.error = "cannot kill -9 the leader";
    return r;
  }
  auto deadline = t0 + bound;
  int last_rc = ZOK;
  while (clock_type::now() < deadline) {
    fill_payload(buf, r.attempts);
    ++r.attempts;
    auto rc = zoo_set(c->handle(), path.c_str(), buf.data(),
                      static_cast<int>(buf.size()), -1);
    if (rc == ZOK) {
      r.write_ms = ms_between(t0, clock_type::now());
      r.ok = true;
      break;
    }
    last_rc = rc;
    if (rc == ZSESSIONEXPIRED || rc == ZINVALIDSTATE
        || zoo_state(c->handle()) == ZOO_EXPIRED_SESSION_STATE) {
      c.reset();
      c = std::make_unique<client>(ens.connect_string(), session_timeout);
      ++r.sessions;
      continue;
    }
    // Connection loss / timeout while the ensemble elects: retry soon.
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  // Give the poller up to 2 s more to see the new leader, then stop it.
  poll_until = std::min<int64_t>(
    poll_until.load(),
    (clock_type::now() + std::chrono::seconds(2)).time_since_epoch().count());
  poller.join();
  r.election_ms = election_ms;
  r.new_leader = elected;
  if (!r.ok)
    r.error = "no successful write within "
              + std::to_string(bound.count()) + " ms after the kill (last: "
              + zerror(last_rc) + ")";
  return r;
}

} // namespace ftsr::bench::zk
