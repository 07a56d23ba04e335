// Group commit for the transaction cores: records that must be durable
// before answers are released, collected into one atomic write while the
// previous write is still under way.
//
// A core put()s or erase()s records and holds the answers that depend on
// them (hold(), with the id put() returned); flush() hands out the next
// write when none is outstanding; written(id) releases what waited for it.
// Writes complete in the order they were handed out, so what is durable is
// always a prefix of what the core did. Not thread-safe (one per core).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "txn/txn_protocol.hpp"

namespace ftsr {

class log_batcher {
public:
  /// Adds a put to the open batch; returns the id of the write that will
  /// carry it. A later put or erase of the same key in one batch wins.
  uint64_t put(std::string key, std::string value);

  /// Adds an erase to the open batch; returns its write's id.
  uint64_t erase(std::string key);

  /// True once write `id` is durable.
  bool durable(uint64_t id) const noexcept {
    return id <= written_;
  }

  /// Sends `e` once write `id` is durable (at once, into `st`, if it is).
  void hold(uint64_t id, txn_envelope e, txn_step& st);

  /// Hands out the open batch as the next write unless one is outstanding
  /// or there is nothing to write.
  void flush(txn_step& st);

  /// Write `id` is durable: releases its held messages into `st` and
  /// flushes. False (and nothing changes) if `id` is not the outstanding
  /// write.
  bool written(uint64_t id, txn_step& st);

  /// The outstanding write's id (0: none).
  uint64_t outstanding() const noexcept {
    return outstanding_;
  }

private:
  uint64_t open_ = 1; // id of the batch being filled
  uint64_t outstanding_ = 0;
  uint64_t written_ = 0;
  std::map<std::string, std::optional<std::string>> records_;
  std::multimap<uint64_t, txn_envelope> held_;
};

} // namespace ftsr
