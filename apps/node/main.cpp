// ftsr-node: runs one node of an ftsr cluster hosting the sample actor types
// (apps/node/sample_actors.hpp). A node hosting an application's own types
// is the same one line with its own registration function.
//
//   ftsr-node --config config/local-3.toml --name host1
//
// Exit codes: see node_main.hpp.
#include "apps/node/node_main.hpp"
#include "apps/node/sample_actors.hpp"

int main(int argc, char** argv) {
  return ftsr::node_main(argc, argv, ftsr::sample::add_sample_types);
}
