// <ftsr/groups.hpp>: replicated resources and resource groups (FT-SR
// `resource` with `{primary}`, `create (i:=1 to N)`, owns/imports) and
// ordered multicast (the ftsr_replication library). Part of <ftsr/ftsr.hpp>.
#pragma once

#include <ftsr/actors.hpp>
#include <ftsr/replication/group.hpp>
#include <ftsr/replication/multicast.hpp>
#include <ftsr/replication/replica.hpp>
#include <ftsr/replication/resource.hpp>
