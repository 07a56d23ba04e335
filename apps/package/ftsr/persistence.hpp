// <ftsr/persistence.hpp>: persistent actors with recovery handlers, stable
// storage (LMDB and the replicated stableStore group), snapshots and
// consistent checkpoints (the ftsr_persistence library). Part of
// <ftsr/ftsr.hpp>.
#pragma once

#include <ftsr/groups.hpp>
#include <ftsr/persistence/checkpoint.hpp>
#include <ftsr/persistence/invocation_log.hpp>
#include <ftsr/persistence/persistent.hpp>
#include <ftsr/persistence/snapshot.hpp>
#include <ftsr/persistence/stable_store.hpp>
#include <ftsr/persistence/stable_store_group.hpp>
