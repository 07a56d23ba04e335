// ledger-node: an ftsr node hosting the ledger and stable store replicas,
// with ftsr-node's command line, checks, signals and exit codes:
//
//   ledger-node --config cluster.toml --name host1 --data-dir data/host1
#include <ftsr/node_main.hpp>

#include "ledger.hpp"

int main(int argc, char** argv) {
  return ftsr::node_main(argc, argv, ledger::register_types);
}
