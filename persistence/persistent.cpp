// Start-up and recovery of persistent actors.
#include "persistence/persistent.hpp"

#include "caf/all.hpp"
#include "caf/detail/behavior_impl.hpp"
#include "caf/detail/invoke_result_visitor.hpp"

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

/// Unwraps ftsr::call's persistent_call envelope: a recorded invocation is
/// answered from the invocation log, any other runs the operations with
/// the log's current() set to its id. Other messages go to the operations
/// as they are.
class dispatcher : public caf::detail::behavior_impl {
public:
  explicit dispatcher(std::shared_ptr<persistent_behavior> def)
    : behavior_impl(def->operations.timeout()), def_(std::move(def)) {
    // nop
  }

  caf::match_case::result invoke(caf::detail::invoke_result_visitor& f,
                                 caf::type_erased_tuple& xs) override {
    auto& ops = *def_->operations.as_behavior_impl();
    if (!xs.match_elements<persistent_call_atom, uint64_t, uint64_t,
                           uint64_t, caf::message>())
      return ops.invoke(f, xs);
    invocation_key k{xs.get_as<uint64_t>(1), xs.get_as<uint64_t>(2)};
    auto floor = xs.get_as<uint64_t>(3);
    auto payload = xs.get_as<caf::message>(4);
    auto& log = def_->invocations;
    if (log) {
      auto a = log->admit(k, floor);
      if (a.error) {
        f(a.error);
        return caf::match_case::match;
      }
      if (a.what == invocation_table::verdict::replay) {
        f(a.reply);
        return caf::match_case::match;
      }
      log->begin(k);
    }
    auto result = ops.invoke(f, payload);
    if (log)
      log->end();
    if (result == caf::match_case::no_match) {
      caf::error err = caf::sec::unexpected_message;
      f(err);
      return caf::match_case::match;
    }
    return result;
  }

  void handle_timeout() override {
    def_->operations.handle_timeout();
  }

private:
  std::shared_ptr<persistent_behavior> def_;
};

void serve(caf::event_based_actor* self,
           const std::shared_ptr<persistent_behavior>& def) {
  // CAF re-offers the skipped (queued) messages to the new behavior.
  self->set_default_handler(caf::print_and_drop);
  caf::behavior::impl_ptr impl = caf::make_counted<dispatcher>(def);
  self->become(lease_gated(context_of(self->system()), caf::behavior{impl}));
}

} // namespace

caf::behavior persistent_start(caf::event_based_actor* self,
                               std::shared_ptr<persistent_behavior> def) {
  self->set_default_handler(caf::skip);
  return {
    [self, def](persistent_start_atom, const capability_ref& me,
                uint64_t generation, const trace_context& restart) {
      if (generation == 0 || !def->recovery) {
        serve(self, def);
        return;
      }
      auto& ctx = context_of(self->system());
      auto start = wall_clock_ns();
      auto tc = span_buffer::child_of(restart);
      auto name = to_string(me);
      auto finished = std::make_shared<bool>(false);
      auto record = [&ctx, tc, parent = restart.span_id, name,
                     start](const std::string& outcome) {
        auto end = wall_clock_ns();
        ctx.spans.record(span{tc.trace_id, tc.span_id, parent, "recovery",
                              name, {}, start, end, outcome,
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
