// The "stable_store" resource: group operations on a replica-local LMDB
// store, with deterministic validation and quota so that replicas that
// apply the same invocations answer alike.
#include "persistence/stable_store_group.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/utility.hpp>
#include <boost/serialization/vector.hpp>

#include "caf/all.hpp"

#include "actors/errors.hpp"
#include "persistence/stable_store.hpp"
#include "replication/replica.hpp"

namespace ftsr {

namespace {

using record_list = std::vector<std::pair<std::string, std::string>>;

constexpr uint64_t default_quota = uint64_t{256} << 20;
constexpr uint64_t max_quota = uint64_t{512} << 20;
// Room for LMDB's page overhead and for a state transfer, which holds the
// old and the new content in one transaction.
constexpr uint64_t map_bytes = 8 * max_quota;
constexpr uint64_t record_overhead = 64;
// LMDB's default key limit; checked here rather than by the store so that
// the refusal is the same at every replica.
constexpr size_t max_key = 511;

uint64_t cost(std::string_view key, std::string_view value) {
  return key.size() + value.size() + record_overhead;
}

/// The replica's position (replica_position: view, sequence number) is
/// kept under this key, written in the same LMDB transaction as each write
/// and state transfer; keys starting with a NUL byte are reserved.
const std::string position_key{"\0ftsr.position", 14};

bool reserved(std::string_view key) {
  return !key.empty() && key.front() == '\0';
}

std::string encode_position(const replica_position& p) {
  std::ostringstream os;
  {
    boost::archive::binary_oarchive ar{os};
    ar << p.view << p.seq;
  }
  return os.str();
}

caf::expected<replica_position> decode_position(const std::string& bytes) {
  replica_position p;
  try {
    std::istringstream is{bytes};
    boost::archive::binary_iarchive ar{is};
    ar >> p.view >> p.seq;
  } catch (const std::exception& e) {
    return make_error(errc::corrupted,
                      std::string{"stable_store: unreadable position: "}
                        + e.what());
  }
  return p;
}

/// Adds the position being applied (if any) to `b`.
void stamp(write_batch& b) {
  if (auto pos = current_position())
    b.put(position_key, encode_position(*pos));
}

caf::error check_key(const std::string& key) {
  if (key.empty())
    return make_error(errc::invalid_argument, "stable_store: empty key");
  if (reserved(key))
    return make_error(errc::invalid_argument,
                      "stable_store: keys starting with a NUL byte are "
                      "reserved");
  if (key.size() > max_key)
    return make_error(errc::invalid_argument,
                      "stable_store: key of " + std::to_string(key.size())
                        + " bytes, above the limit of "
                        + std::to_string(max_key));
  return caf::none;
}

/// Every replica gets a new id, so a replica that failed, left or was
/// destroyed leaves its directory behind. A new replica of the group on
/// this node removes those of earlier replicas here that this node's
/// directory does not know alive (their content is stale: a restarted
/// replica gets the state by state transfer). Replicas spawned here are
/// bound here before they attach, so a live one is never removed.
void remove_stale_replica_dirs(node_context& ctx, const capability_ref& group,
                               uint64_t replica_id) {
  namespace fs = std::filesystem;
  auto prefix = "stable-store-" + std::to_string(group.id) + "-";
  std::error_code ec;
  for (auto& entry : fs::directory_iterator{ctx.data_dir, ec}) {
    auto name = entry.path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0)
      continue;
    auto id = std::strtoull(name.c_str() + prefix.size(), nullptr, 10);
    auto bound = ctx.dir.lookup(id);
    if (id == replica_id || (bound && !ctx.dir.failure_of(*bound)))
      continue;
    fs::remove_all(entry.path(), ec);
    ctx.spans.event({}, "stale_store_removed", entry.path().string());
  }
}

class store_replica : public resource_base {
public:
  caf::error attach(node_context& ctx, const capability_ref& group,
                    uint64_t replica_id) override {
    if (ctx.data_dir.empty())
      return make_error(errc::storage_error,
                        "node " + ctx.self.name
                          + " has no data directory (ftsr-node --data-dir)"
                            " for the stable_store group "
                          + to_string(group));
    remove_stale_replica_dirs(ctx, group, replica_id);
    auto s = open_lmdb_store(
      {stable_store_dir(ctx.data_dir, group.id, replica_id), durability::sync,
       map_bytes, &ctx.meters});
    if (!s)
      return s.error();
    if ((*s)->max_key_size() < max_key)
      return make_error(errc::storage_error,
                        "stable_store: this LMDB build limits keys to "
                          + std::to_string((*s)->max_key_size())
                          + " bytes, the group needs "
                          + std::to_string(max_key));
    store_ = std::move(*s);
    return caf::none;
  }

  void init(const caf::message& args) override {
    if (args.match_elements<uint64_t>())
      quota_ = std::min(args.get_as<uint64_t>(0), max_quota);
    // A new group starts empty, whatever the directory held.
    write_batch wipe;
    if (auto err = store_->write(wipe.clear()))
      fail_stop(err);
  }

  caf::behavior operations() override {
    return {
      [this](ss_put_atom, std::string& k,
             std::string& v) -> caf::result<bool> {
        write_batch b;
        b.put(std::move(k), std::move(v));
        auto existed = apply(b);
        if (!existed)
          return existed.error();
        return !existed->front();
      },
      [this](ss_get_atom, const std::string& k) -> caf::result<std::string> {
        if (auto err = check_key(k))
          return err;
        auto v = store_->get(k);
        if (!v)
          return fail_stop(v.error());
        if (!*v)
          return make_error(errc::invalid_argument,
                            "stable_store: no record '" + k + "'");
        return std::move(**v);
      },
      [this](ss_erase_atom, std::string& k) -> caf::result<bool> {
        write_batch b;
        b.erase(std::move(k));
        auto existed = apply(b);
        if (!existed)
          return existed.error();
        return existed->front();
      },
      [this](ss_write_atom, std::vector<std::string>& keys,
             std::vector<std::string>& values,
             std::vector<std::string>& erased) -> caf::result<bool> {
        if (keys.size() != values.size())
          return make_error(errc::invalid_argument,
                            "stable_store: write with "
                              + std::to_string(keys.size()) + " keys but "
                              + std::to_string(values.size()) + " values");
        write_batch b;
        for (auto& k : erased)
          b.erase(std::move(k));
        for (size_t i = 0; i < keys.size(); ++i)
          b.put(std::move(keys[i]), std::move(values[i]));
        auto existed = apply(b);
        if (!existed)
          return existed.error();
        return true;
      },
      [this](ss_scan_atom,
             const std::string& prefix) -> caf::result<std::vector<std::string>> {
        auto records = store_->scan(prefix);
        if (!records)
          return fail_stop(records.error());
        std::vector<std::string> flat;
        flat.reserve(2 * records->size());
        for (auto& [k, v] : *records) {
          if (reserved(k))
            continue;
          flat.push_back(std::move(k));
          flat.push_back(std::move(v));
        }
        return flat;
      },
    };
  }

  // FT-SR sendState: the whole store.
  std::string snapshot() const override {
    auto records = store_->scan("");
    if (!records) {
      fail_stop(records.error());
      return {};
    }
    records->erase(std::remove_if(records->begin(), records->end(),
                                  [](auto& kv) { return reserved(kv.first); }),
                   records->end());
    std::ostringstream os;
    {
      boost::archive::binary_oarchive ar{os};
      ar << quota_ << *records;
    }
    return os.str();
  }

  // FT-SR recvState: replaces the local content in one transaction.
  caf::error restore(const std::string& blob) override {
    uint64_t quota = 0;
    record_list records;
    try {
      std::istringstream is{blob};
      boost::archive::binary_iarchive ar{is};
      ar >> quota >> records;
    } catch (const std::exception& e) {
      return make_error(errc::invalid_argument,
                        std::string{"corrupt stable_store state: "} + e.what());
    }
    uint64_t used = 0;
    write_batch b;
    b.clear();
    for (auto& [k, v] : records) {
      if (auto err = check_key(k))
        return err;
      used += cost(k, v);
      b.put(std::move(k), std::move(v));
    }
    stamp(b);
    if (auto err = store_->write(b))
      return err;
    quota_ = std::min(quota, max_quota);
    used_ = used;
    return caf::none;
  }

private:
  /// This replica's own storage failed: it must stop rather than go on
  /// with a state that may differ from the other replicas'. The replica
  /// stops with the error right after the operation (resource_base::fail,
  /// fail-stop); the group then continues without it. Returns the error
  /// for the operation to return (nobody receives it).
  caf::error fail_stop(const caf::error& err) const {
    fail(err);
    return err;
  }

  /// Bytes accounted to `key` now: 0 if absent; an error: fail_stop.
  caf::expected<uint64_t> current_cost(const std::string& key) const {
    auto v = store_->get(key);
    if (!v)
      return fail_stop(v.error());
    return *v ? cost(key, **v) : 0;
  }

  /// Applies `b` unless a check that every replica makes alike refuses it;
  /// returns, per op, whether its key held a record just before.
  /// The batch gets the position being applied added (stamp).
  caf::expected<std::vector<bool>> apply(write_batch& b) {
    std::vector<bool> existed;
    std::map<std::string_view, uint64_t> pending; // key -> cost after b
    uint64_t used = used_;
    for (auto& op : b.ops()) {
      if (auto err = check_key(op.key))
        return err;
      auto i = pending.find(op.key);
      uint64_t before = 0;
      if (i != pending.end()) {
        before = i->second;
      } else {
        auto c = current_cost(op.key);
        if (!c)
          return c.error();
        before = *c;
      }
      auto after = op.value ? cost(op.key, *op.value) : 0;
      existed.push_back(before != 0);
      used = used - before + after;
      pending[op.key] = after;
    }
    if (used > quota_ && used > used_)
      return make_error(errc::no_space,
                        "stable_store: quota of " + std::to_string(quota_)
                          + " bytes exceeded (" + std::to_string(used_)
                          + " used, " + std::to_string(used)
                          + " needed); nothing written");
    stamp(b);
    if (auto err = store_->write(b))
      return fail_stop(err);
    used_ = used;
    return existed;
  }

  std::unique_ptr<stable_store> store_;
  uint64_t quota_ = default_quota;
  uint64_t used_ = 0;
};

} // namespace

std::string stable_store_dir(const std::string& data_dir, uint64_t group_id,
                             uint64_t replica_id) {
  return data_dir + "/stable-store-" + std::to_string(group_id) + "-"
         + std::to_string(replica_id);
}

caf::expected<std::optional<replica_position>>
stable_store_position(const std::string& replica_dir) {
  auto s = open_lmdb_store({replica_dir});
  if (!s)
    return s.error();
  auto v = (*s)->get(position_key);
  if (!v)
    return v.error();
  if (!*v)
    return std::optional<replica_position>{};
  auto p = decode_position(**v);
  if (!p)
    return p.error();
  return std::optional<replica_position>{*p};
}

std::vector<replica_report>
stable_store_reports(const std::string& data_dir, const std::string& node,
                     const std::vector<group_record>& records,
                     std::vector<std::string>& problems) {
  std::vector<replica_report> result;
  for (auto& g : records) {
    if (g.type != "stable_store")
      continue;
    for (auto& m : g.members) {
      if (m.node != node)
        continue;
      replica_report r{g.id, m, std::nullopt};
      auto dir = stable_store_dir(data_dir, g.id, m.id);
      std::error_code ec;
      if (!std::filesystem::is_directory(dir, ec)) {
        problems.push_back(dir + ": missing");
      } else if (auto pos = stable_store_position(dir); !pos) {
        problems.push_back(dir + ": " + describe(pos.error()));
      } else {
        // A store never written through its group is at the start.
        r.position = pos->value_or(replica_position{});
      }
      result.push_back(std::move(r));
    }
  }
  return result;
}

void add_stable_store_types(caf::actor_system_config& cfg) {
  add_resource_type<store_replica>(cfg, "stable_store");
}

} // namespace ftsr
