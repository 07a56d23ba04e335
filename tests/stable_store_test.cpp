// The LMDB stable store: reads and writes, atomic batches, durability
// across reopen and process crash, and every failure path (corrupted and
// torn records, truncated data file, unusable and read-only directories,
// no space). Each failure must give a clear error value and leave the
// previous content readable and the store writable.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <set>

#include "actors/errors.hpp"
#include "persistence/stable_store.hpp"

using namespace ftsr;
namespace fs = std::filesystem;

namespace {

using records = std::vector<std::pair<std::string, std::string>>;

class stable_store_test : public ::testing::Test {
public:
  void SetUp() override {
    char tmpl[] = "/tmp/ftsr-store-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root = tmpl;
    dir = root + "/store";
  }

  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root, ec);
  }

  std::unique_ptr<stable_store> open(durability mode = durability::sync,
                                     uint64_t max_bytes = uint64_t{1} << 30) {
    auto s = open_lmdb_store({dir, mode, max_bytes});
    EXPECT_TRUE(s) << describe(s.error());
    return s ? std::move(*s) : nullptr;
  }

  std::string data_file() const {
    return dir + "/data.mdb";
  }

  std::string root;
  std::string dir;
};

std::string read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, {}};
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out << bytes;
}

/// Applies `edit` at every copy of `needle` in `path` (LMDB keeps stale
/// copies of rewritten pages); returns how many it found.
size_t edit_all(const std::string& path, const std::string& needle,
                const std::function<void(std::string&, size_t)>& edit) {
  auto bytes = read_file(path);
  size_t n = 0;
  for (auto i = bytes.find(needle); i != std::string::npos;
       i = bytes.find(needle, i + 1), ++n)
    edit(bytes, i);
  write_file(path, bytes);
  return n;
}

std::string value_of(stable_store& s, const std::string& key) {
  auto v = s.get(key);
  if (!v)
    return "error: " + describe(v.error());
  return v->value_or("<absent>");
}

bool contains(const caf::error& err, const std::string& text) {
  return describe(err).find(text) != std::string::npos;
}

/// Runs `body` in a forked child (for process-wide settings: rlimits, user
/// id, crashes) and returns its verdict, "ok" or what went wrong.
std::string in_child(const std::function<std::string()>& body) {
  int fds[2];
  if (::pipe(fds) != 0)
    return "pipe failed";
  auto pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    auto verdict = body();
    auto ignored = ::write(fds[1], verdict.data(), verdict.size());
    (void) ignored;
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string verdict;
  char buf[256];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof(buf))) > 0;)
    verdict.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    verdict += " [child died, status " + std::to_string(status) + "]";
  return verdict;
}

} // namespace

TEST_F(stable_store_test, put_get_erase_and_prefix_scan) {
  auto s = open();
  ASSERT_TRUE(s);
  ASSERT_FALSE(s->put("user/2", "bob"));
  ASSERT_FALSE(s->put("user/1", "alice"));
  ASSERT_FALSE(s->put("acct/1", std::string{"\0bin\xff", 5}));
  ASSERT_FALSE(s->put("user/3", ""));
  EXPECT_EQ(value_of(*s, "user/1"), "alice");
  EXPECT_EQ(value_of(*s, "acct/1"), (std::string{"\0bin\xff", 5}));
  EXPECT_EQ(value_of(*s, "user/3"), "");
  EXPECT_EQ(value_of(*s, "nope"), "<absent>");
  ASSERT_FALSE(s->put("user/1", "alice2"));
  ASSERT_FALSE(s->erase("user/3"));
  ASSERT_FALSE(s->erase("never-there"));
  auto users = s->scan("user/");
  ASSERT_TRUE(users) << describe(users.error());
  EXPECT_EQ(*users, (records{{"user/1", "alice2"}, {"user/2", "bob"}}));
  auto all = s->scan("");
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 3u);
  EXPECT_EQ(all->front().first, "acct/1");
  EXPECT_TRUE(s->scan("zzz")->empty());
}

TEST_F(stable_store_test, batch_applies_in_order_and_clear_replaces_all) {
  auto s = open();
  ASSERT_TRUE(s);
  ASSERT_FALSE(s->put("a", "1"));
  write_batch b;
  b.put("b", "2").put("c", "3").erase("a").put("b", "2'");
  ASSERT_FALSE(s->write(b));
  EXPECT_EQ(*s->scan(""), (records{{"b", "2'"}, {"c", "3"}}));
  write_batch replace;
  replace.clear().put("x", "9");
  ASSERT_FALSE(s->write(replace));
  EXPECT_EQ(*s->scan(""), (records{{"x", "9"}}));
  ASSERT_FALSE(s->write(write_batch{}));
}

TEST_F(stable_store_test, invalid_keys_are_refused_and_nothing_is_written) {
  auto s = open();
  ASSERT_TRUE(s);
  ASSERT_FALSE(s->put("keep", "v"));
  write_batch b;
  b.put("fine", "v").put("", "v");
  auto err = s->write(b);
  EXPECT_TRUE(is(err, errc::invalid_argument)) << describe(err);
  EXPECT_TRUE(contains(err, "empty key")) << describe(err);
  std::string long_key(s->max_key_size() + 1, 'k');
  err = s->put(long_key, "v");
  EXPECT_TRUE(is(err, errc::invalid_argument)) << describe(err);
  EXPECT_TRUE(contains(err, "above the limit")) << describe(err);
  EXPECT_TRUE(is(s->get("").error(), errc::invalid_argument));
  EXPECT_EQ(*s->scan(""), (records{{"keep", "v"}}));
  std::string max_key(s->max_key_size(), 'k');
  ASSERT_FALSE(s->put(max_key, "v"));
  EXPECT_EQ(value_of(*s, max_key), "v");
}

TEST_F(stable_store_test, reopen_keeps_everything_in_both_modes) {
  for (auto mode : {durability::sync, durability::async}) {
    {
      auto s = open(mode);
      ASSERT_TRUE(s);
      for (int i = 0; i < 100; ++i)
        ASSERT_FALSE(s->put("k" + std::to_string(i), std::string(i, 'v')));
    }
    auto s = open(mode);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->scan("k")->size(), 100u);
    EXPECT_EQ(value_of(*s, "k42"), std::string(42, 'v'));
    // Start the other mode from an empty store.
    write_batch wipe;
    ASSERT_FALSE(s->write(wipe.clear()));
  }
}

TEST_F(stable_store_test, async_writes_survive_a_process_crash) {
  auto verdict = in_child([&]() -> std::string {
    auto s = open_lmdb_store({dir, durability::async});
    if (!s)
      return describe(s.error());
    for (int i = 0; i < 50; ++i)
      if (auto err = (*s)->put("k" + std::to_string(i), "v"))
        return describe(err);
    // Crash: no close, no sync; what remains is in the OS page cache.
    ::_exit(0);
  });
  EXPECT_EQ(verdict, "");
  auto s = open();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->scan("k")->size(), 50u);
}

TEST_F(stable_store_test, kill9_mid_write_keeps_acknowledged_batches_whole) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  auto pid = ::fork();
  if (pid == 0) {
    // Writes two-key batches forever, acknowledging each on the pipe.
    ::close(fds[0]);
    auto s = open_lmdb_store({dir});
    if (!s)
      ::_exit(1);
    for (uint32_t i = 0;; ++i) {
      write_batch b;
      b.put("a" + std::to_string(i), std::string(1000, 'a'))
        .put("b" + std::to_string(i), std::string(1000, 'b'));
      if ((*s)->write(b) || ::write(fds[1], &i, sizeof(i)) != sizeof(i))
        ::_exit(2);
    }
  }
  ::close(fds[1]);
  uint32_t acked = 0;
  bool any = false;
  for (uint32_t i; (!any || acked < 300)
                   && ::read(fds[0], &i, sizeof(i)) == sizeof(i);) {
    acked = i;
    any = true;
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  // Acknowledgements written before the kill.
  for (uint32_t i; ::read(fds[0], &i, sizeof(i)) == sizeof(i);)
    acked = i;
  ::close(fds[0]);
  ASSERT_TRUE(any) << "the writer never acknowledged a batch";
  auto s = open();
  ASSERT_TRUE(s);
  auto all = s->scan("");
  ASSERT_TRUE(all) << describe(all.error());
  std::set<std::string> keys;
  for (auto& kv : *all)
    keys.insert(kv.first);
  for (uint32_t i = 0; i <= acked; ++i)
    ASSERT_TRUE(keys.count("a" + std::to_string(i))
                && keys.count("b" + std::to_string(i)))
      << "acknowledged batch " << i << " lost";
  for (auto& k : keys)
    ASSERT_EQ(keys.count((k[0] == 'a' ? "b" : "a") + k.substr(1)), 1u)
      << "half a batch: " << k;
  EXPECT_FALSE(s->put("after", "crash"));
}

TEST_F(stable_store_test, a_second_open_of_the_same_directory_is_refused) {
  auto s = open();
  ASSERT_TRUE(s);
  auto again = open_lmdb_store({dir});
  ASSERT_FALSE(again);
  EXPECT_TRUE(is(again.error(), errc::storage_error))
    << describe(again.error());
  EXPECT_TRUE(contains(again.error(), "already open"))
    << describe(again.error());
  ASSERT_FALSE(s->put("still", "writable"));
  s.reset();
  EXPECT_TRUE(open());
}

TEST_F(stable_store_test, corrupt_and_torn_records_are_reported_not_read) {
  {
    auto s = open();
    ASSERT_TRUE(s);
    ASSERT_FALSE(s->put("good", "payload-of-the-good-record"));
    ASSERT_FALSE(s->put("flipped", "payload-to-be-bit-flipped-123"));
    ASSERT_FALSE(s->put("torn", "payload-whose-length-lies-456"));
  }
  // Flip one payload bit of "flipped"; make the header of "torn" claim
  // one payload byte more than stored.
  EXPECT_GE(edit_all(data_file(), "payload-to-be-bit-flipped-123",
                     [](std::string& b, size_t i) { b[i + 3] ^= 0x01; }),
            1u);
  EXPECT_GE(edit_all(data_file(), "payload-whose-length-lies-456",
                     [](std::string& b, size_t i) { b[i - 8] += 1; }),
            1u);
  auto s = open();
  ASSERT_TRUE(s);
  auto flipped = s->get("flipped");
  ASSERT_FALSE(flipped);
  EXPECT_TRUE(is(flipped.error(), errc::corrupted))
    << describe(flipped.error());
  EXPECT_TRUE(contains(flipped.error(), "record 'flipped': checksum mismatch"))
    << describe(flipped.error());
  auto torn = s->get("torn");
  ASSERT_FALSE(torn);
  EXPECT_TRUE(is(torn.error(), errc::corrupted));
  EXPECT_TRUE(contains(torn.error(), "record 'torn': torn record"))
    << describe(torn.error());
  auto all = s->scan("");
  ASSERT_FALSE(all);
  EXPECT_TRUE(is(all.error(), errc::corrupted));
  EXPECT_TRUE(contains(all.error(), "'flipped'")) << describe(all.error());
  // Intact records stay readable, the store stays writable, and a put
  // over a damaged record repairs it.
  EXPECT_EQ(value_of(*s, "good"), "payload-of-the-good-record");
  ASSERT_FALSE(s->put("flipped", "fresh"));
  ASSERT_FALSE(s->erase("torn"));
  EXPECT_EQ(*s->scan(""), (records{{"flipped", "fresh"},
                                   {"good", "payload-of-the-good-record"}}));
}

TEST_F(stable_store_test, damaged_data_file_is_refused_without_mapping_it) {
  {
    auto s = open();
    ASSERT_TRUE(s);
    for (int i = 0; i < 200; ++i)
      ASSERT_FALSE(s->put("k" + std::to_string(i), std::string(500, 'v')));
  }
  auto original = read_file(data_file());
  ASSERT_GT(original.size(), 16u * 4096);
  auto expect_refused = [&](const std::string& bytes, const std::string& why) {
    write_file(data_file(), bytes);
    auto s = open_lmdb_store({dir});
    ASSERT_FALSE(s) << why;
    EXPECT_TRUE(is(s.error(), errc::corrupted)) << describe(s.error());
    EXPECT_TRUE(contains(s.error(), data_file())) << describe(s.error());
    EXPECT_TRUE(contains(s.error(), why)) << describe(s.error());
  };
  // Mapping any of these would crash (SIGBUS) on the first page read.
  expect_refused(original.substr(0, original.size() / 2), "is truncated");
  expect_refused(original.substr(0, original.size() - 1), "is truncated");
  expect_refused(original.substr(0, 100), "inside its meta pages");
  expect_refused("", "is empty");
  expect_refused(std::string(original.size(), 'x'), "not an LMDB data file");
  // The intact file opens with every record.
  write_file(data_file(), original);
  auto s = open();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->scan("k")->size(), 200u);
}

TEST_F(stable_store_test, unusable_directories_give_storage_errors) {
  auto expect_storage_error = [](const std::string& path,
                                 const std::string& text) {
    auto s = open_lmdb_store({path});
    ASSERT_FALSE(s) << path;
    EXPECT_TRUE(is(s.error(), errc::storage_error)) << describe(s.error());
    EXPECT_TRUE(contains(s.error(), path)) << describe(s.error());
    EXPECT_TRUE(contains(s.error(), text)) << describe(s.error());
  };
  write_file(root + "/plain-file", "x");
  expect_storage_error(root + "/plain-file", "Not a directory");
  expect_storage_error(root + "/plain-file/sub", "Not a directory");
  // procfs refuses new files whoever asks, root included.
  expect_storage_error("/proc/self", "/proc/self/LOCK");
  expect_storage_error("/proc/self/ftsr-store", "cannot create");
  auto empty = open_lmdb_store({""});
  ASSERT_FALSE(empty);
  EXPECT_TRUE(is(empty.error(), errc::invalid_argument));
}

TEST_F(stable_store_test, read_only_directory_gives_storage_error) {
  {
    auto s = open();
    ASSERT_TRUE(s);
    ASSERT_FALSE(s->put("k", "v"));
  }
  // Permission bits do not stop root: as root, the child drops to an
  // unprivileged user, for whom the directory (mode 0755, owned by root)
  // is read-only. Otherwise the directory is made read-only for us.
  auto set_writable = [&](bool on) {
    auto opt = on ? fs::perm_options::add : fs::perm_options::remove;
    for (auto& f : fs::directory_iterator{dir})
      fs::permissions(f.path(), fs::perms::owner_write, opt);
    fs::permissions(dir, fs::perms::owner_write, opt);
  };
  if (::geteuid() != 0)
    set_writable(false);
  else
    fs::permissions(root, fs::perms::others_exec, fs::perm_options::add);
  auto verdict = in_child([&] {
    if (::geteuid() == 0) {
      auto* nobody = ::getpwnam("nobody");
      uid_t uid = nobody != nullptr ? nobody->pw_uid : 65534;
      if (::setgid(uid) != 0 || ::setuid(uid) != 0)
        return std::string{"cannot drop privileges"};
    }
    auto s = open_lmdb_store({dir});
    return s ? std::string{"opened a read-only store"} : describe(s.error());
  });
  EXPECT_NE(verdict.find("storage_error"), std::string::npos) << verdict;
  EXPECT_NE(verdict.find(dir), std::string::npos) << verdict;
  EXPECT_NE(verdict.find("Permission denied"), std::string::npos) << verdict;
  set_writable(true);
  auto s = open();
  ASSERT_TRUE(s);
  EXPECT_EQ(value_of(*s, "k"), "v");
  EXPECT_FALSE(s->put("k2", "v2"));
}

TEST_F(stable_store_test, full_store_writes_nothing_and_stays_usable) {
  auto s = open(durability::sync, 256 * 1024);
  ASSERT_TRUE(s);
  ASSERT_FALSE(s->put("before", "v"));
  write_batch b;
  b.put("partial", "v").put("huge", std::string(1 << 20, 'x'));
  auto err = s->write(b);
  EXPECT_TRUE(is(err, errc::no_space)) << describe(err);
  EXPECT_TRUE(contains(err, "'huge'")) << describe(err);
  EXPECT_TRUE(contains(err, "nothing written")) << describe(err);
  EXPECT_EQ(*s->scan(""), (records{{"before", "v"}}));
  ASSERT_FALSE(s->put("after", "v"));
  EXPECT_EQ(value_of(*s, "after"), "v");
  s.reset();
  s = open(durability::sync, 256 * 1024);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->scan("")->size(), 2u);
}

TEST_F(stable_store_test, file_size_limit_gives_no_space_and_keeps_data) {
  auto verdict = in_child([&]() -> std::string {
    // The limit makes write() fail with EFBIG instead of killing us.
    ::signal(SIGXFSZ, SIG_IGN);
    auto s = open_lmdb_store({dir});
    if (!s)
      return describe(s.error());
    auto& st = **s;
    for (int i = 0; i < 20; ++i)
      if (auto err = st.put("k" + std::to_string(i), std::string(300, 'v')))
        return describe(err);
    struct rlimit lim;
    lim.rlim_cur = lim.rlim_max = fs::file_size(dir + "/data.mdb") + 64 * 1024;
    ::setrlimit(RLIMIT_FSIZE, &lim);
    auto err = st.put("huge", std::string(1 << 20, 'x'));
    if (!is(err, errc::no_space))
      return "expected no_space, got: " + describe(err);
    if (st.get("huge")->has_value() || st.scan("k")->size() != 20)
      return std::string{"content changed by the failed write"};
    if (auto err2 = st.put("small", "v"))
      return "small write after the failure: " + describe(err2);
    return std::string{"ok"};
  });
  EXPECT_EQ(verdict, "ok");
  auto s = open();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->scan("k")->size(), 20u);
  EXPECT_EQ(value_of(*s, "small"), "v");
  EXPECT_EQ(value_of(*s, "huge"), "<absent>");
}
