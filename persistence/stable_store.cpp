// LMDB backend of stable_store: one environment per data directory, the
// unnamed database holding key -> record (persistence/stable_record.hpp:
// versioned, length-prefixed and checksummed with the key).
#include "persistence/stable_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <system_error>

#include <lmdb.h>

#include "actors/errors.hpp"
#include "persistence/stable_record.hpp"

namespace ftsr {

namespace {

constexpr size_t record_header = stable_record::header;
constexpr uint64_t max_payload = stable_record::max_payload;

std::string errno_text(int err) {
  return std::generic_category().message(err);
}

/// A key as it appears in error messages: printable, bounded.
std::string printable(std::string_view key) {
  static constexpr size_t limit = 64;
  std::string out = "'";
  for (size_t i = 0; i < key.size() && i < limit; ++i) {
    auto c = static_cast<unsigned char>(key[i]);
    if (std::isprint(c) && c != '\'' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      static constexpr char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 0xF];
    }
  }
  if (key.size() > limit)
    out += "...";
  return out + "'";
}

/// Why the stored bytes of `key` are not a valid record; empty if valid.
std::string check_record(std::string_view key, const MDB_val& v) {
  return stable_record::check(
    key, {static_cast<const char*>(v.mv_data), v.mv_size});
}

/// Maps an LMDB (or errno) code to an ftsr error; `what` names the
/// operation and key.
caf::error lmdb_error(int rc, const std::string& dir, const std::string& what) {
  auto detail = "stable store '" + dir + "': " + what + ": " + mdb_strerror(rc);
  switch (rc) {
    case MDB_MAP_FULL:
    case MDB_TXN_FULL:
    case ENOSPC:
    case EFBIG:
    case EDQUOT:
      return make_error(errc::no_space, detail + "; nothing written");
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
      return make_error(errc::corrupted, detail);
    case MDB_BAD_VALSIZE:
      return make_error(errc::invalid_argument, detail);
    default:
      return make_error(errc::storage_error, detail);
  }
}

/// LMDB reports a short write of its data pages as EIO; a short write is
/// how a full file system or the file size limit (RLIMIT_FSIZE) first
/// shows, so those cases are told apart from real I/O errors here.
caf::error commit_error(int rc, const std::string& dir,
                        const std::string& what) {
  if (rc == EIO) {
    struct stat st;
    struct rlimit lim;
    if (::stat((dir + "/data.mdb").c_str(), &st) == 0
        && ::getrlimit(RLIMIT_FSIZE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY
        && static_cast<rlim_t>(st.st_size) >= lim.rlim_cur)
      return make_error(errc::no_space,
                        "stable store '" + dir + "': " + what
                          + ": file size limit reached; nothing written");
    struct statvfs fs;
    if (::statvfs(dir.c_str(), &fs) == 0 && fs.f_bavail == 0)
      return make_error(errc::no_space,
                        "stable store '" + dir + "': " + what
                          + ": file system full; nothing written");
  }
  return lmdb_error(rc, dir, what);
}

caf::error make_dirs(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (!ec && !std::filesystem::is_directory(dir, ec) && !ec)
    ec = std::make_error_code(std::errc::not_a_directory);
  if (ec)
    return make_error(errc::storage_error, "cannot create data directory '"
                                             + dir + "': " + ec.message());
  return caf::none;
}

} // namespace

caf::error prepare_data_dir(const std::string& dir) {
  if (auto err = make_dirs(dir))
    return err;
  auto probe = dir + "/.ftsr-write-probe-" + std::to_string(::getpid());
  int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    auto err = errno;
    return make_error(err == ENOSPC ? errc::no_space : errc::storage_error,
                      "data directory '" + dir + "' is not writable: "
                        + errno_text(err));
  }
  ::close(fd);
  ::unlink(probe.c_str());
  return caf::none;
}

namespace {

/// Takes the directory's LOCK file (LevelDB style). LMDB must not be
/// opened twice by one process (closing either copy drops the other's
/// POSIX locks), and flock() conflicts between two opens of one process as
/// well as between processes; the kernel releases it when a holder dies.
caf::expected<int> lock_dir(const std::string& dir) {
  auto path = dir + "/LOCK";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return make_error(errc::storage_error, "cannot open lock file '" + path
                                             + "': " + errno_text(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    auto err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK)
      return make_error(errc::storage_error,
                        "stable store '" + dir
                          + "' is already open (in this or another process)");
    return make_error(errc::storage_error,
                      "cannot lock '" + path + "': " + errno_text(err));
  }
  return fd;
}

// Layout of an LMDB 0.9 meta page (mdb.c: MDB_page header, then MDB_meta;
// native byte order): what is needed to know how long data.mdb must be.
constexpr size_t page_header_size = 16;
constexpr size_t meta_magic_at = page_header_size + 0;
constexpr size_t meta_version_at = page_header_size + 4;
constexpr size_t meta_psize_at = page_header_size + 24; // free DB's md_pad
constexpr size_t meta_last_pg_at = page_header_size + 120;
constexpr size_t meta_txnid_at = page_header_size + 128;
constexpr size_t meta_bytes = page_header_size + 136;
constexpr uint32_t lmdb_magic = 0xBEEFC0DE;
constexpr uint32_t lmdb_data_version = 1;

template <class T>
T field(const uint8_t* meta, size_t at) {
  T x;
  std::memcpy(&x, meta + at, sizeof(T));
  return x;
}

/// Checks that data.mdb (if present) is an LMDB file holding every page
/// its newest meta page refers to. LMDB maps the file and would die of
/// SIGBUS on the first access to a page past the end of a truncated file.
caf::error check_data_file(const std::string& dir) {
  auto path = dir + "/data.mdb";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return caf::none; // a new store
    return make_error(errc::storage_error,
                      "cannot open '" + path + "': " + errno_text(errno));
  }
  struct closer {
    int fd;
    ~closer() {
      ::close(fd);
    }
  } guard{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0)
    return make_error(errc::storage_error,
                      "cannot stat '" + path + "': " + errno_text(errno));
  auto size = static_cast<uint64_t>(st.st_size);
  auto corrupted = [&](const std::string& why) {
    return make_error(errc::corrupted, "'" + path + "' " + why + " ("
                                         + std::to_string(size) + " bytes)");
  };
  // Empty: truncated, or its creation was interrupted before the first
  // meta page was written; either way only a person should discard it.
  if (size == 0)
    return corrupted("is empty: truncated, or its creation was interrupted;"
                     " remove the directory to start an empty store");
  uint8_t meta[2][meta_bytes];
  uint64_t psize = 0;
  for (int i = 0; i < 2; ++i) {
    auto off = static_cast<off_t>(i * psize);
    if (::pread(fd, meta[i], meta_bytes, off)
        != static_cast<ssize_t>(meta_bytes))
      return corrupted("is truncated inside its meta pages");
    if (field<uint32_t>(meta[i], meta_magic_at) != lmdb_magic)
      return corrupted("is not an LMDB data file (bad magic in meta page "
                       + std::to_string(i) + ")");
    if (field<uint32_t>(meta[i], meta_version_at) != lmdb_data_version)
      return corrupted("has an unknown LMDB format version");
    if (i == 0) {
      psize = field<uint32_t>(meta[0], meta_psize_at);
      if (psize < 512 || psize > 65536 || (psize & (psize - 1)) != 0)
        return corrupted("has a bad page size " + std::to_string(psize));
    }
  }
  // LMDB uses the meta page with the higher transaction id.
  auto newest = field<uint64_t>(meta[1], meta_txnid_at)
                    > field<uint64_t>(meta[0], meta_txnid_at)
                  ? 1
                  : 0;
  auto last_pg = field<uint64_t>(meta[newest], meta_last_pg_at);
  if (last_pg >= UINT64_MAX / psize || size < (last_pg + 1) * psize)
    return corrupted("is truncated: its last page "
                     + std::to_string(last_pg) + " ends at byte "
                     + std::to_string((last_pg + 1) * psize));
  return caf::none;
}

/// Aborts a transaction unless it was handed on (committed).
struct txn_guard {
  MDB_txn* txn;
  ~txn_guard() {
    if (txn != nullptr)
      mdb_txn_abort(txn);
  }
};

class lmdb_store : public stable_store {
public:
  lmdb_store(lmdb_options opts, int lock_fd, MDB_env* env, MDB_dbi dbi)
    : opts_(std::move(opts)),
      lock_fd_(lock_fd),
      env_(env),
      dbi_(dbi),
      max_key_(static_cast<size_t>(mdb_env_get_maxkeysize(env))) {
    // nop
  }

  ~lmdb_store() override {
    // Async writes become durable at a clean close at the latest.
    if (opts_.mode == durability::async)
      mdb_env_sync(env_, 1);
    mdb_env_close(env_);
    ::close(lock_fd_);
  }

  caf::expected<std::optional<std::string>>
  get(std::string_view key) override {
    if (auto err = check_key(key))
      return err;
    MDB_txn* txn = nullptr;
    if (auto rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn))
      return lmdb_error(rc, opts_.dir, "get " + printable(key));
    txn_guard guard{txn};
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    MDB_val v;
    auto rc = mdb_get(txn, dbi_, &k, &v);
    if (rc == MDB_NOTFOUND)
      return std::optional<std::string>{};
    if (rc != 0)
      return lmdb_error(rc, opts_.dir, "get " + printable(key));
    if (auto err = decode(key, v))
      return err;
    return std::optional<std::string>{payload(v)};
  }

  caf::error write(const write_batch& batch) override {
    for (auto& op : batch.ops()) {
      if (auto err = check_key(op.key))
        return err;
      if (op.value && op.value->size() > max_payload)
        return make_error(errc::invalid_argument,
                          "stable store '" + opts_.dir + "': value of "
                            + printable(op.key) + " exceeds 4 GiB");
    }
    if (batch.empty())
      return caf::none;
    std::lock_guard<std::mutex> lock{write_mtx_};
    MDB_txn* txn = nullptr;
    if (auto rc = mdb_txn_begin(env_, nullptr, 0, &txn))
      return lmdb_error(rc, opts_.dir, "begin write");
    txn_guard guard{txn};
    if (batch.clears()) {
      if (auto rc = mdb_drop(txn, dbi_, 0))
        return lmdb_error(rc, opts_.dir, "clear");
    }
    for (auto& op : batch.ops()) {
      MDB_val k{op.key.size(), const_cast<char*>(op.key.data())};
      if (op.value) {
        // Reserve the record in place: the payload is copied once.
        MDB_val v{record_header + op.value->size(), nullptr};
        if (auto rc = mdb_put(txn, dbi_, &k, &v, MDB_RESERVE))
          return put_error(rc, op.key);
        stable_record::encode(op.key, *op.value, v.mv_data);
      } else if (auto rc = mdb_del(txn, dbi_, &k, nullptr);
                 rc != 0 && rc != MDB_NOTFOUND) {
        return lmdb_error(rc, opts_.dir, "erase " + printable(op.key));
      }
    }
    // mdb_txn_commit frees the transaction, also when it fails.
    guard.txn = nullptr;
    auto began = std::chrono::steady_clock::now();
    auto rc = mdb_txn_commit(txn);
    if (auto* m = opts_.metrics) {
      m->store_commit_latency.observe(std::chrono::steady_clock::now()
                                      - began);
      (rc == 0 ? m->store_writes : m->store_write_errors).inc();
    }
    if (rc != 0)
      return commit_error(rc, opts_.dir,
                          "commit of " + std::to_string(batch.ops().size())
                            + " ops");
    return caf::none;
  }

  caf::expected<std::vector<std::pair<std::string, std::string>>>
  scan(std::string_view prefix) override {
    std::vector<std::pair<std::string, std::string>> result;
    if (prefix.size() > max_key_)
      return result; // no key is that long
    MDB_txn* txn = nullptr;
    if (auto rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn))
      return lmdb_error(rc, opts_.dir, "scan " + printable(prefix));
    txn_guard guard{txn};
    MDB_cursor* cur = nullptr;
    if (auto rc = mdb_cursor_open(txn, dbi_, &cur))
      return lmdb_error(rc, opts_.dir, "scan " + printable(prefix));
    struct cursor_closer {
      MDB_cursor* cur;
      ~cursor_closer() {
        mdb_cursor_close(cur);
      }
    } closer{cur};
    MDB_val k{prefix.size(), const_cast<char*>(prefix.data())};
    MDB_val v;
    // LMDB rejects an empty key for MDB_SET_RANGE.
    auto rc = mdb_cursor_get(cur, &k, &v,
                             prefix.empty() ? MDB_FIRST : MDB_SET_RANGE);
    for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
      std::string_view key{static_cast<const char*>(k.mv_data), k.mv_size};
      if (key.substr(0, prefix.size()) != prefix)
        break;
      if (auto err = decode(key, v))
        return err;
      result.emplace_back(std::string{key}, payload(v));
    }
    if (rc != 0 && rc != MDB_NOTFOUND)
      return lmdb_error(rc, opts_.dir, "scan " + printable(prefix));
    return result;
  }

  size_t max_key_size() const noexcept override {
    return max_key_;
  }

private:
  caf::error check_key(std::string_view key) const {
    if (key.empty())
      return make_error(errc::invalid_argument,
                        "stable store '" + opts_.dir + "': empty key");
    if (key.size() > max_key_)
      return make_error(errc::invalid_argument,
                        "stable store '" + opts_.dir + "': key "
                          + printable(key) + " has "
                          + std::to_string(key.size())
                          + " bytes, above the limit of "
                          + std::to_string(max_key_));
    return caf::none;
  }

  caf::error decode(std::string_view key, const MDB_val& v) const {
    auto why = check_record(key, v);
    if (why.empty())
      return caf::none;
    return make_error(errc::corrupted, "stable store '" + opts_.dir
                                         + "': record " + printable(key)
                                         + ": " + why);
  }

  static std::string payload(const MDB_val& v) {
    return {static_cast<const char*>(v.mv_data) + record_header,
            v.mv_size - record_header};
  }

  caf::error put_error(int rc, const std::string& key) const {
    if (rc == MDB_MAP_FULL)
      return make_error(errc::no_space,
                        "stable store '" + opts_.dir + "' is full (max_bytes "
                          + std::to_string(opts_.max_bytes) + ") writing "
                          + printable(key) + "; nothing written");
    return lmdb_error(rc, opts_.dir, "put " + printable(key));
  }

  const lmdb_options opts_;
  const int lock_fd_;
  MDB_env* const env_;
  const MDB_dbi dbi_;
  const size_t max_key_;
  std::mutex write_mtx_;
};

} // namespace

caf::expected<std::unique_ptr<stable_store>>
open_lmdb_store(lmdb_options opts) {
  if (opts.dir.empty())
    return make_error(errc::invalid_argument, "stable store: empty data dir");
  if (opts.max_bytes == 0)
    return make_error(errc::invalid_argument,
                      "stable store '" + opts.dir + "': max_bytes = 0");
  if (auto err = make_dirs(opts.dir))
    return err;
  auto lock_fd = lock_dir(opts.dir);
  if (!lock_fd)
    return lock_fd.error();
  auto fail = [&](caf::error err) {
    ::close(*lock_fd);
    return err;
  };
  if (auto err = check_data_file(opts.dir))
    return fail(std::move(err));
  MDB_env* env = nullptr;
  if (auto rc = mdb_env_create(&env))
    return fail(lmdb_error(rc, opts.dir, "create environment"));
  // Reads may run on any thread and several at once (actors migrate
  // between scheduler threads): reader slots belong to transactions.
  unsigned flags = MDB_NOTLS;
  // MDB_NOSYNC rather than MDB_NOMETASYNC: the latter still fsyncs the
  // data pages at every commit, which is most of the cost async avoids.
  if (opts.mode == durability::async)
    flags |= MDB_NOSYNC;
  MDB_dbi dbi = 0;
  int rc = mdb_env_set_mapsize(env, static_cast<size_t>(opts.max_bytes));
  if (rc == 0)
    rc = mdb_env_open(env, opts.dir.c_str(), flags, 0644);
  if (rc == 0) {
    MDB_txn* txn = nullptr;
    rc = mdb_txn_begin(env, nullptr, 0, &txn);
    if (rc == 0) {
      rc = mdb_dbi_open(txn, nullptr, 0, &dbi);
      if (rc == 0)
        rc = mdb_txn_commit(txn);
      else
        mdb_txn_abort(txn);
    }
  }
  if (rc != 0) {
    mdb_env_close(env);
    return fail(lmdb_error(rc, opts.dir, "open"));
  }
  return std::unique_ptr<stable_store>{
    new lmdb_store(std::move(opts), *lock_fd, env, dbi)};
}

} // namespace ftsr
