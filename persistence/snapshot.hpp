// Actor state snapshots: a Boost.Serialization archive of an actor's state
// stored under the actor's capability id in a stableStore group, so that a
// restarted incarnation (on another node) reads back the last snapshot in
// its recovery handler.
//
//   ftsr::save_snapshot(self, store, id, state, on_saved, on_error);
//   ftsr::load_snapshot<State>(self, store, id, on_loaded, on_error);
//
// `store` is a stable_store group capability
// (persistence/stable_store_group.hpp); the calls go through ftsr::call, so
// they survive a store replica's failure. A snapshot is written atomically:
// the load sees the old or the new one, never a mix. With an invocation
// log, the snapshot and the log are written and read together. Errors are
// values: the store's error, or errc::corrupted for an archive that does
// not parse.
#pragma once

#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>

#include "caf/error.hpp"
#include "caf/expected.hpp"

#include "actors/call.hpp"
#include "actors/errors.hpp"
#include "persistence/invocation_log.hpp"
#include "persistence/stable_store_group.hpp"

namespace ftsr {

/// Key prefix of actor `id`'s records in a stable store (the trailing
/// slash keeps ids that extend `id` out of a scan).
inline std::string snapshot_prefix(uint64_t id) {
  return "snapshot/" + std::to_string(id) + "/";
}

/// Key of actor `id`'s snapshot in a stable store.
inline std::string snapshot_key(uint64_t id) {
  return snapshot_prefix(id) + "state";
}

/// Key of actor `id`'s invocation log (persistence/invocation_log.hpp),
/// written in the same batch as its snapshot.
inline std::string invocations_key(uint64_t id) {
  return snapshot_prefix(id) + "invocations";
}

template <class T>
std::string to_snapshot(const T& state) {
  std::ostringstream os;
  {
    boost::archive::binary_oarchive ar{os};
    ar << state;
  }
  return os.str();
}

template <class T>
caf::expected<T> from_snapshot(const std::string& blob) {
  T result;
  try {
    std::istringstream is{blob};
    boost::archive::binary_iarchive ar{is};
    ar >> result;
  } catch (const std::exception& e) {
    return make_error(errc::corrupted,
                      std::string{"snapshot does not parse: "} + e.what());
  }
  return result;
}

/// Stores `state` as actor `id`'s snapshot; `on_saved()` runs once the
/// store group acknowledged it, `on_error(caf::error&)` otherwise.
template <class Self, class T, class F, class G>
void save_snapshot(Self* self, const capability<>& store, uint64_t id,
                   const T& state, F on_saved, G on_error) {
  call(self, store, ss_put_atom::value, snapshot_key(id), to_snapshot(state))
    .then([on_saved](bool) mutable { on_saved(); }, std::move(on_error));
}

/// Stores `state` and the invocation log `log` in one atomic write, so a
/// recorded reply is stored if and only if the state change it answers is
/// (exactly-once invocations, persistence/invocation_log.hpp).
template <class Self, class T, class F, class G>
void save_snapshot(Self* self, const capability<>& store, uint64_t id,
                   const T& state, const invocation_log& log, F on_saved,
                   G on_error) {
  std::vector<std::string> keys{snapshot_key(id), invocations_key(id)};
  std::vector<std::string> values{to_snapshot(state), log.encode()};
  call(self, store, ss_write_atom::value, std::move(keys), std::move(values),
       std::vector<std::string>{})
    .then([on_saved](bool) mutable { on_saved(); }, std::move(on_error));
}

namespace detail {

template <class T, class Self, class F, class G>
void load_snapshot(Self* self, const capability<>& store, uint64_t id,
                   std::shared_ptr<invocation_log> log, F on_loaded,
                   G on_error) {
  // A scan, not a get: "absent" is a normal answer here, not an error.
  call(self, store, ss_scan_atom::value, snapshot_prefix(id))
    .then(
      [on_loaded, on_error, log, key = snapshot_key(id),
       log_key = invocations_key(id)](std::vector<std::string>& kvs) mutable {
        std::optional<T> result;
        const std::string* blob = nullptr;
        const std::string* log_blob = nullptr;
        for (size_t i = 0; i + 1 < kvs.size(); i += 2) {
          if (kvs[i] == key)
            blob = &kvs[i + 1];
          else if (kvs[i] == log_key)
            log_blob = &kvs[i + 1];
        }
        if (log && log_blob != nullptr) {
          if (auto err = log->decode(*log_blob)) {
            on_error(err);
            return;
          }
        }
        if (blob != nullptr) {
          auto st = from_snapshot<T>(*blob);
          if (!st) {
            auto err = std::move(st.error());
            on_error(err);
            return;
          }
          result = std::move(*st);
        }
        on_loaded(result);
      },
      on_error);
}

} // namespace detail

/// Reads actor `id`'s last snapshot: `on_loaded(std::optional<T>&)` gets
/// nullopt if none was ever stored.
template <class T, class Self, class F, class G>
void load_snapshot(Self* self, const capability<>& store, uint64_t id,
                   F on_loaded, G on_error) {
  detail::load_snapshot<T>(self, store, id, nullptr, std::move(on_loaded),
                           std::move(on_error));
}

/// Reads actor `id`'s last snapshot and the invocation log stored with it
/// into `log` (left as it is if none was stored).
template <class T, class Self, class F, class G>
void load_snapshot(Self* self, const capability<>& store, uint64_t id,
                   std::shared_ptr<invocation_log> log, F on_loaded,
                   G on_error) {
  detail::load_snapshot<T>(self, store, id, std::move(log),
                           std::move(on_loaded), std::move(on_error));
}

} // namespace ftsr
