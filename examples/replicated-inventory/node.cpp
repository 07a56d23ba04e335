// inventory-node: an ftsr node hosting the inventory resource, with
// ftsr-node's command line, checks, signals and exit codes:
//
//   inventory-node --config cluster.toml --name host1
#include <ftsr/node_main.hpp>

#include "inventory.hpp"

int main(int argc, char** argv) {
  return ftsr::node_main(argc, argv, inventory::register_types);
}
