// Group commit of durable records; see log_batcher.hpp.
#include "txn/log_batcher.hpp"

#include <utility>

namespace ftsr {

uint64_t log_batcher::put(std::string key, std::string value) {
  records_[std::move(key)] = std::move(value);
  return open_;
}

uint64_t log_batcher::erase(std::string key) {
  records_[std::move(key)] = std::nullopt;
  return open_;
}

void log_batcher::hold(uint64_t id, txn_envelope e, txn_step& st) {
  if (durable(id))
    st.out.push_back(std::move(e));
  else
    held_.emplace(id, std::move(e));
}

void log_batcher::flush(txn_step& st) {
  if (outstanding_ != 0 || records_.empty())
    return;
  log_write w;
  w.id = open_;
  for (auto& [key, value] : records_) {
    if (value)
      w.batch.put(key, std::move(*value));
    else
      w.batch.erase(key);
  }
  records_.clear();
  outstanding_ = open_++;
  st.write = std::move(w);
}

bool log_batcher::written(uint64_t id, txn_step& st) {
  if (id == 0 || id != outstanding_)
    return false;
  outstanding_ = 0;
  written_ = id;
  auto end = held_.upper_bound(id);
  for (auto i = held_.begin(); i != end; ++i)
    st.out.push_back(std::move(i->second));
  held_.erase(held_.begin(), end);
  flush(st);
  return true;
}

} // namespace ftsr
