// Caller-side invocation ids; see invocation_ids.hpp.
#include "actors/invocation_ids.hpp"

#include "actors/trace.hpp"

namespace ftsr {

invocation_ids::invocation_ids() : caller_(new_trace_id()) {
  // nop
}

std::shared_ptr<invocation_ids::ticket> invocation_ids::issue() {
  std::lock_guard<std::mutex> guard{mtx_};
  auto seq = next_++;
  outstanding_.insert(seq);
  return std::make_shared<ticket>(*this, seq);
}

uint64_t invocation_ids::floor() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return outstanding_.empty() ? next_ : *outstanding_.begin();
}

void invocation_ids::release(uint64_t seq) {
  std::lock_guard<std::mutex> guard{mtx_};
  outstanding_.erase(seq);
}

} // namespace ftsr
