// <ftsr/ftsr.hpp>: all of ftsr's public API, the one header an application
// needs (link ftsr::ftsr). The finer headers beside it cover one library
// each: <ftsr/actors.hpp>, <ftsr/groups.hpp>, <ftsr/persistence.hpp>,
// <ftsr/txn.hpp>, and <ftsr/node_main.hpp> for a node process hosting the
// application's types. Headers under <ftsr/detail/> are internal: their
// contents may change between releases.
#pragma once

#include <ftsr/actors.hpp>
#include <ftsr/groups.hpp>
#include <ftsr/node_main.hpp>
#include <ftsr/persistence.hpp>
#include <ftsr/txn.hpp>
