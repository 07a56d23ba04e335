// The client side of resource groups: the invocation message a caller
// sends to a group member, and how many replies it waits for. Lives in
// actors/ so that ftsr::call can invoke a group capability like any other;
// replication/ implements the replicas that answer it.
#pragma once

#include <cstdint>
#include <vector>

#include "caf/atom.hpp"
#include "caf/message.hpp"
#include "caf/meta/load_callback.hpp"
#include "caf/meta/type_name.hpp"

#include "actors/trace.hpp"

namespace ftsr {

/// How many replica replies a group invocation waits for (ISIS group RPC).
enum class reply_policy : uint8_t {
  first,  // the primary's reply, once max_sf backups hold the invocation
  quorum, // replies of a majority of the view, collated
  all,    // replies of every member of the view, collated
  vote,   // the reply a majority of the view agrees on (active replication)
};

/// A client's invocation of a group. `request` is unique per logical call
/// and kept across retries, so that replicas deliver it at most once.
struct invocation {
  uint64_t request = 0;
  reply_policy replies = reply_policy::first;
  caf::message payload;
  trace_context tc;
  /// Members whose failure the caller notices while it waits for this
  /// attempt (ftsr::call watches them and retries): one of them may answer
  /// in the primary's place (group_core: log_entry::replier).
  std::vector<uint64_t> watching;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, invocation& x) {
  auto r = static_cast<uint8_t>(x.replies);
  auto sync = caf::meta::load_callback([&]() -> caf::error {
    x.replies = static_cast<reply_policy>(r);
    return caf::none;
  });
  return f(caf::meta::type_name("ftsr::invocation"), x.request, r, x.payload,
           x.tc, x.watching, sync);
}

/// (group_invoke, invocation) -> the operation's reply (first, vote) or
/// std::vector<caf::message> (quorum, all). A member that is not the
/// primary answers errc::not_primary naming the primary's id; a group
/// without quorum answers errc::no_quorum.
using group_invoke_atom = caf::atom_constant<caf::atom("ftsr_ginv")>;

} // namespace ftsr
