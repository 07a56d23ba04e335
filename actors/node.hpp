// A node: one OS process (or, in tests, one actor system) of an ftsr
// cluster. It runs a CAF actor_system with the middleman, a node manager
// actor (failure detector, membership, directory replication, remote spawn)
// and holds this node's directory replica and span buffer.
//
// A node started with a member name listens on its configured address and
// takes part in failure detection; a node started as a client (no name)
// connects to all members, learns directory bindings and failure events from
// them, and can spawn, call and monitor like a member, but hosts no actors.
//
// Thread-safety: node's member functions are thread-safe. The blocking
// helpers (spawn, destroy, view, ...) must not be called from inside an
// actor; actors use the message-based API in call.hpp / monitor.hpp.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "caf/actor.hpp"
#include "caf/actor_system.hpp"
#include "caf/actor_system_config.hpp"
#include "caf/expected.hpp"
#include "caf/io/middleman_actor.hpp"
#include "caf/message.hpp"

#include "actors/capability.hpp"
#include "actors/cluster_config.hpp"
#include "actors/directory.hpp"
#include "actors/introspection.hpp"
#include "actors/metrics.hpp"
#include "actors/invocation_ids.hpp"
#include "actors/name_registry.hpp"
#include "actors/protocol.hpp"
#include "actors/trace.hpp"

namespace ftsr {

struct node_options {
  cluster_config cluster;
  /// Member name from the cluster file; empty starts a client.
  std::string name;
  /// Registers application actor types (cfg.add_actor_type) and message
  /// types before the actor system starts.
  std::function<void(caf::actor_system_config&)> add_types;
  /// Called once when the cluster declared this incarnation failed (or it
  /// noticed it was frozen for longer than the failure timeout). All local
  /// ftsr actors are already killed when it runs. The default does nothing
  /// more; ftsr-node exits the process.
  std::function<void(const std::string& reason)> on_fenced;
  /// Called once when this incarnation cannot join because its name is in
  /// use by a live member (a second process started under the same name).
  /// The node stops; ftsr-node exits with code 2.
  std::function<void(const std::string& reason)> on_refused;
  /// Capacity of the span buffer.
  size_t span_capacity = 4096;
  /// Sees every span as it is recorded (from the start, before any peer is
  /// contacted), e.g. to log failures; see span_buffer::set_observer.
  std::function<void(const span&)> span_observer;
  /// Record one in `trace_sample_every` invocations as a trace (the
  /// caller's span, and the callees' spans where the context travels:
  /// group invocations); 0 traces none. Failures, backups and monitor
  /// firings are always recorded.
  uint32_t trace_sample_every = 1;
  /// How long a call without backup to a failed persistent actor waits for
  /// its restart before failing with errc::timeout.
  std::chrono::milliseconds restart_wait = std::chrono::seconds(10);
  /// How long ftsr::call waits for one attempt of a group invocation before
  /// it tries again under the same request id: bounds the wait for an
  /// answer that got lost (a replier failing as it answered, a member list
  /// the caller had not learned yet). Checked at every heartbeat tick.
  std::chrono::milliseconds group_attempt_timeout = std::chrono::seconds(2);
  /// How long a replica spawned for a group waits for its state (the
  /// group's init, or a state transfer) before it stops. One whose join was
  /// lost with a failing primary (a replacement spawned just before the
  /// primary died) would otherwise stay idle forever.
  std::chrono::milliseconds replica_state_timeout = std::chrono::seconds(30);
  /// A client's own TLS certificate and key when the cluster uses TLS
  /// (empty: the cluster file's [cluster.tls] cert/key). Members use their
  /// entry's credentials and must leave this empty.
  tls_identity tls{};
  /// Bound on each TLS handshake, accepted or initiated; a peer that has
  /// not completed it by then is refused.
  std::chrono::milliseconds tls_handshake_timeout = std::chrono::seconds(2);
  /// CAF scheduler threads; 0 = CAF's default.
  size_t scheduler_threads = 0;
  /// Directory for this node's stable storage (persistence/) and its
  /// membership state; created if missing and locked for this process (a
  /// second process on the same directory is refused). Empty: the node
  /// offers no stable storage and keeps its membership state in memory only
  /// (tests; a restart then cannot vote for its name until readmitted).
  std::string data_dir;
};

/// State shared by the node and its actors; reachable from any actor of the
/// system through context_of(). Thread-safe.
struct node_context {
  node_context(node_options opts, uint64_t incarnation);

  const cluster_config cluster;
  const member_id self;
  const bool member;
  const uint32_t trace_sample_every;
  const std::string data_dir;
  const std::chrono::milliseconds restart_wait;
  const std::chrono::milliseconds group_attempt_timeout;
  const std::chrono::milliseconds replica_state_timeout;
  std::function<void(const std::string&)> on_fenced;
  std::function<void(const std::string&)> on_refused;
  span_buffer spans;
  /// The failure events among the spans, kept longer (ftsr-ctl events).
  event_journal journal;
  /// The group replicas hosted here, as they last published themselves.
  replica_board replicas;
  /// This node's metrics (ftsr-node serves them on --metrics).
  metrics_registry metrics;
  /// The runtime's own series in `metrics`, for recording without lookups.
  node_metrics meters{metrics};
  directory dir;
  /// Named capabilities (register_name / lookup_name).
  name_registry names;
  std::atomic<bool> fenced{false};
  /// End of this member's lease (steady_clock ticks since its epoch), kept
  /// by the manager: see membership_core.hpp.
  std::atomic<int64_t> lease_until{std::numeric_limits<int64_t>::min()};
  /// This member held a lease at least once (a node just admitted waits for
  /// its first one; one that lost its lease refuses).
  std::atomic<bool> leased{false};
  caf::actor manager;
  /// The TLS transport when the cluster uses TLS (see transport.hpp's
  /// transport_handle); null for plain TCP. Weak: the node holds the
  /// strong handle (a detached actor's thread ends only when its last
  /// strong reference is gone).
  caf::actor_addr transport;
  /// Ids of this process's calls to persistent actors (ftsr::call).
  invocation_ids invocations;

  /// True while this member is in the agreed cluster view and holds a lease
  /// renewed by a majority of it: the primary partition. Everything that
  /// serves (group primaries and replicas, persistent actors) refuses while
  /// it is false, so a node cut off from the majority stops before the
  /// majority restarts or replaces what it hosts (no split brain).
  bool in_majority() const;

  /// True for the calls that should record an invocation span.
  bool sample_call();

private:
  std::atomic<uint64_t> calls_{0};
};

/// The node_context of an actor system started by ftsr::node.
node_context& context_of(caf::actor_system& sys);

/// The node_context of `sys`, or nullptr if ftsr::node did not start it
/// (plain CAF systems, e.g. in unit tests).
node_context* find_context(caf::actor_system& sys);

class node {
public:
  /// Starts a node: validates options, starts the actor system, listens on
  /// the member's address and begins connecting to the other members.
  /// Errors: errc::unknown_node (name not in the cluster), errc::bad_config
  /// (TLS credentials that do not load or do not match the cluster CA;
  /// a client without credentials in a TLS cluster), or
  /// errc::node_unavailable when the address cannot be bound.
  static caf::expected<std::unique_ptr<node>> start(node_options opts);

  /// Stops the manager and all local actors, then the actor system.
  ~node();

  caf::actor_system& system() noexcept {
    return *sys_;
  }

  node_context& context() noexcept {
    return *ctx_;
  }

  const member_id& self() const noexcept {
    return ctx_->self;
  }

  // -- blocking helpers (threads outside of actors) -------------------------

  using timeout = std::chrono::milliseconds;

  /// What is left of a wait that ends at `deadline`, for a blocking helper
  /// made of several requests that share one timeout (at least 1 ms, so
  /// an expired wait still ends in the request's timeout error).
  static timeout time_left(std::chrono::steady_clock::time_point deadline);

  /// Spawns actor type `type` with `args` on node `on` (remote spawn).
  caf::expected<capability_ref> spawn(const std::string& on,
                                      const std::string& type,
                                      caf::message args = {},
                                      timeout t = std::chrono::seconds(10));

  /// Spawns a persistent actor (FT-SR `persistent` resource created with
  /// extra VMs): when its node fails, it is restarted with the same `args`
  /// on the next live node of `backups` (in order, wrapping around to `on`),
  /// under the same capability, and runs its recovery handler first (see
  /// persistence/persistent.hpp). Errors: invalid_argument (no backups, a
  /// backup equal to `on` or listed twice), unknown_node, node_unavailable.
  caf::expected<capability_ref>
  spawn_persistent(const std::string& on, const std::vector<std::string>& backups,
                   const std::string& type, caf::message args = {},
                   timeout t = std::chrono::seconds(10));

  /// FT-SR `restart cap(args) on nodes`: restarts a failed persistent actor
  /// with new `args` on the first live node of `nodes`, which also become
  /// its restart list. Errors: invalid_argument (not persistent, still
  /// alive, empty list, a node listed twice), destroyed, unknown_node,
  /// node_unavailable.
  caf::expected<capability_ref>
  restart(const capability_ref& cap, caf::message args,
          const std::vector<std::string>& nodes,
          timeout t = std::chrono::seconds(10));

  /// Checks, before `args` are sent to `nodes` (spawns, group creation),
  /// that this process and every node of `nodes` that is up registered the
  /// application message types in `args` (message_types.hpp): otherwise
  /// errc::invalid_argument naming the type and the node, at once (CAF
  /// would drop the message and the caller wait for its timeout). `what`
  /// says whose arguments they are. This node and nodes down or unknown are
  /// not checked (the spawn reports them). Sends nothing when `args` holds
  /// only CAF's built-in types. spawn, spawn_persistent, restart and
  /// create_group call it.
  caf::error check_message_types(const std::vector<std::string>& nodes,
                                 const caf::message& args,
                                 const std::string& what,
                                 timeout t = std::chrono::seconds(10));

  /// FT-SR `destroy`: kills the actor; its monitors fire. Returns once the
  /// actor is gone.
  caf::expected<void> destroy(const capability_ref& cap,
                              timeout t = std::chrono::seconds(10));

  /// Registers `cap` (an actor's or a group's capability) under `name` for
  /// the whole cluster: every member and client can look it up, also ones
  /// started later, and the name outlives this node. A name held by
  /// another capability is refused (errc::invalid_argument naming the
  /// holder) unless `replace`. Bad names (empty, longer than 255 bytes,
  /// control characters): errc::invalid_argument. A client has a member
  /// make the change (errc::node_unavailable if none is up).
  caf::expected<void> register_name(const std::string& name,
                                    const capability_ref& cap,
                                    bool replace = false,
                                    timeout t = std::chrono::seconds(10));

  /// Removes `name` cluster-wide (errc::unknown_name if it is not bound).
  caf::expected<void> unregister_name(const std::string& name,
                                      timeout t = std::chrono::seconds(10));

  /// The capability registered under `name`, as this node knows it now
  /// (current incarnation, current group members); errc::unknown_name if
  /// none. Reads this node's replica: no message is sent.
  caf::expected<capability_ref> lookup_name(const std::string& name) const;

  /// This node's view of the cluster (itself included if a member).
  caf::expected<std::vector<member_status>> view(timeout t = std::chrono::seconds(5));

  /// The report (introspection.hpp) of node `q.node` (empty: this one),
  /// asked through this node's manager. Errors: unknown_node (not in the
  /// cluster), node_unavailable (not connected), a timeout after `t`.
  caf::expected<node_report> introspect(introspect_query q,
                                        timeout t = std::chrono::seconds(5));

  /// Waits until every node in `names` is up in this node's view.
  caf::expected<void> await_up(const std::vector<std::string>& names,
                               timeout t = std::chrono::seconds(20));

  /// Waits until `name` is failed (any incarnation) in this node's view.
  caf::expected<void> await_failed(const std::string& name,
                                   timeout t = std::chrono::seconds(20));

private:
  node(std::unique_ptr<caf::actor_system_config> cfg,
       std::shared_ptr<node_context> ctx);

  template <class Pred>
  caf::expected<void> await_view(Pred pred, const std::string& what, timeout t);

  template <class... Ts>
  caf::expected<capability_ref> ask_manager(timeout t, Ts&&... xs);

  std::unique_ptr<caf::actor_system_config> cfg_;
  std::shared_ptr<node_context> ctx_;
  std::unique_ptr<caf::actor_system> sys_;
  /// Lock on the data directory (-1: none).
  int lock_fd_ = -1;
  caf::io::middleman_actor transport_;
};

} // namespace ftsr
