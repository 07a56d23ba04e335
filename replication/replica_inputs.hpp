// The group protocol messages a replica hands straight to its
// replica_machine (peer messages, member failures, its own timers): decoded
// into machine inputs, and a step's peer messages encoded for the wire.
// replica.cpp and the protocol fuzz target (tests/fuzz/protocol_fuzz.cpp)
// both use it, so what is fuzzed is what runs.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "caf/message_handler.hpp"

#include "replication/group_protocol.hpp"
#include "replication/replica_machine.hpp"

namespace ftsr {

/// Where the steps of decoded inputs go.
struct replica_input_sink {
  /// Applies a step (required).
  std::function<void(replica_step)> apply;
  /// Called with an order's entries after the machine took them, before
  /// the step is applied, with the wall-clock time (ns) the order arrived
  /// (traced entries get a delivery span). Optional.
  std::function<void(const std::vector<log_entry>&, int64_t)> ordered;
};

/// Handlers for every message that maps one-to-one onto an input of `m`:
/// group_order, group_ack, member_failed, group_install_refused,
/// group_no_quorum, group_flush, group_flushed, group_install,
/// group_transfer and the four timer atoms. Messages that need the actor
/// (invocations, joins, leaves, status) are not matched. `m` and `sink`
/// must outlive the handler. Not thread-safe (one actor's behaviour).
caf::message_handler replica_inputs(replica_machine& m,
                                    replica_input_sink sink);

/// What a state transfer carries ahead of the state: the group's
/// parameters, for a newcomer that has none yet.
struct transfer_header {
  capability_ref group;
  uint64_t to = 0;
  uint64_t max_sf = 0;
  group_mode mode;
};

/// The message that carries `msg` to a peer, as replica_inputs decodes it
/// (`h` is used by state transfers only). Moves out of `msg`.
caf::message peer_message(peer_msg& msg, const transfer_header& h);

} // namespace ftsr
