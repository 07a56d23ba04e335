// Exactly-once invocation table; see invocation_table.hpp.
#include "persistence/invocation_table.hpp"

#include <algorithm>

namespace ftsr {

invocation_table::invocation_table(size_t per_caller, size_t callers)
  : per_caller_(std::max<size_t>(per_caller, 1)),
    max_callers_(std::max<size_t>(callers, 1)) {
  // nop
}

invocation_table::caller_state& invocation_table::touch(uint64_t caller) {
  auto i = callers_.find(caller);
  if (i == callers_.end()) {
    if (callers_.size() >= max_callers_) {
      auto oldest = std::min_element(
        callers_.begin(), callers_.end(), [](const auto& x, const auto& y) {
          return x.second.last_seen < y.second.last_seen;
        });
      callers_.erase(oldest);
    }
    i = callers_.emplace(caller, caller_state{}).first;
  }
  i->second.last_seen = ++clock_;
  return i->second;
}

invocation_table::admission
invocation_table::admit(const invocation_key& k, uint64_t floor) {
  auto& c = touch(k.caller);
  if (floor > c.floor) {
    c.floor = floor;
    c.replies.erase(c.replies.begin(), c.replies.lower_bound(floor));
  }
  if (auto i = c.replies.find(k.seq); i != c.replies.end())
    return {verdict::replay, &i->second};
  if (k.seq < c.floor)
    return {verdict::stale, nullptr};
  return {verdict::run, nullptr};
}

void invocation_table::record(const invocation_key& k, std::string reply) {
  auto& c = touch(k.caller);
  if (k.seq < c.floor)
    return;
  c.replies.insert_or_assign(k.seq, std::move(reply));
  while (c.replies.size() > per_caller_) {
    c.floor = c.replies.begin()->first + 1;
    c.replies.erase(c.replies.begin());
  }
}

size_t invocation_table::size() const noexcept {
  size_t n = 0;
  for (auto& [id, c] : callers_)
    n += c.replies.size();
  return n;
}

} // namespace ftsr
