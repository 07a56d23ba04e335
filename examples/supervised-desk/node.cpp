// desk-node: an ftsr node hosting front desks, with ftsr-node's command
// line, checks, signals and exit codes:
//
//   desk-node --config cluster.toml --name host1
#include <ftsr/node_main.hpp>

#include "desk.hpp"

int main(int argc, char** argv) {
  return ftsr::node_main(argc, argv, desk::register_types);
}
