// Event journal, replica board and the registration of the report types.
#include "actors/introspection.hpp"

#include <algorithm>
#include <array>
#include <string_view>

#include "caf/actor_system_config.hpp"

namespace ftsr {

event_journal::event_journal(size_t capacity) : capacity_(capacity) {
  // nop
}

bool event_journal::is_failure_event(const std::string& kind) {
  // Everything on the way from a failure to its repair; invocations,
  // spawns and name changes stay in the span buffer only. Asked for every
  // span recorded (span_buffer's observer filter): string_views compare
  // lengths first.
  static constexpr std::array<std::string_view, 19> kinds{
    "suspected",      "unsuspected",   "peer_unreachable", "failure_detected",
    "node_failed",    "node_up",       "view_installed",   "monitor_fired",
    "actor_failed",   "backup_switch", "restart",          "restart_failed",
    "recovery",       "fenced",        "refused",          "view_change",
    "quorum_lost",    "replica_failed", "state_transfer"};
  return std::any_of(kinds.begin(), kinds.end(),
                     [&](std::string_view k) { return kind == k; });
}

void event_journal::observe(const span& s) {
  if (!is_failure_event(s.kind))
    return;
  std::lock_guard<std::mutex> guard{mtx_};
  if (entries_.size() >= capacity_)
    entries_.pop_front();
  entries_.push_back({next_seq_++, s});
}

std::vector<journal_entry> event_journal::since(uint64_t after,
                                                size_t max) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto first = std::upper_bound(entries_.begin(), entries_.end(), after,
                                [](uint64_t seq, const journal_entry& e) {
                                  return seq < e.seq;
                                });
  auto n = std::min<size_t>(max, static_cast<size_t>(entries_.end() - first));
  return {entries_.end() - static_cast<std::ptrdiff_t>(n), entries_.end()};
}

void replica_board::publish(replica_info x) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto id = x.replica;
  replicas_[id] = std::move(x);
}

void replica_board::progress(uint64_t replica, uint64_t seqno, bool serving) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (auto i = replicas_.find(replica); i != replicas_.end()) {
    i->second.seqno = seqno;
    i->second.serving = serving;
  }
}

void replica_board::remove(uint64_t replica) {
  std::lock_guard<std::mutex> guard{mtx_};
  replicas_.erase(replica);
}

std::vector<replica_info> replica_board::snapshot() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<replica_info> result;
  result.reserve(replicas_.size());
  for (auto& [id, x] : replicas_)
    result.push_back(x);
  return result;
}

void add_introspection_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<introspect_query>("ftsr::introspect_query")
    .add_message_type<node_report>("ftsr::node_report");
}

} // namespace ftsr
