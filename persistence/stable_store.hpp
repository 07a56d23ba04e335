// Stable storage (FT-SR stableStore, FTM stable memory): a durable map from
// string keys to byte-string values with atomic multi-key writes. Every
// record carries a checksum: a torn or corrupted record is reported as
// errc::corrupted naming its key, never returned as data.
//
// Contract:
// - write(batch) is atomic: after a crash either every put/erase of the
//   batch is visible or none is. With durability::sync (the default) a
//   successful write survives a crash of the process or the machine.
// - A failed write changes nothing: the store keeps its previous content
//   and accepts later writes.
// - Errors are values: errc::storage_error (I/O failure, unusable data
//   directory, directory already open), errc::no_space (store full;
//   nothing written), errc::corrupted (checksum mismatch, truncated file),
//   errc::invalid_argument (empty key, key longer than max_key_size(),
//   value above 4 GiB). Each names the directory and the key concerned.
// - Thread-safety: one stable_store object may be used from several threads;
//   writes are serialized, reads run concurrently with them and see the last
//   committed batch. Only one stable_store (in any process) may have a data
//   directory open at a time; a second open fails with storage_error.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "caf/error.hpp"
#include "caf/expected.hpp"

#include "actors/metrics.hpp"

namespace ftsr {

/// When a successful write reaches the disk.
enum class durability : uint8_t {
  /// fsync before write() returns (default).
  sync,
  /// Leave flushing to the OS: a machine crash may lose recent writes, a
  /// process crash does not.
  async,
};

/// A set of puts and erases applied atomically, in order.
class write_batch {
public:
  struct op {
    std::string key;
    std::optional<std::string> value; // nullopt: erase
  };

  write_batch& put(std::string key, std::string value) {
    ops_.push_back({std::move(key), std::move(value)});
    return *this;
  }

  write_batch& erase(std::string key) {
    ops_.push_back({std::move(key), std::nullopt});
    return *this;
  }

  /// Erases every record before the ops apply (replacing the whole
  /// content atomically, e.g. on state transfer).
  write_batch& clear() {
    clear_ = true;
    return *this;
  }

  const std::vector<op>& ops() const noexcept {
    return ops_;
  }

  bool clears() const noexcept {
    return clear_;
  }

  bool empty() const noexcept {
    return ops_.empty() && !clear_;
  }

private:
  std::vector<op> ops_;
  bool clear_ = false;
};

class stable_store {
public:
  virtual ~stable_store() = default;

  /// The value of `key`, or nullopt if absent.
  virtual caf::expected<std::optional<std::string>>
  get(std::string_view key) = 0;

  /// Applies `batch` atomically.
  virtual caf::error write(const write_batch& batch) = 0;

  /// Convenience: a batch of one put.
  caf::error put(std::string key, std::string value) {
    write_batch b;
    b.put(std::move(key), std::move(value));
    return write(b);
  }

  /// Convenience: a batch of one erase (absent keys are no error).
  caf::error erase(std::string key) {
    write_batch b;
    b.erase(std::move(key));
    return write(b);
  }

  /// All records whose key starts with `prefix`, in key order.
  virtual caf::expected<std::vector<std::pair<std::string, std::string>>>
  scan(std::string_view prefix) = 0;

  /// Longest accepted key in bytes.
  virtual size_t max_key_size() const noexcept = 0;
};

struct lmdb_options {
  /// Data directory (created if missing, with its parents); holds one
  /// LMDB environment (data.mdb, lock.mdb) and the LOCK file.
  std::string dir;
  durability mode = durability::sync;
  /// Upper bound of the store size; writes beyond it fail with no_space.
  uint64_t max_bytes = uint64_t{1} << 30;
  /// If given (a node's metrics, which must outlive the store): counts
  /// write batches by outcome and times their commits (the fsync included
  /// in sync mode).
  node_metrics* metrics = nullptr;
};

/// Opens (or creates) the LMDB-backed store in `opts.dir`. Checks the data
/// file for truncation before mapping it, so that a damaged file is
/// reported instead of crashing the process. Errors: storage_error naming
/// the path and the system error (directory unusable, read-only, already
/// open), corrupted for a truncated or foreign data file,
/// invalid_argument for an empty dir or max_bytes = 0.
caf::expected<std::unique_ptr<stable_store>> open_lmdb_store(lmdb_options opts);

/// Makes sure a node can keep stable storage under `dir`: creates it if
/// missing and creates and removes a file in it. Errors: storage_error
/// naming the directory and the system error (a path through a file, a
/// read-only file system, no permission), no_space.
caf::error prepare_data_dir(const std::string& dir);

} // namespace ftsr
