// libFuzzer target: the cluster-file parser (actors/cluster_config.hpp) on
// arbitrary bytes. Every input must give a config or a bad_config error,
// never a crash, a hang or a sanitizer report; a config it accepts must
// satisfy what the parser promises (named, unique nodes, timeout at least
// twice the heartbeat). Built and run by scripts/fuzz.sh.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>

#include "actors/cluster_config.hpp"
#include "actors/errors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text{reinterpret_cast<const char*>(data), size};
  auto cfg = ftsr::parse_cluster_config(text, "fuzz");
  if (!cfg) {
    if (!ftsr::is(cfg.error(), ftsr::errc::bad_config))
      std::abort(); // every refusal is a bad_config
    return 0;
  }
  std::set<std::string> names;
  for (auto& n : cfg->nodes)
    if (n.name.empty() || !names.insert(n.name).second)
      std::abort();
  if (cfg->failure_timeout < 2 * cfg->heartbeat_interval)
    std::abort();
  return 0;
}
