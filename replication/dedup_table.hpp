// The de-duplication table of a resource-group replica: the reply of each
// delivered request, so a retried request is answered without running it
// again. Every replica holds the same table (same deliveries in the same
// order, or a state transfer), so any primary can answer a retry. Bounded:
// the oldest requests are forgotten first (a client retries for seconds,
// not for `capacity` requests). Not thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <unordered_map>
#include <vector>

#include "caf/message.hpp"

namespace ftsr {

class dedup_table {
public:
  static constexpr size_t default_capacity = 100000;

  explicit dedup_table(size_t capacity = default_capacity)
    : capacity_(capacity) {
    // Nothing to do.
  }

  /// Records the reply of `request`. Request 0 (no id) and a request
  /// already recorded are ignored: the first reply stays.
  void remember(uint64_t request, const caf::message& reply);

  /// The reply of `request`, if it is recorded.
  std::optional<caf::message> find(uint64_t request) const;

  bool contains(uint64_t request) const {
    return replies_.count(request) > 0;
  }

  size_t size() const noexcept { return order_.size(); }

  /// Requests and replies, oldest first (for a state transfer).
  void export_to(std::vector<uint64_t>& requests,
                 std::vector<caf::message>& replies) const;

  /// Replaces the table with `requests` and `replies` (oldest first, as
  /// export_to wrote them; equal sizes).
  void import_from(const std::vector<uint64_t>& requests,
                   const std::vector<caf::message>& replies);

private:
  size_t capacity_;
  std::unordered_map<uint64_t, caf::message> replies_;
  std::deque<uint64_t> order_;
};

} // namespace ftsr
