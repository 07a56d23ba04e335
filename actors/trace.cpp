// Span ids, clocks and the bounded span buffer.
#include "actors/trace.hpp"

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

span_buffer::span_buffer(size_t capacity) : capacity_(capacity) {
  // nop
}

trace_context span_buffer::child_of(const trace_context& parent) {
  return {parent.trace_id != 0 ? parent.trace_id : new_trace_id(),
          new_trace_id()};
}

void span_buffer::record(span s) {
  {
    // The node's own name is filled in when spans are read (snapshot): no
    // string copy per span on the recording path.
    std::lock_guard<std::mutex> guard{mtx_};
    if (spans_.size() >= capacity_) {
      spans_.pop_front();
      ++dropped_;
    }
    if (!observer_) {
      spans_.push_back(std::move(s));
      return;
    }
    spans_.push_back(s);
    if (s.node.empty())
      s.node = node_;
  }
  observer_(s);
}

void span_buffer::set_observer(std::function<void(const span&)> f) {
  std::lock_guard<std::mutex> guard{mtx_};
  observer_ = std::move(f);
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
  auto n = std::min(max, spans_.size());
  std::vector<span> result{spans_.end() - static_cast<std::ptrdiff_t>(n),
                           spans_.end()};
  for (auto& s : result)
    if (s.node.empty())
      s.node = node_;
  return result;
}

uint64_t span_buffer::dropped() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return dropped_;
}

size_t span_buffer::size() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return spans_.size();
}

void span_buffer::set_node(std::string node) {
  std::lock_guard<std::mutex> guard{mtx_};
  node_ = std::move(node);
}

} // namespace ftsr
