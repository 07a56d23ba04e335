// Replicated resources: what a user writes to make an actor replicable in a
// resource group (FT-SR `resource` with `{primary}` restrictors).
//
//   struct kv : ftsr::resource<kv> {
//     std::map<std::string, std::string> data;
//     caf::behavior operations() override {
//       return {
//         [this](put_atom, const std::string& k, const std::string& v) {
//           data[k] = v; return true; },
//         ftsr::primary([this](get_atom, const std::string& k) {
//           return data[k]; }),                 // FT-SR {primary}
//       };
//     }
//     template <class Archive>
//     void serialize(Archive& ar, unsigned) { ar & data; }
//   };
//
// Contract: operations are deterministic functions of the state and the
// message (no clocks, no randomness, no I/O), so that every replica that
// applies the same invocations in the same order reaches the same state
// and replies. An operation wrapped in ftsr::primary() runs only at the
// primary; its resulting state is shipped to the backups (primary-backup
// replication), so it may be non-deterministic. State travels as
// Boost.Serialization archives (snapshots and state transfer).
// Not thread-safe: a resource is owned by exactly one replica actor.
#pragma once

#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>

#include "caf/behavior.hpp"
#include "caf/error.hpp"
#include "caf/message.hpp"

#include "actors/call.hpp"
#include "actors/errors.hpp"
#include "actors/node.hpp"
#include "replication/group_protocol.hpp"

namespace ftsr {

/// Type-erased interface of a replicated resource.
class resource_base {
public:
  virtual ~resource_base() = default;

  /// The resource's operations; see the file comment for the contract.
  virtual caf::behavior operations() = 0;

  /// Called once, before init or restore, with the hosting node and the
  /// replica's place: resources that keep node-local state (e.g. files
  /// under ctx.data_dir) set it up here. Errors make the replica fail.
  virtual caf::error attach(node_context& ctx, const capability_ref& group,
                            uint64_t replica_id) {
    (void) ctx, (void) group, (void) replica_id;
    return caf::none;
  }

  /// Called once with the group's creation arguments (FT-SR
  /// `create res(args)`), before any operation.
  virtual void init(const caf::message& args) {
    (void) args;
  }

  /// Serializes the whole state.
  virtual std::string snapshot() const = 0;

  /// Replaces the state by a snapshot; errors leave the state unchanged.
  virtual caf::error restore(const std::string& blob) = 0;

  /// Fail-stop: this replica can no longer be trusted to equal the others
  /// (e.g. its local storage failed). Call from an operation, init or
  /// snapshot, then return anything (an error, say): the replica stops
  /// with `err` right after the call, before it acknowledges, answers or
  /// sends anything that depends on it, and the group goes on without it.
  /// The first failure counts.
  void fail(caf::error err) const {
    if (!failure_)
      failure_ = std::move(err);
  }

  /// The failure reported through fail(), if any.
  const caf::error& failure() const noexcept {
    return failure_;
  }

private:
  mutable caf::error failure_;
};

/// CRTP helper: snapshot/restore through `Derived::serialize`
/// (Boost.Serialization).
template <class Derived>
class resource : public resource_base {
public:
  std::string snapshot() const override {
    std::ostringstream os;
    {
      boost::archive::binary_oarchive ar{os};
      ar << static_cast<const Derived&>(*this);
    }
    return os.str();
  }

  caf::error restore(const std::string& blob) override {
    Derived tmp;
    try {
      std::istringstream is{blob};
      boost::archive::binary_iarchive ar{is};
      ar >> tmp;
    } catch (const std::exception& e) {
      return make_error(errc::invalid_argument,
                        std::string{"corrupt resource state: "} + e.what());
    }
    static_cast<Derived&>(*this) = std::move(tmp);
    return caf::none;
  }
};

namespace detail {

/// Set while a handler wrapped in ftsr::primary() runs.
bool& primary_op_flag();

/// Collects owns/imports of the operation that runs on this thread
/// (nullptr outside operations).
std::vector<outgoing_call>*& outgoing_calls();

/// The group whose operation runs on this thread (nullptr outside).
const capability_ref*& current_group();

} // namespace detail

/// FT-SR `mygroup()`: inside an operation, the capability of the group the
/// executing replica belongs to (e.g. to pass it on in an invocation).
inline std::optional<capability<>> mygroup() {
  if (auto g = detail::current_group(); g != nullptr && g->id != 0)
    return capability<>{*g};
  return std::nullopt;
}

/// FT-SR `owns`: from inside an operation, every replica that executes it
/// sends `xs...` (one-way) to `target`, typically its own private resource.
template <class... Ts>
void owns(const capability_ref& target, Ts&&... xs) {
  if (auto out = detail::outgoing_calls())
    out->push_back({false, target, caf::make_message(std::forward<Ts>(xs)...)});
}

/// FT-SR `imports`: from inside an operation, one invocation of `target` for
/// the whole group, sent by the primary and suppressed at the others. Until
/// the target answered, every replica remembers it, so a new primary sends
/// it again after a failover under the same request id: a group target
/// applies it exactly once; a single actor may see it again (at least
/// once).
template <class... Ts>
void imports(const capability_ref& target, Ts&&... xs) {
  if (auto out = detail::outgoing_calls())
    out->push_back({true, target, caf::make_message(std::forward<Ts>(xs)...)});
}

/// FT-SR `{primary}` restrictor: the wrapped handler runs only at the
/// primary, which then ships the resulting state to the backups.
template <class F>
auto primary(F f) {
  return detail::run_before(std::move(f),
                            [] { detail::primary_op_flag() = true; });
}

} // namespace ftsr
