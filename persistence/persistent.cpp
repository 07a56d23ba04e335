// Start-up and recovery of persistent actors.
#include "persistence/persistent.hpp"

#include "caf/all.hpp"

#include "actors/errors.hpp"
#include "actors/lease_gate.hpp"
#include "actors/log.hpp"
#include "actors/node.hpp"
#include "actors/trace.hpp"
#include "replication/group.hpp"

namespace ftsr {

caf::expected<capability_ref>
restart(node& n, const capability_ref& cap, caf::message args,
        const std::vector<std::string>& nodes,
        std::chrono::milliseconds timeout) {
  if (cap.is_group())
    return resize_group(n, cap, nodes, timeout);
  return n.restart(cap, std::move(args), nodes, timeout);
}

namespace detail {

namespace {

void serve(caf::event_based_actor* self,
           const std::shared_ptr<persistent_behavior>& def) {
  // CAF re-offers the skipped (queued) messages to the new behavior.
  self->set_default_handler(caf::print_and_drop);
  self->become(lease_gated(context_of(self->system()), def->operations));
}

} // namespace

caf::behavior persistent_start(caf::event_based_actor* self,
                               std::shared_ptr<persistent_behavior> def) {
  self->set_default_handler(caf::skip);
  return {
    [self, def](persistent_start_atom, const capability_ref& me,
                uint64_t generation) {
      if (generation == 0 || !def->recovery) {
        serve(self, def);
        return;
      }
      auto& ctx = context_of(self->system());
      auto start = wall_clock_ns();
      auto tc = span_buffer::child_of({});
      auto name = to_string(me);
      auto finished = std::make_shared<bool>(false);
      auto record = [&ctx, tc, name, start](const std::string& outcome) {
        auto end = wall_clock_ns();
        ctx.spans.record(span{tc.trace_id, tc.span_id, 0, "recovery", name, {},
                              start, end, outcome,
                              outcome == "ok" ? "ok" : "error", 0});
        FTSR_LOG(info, "{}: recovery of {} done in {} ms: {}",
                 log_name(ctx.self), name, (end - start) / 1000000, outcome);
      };
      recovery_done done{
        [self, def, record, finished] {
          if (std::exchange(*finished, true))
            return;
          record("ok");
          serve(self, def);
        },
        [self, record, finished](caf::error err) {
          if (std::exchange(*finished, true))
            return;
          record("failed: " + describe(err));
          self->quit(std::move(err));
        }};
      def->recovery(recovery_info{me, generation}, std::move(done));
    },
  };
}

} // namespace detail

} // namespace ftsr
