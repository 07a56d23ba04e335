// The lease gate; see lease_gate.hpp.
#include "actors/lease_gate.hpp"

#include "caf/detail/behavior_impl.hpp"
#include "caf/detail/invoke_result_visitor.hpp"
#include "caf/make_counted.hpp"

#include "actors/errors.hpp"
#include "actors/node.hpp"

namespace ftsr {

namespace {

class gate : public caf::detail::behavior_impl {
public:
  gate(const node_context& ctx, caf::behavior inner)
    : behavior_impl(inner.timeout()), ctx_(ctx), inner_(std::move(inner)) {
    // nop
  }

  caf::match_case::result invoke(caf::detail::invoke_result_visitor& f,
                                 caf::type_erased_tuple& xs) override {
    // A node just admitted (no lease yet) hosts no persistent actor it was
    // not asked to spawn after its admission: it serves them at once.
    if (ctx_.member && ctx_.leased && !ctx_.in_majority()) {
      caf::error err = make_error(
        errc::no_quorum, "node " + to_string(ctx_.self)
                           + " is outside the majority partition (its lease "
                             "ran out); it serves nothing until it rejoins");
      f(err);
      return caf::match_case::match;
    }
    return inner_.as_behavior_impl()->invoke(f, xs);
  }

  void handle_timeout() override {
    inner_.handle_timeout();
  }

private:
  const node_context& ctx_;
  caf::behavior inner_;
};

} // namespace

caf::behavior lease_gated(const node_context& ctx, caf::behavior inner) {
  caf::behavior::impl_ptr impl = caf::make_counted<gate>(ctx,
                                                         std::move(inner));
  return caf::behavior{impl};
}

} // namespace ftsr
