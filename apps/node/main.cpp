// ftsr-node: runs one node of an ftsr cluster.
//
//   ftsr-node --config config/local-3.toml --name host1
//
// Exit codes: see node_main.hpp.
#include "apps/node/node_main.hpp"
#include "apps/node/sample_actors.hpp"

int main(int argc, char** argv) {
  CLI::App app{"ftsr-node: one node of an ftsr cluster"};
  ftsr::node_process_options opts;
  ftsr::add_node_options(app, opts);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    auto rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  opts.argv = argv;
  return ftsr::run_node_process("ftsr-node", std::move(opts),
                                ftsr::sample::add_sample_types);
}
