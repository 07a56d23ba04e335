// Latency statistics shared by the benchmark drivers: nearest-rank
// percentiles over samples in milliseconds.
#pragma once

#include <cstddef>
#include <vector>

namespace ftsr::bench {

struct latency_summary {
  size_t n = 0;
  double p50_ms = 0, p99_ms = 0, mean_ms = 0, min_ms = 0, max_ms = 0;
};

/// Summarizes `samples_ms`; p50/p99 are nearest-rank (the ceil(q n)-th
/// smallest sample), so every reported value was actually observed.
latency_summary summarize(std::vector<double> samples_ms);

} // namespace ftsr::bench
