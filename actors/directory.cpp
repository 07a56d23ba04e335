// Directory bindings and exactly-once failure notification.
#include "actors/directory.hpp"

#include <algorithm>
#include <charconv>

#include "caf/mailbox_element.hpp"

#include "actors/errors.hpp"

namespace ftsr {

void append_to(std::string& out, const capability_ref& x) {
  // No printf: every traced call renders its callee's name (snprintf alone
  // cost ~1,000 instructions per call).
  char id[24];
  auto end = std::to_chars(id, id + sizeof(id), x.id).ptr;
  auto n = static_cast<size_t>(end - id);
  out.reserve(out.size() + x.type.size() + x.node.size() + n + 2);
  out += x.type;
  out += '#';
  out.append(id, n);
  out += '@';
  out += x.node;
}

std::string to_string(const capability_ref& x) {
  std::string result;
  append_to(result, x);
  return result;
}

directory::directory(span_buffer& spans, counter* monitors_fired)
  : spans_(spans), monitors_fired_(monitors_fired) {
  // nop
}

bool directory::node_incarnation_failed(const std::string& node,
                                        uint64_t inc) const {
  auto i = failed_incarnation_.find(node);
  return i != failed_incarnation_.end() && inc <= i->second;
}

namespace {

/// A group with `failed` of `n` replicas failed is failed for good when
/// fewer than half survive. With exactly half left, the survivors decide
/// (they continue only in the cluster's majority partition, see
/// node_context::in_majority) and answer errc::no_quorum otherwise.
bool lost_quorum(size_t n, size_t failed) {
  return 2 * (n - failed) < n || failed == n;
}

} // namespace

directory::entry& directory::ensure(const capability_ref& ref) {
  auto i = entries_.find(ref.id);
  if (i != entries_.end())
    return i->second;
  // Members first: inserting them may rehash entries_.
  size_t failed = 0;
  for (auto& m : ref.members)
    if (ensure(m).st != state::alive)
      ++failed;
  auto& e = entries_[ref.id];
  e.ref = ref;
  if (node_incarnation_failed(ref.node, ref.incarnation)) {
    e.st = state::failed;
    e.reason = "node " + ref.node + " failed";
  }
  auto n = ref.members.size();
  for (auto& m : ref.members)
    groups_of_[m.id].push_back(ref.id);
  if (n > 0 && lost_quorum(n, failed)) {
    e.st = state::failed;
    e.reason = "quorum lost: " + std::to_string(failed) + " of "
               + std::to_string(n) + " replicas failed";
  }
  return e;
}

void directory::fail_groups_without_quorum(uint64_t member,
                                           notifications& out) {
  auto i = groups_of_.find(member);
  if (i == groups_of_.end())
    return;
  for (auto gid : i->second)
    fail_if_without_quorum(entries_.at(gid), out);
}

void directory::fail_if_without_quorum(entry& g, notifications& out) {
  // Members that left (destroyed) shrink the group; failed ones count
  // against its quorum.
  size_t failed = 0;
  size_t n = 0;
  for (auto& m : g.ref.members) {
    auto st = entries_.at(m.id).st;
    if (st != state::destroyed)
      ++n;
    if (st == state::failed)
      ++failed;
  }
  if (n == 0 || lost_quorum(n, failed))
    fail(g, state::failed,
         "quorum lost: " + std::to_string(failed) + " of " + std::to_string(n)
           + " replicas failed",
         out);
}

caf::error directory::error_of(const entry& e) const {
  switch (e.st) {
    case state::alive:
      return caf::none;
    case state::destroyed:
      return make_error(errc::destroyed,
                        "capability " + to_string(e.ref) + " was destroyed");
    case state::failed:
      break;
  }
  return make_error(errc::fail_stop, "capability " + to_string(e.ref)
                                       + " failed: " + e.reason);
}

void directory::bind(const capability_ref& ref) {
  notifications out;
  bind(ref, out);
  deliver(out, {});
}

void directory::bind(const capability_ref& ref, notifications& out) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto id = ref.id;
  ensure(ref);
  if (ref.is_group()) {
    // A resized group: index its new members (ensure may rehash, so look
    // the group up again afterwards).
    for (auto& m : ref.members) {
      ensure(m);
      auto& groups = groups_of_[m.id];
      if (std::find(groups.begin(), groups.end(), id) == groups.end())
        groups.push_back(id);
    }
    auto& g = entries_.at(id);
    // Member lists arrive from every replica and node, in any order: the
    // one from the newest view wins. A newer view also brings back a group
    // this node counted as lost from an older list (its replicas failed,
    // the replacements not yet known here): only a serving majority
    // installs views, so the group lived on.
    bool revive = g.st == state::failed && ref.generation > g.ref.generation;
    if ((g.st == state::alive && ref.generation >= g.ref.generation)
        || revive) {
      g.ref.members = ref.members;
      g.ref.handle = ref.handle;
      g.ref.generation = ref.generation;
      if (revive) {
        g.st = state::alive;
        g.reason.clear();
      }
      // Replicas this node already knows failed count against the new list.
      fail_if_without_quorum(g, out);
    }
    return;
  }
  auto& e = entries_.at(id);
  if (ref.generation != e.ref.generation) {
    // A restart of a persistent actor: the newest generation wins.
    if (ref.generation < e.ref.generation || e.st == state::destroyed)
      return;
    // The restart can arrive before the failure of the generation it
    // replaces: that generation failed all the same, so its pending calls
    // and monitors are told now (they would otherwise wait for a failure
    // of the new generation).
    fail(e, state::failed,
         to_string(e.ref) + " restarted as generation "
           + std::to_string(ref.generation),
         out);
    e.ref = ref;
    e.st = state::alive;
    e.reason.clear();
    if (node_incarnation_failed(ref.node, ref.incarnation)) {
      e.st = state::failed;
      e.reason = "node " + ref.node + " failed";
    }
    return;
  }
  // A newer incarnation rebinds; an older one never overrides. A binding
  // restored from disk (persistent_catalog.hpp) has no handle until a
  // member that knows the live one tells.
  if ((ref.incarnation > e.ref.incarnation || ref.node != e.ref.node
       || (!e.ref.handle && ref.handle))
      && e.st == state::alive)
    e.ref = ref;
}

void directory::set_restart_spec(restart_spec spec) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto id = spec.id;
  restart_specs_[id] = std::move(spec);
}

std::optional<restart_spec> directory::restart_spec_of(uint64_t id) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = restart_specs_.find(id);
  if (i == restart_specs_.end())
    return std::nullopt;
  return i->second;
}

std::vector<restart_spec> directory::restart_specs() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<restart_spec> result;
  for (auto& [id, spec] : restart_specs_)
    result.push_back(spec);
  return result;
}

std::vector<std::pair<restart_spec, capability_ref>>
directory::orphans() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<std::pair<restart_spec, capability_ref>> result;
  for (auto& [id, spec] : restart_specs_) {
    auto i = entries_.find(id);
    if (i != entries_.end() && i->second.st == state::failed
        && node_incarnation_failed(i->second.ref.node,
                                   i->second.ref.incarnation))
      result.emplace_back(spec, i->second.ref);
  }
  return result;
}

std::optional<capability_ref> directory::lookup(uint64_t id) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = entries_.find(id);
  if (i == entries_.end())
    return std::nullopt;
  return i->second.ref;
}

caf::actor directory::resolve(const capability_ref& ref) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = entries_.find(ref.id);
  if (i == entries_.end() || !i->second.ref.handle)
    return ref.handle;
  // This node's binding is authoritative unless `ref` is newer: a later
  // generation (restart), or a newer incarnation of the same generation.
  // Its handle belongs to this node's actor system.
  auto& bound = i->second.ref;
  if (bound.generation != ref.generation)
    return bound.generation > ref.generation ? bound.handle : ref.handle;
  return bound.incarnation < ref.incarnation ? ref.handle : bound.handle;
}

std::optional<capability_ref>
directory::find_local(caf::actor_id aid, const std::string& node,
                      uint64_t incarnation) const {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& [id, e] : entries_)
    if (e.ref.node == node && e.ref.incarnation == incarnation && e.ref.handle
        && e.ref.handle->id() == aid)
      return e.ref;
  return std::nullopt;
}

std::vector<capability_ref> directory::alive() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<capability_ref> result;
  for (auto& [id, e] : entries_)
    if (e.st == state::alive && (e.ref.handle || e.ref.is_group()))
      result.push_back(e.ref);
  return result;
}

caf::error directory::failure_of(const capability_ref& ref) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = entries_.find(ref.id);
  if (i != entries_.end())
    return error_of(i->second);
  if (node_incarnation_failed(ref.node, ref.incarnation))
    return make_error(errc::fail_stop, "capability " + to_string(ref)
                                         + " failed: node " + ref.node
                                         + " failed");
  return caf::none;
}

uint64_t directory::watch_call(const capability_ref& target,
                               caf::strong_actor_ptr caller,
                               caf::message_id rid,
                               std::chrono::steady_clock::time_point deadline,
                               uint64_t sent_to) {
  caf::error err;
  uint64_t token;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    token = next_token_++;
    auto& e = ensure(target);
    if (e.st == state::alive && e.ref.generation <= sent_to) {
      e.calls.emplace(token, pending_call{std::move(caller), rid, deadline});
      return token;
    }
    // Failed, or restarted since the request went out (to the generation
    // that failed, whose failure this entry no longer reports).
    err = e.st == state::alive
            ? make_error(errc::fail_stop,
                         to_string(target) + " restarted as generation "
                           + std::to_string(e.ref.generation))
            : error_of(e);
  }
  caller->enqueue(caf::make_mailbox_element(nullptr, rid, {}, std::move(err)),
                  nullptr);
  return token;
}

void directory::unwatch_call(uint64_t cap_id, uint64_t token) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = entries_.find(cap_id);
  if (i != entries_.end())
    i->second.calls.erase(token);
}

uint64_t directory::add_monitor(const capability_ref& target, caf::actor dest,
                                caf::message handler, trace_context tc) {
  notifications out;
  uint64_t id;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    id = next_token_++;
    auto& e = ensure(target);
    pending_monitor m{std::move(dest), std::move(handler), tc};
    if (e.st == state::alive) {
      e.monitors.emplace(id, std::move(m));
      monitor_index_.emplace(id, target.id);
      return id;
    }
    out.monitors.emplace_back(std::move(m), to_string(e.ref));
  }
  deliver(out, tc);
  return id;
}

bool directory::remove_monitor(uint64_t monitor_id) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = monitor_index_.find(monitor_id);
  if (i == monitor_index_.end())
    return false;
  auto j = entries_.find(i->second);
  monitor_index_.erase(i);
  return j != entries_.end() && j->second.monitors.erase(monitor_id) > 0;
}

void directory::fail(entry& e, state st, const std::string& reason,
                     notifications& out) {
  if (e.st != state::alive)
    return; // exactly once: only the first failure notifies
  e.st = st;
  e.reason = reason;
  auto err = error_of(e);
  fail_groups_without_quorum(e.ref.id, out);
  for (auto& [token, pc] : e.calls)
    out.calls.emplace_back(std::move(pc), err);
  e.calls.clear();
  for (auto& [id, m] : e.monitors) {
    monitor_index_.erase(id);
    out.monitors.emplace_back(std::move(m), to_string(e.ref));
  }
  e.monitors.clear();
}

void directory::deliver(notifications& out, const trace_context& tc) {
  for (auto& [pc, err] : out.calls)
    pc.caller->enqueue(caf::make_mailbox_element(nullptr, pc.rid, {},
                                                 std::move(err)),
                       nullptr);
  for (auto& [m, what] : out.monitors) {
    spans_.event(m.tc.trace_id != 0 ? m.tc : tc, "monitor_fired", what);
    if (monitors_fired_ != nullptr)
      monitors_fired_->inc();
    if (m.dest)
      m.dest->enqueue(caf::make_mailbox_element(nullptr, caf::make_message_id(),
                                                {}, std::move(m.handler)),
                      nullptr);
  }
}

void directory::actor_failed(uint64_t cap_id, uint64_t generation,
                             const std::string& reason, bool destroyed,
                             trace_context tc) {
  notifications out;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = entries_.find(cap_id);
    if (i == entries_.end() || i->second.ref.generation != generation)
      return;
    fail(i->second, destroyed ? state::destroyed : state::failed, reason, out);
  }
  deliver(out, tc);
}

void directory::node_failed(const std::string& node, uint64_t incarnation,
                            const std::string& reason, trace_context tc) {
  notifications out;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto& fenced = failed_incarnation_[node];
    fenced = std::max(fenced, incarnation);
    for (auto& [id, e] : entries_)
      if (e.ref.node == node && e.ref.incarnation <= incarnation)
        fail(e, state::failed, "node " + node + " failed (" + reason + ")",
             out);
  }
  deliver(out, tc);
}

size_t directory::expire_calls(std::chrono::steady_clock::time_point now) {
  std::vector<std::pair<pending_call, std::string>> expired;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& [id, e] : entries_)
      for (auto i = e.calls.begin(); i != e.calls.end();) {
        if (i->second.deadline < now) {
          expired.emplace_back(std::move(i->second), to_string(e.ref));
          i = e.calls.erase(i);
        } else {
          ++i;
        }
      }
  }
  for (auto& [call, target] : expired)
    call.caller->enqueue(
      caf::make_mailbox_element(nullptr, call.rid, {},
                                make_error(errc::no_answer,
                                           "no answer from " + target)),
      nullptr);
  return expired.size();
}

size_t directory::pending_calls() const {
  std::lock_guard<std::mutex> guard{mtx_};
  size_t n = 0;
  for (auto& [id, e] : entries_)
    n += e.calls.size();
  return n;
}

size_t directory::monitors() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return monitor_index_.size();
}

} // namespace ftsr
