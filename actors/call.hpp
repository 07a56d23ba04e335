// FT-SR synchronous call with backup: `call <op, backupOp>(args)`.
//
//   ftsr::call(self, cap, args...).then(on_reply, on_error);
//   ftsr::call(self, cap, args...).with_backup(backup).then(...);
//   ftsr::call(blocking_self, cap, args...).receive(on_reply, on_error);
//   ftsr::call(self, cap, args...).with_timeout(500ms).then(...);
//
// The request goes to the capability's current incarnation as a plain CAF
// request (so typed interfaces are checked at compile time). The directory
// watches it: if the callee fails (actor terminated, destroyed, or its node
// declared failed, including kill -9 and SIGSTOP) before replying, the wait
// ends at once with errc::fail_stop naming the failed capability. With a
// backup, the same arguments are then sent to the backup and its reply (or
// error) is returned instead. An error the callee replies with, even a
// fail_stop it passes on from its own callee, is its answer: it reaches the
// caller as it is (no backup, no wait for a restart); only a failure the
// directory knows of counts as the callee's. A late reply from a fenced callee is dropped.
// Without a backup, a call to a failed persistent actor waits for its
// restarted incarnation and is sent again there (at most
// node_options::restart_wait, then errc::timeout). A call never hangs on a
// failed callee; with_timeout() also bounds it on a live callee that does
// not answer (errc::timeout). A call to a persistent actor carries an
// invocation id kept across re-sends (actors/invocation_ids.hpp): an actor
// that records its replies in an invocation log answers a re-sent call
// with the recorded reply instead of running it again (exactly once, see
// persistence/invocation_log.hpp). Not thread-safe: use from the actor
// `self` only.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <thread>
#include <optional>
#include <string>
#include <tuple>
#include <typeinfo>
#include <type_traits>
#include <utility>

#include "caf/blocking_actor.hpp"
#include "caf/check_typed_input.hpp"
#include "caf/response_type.hpp"
#include "caf/detail/implicit_conversions.hpp"
#include "caf/scoped_actor.hpp"
#include "caf/deep_to_string.hpp"
#include "caf/detail/type_traits.hpp"
#include "caf/duration.hpp"
#include "caf/error.hpp"
#include "caf/make_message.hpp"
#include "caf/sec.hpp"
#include "caf/type_nr.hpp"

#include "actors/capability.hpp"
#include "actors/errors.hpp"
#include "actors/group_invocation.hpp"
#include "actors/invocation_ids.hpp"
#include "actors/message_types.hpp"
#include "actors/node.hpp"

namespace ftsr {

namespace detail {

/// True if `err` carries one of the codes of a failure notification
/// (fail_stop, destroyed, or CAF's request_receiver_down). A callee may
/// return such an error itself (passing on its own callee's failure), so
/// only callee_failed() tells a failure of the callee.
inline bool is_callee_failure(const caf::error& err) {
  return is(err, errc::fail_stop) || is(err, errc::destroyed)
         || err == caf::sec::request_receiver_down;
}

/// True if `err`, the answer to a request sent to generation `generation`
/// of `callee`, reports the callee's own failure: CAF found the receiver
/// down, or the error has a failure code and the directory knows that
/// generation failed (it was failed, destroyed or restarted since). An
/// error the callee returned while alive is its reply, not its failure.
inline bool callee_failed(node_context* ctx, const capability_ref& callee,
                          uint64_t generation, const caf::error& err) {
  if (err == caf::sec::request_receiver_down)
    return true;
  if (!is_callee_failure(err))
    return false;
  auto bound = ctx->dir.lookup(callee.id);
  return bound
         && (bound->generation > generation || ctx->dir.failure_of(*bound));
}

/// True if an actor of interface `Handle` takes a message of `Ts` (as CAF
/// sends them: integers squashed to fixed width, string literals as
/// std::string); always for dynamically typed actors. Checked by
/// ftsr::call, for single actors and groups alike (a group capability
/// typed with its resource's interface, replication/resource.hpp).
template <class Handle, class... Ts>
constexpr bool accepts() {
  if constexpr (std::is_same<Handle, caf::actor>::value)
    return true;
  else
    return caf::response_type_unbox<
      caf::signatures_of_t<Handle>,
      caf::detail::type_list<typename caf::detail::implicit_conversions<
        std::decay_t<Ts>>::type...>>::valid;
}

/// The type a message stores for an argument of type `T` (as make_message
/// converts it: atom constants to atom_value, string literals to
/// std::string, integers squashed).
template <class T>
using stored_t = typename caf::unbox_message_element<
  typename caf::detail::strip_and_convert<T>::type>::type;

/// The first argument (position from 1, and its type) among `Ts` whose
/// application type `sys` has not registered, or {0, nullptr}. Such a
/// message cannot leave the process: CAF would drop it silently.
template <class... Ts>
std::pair<size_t, const std::type_info*>
unregistered_argument(const caf::actor_system& sys) {
  std::pair<size_t, const std::type_info*> result{0, nullptr};
  size_t position = 0;
  auto check = [&](bool builtin, const std::type_info& ti) {
    ++position;
    if (result.first == 0 && !builtin && !is_registered(sys, ti))
      result = {position, &ti};
  };
  (check(caf::type_nr<stored_t<Ts>>::value != 0, typeid(stored_t<Ts>)), ...);
  return result;
}

/// Wraps `f` into a handler of exactly the same signature and result that
/// runs `before` first (CAF checks handler signatures against the
/// interface).
template <class F, class Before, class... Args>
auto run_before(F f, Before before, caf::detail::type_list<Args...>) {
  return [f = std::move(f), before](Args... xs) mutable {
    before();
    return f(std::forward<Args>(xs)...);
  };
}

template <class F, class Before>
auto run_before(F f, Before before) {
  using args = typename caf::detail::get_callable_trait<F>::arg_types;
  return run_before(std::move(f), std::move(before), args{});
}

/// Records the invocation's metrics and span when the call completes.
struct call_span {
  node_context* ctx = nullptr;
  trace_context tc;
  uint64_t parent = 0;
  int64_t start = 0;
  std::chrono::steady_clock::time_point began;
  bool sampled = false;

  void finish(const capability_ref& target, bool ok) const {
    auto& m = ctx->meters;
    (ok ? m.invocations_ok : m.invocations_failed).inc();
    m.invocation_latency.observe(std::chrono::steady_clock::now() - began);
    if (!sampled)
      return;
    const char* outcome = ok ? "ok" : "error";
    auto end = wall_clock_ns();
    // In place: a full buffer reuses the oldest span's strings.
    ctx->spans.record_with([&](span& s) {
      s.trace_id = tc.trace_id;
      s.span_id = tc.span_id;
      s.parent_id = parent;
      s.kind = "invocation";
      append_to(s.name, target);
      s.start_ns = start;
      s.end_ns = end;
      s.detail = outcome;
      s.outcome = outcome;
    });
  }

  void backup_switch(const capability_ref& from, const capability_ref& to,
                     const caf::error& why) const {
    ctx->spans.event(tc, "backup_switch", to_string(from),
                     "to " + to_string(to) + ": " + describe(why));
  }
};

/// The caller's bound on a whole call (call_builder::with_timeout): every
/// attempt, backup, group retry and wait for a restart ends by `deadline`.
struct call_limit {
  using clock = std::chrono::steady_clock;

  clock::time_point deadline = clock::time_point::max();
  std::chrono::milliseconds timeout{0};
  /// "<capability> (<operation>)", for the error.
  std::string what;

  bool bounded() const {
    return deadline != clock::time_point::max();
  }

  bool passed() const {
    return bounded() && clock::now() >= deadline;
  }

  /// What is left of the call, rounded up to 1 ms: the timeout of the next
  /// request.
  caf::duration remaining() const {
    if (!bounded())
      return caf::infinite;
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline
                                                             - clock::now());
    return caf::duration{std::max(left, std::chrono::milliseconds{1})};
  }

  /// `delay_ms`, cut to what is left of the call.
  uint32_t clamp(uint32_t delay_ms) const {
    if (!bounded())
      return delay_ms;
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline
                                                             - clock::now());
    return static_cast<uint32_t>(
      std::clamp<int64_t>(left.count(), 0, int64_t{delay_ms}));
  }

  /// True if `err` is CAF's timeout of a request sent with remaining().
  bool expired_by(const caf::error& err) const {
    return bounded() && err == caf::sec::request_timeout;
  }

  caf::error expired() const {
    return make_error(errc::timeout, "call of " + what + " timed out after "
                                       + std::to_string(timeout.count())
                                       + " ms");
  }
};

/// The operation of a call, for messages: its first argument (usually an
/// atom), cut to 40 characters.
template <class... Ts>
std::string operation_name(const std::tuple<Ts...>& xs) {
  if constexpr (sizeof...(Ts) == 0) {
    (void) xs;
    return "()";
  } else {
    auto s = caf::deep_to_string(std::get<0>(xs));
    return s.size() <= 40 ? s : s.substr(0, 37) + "...";
  }
}

/// Sends the request (or hands it to the blocking receive).
template <class Self, class H, class F, class G>
void await_reply(H& h, F& on_reply, G& on_error) {
  if constexpr (std::is_base_of<caf::blocking_actor, Self>::value)
    h.receive(on_reply, on_error);
  else
    h.then(on_reply, on_error);
}

/// The member list to use for `group`: the last one the directory
/// published (restarts of failed replicas on other nodes and resizes
/// change it), else the capability's own. A capability held since the
/// group's creation names its first members only; once they all failed,
/// only the published list reaches the group.
inline const capability_ref&
current_members(const capability_ref& group,
                const std::optional<capability_ref>& latest) {
  return latest && !latest->members.empty() ? *latest : group;
}

/// The member of `group` to send to: `preferred` if alive, else the first
/// live member in rank order (any member redirects to the primary).
inline const capability_ref* pick_member(node_context* ctx,
                                         const capability_ref& group,
                                         uint64_t preferred) {
  const capability_ref* first_alive = nullptr;
  for (auto& m : group.members) {
    if (ctx->dir.failure_of(m))
      continue;
    if (m.id == preferred)
      return &m;
    if (first_alive == nullptr)
      first_alive = &m;
  }
  return first_alive;
}

/// The first live member of `group` after `current` in rank order
/// (wrapping around), or 0 if there is none.
inline uint64_t member_after(node_context* ctx, const capability_ref& group,
                             uint64_t current) {
  auto& ms = group.members;
  auto i = std::find_if(ms.begin(), ms.end(),
                        [&](auto& m) { return m.id == current; });
  auto n = ms.size();
  auto pos = static_cast<size_t>(i - ms.begin());
  for (size_t k = 1; k <= n; ++k) {
    auto& m = ms[(pos + k) % n];
    if (!ctx->dir.failure_of(m))
      return m.id;
  }
  return 0;
}

/// Runs `then` after `delay_ms`: for event-based actors through the node
/// manager's timer (`on_error` gets its error); for blocking actors by
/// sleeping, at once when `later` is null or, inside a receive, stored in
/// `later` to run once that receive returned (no nested receives).
template <class Self, class F, class G>
void after_delay(Self* self, node_context* ctx, uint32_t delay_ms,
                 std::function<void()>* later, F then, G on_error) {
  if constexpr (std::is_base_of<caf::blocking_actor, Self>::value) {
    (void) on_error;
    auto run = [delay_ms, then]() mutable {
      if (delay_ms > 0)
        std::this_thread::sleep_for(std::chrono::milliseconds{delay_ms});
      then();
    };
    if (later != nullptr)
      *later = run;
    else
      run();
  } else if (delay_ms == 0) {
    then();
  } else {
    self->request(ctx->manager, caf::infinite, after_atom::value, delay_ms)
      .then(then, [on_error](caf::error& e) mutable { on_error(e); });
  }
}

/// Retries of a group invocation before giving up (about 5 s in all).
constexpr size_t group_retry_limit = 40;

/// Group invocation: to the primary, following not_primary redirects and
/// moving on when a member fails; the request id stays the same, so the
/// group delivers the invocation at most once however often it is retried.
template <class Self, class F, class G>
void issue_group(Self* self, node_context* ctx, const capability_ref& group,
                 std::shared_ptr<invocation> inv, uint64_t preferred,
                 size_t attempts_left, F f, G g, call_span sp,
                 call_limit lim) {
  auto fail = [&](caf::error err) {
    sp.sampled = true;
    sp.finish(group, false);
    g(err);
  };
  if (lim.passed())
    return fail(lim.expired());
  if (auto err = ctx->dir.failure_of(group))
    return fail(std::move(err));
  auto latest = ctx->dir.lookup(group.id);
  auto& members = current_members(group, latest);
  auto member = pick_member(ctx, members, preferred);
  if (member == nullptr && &members != &group)
    member = pick_member(ctx, group, preferred);
  if (member == nullptr || attempts_left == 0)
    return fail(make_error(errc::fail_stop, "group " + to_string(group)
                                              + " has no reachable primary"));
  auto m = *member;
  // Every live member is watched, not just the one asked: a backup may
  // answer in the primary's place (inv->watching), and if it fails first
  // this attempt fails over like one whose primary failed. Members of the
  // caller's capability and of the last published member list (restarts
  // and resizes change it; either may be the newer one).
  std::vector<const capability_ref*> watched;
  inv->watching.clear();
  auto watch = [&](const capability_ref& x) {
    if (std::find(inv->watching.begin(), inv->watching.end(), x.id)
          != inv->watching.end()
        || (x.id != m.id && ctx->dir.failure_of(x)))
      return;
    watched.push_back(&x);
    inv->watching.push_back(x.id);
  };
  for (auto& x : group.members)
    watch(x);
  if (latest)
    for (auto& x : latest->members)
      watch(x);
  auto h = self->request(ctx->dir.resolve(m), lim.remaining(),
                         group_invoke_atom::value, *inv);
  std::vector<std::pair<uint64_t, uint64_t>> tokens; // (member, token)
  auto deadline = std::chrono::steady_clock::now() + ctx->group_attempt_timeout;
  for (auto* x : watched)
    tokens.emplace_back(x->id,
                        ctx->dir.watch_call(*x, self->ctrl(), h.id(),
                                            x->id == m.id
                                              ? deadline
                                              : decltype(deadline)::max()));
  auto unwatch = [ctx, tokens] {
    for (auto& [id, token] : tokens)
      ctx->dir.unwatch_call(id, token);
  };
  auto on_reply = run_before(f, [unwatch, sp, group] {
    unwatch();
    sp.finish(group, true);
  });
  // Blocking actors: the retry to run after receive() returned.
  auto retry_later = std::make_shared<std::function<void()>>();
  // Members whose failure this attempt notices (see watch above).
  std::vector<capability_ref> watched_refs;
  for (auto* x : watched)
    watched_refs.push_back(*x);
  auto on_error = [=](caf::error& err) mutable {
    unwatch();
    auto give_up = [&](caf::error why) {
      sp.sampled = true;
      sp.finish(group, false);
      g(why);
    };
    if (lim.expired_by(err))
      return give_up(lim.expired());
    auto member_failed = [&] {
      return std::any_of(watched_refs.begin(), watched_refs.end(),
                         [&](const capability_ref& x) {
                           return callee_failed(ctx, x, x.generation, err);
                         });
    };
    uint64_t next = 0;
    if (is(err, errc::not_primary)) {
      auto& ctx_msg = err.context();
      if (ctx_msg.match_elements<std::string>())
        next = std::strtoull(ctx_msg.get_as<std::string>(0).c_str(), nullptr,
                             10);
    } else if (err == caf::sec::request_receiver_down) {
      // CAF saw the member terminate: our directory may not know yet.
      ctx->dir.actor_failed(m.id, m.generation, "terminated", false);
    } else if (is(err, errc::no_answer)) {
      // Ask the next member: this one may be gone without this node
      // knowing (a client that connected after its node had failed never
      // heard of that failure); any member redirects to the primary.
      next = member_after(
        ctx, current_members(group, ctx->dir.lookup(group.id)), m.id);
    } else if (is(err, errc::no_quorum)
               && (!ctx->member || ctx->in_majority())) {
      // The member's node lost its lease and refused without running the
      // invocation, while this caller is not cut off itself: the majority
      // is about to remove that node and the group goes on with the
      // others, or with a replica restarted elsewhere if there is no other
      // (a DM whose store primary was frozen by SIGSTOP must not take the
      // refusal for its store's failure). Retried like a failed member,
      // within the same bound.
      next = member_after(
        ctx, current_members(group, ctx->dir.lookup(group.id)), m.id);
    } else if (!member_failed()) {
      // The operation's own error reply (even a fail_stop it passes on).
      return give_up(err);
    }
    // A view change takes a moment (failure detection, flush): the first
    // retries are immediate, later ones back off up to 200 ms.
    auto attempt = group_retry_limit - attempts_left;
    auto delay = attempt < 3 ? 0u
                             : static_cast<uint32_t>(std::min<uint64_t>(
                               uint64_t{1} << std::min<size_t>(attempt - 3, 8),
                               200));
    auto retry = [=]() mutable {
      issue_group(self, ctx, group, inv, next, attempts_left - 1, f, g, sp,
                  lim);
    };
    after_delay(self, ctx, lim.clamp(delay), retry_later.get(), retry, g);
  };
  await_reply<Self>(h, on_reply, on_error);
  if (*retry_later)
    (*retry_later)();
}

/// Waits for persistent actor `ref` to be bound alive, with a handle, at
/// generation `at_least` or later, polling this node's directory with
/// back-off, then runs `resend`; `fail` gets errc::timeout once `deadline`
/// or the call's limit passed.
template <class Self, class R, class G>
void await_restart(Self* self, node_context* ctx, const capability_ref& ref,
                   uint64_t at_least,
                   std::chrono::steady_clock::time_point deadline,
                   const call_limit& lim, uint32_t delay_ms, R resend, G fail) {
  auto now = std::chrono::steady_clock::now();
  if (auto cur = ctx->dir.lookup(ref.id);
      cur && cur->handle && cur->generation >= at_least
      && !ctx->dir.failure_of(*cur))
    return resend();
  if (lim.passed())
    return fail(lim.expired());
  if (now >= deadline)
    return fail(make_error(errc::timeout,
                           "persistent actor " + to_string(ref)
                             + " was not restarted within "
                             + std::to_string(ctx->restart_wait.count())
                             + " ms"));
  after_delay(
    self, ctx, lim.clamp(delay_ms), nullptr,
    [=] {
      await_restart(self, ctx, ref, at_least, deadline, lim,
                    std::min<uint32_t>(2 * delay_ms + 1, 50), resend, fail);
    },
    [fail](caf::error& e) mutable { fail(e); });
}

using call_ticket = std::shared_ptr<invocation_ids::ticket>;

/// Sends one attempt to `dest`. To a persistent actor (untyped handles)
/// it goes in the persistent_call envelope under the call's ticket, taken
/// at the first attempt that reaches one and kept for every re-send, so the
/// actor's invocation log runs it once (persistence/invocation_log.hpp).
template <class Self, class Handle, class Args>
auto send_attempt(Self* self, node_context* ctx, const Handle& dest,
                  uint64_t id, const call_limit& lim, const Args& args,
                  call_ticket& ticket) {
  if constexpr (std::is_same<Handle, caf::actor>::value) {
    if (ctx->dir.restart_spec_of(id)) {
      if (!ticket)
        ticket = ctx->invocations.issue();
      return self->request(
        dest, lim.remaining(), persistent_call_atom::value, ticket->caller(),
        ticket->seq(), ctx->invocations.floor(),
        std::apply([](const auto&... xs) { return caf::make_message(xs...); },
                   args));
    }
  }
  return std::apply(
    [&](const auto&... xs) {
      return self->request(dest, lim.remaining(), xs...);
    },
    args);
}

template <class Self, class Handle, class Args, class F, class G>
void issue(Self* self, node_context* ctx, const capability<Handle>& target,
           std::optional<capability<Handle>> backup,
           std::shared_ptr<Args> args, F f, G g, call_span sp,
           call_limit lim, call_ticket ticket = nullptr) {
  if (lim.passed()) {
    sp.sampled = true;
    sp.finish(target.ref(), false);
    auto err = lim.expired();
    g(err);
    return;
  }
  // Resolve through the directory: a restarted callee is reached at its
  // current incarnation without the holder noticing.
  auto bound = ctx->dir.lookup(target.ref().id);
  auto generation = std::max(target.ref().generation,
                             bound ? bound->generation : 0);
  auto dest = caf::actor_cast<Handle>(ctx->dir.resolve(target.ref()));
  auto ref = target.ref();
  auto fail = [=](caf::error err) mutable {
    sp.sampled = true; // failures are always traced
    sp.finish(ref, false);
    g(err);
  };
  if (!dest && ctx->dir.restart_spec_of(ref.id)) {
    // Bound from this node's persistent catalog after a restart: the live
    // handle comes from a member that knows it, or from the next restart.
    auto deadline = std::chrono::steady_clock::now() + ctx->restart_wait;
    auto resend = [=] {
      issue(self, ctx, target, backup, args, f, g, sp, lim, ticket);
    };
    await_restart(self, ctx, ref, generation, deadline, lim, 1, resend, fail);
    return;
  }
  auto h = send_attempt(self, ctx, dest, ref.id, lim, *args, ticket);
  auto token = ctx->dir.watch_call(ref, self->ctrl(), h.id(),
                                   std::chrono::steady_clock::time_point::max(),
                                   generation);
  auto unwatch = [ctx, id = ref.id, token] { ctx->dir.unwatch_call(id, token); };
  auto on_reply = run_before(f, [unwatch, sp, ref] {
    unwatch();
    sp.finish(ref, true);
  });
  // Blocking actors: the wait for a restart runs after receive() returned.
  auto later = std::make_shared<std::function<void()>>();
  auto on_error = [=](caf::error& err) mutable {
    unwatch();
    if (lim.expired_by(err))
      return fail(lim.expired());
    // An error the callee returned is its reply, delivered as it is; only
    // a failure the directory confirms invokes the backup or waits.
    bool failed = callee_failed(ctx, ref, generation, err);
    if (backup && failed) {
      // FT-SR: the backup operation gets the same arguments.
      sp.sampled = true;
      sp.backup_switch(ref, backup->ref(), err);
      issue(self, ctx, *backup, std::optional<capability<Handle>>{}, args, f,
            g, sp, lim, ticket);
      return;
    }
    if (failed && ctx->dir.restart_spec_of(ref.id)) {
      // FT-SR persistent callee: the call waits for its restart.
      auto deadline = std::chrono::steady_clock::now() + ctx->restart_wait;
      auto resend = [=] {
        issue(self, ctx, target, backup, args, f, g, sp, lim, ticket);
      };
      after_delay(
        self, ctx, 0, later.get(),
        [=] {
          await_restart(self, ctx, ref, generation + 1, deadline, lim, 1,
                        resend, fail);
        },
        fail);
      return;
    }
    fail(err);
  };
  await_reply<Self>(h, on_reply, on_error);
  if (*later)
    (*later)();
}

} // namespace detail

/// A call being set up; complete it with then() (event-based actors) or
/// receive() (blocking actors such as caf::scoped_actor).
template <class Self, class Handle, class... Ts>
class call_builder {
public:
  call_builder(Self* self, capability<Handle> target, std::tuple<Ts...> args)
    : self_(self), target_(std::move(target)), args_(std::move(args)) {
    // nop
  }

  /// FT-SR backupOp: invoked with the same arguments if the callee fails.
  call_builder& with_backup(capability<Handle> backup) {
    backup_ = std::move(backup);
    return *this;
  }

  /// Bounds the whole call (attempts, backup, group retries, the wait for a
  /// restarted persistent callee) to `t`, which must be positive: then it
  /// fails with errc::timeout naming the capability, the operation and `t`.
  /// A reply arriving later is dropped. Default: unbounded (a call still
  /// never hangs on a failed callee, see the file comment).
  call_builder& with_timeout(std::chrono::milliseconds t) {
    timeout_ = t;
    return *this;
  }

  /// For a group capability: how many replica replies to wait for. With
  /// quorum or all, the reply is a std::vector<caf::message>.
  call_builder& replies(reply_policy p) {
    replies_ = p;
    return *this;
  }

  /// For a group capability: the request id the group de-duplicates on.
  /// Callers that may repeat a logical call (e.g. after their own failover)
  /// pass the same id each time; by default every call gets a fresh one.
  call_builder& request_id(uint64_t id) {
    request_id_ = id;
    return *this;
  }

  /// Event-based: `f` gets the reply, `g` a caf::error.
  template <class F, class G>
  void then(F f, G g) {
    static_assert(!std::is_base_of<caf::blocking_actor, Self>::value,
                  "blocking actors use receive()");
    // A mismatch was reported by ftsr::call: no cascade of CAF errors.
    if constexpr (detail::accepts<Handle, Ts...>())
      start(std::move(f), std::move(g));
  }

  /// Blocking: waits for the reply (or the failure) before returning.
  template <class F, class G>
  void receive(F f, G g) {
    static_assert(std::is_base_of<caf::blocking_actor, Self>::value,
                  "event-based actors use then()");
    if constexpr (detail::accepts<Handle, Ts...>())
      start(std::move(f), std::move(g));
  }

private:
  template <class F, class G>
  void start(F f, G g) {
    auto* ctx = &context_of(self_->system());
    detail::call_limit lim;
    if (timeout_) {
      if (timeout_->count() <= 0) {
        auto err = make_error(errc::invalid_argument,
                              "call timeout must be positive, got "
                                + std::to_string(timeout_->count()) + " ms");
        g(err);
        return;
      }
      lim.deadline = detail::call_limit::clock::now() + *timeout_;
      lim.timeout = *timeout_;
      lim.what = to_string(target_.ref()) + " ("
                 + detail::operation_name(args_) + ")";
    }
    // Arguments that leave the process must have registered types (a
    // local callee gets the values as they are).
    if (target_.ref().is_group() || target_.ref().node != ctx->self.name) {
      auto [position, type] = std::apply(
        [this](const auto&... xs) {
          return detail::unregistered_argument<std::decay_t<decltype(xs)>...>(
            self_->system());
        },
        args_);
      if (position != 0) {
        auto err = unregistered_type_error(
          position, type, "the call of " + to_string(target_.ref()));
        g(err);
        return;
      }
    }
    detail::call_span sp;
    sp.ctx = ctx;
    sp.began = std::chrono::steady_clock::now();
    sp.sampled = ctx->sample_call();
    if (sp.sampled) {
      sp.tc = span_buffer::child_of({});
      sp.start = wall_clock_ns();
    }
    if (target_.ref().is_group()) {
      auto inv = std::make_shared<invocation>();
      inv->request = request_id_ != 0 ? request_id_ : new_trace_id();
      inv->replies = replies_;
      inv->payload = std::apply(
        [](auto&... xs) { return caf::make_message(xs...); }, args_);
      inv->tc = sp.tc;
      detail::issue_group(self_, ctx, target_.ref(), std::move(inv),
                          target_.ref().members.front().id,
                          detail::group_retry_limit,
                          std::move(f), std::move(g), sp, std::move(lim));
      return;
    }
    auto args = std::make_shared<std::tuple<Ts...>>(std::move(args_));
    detail::issue(self_, ctx, target_, backup_, std::move(args), std::move(f),
                  std::move(g), sp, std::move(lim));
  }

  Self* self_;
  capability<Handle> target_;
  std::optional<capability<Handle>> backup_;
  std::tuple<Ts...> args_;
  reply_policy replies_ = reply_policy::first;
  uint64_t request_id_ = 0;
  std::optional<std::chrono::milliseconds> timeout_;
};

/// FT-SR `call op(args)`; see the file comment.
template <class Self, class Handle, class... Ts>
call_builder<Self, Handle, std::decay_t<Ts>...>
call(Self* self, const capability<Handle>& target, Ts&&... xs) {
  static_assert(detail::accepts<Handle, Ts...>(),
                "ftsr::call: no operation of the capability's interface "
                "takes these argument types");
  return {self, target, std::make_tuple(std::forward<Ts>(xs)...)};
}

/// Overload for caf::scoped_actor.
template <class Handle, class... Ts>
call_builder<caf::blocking_actor, Handle, std::decay_t<Ts>...>
call(caf::scoped_actor& self, const capability<Handle>& target, Ts&&... xs) {
  static_assert(detail::accepts<Handle, Ts...>(),
                "ftsr::call: no operation of the capability's interface "
                "takes these argument types");
  return {self.ptr(), target, std::make_tuple(std::forward<Ts>(xs)...)};
}

} // namespace ftsr
