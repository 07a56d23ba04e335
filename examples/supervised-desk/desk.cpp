// The front desk and its clerks; see desk.hpp.
#include "desk.hpp"

#include <atomic>
#include <chrono>

namespace desk {

namespace {

/// Clerks started on this node so far (numbers the incarnations).
std::atomic<int> clerks{0};

caf::behavior clerk(caf::event_based_actor* self) {
  auto number = ++clerks;
  return {
    [self, number](greet_atom, const std::string& who) {
      return "hello " + who + " from "
             + ftsr::context_of(self->system()).self.name + ", clerk #"
             + std::to_string(number);
    },
    [self](crash_atom) {
      self->quit(ftsr::make_error(ftsr::errc::invalid_argument, "crash"));
    },
  };
}

caf::behavior front_desk(caf::event_based_actor* self) {
  ftsr::supervisor_spec spec;
  spec.name = "desk";
  spec.strategy = ftsr::restart_strategy::one_for_one;
  spec.intensity = 3; // more than 3 restarts within 5 s: give up
  spec.period = std::chrono::seconds(5);
  spec.children.push_back(
    {"clerk", [](caf::actor_system& sys) { return sys.spawn(clerk); }});
  auto sup = ftsr::spawn_supervisor(self->system(), spec,
                                    &ftsr::context_of(self->system()).spans);
  if (!sup) {
    self->quit(sup.error());
    return {};
  }
  // The tree lives as long as the desk, and the desk as long as the tree.
  self->link_to(*sup);
  // Runs `f(clerk)` with the current clerk, or answers `rp` with an error.
  auto with_clerk = [self, sup = *sup](auto rp, auto f) {
    self->request(sup, std::chrono::seconds(5),
                  ftsr::which_children_atom::value)
      .then(
        [rp, f](const std::vector<ftsr::child_status>& children) mutable {
          if (children.empty() || !children.front().handle) {
            rp.deliver(ftsr::make_error(ftsr::errc::node_unavailable,
                                        "the clerk is restarting"));
            return;
          }
          f(rp, children.front().handle);
        },
        [rp](caf::error& err) mutable { rp.deliver(err); });
  };
  return {
    [self, with_clerk](greet_atom, const std::string& who) {
      auto rp = self->make_response_promise();
      with_clerk(rp, [who](auto& rp, const caf::actor& c) {
        rp.delegate(c, greet_atom::value, who);
      });
      return rp;
    },
    [self, with_clerk](crash_atom) {
      auto rp = self->make_response_promise();
      with_clerk(rp, [self](auto& rp, const caf::actor& c) {
        self->send(c, crash_atom::value);
        rp.deliver(caf::unit);
      });
      return rp;
    },
  };
}

} // namespace

void register_types(caf::actor_system_config& cfg) {
  ftsr::add_supervisor_types(cfg);
  cfg.add_actor_type("desk", front_desk);
}

} // namespace desk
