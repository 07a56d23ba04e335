// ftsr-trace: writes the spans a running cluster's members hold as Chrome
// trace-event JSON (Perfetto, chrome://tracing) or OTLP/JSON.
//
//   ftsr-trace --config FILE --format chrome|otlp -o FILE [--trace ID]
//
// Exit codes: 0 written, 1 cluster unreachable or no member answered,
// 2 bad command line, cluster file or output file.
#include <cstdio>
#include <fstream>
#include <iostream>

#include <CLI/CLI.hpp>

#include "actors/errors.hpp"
#include "apps/dashboard/cluster_model.hpp"
#include "apps/dashboard/cluster_probe.hpp"
#include "apps/dashboard/trace_export.hpp"

using namespace ftsr;
using namespace ftsr::dashboard;

namespace {

const char* prog = "ftsr-trace";

} // namespace

int main(int argc, char** argv) {
  CLI::App app{"ftsr-trace: export the spans of a running ftsr cluster"};
  app.name(prog);
  std::string config;
  std::string format;
  std::string output;
  std::string trace;
  int timeout_ms = 3000;
  app.add_option("--config", config, "cluster file (TOML)")->required();
  app.add_option("--format", format, "chrome (trace-event JSON) or otlp "
                                     "(OTLP/JSON)")
    ->required()
    ->check(CLI::IsMember({"chrome", "otlp"}));
  app.add_option("-o,--output", output, "file to write")->required();
  app.add_option("--trace", trace, "only this trace (hex id)");
  app.add_option("--timeout", timeout_ms,
                 "milliseconds to wait for the cluster to answer")
    ->check(CLI::Range(1, 600000));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    auto code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  std::optional<uint64_t> only;
  if (!trace.empty() && !(only = parse_hex_id(trace))) {
    std::cerr << prog << ": --trace: '" << trace
              << "' is not a trace id (1-16 hex digits)\n";
    return 2;
  }
  std::ofstream out{output, std::ios::trunc};
  if (!out) {
    std::cerr << prog << ": cannot write '" << output << "'\n";
    return 2;
  }
  std::chrono::milliseconds bound{timeout_ms};
  auto probe = cluster_probe::connect(config, bound);
  if (!probe) {
    std::cerr << prog << ": " << describe(probe.error()) << "\n";
    std::remove(output.c_str());
    finish_tool(connect_exit_code(probe.error()));
  }
  introspect_query q;
  q.max_events = 0;
  auto answers = (*probe)->collect(q, bound);
  size_t answered = 0;
  for (auto& a : answers) {
    if (a.report)
      ++answered;
    else
      std::cerr << prog << ": " << a.node << " did not answer: " << a.error
                << "\n";
  }
  if (answered == 0) {
    std::cerr << prog << ": no member answered\n";
    std::remove(output.c_str());
    finish_tool(1);
  }
  auto spans = merge_spans(answers);
  if (only)
    spans = spans_of_trace(spans, *only);
  out << export_trace(spans, *parse_trace_format(format)).dump() << "\n";
  out.close();
  if (!out) {
    std::cerr << prog << ": cannot write '" << output << "'\n";
    finish_tool(2);
  }
  std::cout << prog << ": wrote " << spans.size() << " spans from "
            << answered << " nodes to " << output << "\n";
  finish_tool(0);
}
