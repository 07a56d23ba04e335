// Nearest-rank latency statistics.
#include "apps/bench/latency.hpp"

#include <algorithm>
#include <cmath>

namespace ftsr::bench {

latency_summary summarize(std::vector<double> xs) {
  latency_summary s;
  s.n = xs.size();
  if (xs.empty())
    return s;
  std::sort(xs.begin(), xs.end());
  auto rank = [&](double q) {
    auto r = static_cast<size_t>(std::ceil(q * static_cast<double>(xs.size())));
    return xs[std::clamp<size_t>(r, 1, xs.size()) - 1];
  };
  s.p50_ms = rank(0.50);
  s.p99_ms = rank(0.99);
  double sum = 0;
  for (auto x : xs)
    sum += x;
  s.mean_ms = sum / static_cast<double>(xs.size());
  s.min_ms = xs.front();
  s.max_ms = xs.back();
  return s;
}

} // namespace ftsr::bench
