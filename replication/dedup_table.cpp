#include "replication/dedup_table.hpp"

namespace ftsr {

void dedup_table::remember(uint64_t request, const caf::message& reply) {
  if (request == 0 || !replies_.emplace(request, reply).second)
    return;
  order_.push_back(request);
  if (order_.size() > capacity_) {
    replies_.erase(order_.front());
    order_.pop_front();
  }
}

std::optional<caf::message> dedup_table::find(uint64_t request) const {
  if (auto i = replies_.find(request); i != replies_.end())
    return i->second;
  return std::nullopt;
}

void dedup_table::export_to(std::vector<uint64_t>& requests,
                            std::vector<caf::message>& replies) const {
  for (auto r : order_) {
    requests.push_back(r);
    replies.push_back(replies_.at(r));
  }
}

void dedup_table::import_from(const std::vector<uint64_t>& requests,
                              const std::vector<caf::message>& replies) {
  replies_.clear();
  order_.clear();
  for (size_t i = 0; i < requests.size() && i < replies.size(); ++i)
    remember(requests[i], replies[i]);
}

} // namespace ftsr
