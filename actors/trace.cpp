// Span ids, clocks and the bounded span buffer.
#include "actors/trace.hpp"

#include <algorithm>
#include <random>

namespace ftsr {

int64_t wall_clock_ns() {
  using namespace std::chrono;
  return duration_cast<nanoseconds>(system_clock::now().time_since_epoch())
    .count();
}

uint64_t new_trace_id() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  uint64_t id;
  do {
    id = gen();
  } while (id == 0);
  return id;
}

span_buffer::span_buffer(size_t capacity)
  : capacity_(std::max<size_t>(capacity, 1)) {
  ring_.reserve(capacity_);
}

trace_context span_buffer::child_of(const trace_context& parent) {
  return {parent.trace_id != 0 ? parent.trace_id : new_trace_id(),
          new_trace_id()};
}

span& span_buffer::claim() {
  if (ring_.size() < capacity_)
    return ring_.emplace_back();
  // Full: the oldest span's slot, its strings emptied but not freed. The
  // node's own name is filled in when spans are read (snapshot): no string
  // copy per span on the recording path.
  auto& slot = ring_[first_];
  first_ = (first_ + 1) % capacity_;
  ++dropped_;
  slot.trace_id = slot.span_id = slot.parent_id = 0;
  slot.kind.clear();
  slot.name.clear();
  slot.node.clear();
  slot.start_ns = slot.end_ns = 0;
  slot.detail.clear();
  slot.outcome.clear();
  slot.group_view = 0;
  return slot;
}

void span_buffer::record(span s) {
  record_with([&s](span& slot) { slot = std::move(s); });
}

void span_buffer::set_observer(std::function<void(const span&)> f,
                               kind_filter wants) {
  std::lock_guard<std::mutex> guard{mtx_};
  observer_ = std::move(f);
  wants_ = wants;
}

trace_context span_buffer::event(const trace_context& parent, std::string kind,
                                 std::string name, std::string detail) {
  auto ctx = child_of(parent);
  auto now = wall_clock_ns();
  record(span{ctx.trace_id, ctx.span_id, parent.span_id, std::move(kind),
              std::move(name), {}, now, now, std::move(detail), {}, 0});
  return ctx;
}

std::vector<span> span_buffer::snapshot(size_t max) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto size = ring_.size();
  auto n = std::min(max, size);
  std::vector<span> result;
  result.reserve(n);
  for (auto i = size - n; i < size; ++i) {
    auto& s = result.emplace_back(ring_[(first_ + i) % size]);
    if (s.node.empty())
      s.node = node_;
  }
  return result;
}

uint64_t span_buffer::dropped() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return dropped_;
}

size_t span_buffer::size() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return ring_.size();
}

void span_buffer::set_node(std::string node) {
  std::lock_guard<std::mutex> guard{mtx_};
  node_ = std::move(node);
}

} // namespace ftsr
