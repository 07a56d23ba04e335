// Trace context and span recording. Every ftsr protocol message carries a
// trace_context; the runtime records spans (invocation, backup switch,
// failure detected, monitor fired, restart, ...) into a bounded per-node
// span_buffer from which the dashboard and trace export read.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace ftsr {

/// Identifies a trace and the span that caused the current work.
/// A zero trace_id means "no trace": the next span starts a new trace.
struct trace_context {
  uint64_t trace_id = 0;
  uint64_t span_id = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, trace_context& x) {
  return f(x.trace_id, x.span_id);
}

/// One finished (or instantaneous) unit of work.
struct span {
  uint64_t trace_id = 0;
  uint64_t span_id = 0;
  uint64_t parent_id = 0;
  std::string kind;   // e.g. "invocation", "failure_detected"
  std::string name;   // what it concerns, e.g. a capability or node name
  std::string node;   // node that recorded it: "name/incarnation"
  int64_t start_ns = 0; // wall clock, ns since epoch
  int64_t end_ns = 0;
  std::string detail;
  /// How the work ended, where it can fail: "ok" or "error" (invocations,
  /// group sequencing and delivery); empty for events.
  std::string outcome;
  /// The group view the work ran in (group spans); 0 elsewhere.
  uint64_t group_view = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, span& x) {
  return f(x.trace_id, x.span_id, x.parent_id, x.kind, x.name, x.node,
           x.start_ns, x.end_ns, x.detail, x.outcome, x.group_view);
}

/// Wall clock in ns since the epoch (spans from different nodes line up).
int64_t wall_clock_ns();

/// Fresh random nonzero 64-bit id (trace and span ids).
uint64_t new_trace_id();

/// Thread-safe bounded ring of spans; the oldest spans are dropped first.
/// A full ring records a span into the slot of the oldest one, reusing its
/// strings' storage (see record_with): the per-call invocation span costs no
/// allocation once the ring has filled.
class span_buffer {
public:
  /// Observers see the spans whose kind this accepts.
  using kind_filter = bool (*)(const std::string& kind);

  /// Keeps the newest `capacity` spans (at least one).
  explicit span_buffer(size_t capacity = 4096);

  /// Starts a child of `parent` (or a new trace if parent has none).
  /// The returned context names the new span.
  static trace_context child_of(const trace_context& parent);

  /// Records a span; thread-safe.
  void record(span s);

  /// Records a span written in place: `fill(span&)` gets a cleared slot
  /// (empty strings that keep their storage, zero numbers) and assigns the
  /// fields it has. Called under the buffer's lock: it must only assign.
  /// Thread-safe.
  template <class Fill>
  void record_with(Fill&& fill) {
    std::unique_lock<std::mutex> guard{mtx_};
    auto& slot = claim();
    fill(slot);
    if (!observer_ || (wants_ != nullptr && !wants_(slot.kind)))
      return;
    auto copy = slot;
    if (copy.node.empty())
      copy.node = node_;
    guard.unlock();
    observer_(copy);
  }

  /// Records an instantaneous event span under `parent` and returns its
  /// context.
  trace_context event(const trace_context& parent, std::string kind,
                      std::string name, std::string detail = {});

  /// Copy of the buffered spans, oldest first; at most `max` newest.
  std::vector<span> snapshot(size_t max = SIZE_MAX) const;

  /// Number of spans dropped because the buffer was full.
  uint64_t dropped() const;

  /// Number of spans buffered now.
  size_t size() const;

  void set_node(std::string node);

  /// Calls `f` with every recorded span whose kind `wants` accepts (every
  /// span if null), outside the buffer's lock, on the recording thread, e.g.
  /// to log failures as they happen. A span `f` sees is copied: a filter
  /// keeps that copy off the per-call path. Set it before spans are
  /// recorded.
  void set_observer(std::function<void(const span&)> f,
                    kind_filter wants = nullptr);

private:
  /// The slot for the next span, cleared (the oldest one's when full).
  span& claim();

  std::function<void(const span&)> observer_;
  kind_filter wants_ = nullptr;
  mutable std::mutex mtx_;
  size_t capacity_;
  /// The ring (grown up to capacity_), the oldest span at `first_`.
  std::vector<span> ring_;
  size_t first_ = 0;
  uint64_t dropped_ = 0;
  std::string node_;
};

} // namespace ftsr
