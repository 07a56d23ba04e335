// Node start-up, shutdown and the blocking helpers.
#include "actors/node.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "caf/all.hpp"
#include "caf/io/all.hpp"

#include "actors/errors.hpp"
#include "actors/membership.hpp"
#include "actors/message_types.hpp"
#include "actors/node_manager.hpp"
#include "actors/transport.hpp"

namespace ftsr {

namespace {

/// The actor system config of ftsr nodes: carries the node_context so that
/// every actor of the system reaches it through self->system().config().
class node_config : public caf::actor_system_config {
public:
  std::shared_ptr<node_context> ctx;
};

/// Incarnations must grow across restarts of the same name, even within
/// the same nanosecond tick of a coarse clock: wall clock ns plus a random
/// low part.
uint64_t new_incarnation() {
  auto now = static_cast<uint64_t>(wall_clock_ns());
  std::random_device rd;
  return (now & ~uint64_t{0xFFFF}) | (rd() & 0xFFFF);
}

/// Locks `dir` (created if missing) for this process: only one process may
/// speak for a name's data, and a successor that gets the lock knows its
/// predecessor's process is gone. Returns the open lock file.
caf::expected<int> lock_data_dir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return make_error(errc::bad_config, "cannot create data directory " + dir
                                          + ": " + ec.message());
  auto path = dir + "/node.lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return make_error(errc::bad_config, "cannot open " + path + ": "
                                          + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char buf[128] = {};
    auto n = ::pread(fd, buf, sizeof(buf) - 1, 0);
    ::close(fd);
    std::string holder = n > 0 ? std::string{buf, static_cast<size_t>(n)}
                               : std::string{"another process"};
    while (!holder.empty() && holder.back() == '\n')
      holder.pop_back();
    return make_error(errc::node_unavailable,
                      "data directory " + dir + " is in use by " + holder);
  }
  return fd;
}

void write_lock_owner(int fd, const member_id& self) {
  auto text = to_string(self) + " (pid " + std::to_string(::getpid())
              + ")\n";
  if (::ftruncate(fd, 0) == 0)
    (void) !::pwrite(fd, text.data(), text.size(), 0);
}

/// Reports refused connections on stderr and as "peer_refused" spans. A
/// peer that keeps retrying (a misconfigured member reconnects at every
/// heartbeat) or a flood would drown the log and the span buffer: the same
/// (direction, peer host, reason) is reported at most once per `quiet`,
/// with the number of repeats it stood for.
class refusal_log {
public:
  static constexpr auto quiet = std::chrono::seconds(5);

  explicit refusal_log(std::weak_ptr<node_context> ctx) : ctx_(std::move(ctx)) {
    // nop
  }

  void operator()(bool incoming, const std::string& peer,
                  const std::string& reason) {
    auto ctx = ctx_.lock();
    if (ctx == nullptr)
      return;
    // Incoming connections come from ephemeral ports: key on the host.
    auto host = incoming ? peer.substr(0, peer.rfind(':')) : peer;
    auto key = (incoming ? "from " : "to ") + host + " " + reason;
    auto now = std::chrono::steady_clock::now();
    size_t repeats = 0;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      auto& e = seen_[key];
      if (e.count > 0 && now - e.last < quiet) {
        ++e.count;
        return;
      }
      repeats = e.count > 0 ? e.count - 1 : 0;
      e = entry{now, 1};
    }
    auto detail = std::string{incoming ? "refused connection from "
                                       : "TLS connection failed to "}
                  + peer + ": " + reason;
    if (repeats > 0)
      detail += " (and " + std::to_string(repeats)
                + " more like it in the last period)";
    fprintf(stderr, "ftsr %s: %s\n",
            ctx->member ? ctx->self.name.c_str() : "client", detail.c_str());
    ctx->spans.event({}, "peer_refused", peer, detail);
  }

private:
  struct entry {
    std::chrono::steady_clock::time_point last;
    size_t count = 0;
  };
  std::weak_ptr<node_context> ctx_;
  std::mutex mtx_;
  std::map<std::string, entry> seen_;
};

/// The TLS credentials this node presents, loaded; null for plain TCP.
caf::expected<std::shared_ptr<const tls_context>>
tls_credentials(const node_options& opts, const node_address* addr) {
  auto& cluster = opts.cluster;
  if (!cluster.tls()) {
    if (!opts.tls.cert.empty())
      return make_error(errc::bad_config,
                        "TLS credentials given, but cluster '" + cluster.name
                          + "' has no [cluster.tls] table");
    return std::shared_ptr<const tls_context>{};
  }
  if (addr != nullptr && !opts.tls.cert.empty())
    return make_error(errc::bad_config,
                      "member " + addr->name + " takes its TLS credentials "
                        + "from its cluster file entry, not from options");
  auto id = addr != nullptr         ? addr->tls
            : opts.tls.cert.empty() ? cluster.tls_default
                                    : opts.tls;
  if (id.cert.empty() || id.key.empty())
    return make_error(errc::bad_config,
                      "cluster '" + cluster.name + "' uses TLS: a client "
                        + "needs a certificate and key (its own, or "
                        + "[cluster.tls] cert/key)");
  return load_tls_context(cluster.tls_ca, id);
}

} // namespace

node_context::node_context(node_options opts, uint64_t incarnation)
  : cluster(std::move(opts.cluster)),
    self{opts.name, opts.name.empty() ? 0 : incarnation},
    member(!opts.name.empty()),
    trace_sample_every(opts.trace_sample_every),
    data_dir(std::move(opts.data_dir)),
    restart_wait(opts.restart_wait),
    group_attempt_timeout(opts.group_attempt_timeout),
    replica_state_timeout(opts.replica_state_timeout),
    on_fenced(std::move(opts.on_fenced)),
    on_refused(std::move(opts.on_refused)),
    spans(opts.span_capacity),
    dir(spans, &meters.monitors_fired) {
  spans.set_node(member ? to_string(self) : "client");
  // Whatever an earlier incarnation of this node hosted is gone: bindings
  // to it that arrive from peers are failed on arrival.
  if (member)
    dir.node_failed(self.name, self.incarnation - 1, "restarted");
  // The journal keeps failure events; the caller's observer, if any, sees
  // every span.
  if (opts.span_observer)
    spans.set_observer([this, f = std::move(opts.span_observer)](
                         const span& s) {
      journal.observe(s);
      f(s);
    });
  else
    spans.set_observer([this](const span& s) { journal.observe(s); },
                       &event_journal::is_failure_event);
  // Queue lengths and counts kept elsewhere, read at each scrape.
  metrics.add_callback_gauge(
    "ftsr_pending_calls", "Calls from this node waiting for a reply",
    [this] { return static_cast<double>(dir.pending_calls()); });
  metrics.add_callback_gauge(
    "ftsr_monitors", "Monitors registered in this node's directory",
    [this] { return static_cast<double>(dir.monitors()); });
  metrics.add_callback_gauge(
    "ftsr_spans_buffered", "Spans in this node's span buffer",
    [this] { return static_cast<double>(spans.size()); });
  metrics.add_callback_counter(
    "ftsr_spans_dropped_total",
    "Spans dropped because this node's span buffer was full",
    [this] { return static_cast<double>(spans.dropped()); });
}

bool node_context::sample_call() {
  return trace_sample_every != 0
         && calls_.fetch_add(1, std::memory_order_relaxed) % trace_sample_every
              == 0;
}

bool node_context::in_majority() const {
  return member && !fenced
         && std::chrono::steady_clock::now().time_since_epoch().count()
              < lease_until.load();
}

node_context* find_context(caf::actor_system& sys) {
  auto cfg = dynamic_cast<const node_config*>(&sys.config());
  return cfg != nullptr ? cfg->ctx.get() : nullptr;
}

node_context& context_of(caf::actor_system& sys) {
  auto ctx = find_context(sys);
  if (ctx == nullptr) {
    fprintf(stderr, "ftsr: actor system was not started by ftsr::node\n");
    abort();
  }
  return *ctx;
}

node::node(std::unique_ptr<caf::actor_system_config> cfg,
           std::shared_ptr<node_context> ctx)
  : cfg_(std::move(cfg)), ctx_(std::move(ctx)) {
  // nop
}

caf::expected<std::unique_ptr<node>> node::start(node_options opts) {
  const node_address* addr = nullptr;
  if (!opts.name.empty()) {
    addr = opts.cluster.find(opts.name);
    if (addr == nullptr) {
      std::string known;
      for (auto& n : opts.cluster.nodes)
        known += (known.empty() ? "" : ", ") + n.name;
      return make_error(errc::unknown_node,
                        "node '" + opts.name + "' is not part of cluster '"
                          + opts.cluster.name + "' (known: " + known + ")");
    }
  }
  auto tls = tls_credentials(opts, addr);
  if (!tls)
    return tls.error();
  // The data directory: locked first (a second process for the same data
  // is refused before it can disturb anything), then the membership state.
  int lock_fd = -1;
  membership_state membership;
  bool membership_found = false;
  if (!opts.data_dir.empty()) {
    auto fd = lock_data_dir(opts.data_dir);
    if (!fd)
      return fd.error();
    lock_fd = *fd;
    if (addr != nullptr) {
      auto loaded = load_membership(opts.data_dir, membership_found);
      if (!loaded) {
        ::close(lock_fd);
        return loaded.error();
      }
      membership = std::move(*loaded);
    }
  }
  auto cfg = std::make_unique<node_config>();
  cfg->load<caf::io::middleman>();
  // Every connection goes through the node's transport: BASP must never
  // open connections of its own (with TLS they would be plain TCP).
  cfg->set("middleman.enable-automatic-connections", false);
  add_error_category(*cfg);
  add_protocol_types(*cfg);
  if (opts.scheduler_threads > 0)
    cfg->set("scheduler.max-threads", opts.scheduler_threads);
  // Middleman: no logging to files, no extra console output.
  cfg->set("logger.file-verbosity", caf::atom("quiet"));
  // Latency of a message hop. CAF's work-stealing workers, once idle, poll
  // with 50 us sleeps for a while before they block; a message arriving
  // then waits for the sleep to end (about 100 us on a VM, at every hop).
  // Block on the condition variable right after the short aggressive
  // phase instead, and deserialize BASP messages in the multiplexer thread
  // rather than waking a middleman worker thread for each. Halves the
  // latency of a replicated group invocation (apps/bench/RESULTS.md, 3).
  cfg->set("work-stealing.moderate-poll-attempts", size_t{0});
  cfg->set("middleman.workers", size_t{0});
  if (opts.add_types)
    opts.add_types(*cfg);
  // Above every incarnation of this name the cluster ever saw (the clock
  // may have gone back since).
  auto incarnation = new_incarnation();
  incarnation = std::max({incarnation, membership.owner + 1,
                          membership.fenced_of(opts.name) + 1});
  if (auto m = membership.view.find(opts.name))
    incarnation = std::max(incarnation, m->incarnation + 1);
  auto handshake_timeout = opts.tls_handshake_timeout;
  auto ctx = std::make_shared<node_context>(std::move(opts), incarnation);
  if (lock_fd >= 0)
    write_lock_owner(lock_fd, ctx->self);
  cfg->ctx = ctx;
  auto* cfg_ptr = cfg.get();
  std::unique_ptr<node> result{new node(std::move(cfg), ctx)};
  result->lock_fd_ = lock_fd;
  result->sys_ = std::make_unique<caf::actor_system>(*cfg_ptr);
  auto& sys = *result->sys_;
  if (*tls != nullptr)
    result->transport_ = spawn_tls_transport(
      sys, std::move(*tls),
      [log = std::make_shared<refusal_log>(ctx)](
        bool incoming, const std::string& peer, const std::string& reason) {
        (*log)(incoming, peer, reason);
      },
      handshake_timeout);
  ctx->transport = result->transport_.address();
  ctx->manager = spawn_node_manager(sys, ctx, std::move(membership),
                                    membership_found);
  if (addr != nullptr) {
    auto port = publish(sys, ctx->manager, addr->host, addr->port);
    if (!port)
      return make_error(errc::node_unavailable,
                        "node " + addr->name + " cannot listen on "
                          + addr->host + ":" + std::to_string(addr->port)
                          + ": " + sys.render(port.error()));
  }
  // Only now, listening, does the node start talking to the cluster.
  caf::anon_send(ctx->manager, tick_atom::value);
  return result;
}

node::~node() {
  if (sys_) {
    caf::anon_send_exit(ctx_->manager, caf::exit_reason::user_shutdown);
    ctx_->manager = nullptr;
    if (transport_) {
      caf::anon_send_exit(transport_, caf::exit_reason::user_shutdown);
      transport_ = nullptr;
    }
    sys_.reset();
  }
  if (lock_fd_ >= 0)
    ::close(lock_fd_);
}

template <class... Ts>
caf::expected<capability_ref> node::ask_manager(timeout t, Ts&&... xs) {
  caf::scoped_actor self{*sys_};
  caf::expected<capability_ref> result{caf::none};
  self->request(ctx_->manager, t, std::forward<Ts>(xs)...)
    .receive([&](capability_ref& ref) { result = std::move(ref); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

node::timeout node::time_left(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<timeout>(
    deadline - std::chrono::steady_clock::now());
  return std::max(left, timeout{1});
}

caf::error node::check_message_types(const std::vector<std::string>& nodes,
                                     const caf::message& args,
                                     const std::string& what, timeout t) {
  // Arguments for this very node never leave the process.
  std::vector<std::string> remote;
  for (auto& on : nodes)
    if (!ctx_->member || on != ctx_->self.name)
      remote.push_back(on);
  if (remote.empty())
    return caf::none;
  auto names = application_type_names(*sys_, args, what);
  if (!names)
    return std::move(names.error());
  if (names->empty())
    return caf::none;
  auto deadline = std::chrono::steady_clock::now() + t;
  caf::scoped_actor self{*sys_};
  caf::error result;
  for (auto& on : remote) {
    self->request(ctx_->manager, time_left(deadline), types_atom::value, on,
                  *names)
      .receive(
        [&](std::vector<std::string>& missing) {
          if (!missing.empty())
            result = missing_types_error(on, what, missing);
        },
        [](caf::error&) {
          // Down, unknown or not answering: the spawn itself reports it.
        });
    if (result)
      return result;
  }
  return caf::none;
}

caf::expected<capability_ref> node::spawn(const std::string& on,
                                          const std::string& type,
                                          caf::message args, timeout t) {
  auto deadline = std::chrono::steady_clock::now() + t;
  if (auto err = check_message_types({on}, args,
                                     "the arguments of '" + type + "'", t))
    return err;
  return ask_manager(time_left(deadline), spawn_atom::value, on, type,
                     std::move(args), std::vector<std::string>{},
                     trace_context{});
}

caf::expected<capability_ref>
node::spawn_persistent(const std::string& on,
                       const std::vector<std::string>& backups,
                       const std::string& type, caf::message args, timeout t) {
  if (backups.empty())
    return make_error(errc::invalid_argument,
                      "a persistent actor needs at least one backup node");
  auto deadline = std::chrono::steady_clock::now() + t;
  // The backups restart it with the same arguments: they need the types too.
  auto nodes = backups;
  nodes.insert(nodes.begin(), on);
  if (auto err = check_message_types(nodes, args,
                                     "the arguments of '" + type + "'", t))
    return err;
  return ask_manager(time_left(deadline), spawn_atom::value, on, type,
                     std::move(args), backups, trace_context{});
}

caf::expected<capability_ref> node::restart(const capability_ref& cap,
                                            caf::message args,
                                            const std::vector<std::string>& nodes,
                                            timeout t) {
  auto deadline = std::chrono::steady_clock::now() + t;
  if (auto err = check_message_types(nodes, args,
                                     "the arguments of '" + cap.type + "'", t))
    return err;
  return ask_manager(time_left(deadline), restart_atom::value, cap,
                     std::move(args), nodes, trace_context{});
}

caf::expected<void> node::destroy(const capability_ref& cap, timeout t) {
  caf::scoped_actor self{*sys_};
  caf::expected<void> result{caf::unit};
  self->request(ctx_->manager, t, destroy_atom::value, cap, trace_context{})
    .receive([] {},
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

caf::expected<void> node::register_name(const std::string& name,
                                        const capability_ref& cap,
                                        bool replace, timeout t) {
  caf::scoped_actor self{*sys_};
  caf::expected<void> result{caf::unit};
  self->request(ctx_->manager, t, name_atom::value, name, cap, replace)
    .receive([](name_binding&) {},
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

caf::expected<void> node::unregister_name(const std::string& name, timeout t) {
  caf::scoped_actor self{*sys_};
  caf::expected<void> result{caf::unit};
  self->request(ctx_->manager, t, name_unregister_atom::value, name)
    .receive([](name_binding&) {},
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

caf::expected<capability_ref> node::lookup_name(const std::string& name) const {
  return ctx_->names.resolve(name, ctx_->dir);
}

caf::expected<std::vector<member_status>> node::view(timeout t) {
  caf::scoped_actor self{*sys_};
  caf::expected<std::vector<member_status>> result{caf::none};
  self->request(ctx_->manager, t, view_atom::value)
    .receive(
      [&](member_id&, std::vector<member_status>& xs) {
        result = std::move(xs);
      },
      [&](caf::error& err) { result = std::move(err); });
  return result;
}

caf::expected<node_report> node::introspect(introspect_query q, timeout t) {
  caf::scoped_actor self{*sys_};
  caf::expected<node_report> result{caf::none};
  self->request(ctx_->manager, t, introspect_atom::value, std::move(q))
    .receive([&](node_report& r) { result = std::move(r); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

template <class Pred>
caf::expected<void> node::await_view(Pred pred, const std::string& what,
                                     timeout t) {
  // Bounded poll of the manager's view: membership changes arrive as
  // events inside the manager; polling keeps this helper free of actors.
  auto deadline = std::chrono::steady_clock::now() + t;
  std::vector<member_status> last;
  for (;;) {
    if (auto v = view()) {
      if (pred(*v))
        return caf::unit;
      last = std::move(*v);
    }
    if (std::chrono::steady_clock::now() >= deadline)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  std::string seen;
  for (auto& m : last)
    seen += " " + m.name + "=" + to_string(m.state);
  return make_error(errc::timeout, "timed out after "
                                     + std::to_string(t.count())
                                     + " ms waiting for " + what
                                     + "; view:" + seen);
}

caf::expected<void> node::await_up(const std::vector<std::string>& names,
                                   timeout t) {
  std::string what = "nodes up:";
  for (auto& n : names)
    what += " " + n;
  return await_view(
    [&](const std::vector<member_status>& v) {
      // A member also waits for its own lease: until then it serves
      // nothing.
      if (ctx_->member && !ctx_->in_majority())
        return false;
      for (auto& n : names) {
        auto i = std::find_if(v.begin(), v.end(),
                              [&](auto& m) { return m.name == n; });
        if (i == v.end() || i->state != member_state::up)
          return false;
      }
      return true;
    },
    what, t);
}

caf::expected<void> node::await_failed(const std::string& name, timeout t) {
  return await_view(
    [&](const std::vector<member_status>& v) {
      for (auto& m : v)
        if (m.name == name && m.state == member_state::failed)
          return true;
      return false;
    },
    "node " + name + " failed", t);
}

} // namespace ftsr
