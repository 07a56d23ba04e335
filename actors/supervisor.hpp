// Erlang/OTP-style supervision as data. A supervisor_spec describes a
// supervisor (strategy, restart intensity, children in start order);
// supervisor_core is the pure, deterministic restart state machine; and
// spawn_supervisor runs a spec as a CAF actor that applies the core's
// decisions to real children. Supervisors nest: a supervisor is an ordinary
// child of its parent, and giving up (restart intensity exceeded) is an
// abnormal exit that the parent handles with its own strategy (escalation).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "caf/actor.hpp"
#include "caf/atom.hpp"
#include "caf/error.hpp"
#include "caf/expected.hpp"
#include "caf/meta/load_callback.hpp"
#include "caf/meta/type_name.hpp"
#include "caf/timespan.hpp"

namespace caf {
class actor_system;
class actor_system_config;
} // namespace caf

namespace ftsr {

class span_buffer;

/// Which children restart when one of them exits and must be restarted.
enum class restart_strategy : uint8_t {
  /// Only the exited child.
  one_for_one,
  /// All children: the others stop (reverse start order), then all start.
  one_for_all,
  /// The exited child and every child started after it.
  rest_for_one,
};

/// When a child is restarted after it exits.
enum class restart_type : uint8_t {
  /// Always.
  permanent,
  /// Only after an abnormal exit (any reason other than normal or
  /// user_shutdown).
  transient,
  /// Never; the child is removed from the supervisor once it stops, even
  /// when a sibling's restart stopped it.
  temporary,
};

const char* to_string(restart_strategy x);
const char* to_string(restart_type x);

/// One child of a supervisor.
struct child_spec {
  /// Unique among the supervisor's children; names the child in spans and
  /// in which_children replies.
  std::string id;
  /// Spawns a fresh incarnation of the child. Runs inside the supervisor
  /// actor (keep it quick, never block); must return a valid actor. An
  /// invalid actor or an exception counts as a failure of the child.
  std::function<caf::actor(caf::actor_system&)> start;
  restart_type restart = restart_type::permanent;
  /// How long a stopping child may take after exit_reason::user_shutdown
  /// before the supervisor kills it. Zero kills at once. Give a supervisor
  /// child enough time to stop its own children.
  caf::timespan shutdown = std::chrono::seconds(5);
};

/// A supervisor: strategy, restart intensity and children in start order.
struct supervisor_spec {
  /// Names the supervisor in spans and errors.
  std::string name = "supervisor";
  restart_strategy strategy = restart_strategy::one_for_one;
  /// The supervisor gives up when more than `intensity` restarts happen
  /// within any window of length `period`.
  int intensity = 3;
  caf::timespan period = std::chrono::seconds(5);
  std::vector<child_spec> children;
};

/// Checks the contract of `spec` (pure, thread-safe): intensity >= 0, period > 0, nonempty and
/// unique child ids, a start function for every child, shutdown >= 0.
/// Returns an errc::invalid_argument error naming the problem, or none.
caf::error validate(const supervisor_spec& spec);

/// What a supervisor must do after a child exited.
struct restart_decision {
  enum action_type : uint8_t {
    /// Nothing (the child is not restarted, or the exit was unknown/stale).
    none,
    /// Stop `stop` in that order (reverse start order), then start `start`
    /// in that order (start order).
    restart,
    /// Restart intensity exceeded: stop `stop` (every running child, reverse
    /// start order) and terminate with errc::restart_intensity_exceeded.
    escalate,
  };
  action_type action = none;
  std::vector<std::string> stop;
  std::vector<std::string> start;
};

/// The restart state machine of one supervisor, OTP semantics: a restart
/// (of one child or of a group of children) is recorded at the time of the
/// exit that caused it; restarts older than `period` (time < now - period)
/// are forgotten; the restart that brings the count within the window above
/// `intensity` escalates instead of restarting. Exits that restart nothing
/// do not count. Time is passed in, so the core is deterministic.
///
/// Not thread-safe (owned by one supervisor actor or one test). Never calls
/// the children's start functions. Once it escalated it stays escalated.
class supervisor_core {
public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;

  /// A child as the core sees it.
  struct child_state {
    std::string id;
    restart_type restart;
    bool running;
  };

  /// Requires validate(spec) to accept spec, except that start functions
  /// may be empty (the core never calls them). All children start out as
  /// not running.
  explicit supervisor_core(const supervisor_spec& spec);

  /// Ids of all children in start order; marks them running.
  std::vector<std::string> start_all();

  /// Decides what to do after child `id` exited at `now`; `abnormal` is
  /// false for exit reasons normal and user_shutdown. Updates the child
  /// states as if the decision was carried out: stopped children are not
  /// running (temporary ones are removed), started ones are running. An
  /// unknown or non-running `id` yields action none.
  restart_decision on_exit(const std::string& id, bool abnormal,
                           time_point now);

  /// Ids of running children in reverse start order (orderly shutdown);
  /// marks them stopped and removes temporary children.
  std::vector<std::string> stop_all();

  /// Children still present (not removed), in start order.
  const std::vector<child_state>& children() const {
    return children_;
  }

  /// Restarts recorded within [now - period, now].
  size_t restarts_within_period(time_point now) const;

  bool escalated() const {
    return escalated_;
  }

private:
  size_t index_of(const std::string& id) const;
  void forget_old_restarts(time_point now);
  /// Stops children_[i] for a group restart; returns false if it was removed.
  bool stop_for_restart(size_t i);

  restart_strategy strategy_;
  size_t intensity_;
  caf::timespan period_;
  std::vector<child_state> children_;
  std::deque<time_point> restarts_; // oldest first
  bool escalated_ = false;
};

/// A child as reported to which_children requests.
struct child_status {
  std::string id;
  /// Invalid while the child is not running (e.g. a transient child that
  /// exited normally, or during a restart).
  caf::actor handle;
  restart_type restart = restart_type::permanent;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, child_status& x) {
  auto rt = static_cast<uint8_t>(x.restart);
  auto sync = caf::meta::load_callback([&]() -> caf::error {
    x.restart = static_cast<restart_type>(rt);
    return caf::none;
  });
  return f(caf::meta::type_name("ftsr::child_status"), x.id, x.handle, rt,
           sync);
}

/// (which_children) -> std::vector<child_status>: the supervisor's present
/// children in start order.
using which_children_atom = caf::atom_constant<caf::atom("ftsr_which")>;

/// Registers the supervisor's message types (needed to query supervisors
/// on other nodes; local use works without).
void add_supervisor_types(caf::actor_system_config& cfg);

/// Validates `spec` (see validate) and spawns a supervisor actor running it.
/// Thread-safe like actor_system::spawn; the actor owns its copy of `spec`.
///
/// The supervisor starts the children in order and monitors them (no
/// links: a killed child must not kill the supervisor). It traps exits: an
/// exit message from a non-child (e.g. its parent) with a non-normal reason
/// stops all children in reverse start order, each within its shutdown
/// time, and then terminates with that reason. A supervisor killed with
/// exit_reason::kill (which cannot be trapped) kills its remaining children. A child exit is
/// handled as the core decides; siblings are stopped one at a time in
/// reverse start order and restarts begin only after the last of them is
/// down, so restarts are ordered. Exits arriving during a restart are
/// handled after it. When restart intensity is exceeded the supervisor
/// stops all children and terminates with errc::restart_intensity_exceeded.
/// If a child fails to start initially, the supervisor stops the children
/// started so far and terminates with errc::invalid_argument.
///
/// Records a span of kind "restart" (name: child id) for every restarted
/// child and "escalate" (name: supervisor name) when giving up into
/// `spans`, if given; `spans` must outlive the supervisor.
caf::expected<caf::actor> spawn_supervisor(caf::actor_system& sys,
                                           supervisor_spec spec,
                                           span_buffer* spans = nullptr);

} // namespace ftsr
