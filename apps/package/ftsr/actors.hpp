// <ftsr/actors.hpp>: nodes, capabilities, calls with backup, monitors,
// named capabilities and supervisor trees (the ftsr_actors library). Part
// of <ftsr/ftsr.hpp>; include it alone in code that uses no groups,
// persistence or transactions.
#pragma once

#include <ftsr/actors/call.hpp>
#include <ftsr/actors/capability.hpp>
#include <ftsr/actors/cluster_config.hpp>
#include <ftsr/actors/errors.hpp>
#include <ftsr/actors/log.hpp>
#include <ftsr/actors/metrics.hpp>
#include <ftsr/actors/monitor.hpp>
#include <ftsr/actors/names.hpp>
#include <ftsr/actors/node.hpp>
#include <ftsr/actors/supervisor.hpp>
#include <ftsr/actors/trace.hpp>
