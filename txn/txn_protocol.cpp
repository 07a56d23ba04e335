// Names of the transaction protocol's enums and CAF registration of its
// messages; see txn_protocol.hpp.
#include "txn/txn_protocol.hpp"

#include "caf/actor_system_config.hpp"

namespace ftsr {

const char* to_string(txn_reason x) {
  switch (x) {
    case txn_reason::none:
      return "none";
    case txn_reason::deadlock:
      return "deadlock";
    case txn_reason::lock_timeout:
      return "lock_timeout";
    case txn_reason::participant_failed:
      return "participant_failed";
    case txn_reason::aborted_by_client:
      return "aborted_by_client";
    case txn_reason::unknown_transaction:
      return "unknown_transaction";
    case txn_reason::not_active:
      return "not_active";
    case txn_reason::not_prepared:
      return "not_prepared";
    case txn_reason::already_committed:
      return "already_committed";
    case txn_reason::already_aborted:
      return "already_aborted";
    case txn_reason::unknown_item:
      return "unknown_item";
    case txn_reason::busy:
      return "busy";
    case txn_reason::bad_request:
      return "bad_request";
    case txn_reason::unfinished:
      return "unfinished";
    case txn_reason::not_ready:
      return "not_ready";
  }
  return "?";
}

bool aborts_transaction(txn_reason x) {
  switch (x) {
    case txn_reason::deadlock:
    case txn_reason::lock_timeout:
    case txn_reason::participant_failed:
    case txn_reason::aborted_by_client:
      return true;
    default:
      return false;
  }
}

const char* to_string(lock_mode x) {
  return x == lock_mode::shared ? "shared" : "exclusive";
}

const char* to_string(tx_kind x) {
  switch (x) {
    case tx_kind::begin:
      return "begin";
    case tx_kind::read:
      return "read";
    case tx_kind::write:
      return "write";
    case tx_kind::commit:
      return "commit";
    case tx_kind::abort:
      return "abort";
  }
  return "?";
}

const char* to_string(dm_op x) {
  switch (x) {
    case dm_op::start:
      return "start";
    case dm_op::read:
      return "read";
    case dm_op::write:
      return "write";
    case dm_op::prepare:
      return "prepare";
    case dm_op::commit:
      return "commit";
    case dm_op::abort:
      return "abort";
    case dm_op::forget:
      return "forget";
  }
  return "?";
}

void add_txn_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<tx_request>("ftsr::tx_request")
    .add_message_type<tx_reply>("ftsr::tx_reply")
    .add_message_type<dm_request>("ftsr::dm_request")
    .add_message_type<dm_reply>("ftsr::dm_reply")
    .add_message_type<dm_up>("ftsr::dm_up")
    .add_message_type<tm_query>("ftsr::tm_query")
    .add_message_type<lm_request>("ftsr::lm_request")
    .add_message_type<lm_reply>("ftsr::lm_reply")
    .add_message_type<lm_hello>("ftsr::lm_hello")
    .add_message_type<lock_claim>("ftsr::lock_claim")
    .add_message_type<lm_reclaim>("ftsr::lm_reclaim");
}

} // namespace ftsr
