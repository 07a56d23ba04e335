// Supervision: spec validation, the restart state machine and the
// supervisor actor that applies its decisions.
#include "actors/supervisor.hpp"

#include <algorithm>
#include <exception>
#include <limits>
#include <set>
#include <utility>

#include "caf/all.hpp"

#include "actors/errors.hpp"
#include "actors/log.hpp"
#include "actors/trace.hpp"

namespace ftsr {

const char* to_string(restart_strategy x) {
  switch (x) {
    case restart_strategy::one_for_one: return "one_for_one";
    case restart_strategy::one_for_all: return "one_for_all";
    case restart_strategy::rest_for_one: return "rest_for_one";
  }
  return "unknown_strategy";
}

const char* to_string(restart_type x) {
  switch (x) {
    case restart_type::permanent: return "permanent";
    case restart_type::transient: return "transient";
    case restart_type::temporary: return "temporary";
  }
  return "unknown_restart_type";
}

namespace {

std::string render(caf::timespan x) {
  auto ns = x.count();
  if (ns % 1'000'000 == 0)
    return std::to_string(ns / 1'000'000) + "ms";
  return std::to_string(ns) + "ns";
}

} // namespace

caf::error validate(const supervisor_spec& spec) {
  auto fail = [&](const std::string& what) {
    return make_error(errc::invalid_argument,
                      "supervisor '" + spec.name + "': " + what);
  };
  if (spec.intensity < 0)
    return fail("intensity must be >= 0, got "
                + std::to_string(spec.intensity));
  if (spec.period <= caf::timespan::zero())
    return fail("period must be > 0, got " + render(spec.period));
  std::set<std::string> ids;
  for (auto& c : spec.children) {
    if (c.id.empty())
      return fail("a child has an empty id");
    if (!ids.insert(c.id).second)
      return fail("duplicate child id '" + c.id + "'");
    if (!c.start)
      return fail("child '" + c.id + "' has no start function");
    if (c.shutdown < caf::timespan::zero())
      return fail("child '" + c.id + "' has a negative shutdown time");
  }
  return caf::none;
}

// -- supervisor_core ----------------------------------------------------------

supervisor_core::supervisor_core(const supervisor_spec& spec)
  : strategy_(spec.strategy),
    intensity_(static_cast<size_t>(std::max(spec.intensity, 0))),
    period_(spec.period) {
  children_.reserve(spec.children.size());
  for (auto& c : spec.children)
    children_.push_back({c.id, c.restart, false});
}

std::vector<std::string> supervisor_core::start_all() {
  std::vector<std::string> result;
  for (auto& c : children_) {
    c.running = true;
    result.push_back(c.id);
  }
  return result;
}

size_t supervisor_core::index_of(const std::string& id) const {
  for (size_t i = 0; i < children_.size(); ++i)
    if (children_[i].id == id)
      return i;
  return std::numeric_limits<size_t>::max();
}

void supervisor_core::forget_old_restarts(time_point now) {
  // Inclusive window like OTP: a restart exactly `period` ago still counts.
  while (!restarts_.empty() && restarts_.front() < now - period_)
    restarts_.pop_front();
}

size_t supervisor_core::restarts_within_period(time_point now) const {
  return static_cast<size_t>(
    std::count_if(restarts_.begin(), restarts_.end(), [&](time_point t) {
      return t >= now - period_ && t <= now;
    }));
}

std::vector<std::string> supervisor_core::stop_all() {
  std::vector<std::string> result;
  for (auto i = children_.rbegin(); i != children_.rend(); ++i)
    if (i->running)
      result.push_back(i->id);
  for (auto& c : children_)
    c.running = false;
  children_.erase(std::remove_if(children_.begin(), children_.end(),
                                 [](const child_state& c) {
                                   return c.restart == restart_type::temporary;
                                 }),
                  children_.end());
  return result;
}

restart_decision supervisor_core::on_exit(const std::string& id,
                                          bool abnormal, time_point now) {
  restart_decision d;
  if (escalated_) {
    d.action = restart_decision::escalate;
    return d;
  }
  auto i = index_of(id);
  if (i == std::numeric_limits<size_t>::max() || !children_[i].running)
    return d;
  auto& c = children_[i];
  c.running = false;
  bool restart = c.restart == restart_type::permanent
                 || (c.restart == restart_type::transient && abnormal);
  if (!restart) {
    if (c.restart == restart_type::temporary)
      children_.erase(children_.begin() + static_cast<std::ptrdiff_t>(i));
    return d;
  }
  // One restart per exit, however many children the strategy restarts.
  forget_old_restarts(now);
  restarts_.push_back(now);
  if (restarts_.size() > intensity_) {
    escalated_ = true;
    d.action = restart_decision::escalate;
    d.stop = stop_all();
    return d;
  }
  d.action = restart_decision::restart;
  // Children from `first` on take part in the restart; the exited child
  // is not stopped (it is gone) but is started again.
  size_t first = 0;
  switch (strategy_) {
    case restart_strategy::one_for_one:
      c.running = true;
      d.start.push_back(id);
      return d;
    case restart_strategy::one_for_all:
      first = 0;
      break;
    case restart_strategy::rest_for_one:
      first = i;
      break;
  }
  for (size_t j = children_.size(); j-- > first;)
    if (children_[j].running)
      d.stop.push_back(children_[j].id);
  // Temporary children stopped for a group restart are gone for good (OTP).
  std::vector<child_state> kept;
  kept.reserve(children_.size());
  for (size_t j = 0; j < children_.size(); ++j) {
    if (j >= first && children_[j].restart == restart_type::temporary)
      continue;
    kept.push_back(children_[j]);
    if (j >= first) {
      kept.back().running = true;
      d.start.push_back(children_[j].id);
    }
  }
  children_ = std::move(kept);
  return d;
}

// -- supervisor actor ---------------------------------------------------------

namespace {

/// Internal: (stop_timeout, actor_addr) kills a child that ignored
/// user_shutdown for longer than its shutdown time.
using stop_timeout_atom = caf::atom_constant<caf::atom("ftsr_stopt")>;

/// A child exit that arrived while a restart was under way.
struct deferred_exit {
  size_t index;
  caf::error reason;
  supervisor_core::time_point at; // restarts count from the exit itself
};

struct supervisor_state {
  supervisor_spec spec;
  supervisor_core core{supervisor_spec{}};
  span_buffer* spans = nullptr;
  /// Current incarnation of spec.children[i]; invalid while not running.
  std::vector<caf::actor> handles;
  /// Children to stop, in order; the front one was sent an exit and the
  /// supervisor waits for its down_msg.
  std::deque<size_t> stopping;
  /// Children to start once `stopping` is empty, in order.
  std::vector<size_t> pending_start;
  /// Trace of the restart under way (spans of one restart share a trace).
  trace_context restart_tc;
  std::string restart_cause;
  std::deque<deferred_exit> deferred;
  /// Set once the supervisor stops for good; it quits with `exit_reason`
  /// as soon as `stopping` is empty.
  bool terminating = false;
  caf::error exit_reason;

  supervisor_state() = default;
  supervisor_state(const supervisor_state&) = delete;
  supervisor_state& operator=(const supervisor_state&) = delete;

  /// Children still alive here mean the supervisor ended without stopping
  /// them (killed, which cannot be trapped): they must not outlive it. Links
  /// would do this too, but a killed child would then kill the supervisor.
  ~supervisor_state() {
    for (auto& hdl : handles)
      if (hdl)
        caf::anon_send_exit(hdl, caf::exit_reason::kill);
  }

  static inline const char* name = "ftsr.supervisor";
};

using supervisor_actor = caf::stateful_actor<supervisor_state>;

constexpr size_t npos = std::numeric_limits<size_t>::max();

size_t index_of(const supervisor_state& st, const std::string& id) {
  for (size_t i = 0; i < st.spec.children.size(); ++i)
    if (st.spec.children[i].id == id)
      return i;
  return npos;
}

size_t index_of(const supervisor_state& st, const caf::actor_addr& addr) {
  for (size_t i = 0; i < st.handles.size(); ++i)
    if (st.handles[i] && st.handles[i].address() == addr)
      return i;
  return npos;
}

/// normal and user_shutdown are orderly exits (OTP's normal and shutdown).
bool is_abnormal(const caf::error& reason) {
  return reason && reason != caf::exit_reason::user_shutdown;
}

void record(supervisor_actor* self, const char* kind, const std::string& name,
            std::string detail) {
  auto& st = self->state;
  FTSR_LOG(info, "supervisor {}: {} {}: {}", st.spec.name, kind, name,
           detail);
  if (st.spans != nullptr)
    st.spans->event(st.restart_tc, kind, name, std::move(detail));
}

/// Starts child `i`; returns false if its start function failed.
bool start_child(supervisor_actor* self, size_t i, std::string& why) {
  auto& st = self->state;
  auto& c = st.spec.children[i];
  caf::actor hdl;
  try {
    hdl = c.start(self->system());
  } catch (std::exception& e) {
    why = "start function of child '" + c.id + "' threw: " + e.what();
    return false;
  } catch (...) {
    why = "start function of child '" + c.id + "' threw";
    return false;
  }
  if (!hdl) {
    why = "start function of child '" + c.id + "' returned no actor";
    return false;
  }
  self->monitor(hdl);
  st.handles[i] = std::move(hdl);
  return true;
}

void handle_exit(supervisor_actor* self, size_t i, const caf::error& reason,
                 supervisor_core::time_point now);

void drain_deferred(supervisor_actor* self) {
  auto& st = self->state;
  while (!st.terminating && st.stopping.empty() && st.pending_start.empty()
         && !st.deferred.empty()) {
    auto x = std::move(st.deferred.front());
    st.deferred.pop_front();
    // A child restarted since its exit arrived has moved on: drop the exit.
    if (!st.handles[x.index])
      handle_exit(self, x.index, x.reason, x.at);
  }
}

/// Advances the stop/start sequence: sends an exit to the next child to
/// stop, or, with all stopped, starts the pending children (or quits).
void step(supervisor_actor* self) {
  auto& st = self->state;
  while (!st.stopping.empty()) {
    auto i = st.stopping.front();
    auto& hdl = st.handles[i];
    if (!hdl) { // already down
      st.stopping.pop_front();
      continue;
    }
    auto& c = st.spec.children[i];
    if (c.shutdown == caf::timespan::zero()) {
      self->send_exit(hdl, caf::exit_reason::kill);
    } else {
      self->send_exit(hdl, caf::exit_reason::user_shutdown);
      self->delayed_send(self, c.shutdown, stop_timeout_atom::value,
                         hdl.address());
    }
    return; // on_down continues
  }
  if (st.terminating) {
    self->quit(st.exit_reason);
    return;
  }
  auto starts = std::move(st.pending_start);
  st.pending_start.clear();
  for (auto i : starts) {
    auto& id = st.spec.children[i].id;
    record(self, "restart", id,
           "supervisor=" + st.spec.name + " strategy="
             + to_string(st.spec.strategy) + " cause=" + st.restart_cause);
    std::string why;
    if (!start_child(self, i, why)) {
      // Counts as an abnormal exit of the child: restarted again or, when
      // it keeps failing, escalated. Children after it were not started;
      // the core's next decision starts them again.
      handle_exit(self, i, make_error(errc::invalid_argument, why),
                  supervisor_core::clock::now());
      return;
    }
  }
  drain_deferred(self);
}

/// Stops every running child in reverse start order, then quits.
void terminate(supervisor_actor* self, caf::error reason) {
  auto& st = self->state;
  st.terminating = true;
  st.exit_reason = std::move(reason);
  st.pending_start.clear();
  st.deferred.clear();
  st.stopping.clear();
  for (size_t i = st.handles.size(); i-- > 0;)
    if (st.handles[i])
      st.stopping.push_back(i);
  step(self);
}

void handle_exit(supervisor_actor* self, size_t i, const caf::error& reason,
                 supervisor_core::time_point now) {
  auto& st = self->state;
  auto& id = st.spec.children[i].id;
  auto d = st.core.on_exit(id, is_abnormal(reason), now);
  st.restart_tc = trace_context{new_trace_id(), 0};
  // describe() needs a non-empty error (CAF 0.17 none has no category).
  st.restart_cause = id + " (" + (reason ? describe(reason) : "normal") + ")";
  switch (d.action) {
    case restart_decision::none:
      return;
    case restart_decision::escalate: {
      auto what = "supervisor '" + st.spec.name + "': more than "
                  + std::to_string(st.spec.intensity) + " restarts within "
                  + render(st.spec.period);
      record(self, "escalate", st.spec.name,
             what + ", last cause=" + st.restart_cause);
      // Stop every live child, not just those the core thinks running: the
      // supervisor is going away.
      terminate(self, make_error(errc::restart_intensity_exceeded, what));
      return;
    }
    case restart_decision::restart:
      for (auto& x : d.stop)
        st.stopping.push_back(index_of(st, x));
      for (auto& x : d.start)
        st.pending_start.push_back(index_of(st, x));
      step(self);
      return;
  }
}

void on_down(supervisor_actor* self, const caf::down_msg& dm) {
  auto& st = self->state;
  auto i = index_of(st, dm.source);
  if (i == npos)
    return; // a former incarnation or not ours
  st.handles[i] = nullptr;
  auto pos = std::find(st.stopping.begin(), st.stopping.end(), i);
  if (pos != st.stopping.end()) {
    // Stopped on purpose (or died on its own while queued for stopping).
    bool was_front = pos == st.stopping.begin();
    st.stopping.erase(pos);
    if (was_front)
      step(self);
    return;
  }
  if (st.terminating)
    return;
  if (!st.stopping.empty() || !st.pending_start.empty()) {
    st.deferred.push_back({i, dm.reason, supervisor_core::clock::now()});
    return;
  }
  handle_exit(self, i, dm.reason, supervisor_core::clock::now());
}

caf::behavior supervisor(supervisor_actor* self, supervisor_spec spec,
                         span_buffer* spans) {
  auto& st = self->state;
  st.core = supervisor_core{spec};
  st.spec = std::move(spec);
  st.spans = spans;
  st.handles.resize(st.spec.children.size());
  self->set_down_handler([self](caf::down_msg& dm) { on_down(self, dm); });
  self->set_exit_handler([self](caf::exit_msg& em) {
    // Children report through down_msg; a normal exit_msg asks nothing.
    if (!em.reason || index_of(self->state, em.source) != npos)
      return;
    if (!self->state.terminating)
      terminate(self, std::move(em.reason));
  });
  for (auto& id : st.core.start_all()) {
    auto i = index_of(st, id);
    std::string why;
    if (!start_child(self, i, why)) {
      terminate(self, make_error(errc::invalid_argument,
                                 "supervisor '" + st.spec.name + "': " + why));
      break;
    }
  }
  return {
    [self](which_children_atom) {
      auto& st = self->state;
      std::vector<child_status> result;
      for (auto& c : st.core.children())
        result.push_back({c.id, st.handles[index_of(st, c.id)], c.restart});
      return result;
    },
    [self](stop_timeout_atom, const caf::actor_addr& addr) {
      auto& st = self->state;
      auto i = index_of(st, addr);
      if (i != npos && !st.stopping.empty() && st.stopping.front() == i)
        self->send_exit(st.handles[i], caf::exit_reason::kill);
    },
  };
}

} // namespace

void add_supervisor_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<child_status>("ftsr::child_status");
  cfg.add_message_type<std::vector<child_status>>(
    "std::vector<ftsr::child_status>");
}

caf::expected<caf::actor> spawn_supervisor(caf::actor_system& sys,
                                           supervisor_spec spec,
                                           span_buffer* spans) {
  if (auto err = validate(spec))
    return err;
  return sys.spawn(supervisor, std::move(spec), spans);
}

} // namespace ftsr
