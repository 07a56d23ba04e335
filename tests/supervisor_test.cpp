// Tests of supervision: spec validation, the pure restart state machine
// (strategies, restart types, intensity window, escalation) and supervisor
// actors restarting real children. Actor tests observe events that workers
// and start functions send to a scoped_actor, with bounded waits only.
#include "actors/supervisor.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "caf/all.hpp"

#include "actors/errors.hpp"
#include "actors/trace.hpp"

using namespace std::chrono_literals;
using namespace ftsr;

namespace {

using ids = std::vector<std::string>;
using time_point = supervisor_core::time_point;

time_point at(int seconds) {
  return time_point{} + std::chrono::seconds(seconds);
}

supervisor_spec
core_spec(restart_strategy strategy, int intensity, caf::timespan period,
          std::vector<std::pair<std::string, restart_type>> children) {
  supervisor_spec spec;
  spec.strategy = strategy;
  spec.intensity = intensity;
  spec.period = period;
  for (auto& [id, rt] : children)
    spec.children.push_back({id, nullptr, rt});
  return spec;
}

supervisor_spec permanent_abc(restart_strategy strategy, int intensity = 3) {
  auto p = restart_type::permanent;
  return core_spec(strategy, intensity, 10s, {{"a", p}, {"b", p}, {"c", p}});
}

ids running(const supervisor_core& core) {
  ids result;
  for (auto& c : core.children())
    if (c.running)
      result.push_back(c.id);
  return result;
}

ids present(const supervisor_core& core) {
  ids result;
  for (auto& c : core.children())
    result.push_back(c.id);
  return result;
}

} // namespace

// -- validation ----------------------------------------------------------------

namespace {

supervisor_spec valid_spec() {
  supervisor_spec spec;
  spec.name = "root";
  auto start = [](caf::actor_system&) { return caf::actor{}; };
  spec.children.push_back({"a", start, restart_type::permanent});
  spec.children.push_back({"b", start, restart_type::transient});
  return spec;
}

void expect_invalid(const supervisor_spec& spec, const std::string& what) {
  auto err = validate(spec);
  ASSERT_TRUE(err) << "accepted, expected: " << what;
  EXPECT_TRUE(is(err, errc::invalid_argument)) << describe(err);
  EXPECT_NE(describe(err).find(what), std::string::npos) << describe(err);
  EXPECT_NE(describe(err).find("supervisor 'root'"), std::string::npos);
}

} // namespace

TEST(supervisor_validate, accepts_valid_spec) {
  EXPECT_FALSE(validate(valid_spec()));
  auto spec = valid_spec();
  spec.children.clear(); // a supervisor may start empty
  EXPECT_FALSE(validate(spec));
}

TEST(supervisor_validate, rejects_negative_intensity) {
  auto spec = valid_spec();
  spec.intensity = -1;
  expect_invalid(spec, "intensity must be >= 0, got -1");
}

TEST(supervisor_validate, rejects_nonpositive_period) {
  auto spec = valid_spec();
  spec.period = caf::timespan::zero();
  expect_invalid(spec, "period must be > 0, got 0ms");
  spec.period = -1s;
  expect_invalid(spec, "period must be > 0, got -1000ms");
}

TEST(supervisor_validate, rejects_duplicate_child_ids) {
  auto spec = valid_spec();
  spec.children[1].id = "a";
  expect_invalid(spec, "duplicate child id 'a'");
}

TEST(supervisor_validate, rejects_empty_start_function_and_id) {
  auto spec = valid_spec();
  spec.children[1].start = nullptr;
  expect_invalid(spec, "child 'b' has no start function");
  spec = valid_spec();
  spec.children[0].id.clear();
  expect_invalid(spec, "empty id");
  spec = valid_spec();
  spec.children[0].shutdown = -1s;
  expect_invalid(spec, "negative shutdown");
}

TEST(supervisor_validate, spawn_rejects_invalid_spec) {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  auto spec = valid_spec();
  spec.intensity = -3;
  auto sup = spawn_supervisor(sys, spec);
  ASSERT_FALSE(sup);
  ASSERT_TRUE(sup.error());
  EXPECT_TRUE(is(sup.error(), errc::invalid_argument));
}

// -- supervisor_core: strategies -------------------------------------------------

TEST(supervisor_core, start_all_starts_in_order) {
  supervisor_core core{permanent_abc(restart_strategy::one_for_one)};
  EXPECT_EQ(running(core), ids{});
  EXPECT_EQ(core.start_all(), (ids{"a", "b", "c"}));
  EXPECT_EQ(running(core), (ids{"a", "b", "c"}));
}

TEST(supervisor_core, one_for_one_restarts_only_the_exited_child) {
  supervisor_core core{permanent_abc(restart_strategy::one_for_one)};
  core.start_all();
  auto d = core.on_exit("b", true, at(0));
  EXPECT_EQ(d.action, restart_decision::restart);
  EXPECT_EQ(d.stop, ids{});
  EXPECT_EQ(d.start, ids{"b"});
  EXPECT_EQ(running(core), (ids{"a", "b", "c"}));
}

TEST(supervisor_core, one_for_all_stops_others_in_reverse_and_restarts_all) {
  supervisor_core core{permanent_abc(restart_strategy::one_for_all)};
  core.start_all();
  auto d = core.on_exit("b", true, at(0));
  EXPECT_EQ(d.action, restart_decision::restart);
  EXPECT_EQ(d.stop, (ids{"c", "a"}));
  EXPECT_EQ(d.start, (ids{"a", "b", "c"}));
  EXPECT_EQ(running(core), (ids{"a", "b", "c"}));
}

TEST(supervisor_core, rest_for_one_restarts_the_child_and_later_ones) {
  auto p = restart_type::permanent;
  supervisor_core core{core_spec(restart_strategy::rest_for_one, 3, 10s,
                                 {{"a", p}, {"b", p}, {"c", p}, {"d", p}})};
  core.start_all();
  auto d = core.on_exit("b", true, at(0));
  EXPECT_EQ(d.action, restart_decision::restart);
  EXPECT_EQ(d.stop, (ids{"d", "c"}));
  EXPECT_EQ(d.start, (ids{"b", "c", "d"}));
  d = core.on_exit("d", true, at(1));
  EXPECT_EQ(d.stop, ids{});
  EXPECT_EQ(d.start, ids{"d"});
  d = core.on_exit("a", true, at(2));
  EXPECT_EQ(d.stop, (ids{"d", "c", "b"}));
  EXPECT_EQ(d.start, (ids{"a", "b", "c", "d"}));
}

// -- supervisor_core: restart types ----------------------------------------------

TEST(supervisor_core, permanent_restarts_after_any_exit) {
  supervisor_core core{permanent_abc(restart_strategy::one_for_one)};
  core.start_all();
  EXPECT_EQ(core.on_exit("a", false, at(0)).start, ids{"a"});
  EXPECT_EQ(core.on_exit("a", true, at(0)).start, ids{"a"});
}

TEST(supervisor_core, transient_restarts_only_after_abnormal_exit) {
  auto spec = core_spec(restart_strategy::one_for_one, 3, 10s,
                        {{"t", restart_type::transient}});
  supervisor_core core{spec};
  core.start_all();
  auto d = core.on_exit("t", false, at(0));
  EXPECT_EQ(d.action, restart_decision::none);
  EXPECT_EQ(present(core), ids{"t"}); // kept, just not running
  EXPECT_EQ(running(core), ids{});
  // A second exit of a child that is not running is stale.
  EXPECT_EQ(core.on_exit("t", true, at(0)).action, restart_decision::none);
  supervisor_core core2{spec};
  core2.start_all();
  d = core2.on_exit("t", true, at(0));
  EXPECT_EQ(d.action, restart_decision::restart);
  EXPECT_EQ(d.start, ids{"t"});
}

TEST(supervisor_core, temporary_never_restarts_and_is_removed) {
  auto spec = core_spec(restart_strategy::one_for_all, 3, 10s,
                        {{"a", restart_type::permanent},
                         {"tmp", restart_type::temporary}});
  supervisor_core core{spec};
  core.start_all();
  auto d = core.on_exit("tmp", true, at(0));
  EXPECT_EQ(d.action, restart_decision::none);
  EXPECT_EQ(present(core), ids{"a"});
}

TEST(supervisor_core, group_restart_drops_temporary_siblings) {
  auto spec = core_spec(restart_strategy::one_for_all, 3, 10s,
                        {{"a", restart_type::permanent},
                         {"tmp", restart_type::temporary},
                         {"c", restart_type::permanent}});
  supervisor_core core{spec};
  core.start_all();
  auto d = core.on_exit("a", true, at(0));
  EXPECT_EQ(d.stop, (ids{"c", "tmp"}));
  EXPECT_EQ(d.start, (ids{"a", "c"}));
  EXPECT_EQ(present(core), (ids{"a", "c"}));
}

TEST(supervisor_core, group_restart_starts_stopped_transient_siblings) {
  // OTP: one_for_all restarts every child it still holds, including a
  // transient child that had exited normally (it is not stopped: not running).
  auto spec = core_spec(restart_strategy::one_for_all, 3, 10s,
                        {{"a", restart_type::permanent},
                         {"t", restart_type::transient}});
  supervisor_core core{spec};
  core.start_all();
  EXPECT_EQ(core.on_exit("t", false, at(0)).action, restart_decision::none);
  auto d = core.on_exit("a", true, at(1));
  EXPECT_EQ(d.stop, ids{});
  EXPECT_EQ(d.start, (ids{"a", "t"}));
}

TEST(supervisor_core, unknown_child_is_ignored) {
  supervisor_core core{permanent_abc(restart_strategy::one_for_all)};
  core.start_all();
  EXPECT_EQ(core.on_exit("zz", true, at(0)).action, restart_decision::none);
  EXPECT_EQ(core.restarts_within_period(at(0)), 0u);
}

TEST(supervisor_core, stop_all_returns_running_in_reverse_order) {
  auto spec = core_spec(restart_strategy::one_for_one, 3, 10s,
                        {{"a", restart_type::permanent},
                         {"t", restart_type::transient},
                         {"tmp", restart_type::temporary},
                         {"d", restart_type::permanent}});
  supervisor_core core{spec};
  core.start_all();
  core.on_exit("t", false, at(0));
  EXPECT_EQ(core.stop_all(), (ids{"d", "tmp", "a"}));
  EXPECT_EQ(running(core), ids{});
  EXPECT_EQ(present(core), (ids{"a", "t", "d"}));
}

// -- supervisor_core: intensity --------------------------------------------------

TEST(supervisor_core, escalates_when_intensity_exceeded) {
  supervisor_core core{permanent_abc(restart_strategy::one_for_one, 2)};
  core.start_all();
  EXPECT_EQ(core.on_exit("a", true, at(0)).action, restart_decision::restart);
  EXPECT_EQ(core.on_exit("b", true, at(1)).action, restart_decision::restart);
  EXPECT_EQ(core.restarts_within_period(at(1)), 2u);
  EXPECT_FALSE(core.escalated());
  auto d = core.on_exit("a", true, at(2));
  EXPECT_EQ(d.action, restart_decision::escalate);
  EXPECT_EQ(d.stop, (ids{"c", "b"})); // every running child, reverse order
  EXPECT_EQ(d.start, ids{});
  EXPECT_TRUE(core.escalated());
  EXPECT_EQ(running(core), ids{});
  // Escalation is final.
  EXPECT_EQ(core.on_exit("c", true, at(100)).action,
            restart_decision::escalate);
}

TEST(supervisor_core, zero_intensity_escalates_on_first_restart) {
  supervisor_core core{permanent_abc(restart_strategy::one_for_all, 0)};
  core.start_all();
  auto d = core.on_exit("a", true, at(0));
  EXPECT_EQ(d.action, restart_decision::escalate);
  EXPECT_EQ(d.stop, (ids{"c", "b"}));
}

TEST(supervisor_core, group_restart_counts_once) {
  supervisor_core core{permanent_abc(restart_strategy::one_for_all, 1)};
  core.start_all();
  EXPECT_EQ(core.on_exit("a", true, at(0)).start, (ids{"a", "b", "c"}));
  EXPECT_EQ(core.restarts_within_period(at(0)), 1u);
}

TEST(supervisor_core, restart_window_slides) {
  supervisor_core core{permanent_abc(restart_strategy::one_for_one, 2)};
  core.start_all();
  EXPECT_EQ(core.on_exit("a", true, at(0)).action, restart_decision::restart);
  EXPECT_EQ(core.on_exit("a", true, at(5)).action, restart_decision::restart);
  // The restart at 0 is older than the 10s period at 11: forgotten.
  EXPECT_EQ(core.on_exit("a", true, at(11)).action, restart_decision::restart);
  EXPECT_EQ(core.restarts_within_period(at(11)), 2u);
  // 5, 11 and 12 are within 10s: a third restart exceeds intensity 2.
  EXPECT_EQ(core.on_exit("a", true, at(12)).action,
            restart_decision::escalate);
}

TEST(supervisor_core, window_includes_restart_exactly_one_period_ago) {
  supervisor_core core{permanent_abc(restart_strategy::one_for_one, 1)};
  core.start_all();
  EXPECT_EQ(core.on_exit("a", true, at(0)).action, restart_decision::restart);
  EXPECT_EQ(core.on_exit("a", true, at(10)).action,
            restart_decision::escalate);
  supervisor_core core2{permanent_abc(restart_strategy::one_for_one, 1)};
  core2.start_all();
  EXPECT_EQ(core2.on_exit("a", true, at(0)).action, restart_decision::restart);
  EXPECT_EQ(core2.on_exit("a", true, at(10) + 1ns).action,
            restart_decision::restart);
}

TEST(supervisor_core, exits_without_restart_do_not_count) {
  auto spec = core_spec(restart_strategy::one_for_one, 0, 10s,
                        {{"t", restart_type::transient},
                         {"tmp", restart_type::temporary}});
  supervisor_core core{spec};
  core.start_all();
  EXPECT_EQ(core.on_exit("t", false, at(0)).action, restart_decision::none);
  EXPECT_EQ(core.on_exit("tmp", true, at(0)).action, restart_decision::none);
  EXPECT_FALSE(core.escalated());
  EXPECT_EQ(core.restarts_within_period(at(0)), 0u);
}

// -- supervisor actors -----------------------------------------------------------

namespace {

/// (started, id, handle): a start function spawned child `id`.
using started_atom = caf::atom_constant<caf::atom("ftsr_tstar")>;
/// (stopping, id): worker `id` got an exit message and stops.
using stopping_atom = caf::atom_constant<caf::atom("ftsr_tstop")>;
/// (quit): worker exits normally.
using quit_atom = caf::atom_constant<caf::atom("ftsr_tquit")>;

/// Reports orderly stops to `observer` before going down, so the observer
/// sees the order in which a supervisor stops its children.
caf::behavior worker(caf::event_based_actor* self, caf::actor observer,
                     std::string id, bool stubborn) {
  self->set_exit_handler([=](caf::exit_msg& em) {
    if (!em.reason)
      return;
    self->send(observer, stopping_atom::value, id);
    if (!stubborn)
      self->quit(em.reason);
  });
  return {
    [self](quit_atom) { self->quit(); },
  };
}

child_spec worker_child(const caf::actor& observer, const std::string& id,
                        restart_type restart = restart_type::permanent,
                        bool stubborn = false) {
  // The start function reports the start: it runs in the supervisor, so
  // the reports arrive in start order.
  auto start = [=](caf::actor_system& sys) {
    auto hdl = sys.spawn(worker, observer, id, stubborn);
    caf::anon_send(observer, started_atom::value, id, hdl);
    return hdl;
  };
  return {id, start, restart};
}

std::string reason_of(const caf::error& err) {
  if (!err) // CAF 0.17: an empty error has no category
    return "normal";
  if (err.category() == error_category)
    return to_string(static_cast<errc>(err.code()));
  if (err == caf::exit_reason::user_shutdown)
    return "user_shutdown";
  if (err == caf::exit_reason::kill)
    return "kill";
  return caf::to_string(err);
}

class supervisor_actors : public ::testing::Test {
protected:
  supervisor_actors() : sys(init(cfg)), self(sys) {
    // nop
  }

  ~supervisor_actors() override {
    for (auto& sup : roots)
      self->send_exit(sup, caf::exit_reason::user_shutdown);
  }

  static caf::actor_system_config& init(caf::actor_system_config& cfg) {
    add_error_category(cfg);
    add_supervisor_types(cfg);
    return cfg;
  }

  caf::actor observer() {
    return caf::actor{self};
  }

  /// Spawns a supervisor that the test monitors as `name` and stops at the
  /// end.
  caf::actor spawn_root(supervisor_spec spec, const std::string& name) {
    spec.name = name;
    auto sup = spawn_supervisor(sys, std::move(spec), &spans);
    if (!sup) {
      ADD_FAILURE() << describe(sup.error());
      return {};
    }
    watch(*sup, name);
    roots.push_back(*sup);
    return *sup;
  }

  void watch(const caf::actor& hdl, const std::string& name) {
    names[hdl.address()] = name;
    self->monitor(hdl);
  }

  /// The next event: "start:<id>", "stop:<id>", "down:<name>:<reason>", or
  /// "timeout" after 5s without one.
  std::string next() {
    std::string result = "timeout";
    self->receive(
      [&](started_atom, const std::string& id, const caf::actor& hdl) {
        latest[id] = hdl;
        result = "start:" + id;
      },
      [&](stopping_atom, const std::string& id) { result = "stop:" + id; },
      [&](caf::down_msg& dm) {
        result = "down:" + names[dm.source] + ":" + reason_of(dm.reason);
      },
      caf::after(5s) >> [] {});
    return result;
  }

  /// The next `n` events in arrival order.
  ids next(size_t n) {
    ids result;
    for (size_t i = 0; i < n; ++i)
      result.push_back(next());
    return result;
  }

  /// The next `n` events in any order (sorted), for events of concurrent
  /// actors.
  ids next_unordered(size_t n) {
    auto result = next(n);
    std::sort(result.begin(), result.end());
    return result;
  }

  std::vector<child_status> children_of(const caf::actor& sup) {
    std::vector<child_status> result;
    self->request(sup, 5s, which_children_atom::value)
      .receive([&](std::vector<child_status>& xs) { result = std::move(xs); },
               [&](caf::error& err) { ADD_FAILURE() << describe(err); });
    return result;
  }

  caf::actor child(const caf::actor& sup, const std::string& id) {
    for (auto& c : children_of(sup))
      if (c.id == id)
        return c.handle;
    return {};
  }

  /// Asks `sup` for its children until `pred` holds for them (each answer
  /// is a fresh state; the wait is bounded, not a sleep).
  template <class Pred>
  bool await_children(const caf::actor& sup, Pred pred) {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline)
      if (pred(children_of(sup)))
        return true;
    return false;
  }

  void kill(const std::string& id) {
    self->send_exit(latest[id], caf::exit_reason::kill);
  }

  size_t spans_of(const std::string& kind, const std::string& name) {
    auto xs = spans.snapshot();
    return static_cast<size_t>(
      std::count_if(xs.begin(), xs.end(), [&](const span& s) {
        return s.kind == kind && s.name == name;
      }));
  }

  supervisor_spec spec_of(restart_strategy strategy, ids children,
                          int intensity = 3) {
    supervisor_spec spec;
    spec.strategy = strategy;
    spec.intensity = intensity;
    spec.period = 60s; // far longer than any test
    for (auto& id : children)
      spec.children.push_back(worker_child(observer(), id));
    return spec;
  }

  caf::actor_system_config cfg;
  span_buffer spans; // outlives the system: supervisors record until the end
  caf::actor_system sys;
  caf::scoped_actor self;
  std::map<caf::actor_addr, std::string> names;
  std::map<std::string, caf::actor> latest;
  std::vector<caf::actor> roots;
};

} // namespace

TEST_F(supervisor_actors, starts_children_in_order) {
  auto sup = spawn_root(spec_of(restart_strategy::one_for_one, {"a", "b", "c"}),
                        "sup");
  EXPECT_EQ(next(3), (ids{"start:a", "start:b", "start:c"}));
  auto xs = children_of(sup);
  ASSERT_EQ(xs.size(), 3u);
  for (auto& x : xs) {
    EXPECT_EQ(x.handle, latest[x.id]) << x.id;
    EXPECT_EQ(x.restart, restart_type::permanent);
  }
}

TEST_F(supervisor_actors, one_for_one_restarts_only_the_killed_child) {
  auto sup = spawn_root(spec_of(restart_strategy::one_for_one, {"a", "b", "c"}),
                        "sup");
  ASSERT_EQ(next(3), (ids{"start:a", "start:b", "start:c"}));
  auto before = latest;
  kill("b");
  EXPECT_EQ(next(), "start:b");
  EXPECT_NE(latest["b"], before["b"]);
  EXPECT_EQ(child(sup, "a"), before["a"]);
  EXPECT_EQ(child(sup, "b"), latest["b"]);
  EXPECT_EQ(child(sup, "c"), before["c"]);
  EXPECT_EQ(spans_of("restart", "b"), 1u);
  EXPECT_EQ(spans_of("restart", "a"), 0u);
}

TEST_F(supervisor_actors, one_for_all_restarts_siblings_in_order) {
  auto sup = spawn_root(spec_of(restart_strategy::one_for_all, {"a", "b", "c"}),
                        "sup");
  ASSERT_EQ(next(3), (ids{"start:a", "start:b", "start:c"}));
  kill("b");
  EXPECT_EQ(next(5), (ids{"stop:c", "stop:a", "start:a", "start:b",
                          "start:c"}));
  for (auto& x : children_of(sup))
    EXPECT_EQ(x.handle, latest[x.id]) << x.id;
  EXPECT_EQ(spans_of("restart", "a"), 1u);
  EXPECT_EQ(spans_of("restart", "b"), 1u);
  EXPECT_EQ(spans_of("restart", "c"), 1u);
}

TEST_F(supervisor_actors, rest_for_one_restarts_later_siblings_only) {
  auto sup = spawn_root(
    spec_of(restart_strategy::rest_for_one, {"a", "b", "c", "d"}), "sup");
  ASSERT_EQ(next(4), (ids{"start:a", "start:b", "start:c", "start:d"}));
  auto a = latest["a"];
  kill("b");
  EXPECT_EQ(next(5), (ids{"stop:d", "stop:c", "start:b", "start:c",
                          "start:d"}));
  EXPECT_EQ(child(sup, "a"), a);
  EXPECT_EQ(child(sup, "d"), latest["d"]);
}

TEST_F(supervisor_actors, transient_and_temporary_children) {
  auto spec = spec_of(restart_strategy::one_for_one, {"p"});
  spec.children.push_back(
    worker_child(observer(), "t", restart_type::transient));
  spec.children.push_back(
    worker_child(observer(), "tmp", restart_type::temporary));
  auto sup = spawn_root(spec, "sup");
  ASSERT_EQ(next(3), (ids{"start:p", "start:t", "start:tmp"}));
  // A transient child that exits normally stays down but stays listed.
  self->send(latest["t"], quit_atom::value);
  EXPECT_TRUE(await_children(sup, [](const std::vector<child_status>& xs) {
    return xs.size() == 3 && xs[1].id == "t" && !xs[1].handle;
  }));
  // A killed temporary child is not restarted and is removed.
  kill("tmp");
  EXPECT_TRUE(await_children(sup, [](const std::vector<child_status>& xs) {
    return xs.size() == 2 && xs[0].id == "p" && xs[1].id == "t";
  }));
  // A killed transient child is restarted (abnormal exit); the events
  // show nothing else was restarted meanwhile.
  auto p = latest["p"];
  kill("p");
  EXPECT_EQ(next(), "start:p");
  EXPECT_NE(latest["p"], p);
  EXPECT_EQ(spans_of("restart", "t"), 0u);
  EXPECT_EQ(spans_of("restart", "tmp"), 0u);
}

TEST_F(supervisor_actors, shutdown_stops_children_in_reverse_order) {
  auto sup = spawn_root(spec_of(restart_strategy::one_for_one, {"a", "b", "c"}),
                        "sup");
  ASSERT_EQ(next(3), (ids{"start:a", "start:b", "start:c"}));
  self->send_exit(sup, caf::exit_reason::user_shutdown);
  EXPECT_EQ(next(4), (ids{"stop:c", "stop:b", "stop:a",
                          "down:sup:user_shutdown"}));
}

TEST_F(supervisor_actors, killed_supervisor_kills_its_children) {
  auto sup = spawn_root(spec_of(restart_strategy::one_for_one, {"a", "b"}),
                        "sup");
  ASSERT_EQ(next(2), (ids{"start:a", "start:b"}));
  watch(latest["a"], "a");
  watch(latest["b"], "b");
  self->send_exit(sup, caf::exit_reason::kill); // cannot be trapped
  EXPECT_EQ(next_unordered(3), (ids{"down:a:kill", "down:b:kill",
                                    "down:sup:kill"}));
}

TEST_F(supervisor_actors, child_ignoring_shutdown_is_killed_after_timeout) {
  auto spec = spec_of(restart_strategy::one_for_one, {"a"});
  spec.children.push_back(worker_child(observer(), "stubborn",
                                       restart_type::permanent, true));
  spec.children.back().shutdown = 50ms;
  auto sup = spawn_root(spec, "sup");
  ASSERT_EQ(next(2), (ids{"start:a", "start:stubborn"}));
  self->send_exit(sup, caf::exit_reason::user_shutdown);
  // "a" stops only once the supervisor saw the stubborn child down, and the
  // stubborn child never quits by itself: it was killed.
  EXPECT_EQ(next(3), (ids{"stop:stubborn", "stop:a", "down:sup:user_shutdown"}));
}

TEST_F(supervisor_actors, exceeding_intensity_stops_children_and_fails) {
  auto sup = spawn_root(spec_of(restart_strategy::one_for_one, {"a", "b"}, 1),
                        "sup");
  ASSERT_EQ(next(2), (ids{"start:a", "start:b"}));
  kill("a");
  EXPECT_EQ(next(), "start:a");
  kill("a");
  EXPECT_EQ(next(2), (ids{"stop:b", "down:sup:restart_intensity_exceeded"}));
  EXPECT_EQ(spans_of("restart", "a"), 1u);
  EXPECT_EQ(spans_of("escalate", "sup"), 1u);
}

TEST_F(supervisor_actors, nested_supervisor_escalates_to_parent) {
  auto sub_spec = spec_of(restart_strategy::one_for_one, {"x", "y"}, 1);
  sub_spec.name = "sub";
  auto obs = observer();
  auto spans_ptr = &spans;
  child_spec sub{"sub", [=](caf::actor_system& sys) {
                   auto hdl = spawn_supervisor(sys, sub_spec, spans_ptr);
                   if (!hdl)
                     return caf::actor{};
                   caf::anon_send(obs, started_atom::value, "sub", *hdl);
                   return *hdl;
                 }};
  sub.shutdown = 10s; // let it stop its own children
  auto spec = spec_of(restart_strategy::one_for_one, {"w"}, 3);
  spec.children.push_back(sub);
  auto root = spawn_root(spec, "root");
  // The sub-supervisor starts its children concurrently with the root.
  ASSERT_EQ(next_unordered(4),
            (ids{"start:sub", "start:w", "start:x", "start:y"}));
  auto w = latest["w"];
  auto old_sub = latest["sub"];
  watch(old_sub, "sub");
  kill("x");
  EXPECT_EQ(next(), "start:x");
  kill("x"); // second restart within the period: sub gives up
  EXPECT_EQ(next(), "stop:y");
  EXPECT_EQ(next_unordered(4),
            (ids{"down:sub:restart_intensity_exceeded", "start:sub", "start:x",
                 "start:y"}));
  EXPECT_NE(latest["sub"], old_sub);
  EXPECT_EQ(child(root, "sub"), latest["sub"]);
  EXPECT_EQ(child(root, "w"), w); // one_for_one: the sibling is untouched
  EXPECT_EQ(child(latest["sub"], "x"), latest["x"]);
  EXPECT_EQ(spans_of("escalate", "sub"), 1u);
  EXPECT_EQ(spans_of("restart", "sub"), 1u);
}

TEST_F(supervisor_actors, initial_start_failure_stops_started_children) {
  auto spec = spec_of(restart_strategy::one_for_one, {"a"});
  spec.children.push_back(
    {"bad", [](caf::actor_system&) { return caf::actor{}; }});
  spawn_root(spec, "sup");
  EXPECT_EQ(next(3), (ids{"start:a", "stop:a", "down:sup:invalid_argument"}));
}

TEST_F(supervisor_actors, failing_restart_escalates) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto obs = observer();
  auto spec = spec_of(restart_strategy::one_for_one, {"a"}, 2);
  spec.children.push_back(
    {"flaky", [=](caf::actor_system& sys) {
       if (++*calls > 1)
         throw std::runtime_error("no more");
       auto hdl = sys.spawn(worker, obs, std::string{"flaky"}, false);
       caf::anon_send(obs, started_atom::value, "flaky", hdl);
       return hdl;
     }});
  spawn_root(spec, "sup");
  ASSERT_EQ(next(2), (ids{"start:a", "start:flaky"}));
  kill("flaky");
  // Two failed restarts, then the third exceeds intensity 2.
  EXPECT_EQ(next(2), (ids{"stop:a", "down:sup:restart_intensity_exceeded"}));
  EXPECT_EQ(calls->load(), 3);
  EXPECT_EQ(spans_of("restart", "flaky"), 2u);
}
