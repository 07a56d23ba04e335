// Decoding of the messages a replica hands to its machine (replica_inputs.hpp).
#include "replication/replica_inputs.hpp"

#include <type_traits>
#include <utility>
#include <variant>

#include "actors/trace.hpp"

namespace ftsr {

caf::message_handler replica_inputs(replica_machine& m,
                                    replica_input_sink sink) {
  auto s = std::make_shared<replica_input_sink>(std::move(sink));
  return {
    [s, &m](group_send_orders_atom) {
      s->apply(m.on_timer(replica_timer::send_orders));
    },
    [s, &m](group_lease_atom) { s->apply(m.on_timer(replica_timer::lease)); },
    [s, &m](group_send_lagging_atom) {
      s->apply(m.on_timer(replica_timer::send_lagging));
    },
    [s, &m](group_send_acks_atom) {
      s->apply(m.on_timer(replica_timer::send_acks));
    },
    [s, &m](group_order_atom, const std::vector<log_entry>& entries,
            uint64_t stable) {
      auto start = s->ordered ? wall_clock_ns() : 0;
      auto step = m.on_order(entries, stable);
      if (s->ordered)
        s->ordered(entries, start);
      s->apply(std::move(step));
    },
    [s, &m](group_ack_atom, uint64_t view, std::vector<uint64_t>& seqs,
            uint64_t from, std::vector<caf::message>& results) {
      s->apply(m.on_ack(ack_msg{view, std::move(seqs), from,
                                std::move(results)}));
    },
    [s, &m](member_failed_atom, uint64_t member) {
      s->apply(m.on_member_failed(member));
    },
    [s, &m](group_install_refused_atom, uint64_t view, uint64_t member,
            uint64_t seen) {
      s->apply(m.on_install_refused({view, member, seen}));
    },
    [s, &m](group_no_quorum_atom, uint64_t view, uint64_t from) {
      s->apply(m.on_no_quorum({view, from}));
    },
    [s, &m](group_flush_atom, uint64_t new_view,
            std::vector<uint64_t>& survivors, uint64_t me) {
      s->apply(m.on_flush({new_view, std::move(survivors), me}));
    },
    [s, &m](group_flushed_atom, uint64_t new_view, uint64_t from,
            uint64_t view, uint64_t delivered,
            std::vector<log_entry>& unstable, bool has_state) {
      group_core::flushed f{view, delivered, std::move(unstable), has_state};
      s->apply(m.on_flushed({new_view, from, std::move(f)}));
    },
    [s, &m](group_install_atom, uint64_t view, std::vector<uint64_t>& members,
            std::vector<log_entry>& entries) {
      s->apply(m.on_install({view, std::move(members), std::move(entries)}));
    },
    // A view change sent the state again (it had none when it answered
    // the flush): a newer state replaces the one of its join.
    [s, &m](group_transfer_atom, const capability_ref&, uint64_t, uint64_t,
            const group_mode&, const state_transfer& transfer) {
      s->apply(m.on_transfer(transfer));
    },
  };
}

caf::message peer_message(peer_msg& msg, const transfer_header& h) {
  return std::visit(
    [&](auto& m) {
      using T = std::decay_t<decltype(m)>;
      if constexpr (std::is_same_v<T, order_msg>)
        return caf::make_message(group_order_atom::value,
                                 std::move(m.entries), m.stable);
      else if constexpr (std::is_same_v<T, ack_msg>)
        return caf::make_message(group_ack_atom::value, m.view,
                                 std::move(m.seqs), m.from,
                                 std::move(m.results));
      else if constexpr (std::is_same_v<T, flush_msg>)
        return caf::make_message(group_flush_atom::value, m.new_view,
                                 std::move(m.survivors), m.addressee);
      else if constexpr (std::is_same_v<T, flushed_msg>)
        return caf::make_message(group_flushed_atom::value, m.new_view,
                                 m.from, m.reply.view, m.reply.delivered,
                                 std::move(m.reply.unstable),
                                 m.reply.has_state);
      else if constexpr (std::is_same_v<T, group_core::install_msg>)
        return caf::make_message(group_install_atom::value, m.view,
                                 std::move(m.members), std::move(m.entries));
      else if constexpr (std::is_same_v<T, install_refused_msg>)
        return caf::make_message(group_install_refused_atom::value, m.view,
                                 m.member, m.seen);
      else if constexpr (std::is_same_v<T, no_quorum_msg>)
        return caf::make_message(group_no_quorum_atom::value, m.view, m.from);
      else
        return caf::make_message(group_transfer_atom::value, h.group, h.to,
                                 h.max_sf, h.mode, std::move(m.transfer));
    },
    msg);
}

} // namespace ftsr
