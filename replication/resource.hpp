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
// A resource can also declare its interface as a caf::typed_actor; its
// operations are then checked against it at compile time, and so is every
// ftsr::call on a capability<Interface> of its groups:
//
//   using kv_if = caf::typed_actor<
//     caf::replies_to<put_atom, std::string, std::string>::with<bool>,
//     caf::replies_to<get_atom, std::string>::with<std::string>>;
//   struct kv : ftsr::resource<kv, kv_if> {
//     kv_if::behavior_type typed_operations() override { return {...}; }
//   };
//   ftsr::capability<kv_if> g{*ftsr::create_group(node, spec)};
//   ftsr::call(self, g, get_atom::value, 42);   // does not compile
//
// An invocation that no operation takes is refused (errc::invalid_argument,
// nothing ordered) with its argument types and, for a typed resource, the
// interface's signatures.
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

#include "caf/atom.hpp"
#include "caf/behavior.hpp"
#include "caf/error.hpp"
#include "caf/message.hpp"
#include "caf/replies_to.hpp"
#include "caf/typed_actor.hpp"

#include "actors/call.hpp"
#include "actors/errors.hpp"
#include "actors/message_types.hpp"
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

  /// The operations' signatures ("(put, std::string) -> bool"), for the
  /// error refusing an invocation that none takes; empty for a resource
  /// without a declared interface.
  virtual std::vector<std::string> signatures() const {
    return {};
  }

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

namespace detail {

template <class T>
struct is_atom_constant : std::false_type {};

template <caf::atom_value V>
struct is_atom_constant<caf::atom_constant<V>> : std::true_type {};

/// An operation's argument or result type for messages: atoms by name.
template <class T>
std::string type_label() {
  if constexpr (is_atom_constant<T>::value)
    return caf::to_string(T::value);
  else
    return cpp_type_name(typeid(T));
}

template <class... Ts>
std::string type_labels() {
  std::string result;
  ((result += (result.empty() ? "" : ", ") + type_label<Ts>()), ...);
  return result;
}

template <class Signature>
struct signature_label;

template <class... In, class... Out>
struct signature_label<
  caf::typed_mpi<caf::detail::type_list<In...>, caf::output_tuple<Out...>>> {
  static std::string get() {
    auto out = type_labels<Out...>();
    return "(" + type_labels<In...>() + ") -> "
           + (sizeof...(Out) == 1 ? out : "(" + out + ")");
  }
};

} // namespace detail

/// CRTP helper: snapshot/restore through `Derived::serialize`
/// (Boost.Serialization). `Interface`, if given, is the caf::typed_actor
/// the operations implement (see the file comment).
template <class Derived, class Interface = void>
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

/// A resource with a declared interface: its operations are
/// typed_operations(), checked against `caf::typed_actor<Sigs...>` at
/// compile time.
template <class Derived, class... Sigs>
class resource<Derived, caf::typed_actor<Sigs...>> : public resource<Derived> {
public:
  using interface = caf::typed_actor<Sigs...>;

  /// The operations; ftsr::primary() wraps handlers as in operations().
  virtual typename interface::behavior_type typed_operations() = 0;

  caf::behavior operations() final {
    return typed_operations().unbox();
  }

  std::vector<std::string> signatures() const override {
    return {detail::signature_label<Sigs>::get()...};
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

/// The position of the entry or state transfer being applied on this
/// thread (nullptr outside).
const replica_position*& applying();

} // namespace detail

/// Inside an operation, a state update or a state transfer (restore): the
/// position the resource's state reaches with it. A resource that keeps
/// durable state stores it in the same atomic write, so that after every
/// node stopped the freshest replica can be told apart
/// (cold_start_planner.hpp). Nothing outside of these.
inline std::optional<replica_position> current_position() {
  if (auto p = detail::applying())
    return *p;
  return std::nullopt;
}

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
