// <ftsr/txn.hpp>: distributed transactions (two-phase commit, strict
// two-phase locking, data managers on stable storage; the ftsr_txn
// library). Part of <ftsr/ftsr.hpp>.
#pragma once

#include <ftsr/persistence.hpp>
#include <ftsr/txn/txn_actors.hpp>
