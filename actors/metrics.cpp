// Counters, gauges, histograms and their Prometheus text rendering.
#include "actors/metrics.hpp"

#include <algorithm>
#include <cstdio>

namespace ftsr {

namespace {

// Label values escape backslash, double quote and newline.
void append_escaped(std::string& out, const std::string& x) {
  for (auto c : x) {
    if (c == '\\' || c == '"')
      out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
}

void append_labels(std::string& out, const metric_labels& labels,
                   const char* le = nullptr) {
  if (labels.empty() && le == nullptr)
    return;
  out += '{';
  bool first = true;
  for (auto& [k, v] : labels) {
    if (!first)
      out += ',';
    first = false;
    out += k;
    out += "=\"";
    append_escaped(out, v);
    out += '"';
  }
  if (le != nullptr) {
    if (!first)
      out += ',';
    out += "le=\"";
    out += le;
    out += '"';
  }
  out += '}';
}

std::string number(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", x);
  return buf;
}

} // namespace

const std::array<double, histogram::bucket_count>& histogram::bounds() {
  static const std::array<double, bucket_count> xs{
    50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3,
    25e-3, 50e-3,  100e-3, 250e-3, 500e-3, 1.0,  2.5,   10.0};
  return xs;
}

void histogram::observe(std::chrono::nanoseconds d) noexcept {
  auto ns = std::max<int64_t>(d.count(), 0);
  auto secs = static_cast<double>(ns) / 1e9;
  auto& b = bounds();
  auto i = static_cast<size_t>(std::lower_bound(b.begin(), b.end(), secs)
                               - b.begin());
  if (i < bucket_count)
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<uint64_t>(ns), std::memory_order_relaxed);
}

uint64_t histogram::cumulative(size_t i) const noexcept {
  if (i >= bucket_count)
    return count();
  uint64_t sum = 0;
  for (size_t j = 0; j <= i; ++j)
    sum += buckets_[j].load(std::memory_order_relaxed);
  return sum;
}

metrics_registry::series&
metrics_registry::find_or_add(const std::string& name, const std::string& help,
                              metric_labels labels, kind type) {
  for (auto& s : series_)
    if (s.name == name && s.labels == labels && s.type == type)
      return s;
  if (std::none_of(help_.begin(), help_.end(),
                   [&](auto& x) { return x.first == name; }))
    help_.emplace_back(name, help);
  series_.push_back(series{name, std::move(labels), type, {}, {}, {}, {}});
  return series_.back();
}

counter& metrics_registry::get_counter(const std::string& name,
                                       const std::string& help,
                                       metric_labels labels) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& s = find_or_add(name, help, std::move(labels), kind::counter);
  if (!s.c)
    s.c = std::make_unique<counter>();
  return *s.c;
}

gauge& metrics_registry::get_gauge(const std::string& name,
                                   const std::string& help,
                                   metric_labels labels) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& s = find_or_add(name, help, std::move(labels), kind::gauge);
  if (!s.g)
    s.g = std::make_unique<gauge>();
  return *s.g;
}

histogram& metrics_registry::get_histogram(const std::string& name,
                                           const std::string& help,
                                           metric_labels labels) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& s = find_or_add(name, help, std::move(labels), kind::histogram);
  if (!s.h)
    s.h = std::make_unique<histogram>();
  return *s.h;
}

void metrics_registry::add_callback_gauge(const std::string& name,
                                          const std::string& help,
                                          std::function<double()> f,
                                          metric_labels labels) {
  std::lock_guard<std::mutex> guard{mtx_};
  find_or_add(name, help, std::move(labels), kind::callback_gauge).f
    = std::move(f);
}

void metrics_registry::add_callback_counter(const std::string& name,
                                            const std::string& help,
                                            std::function<double()> f,
                                            metric_labels labels) {
  std::lock_guard<std::mutex> guard{mtx_};
  find_or_add(name, help, std::move(labels), kind::callback_counter).f
    = std::move(f);
}

std::string metrics_registry::render() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::string out;
  for (auto& [name, help] : help_) {
    const char* type = nullptr;
    for (auto& s : series_) {
      if (s.name != name)
        continue;
      if (type == nullptr) {
        type = s.type == kind::counter || s.type == kind::callback_counter
                 ? "counter"
               : s.type == kind::histogram ? "histogram"
                                           : "gauge";
        out += "# HELP " + name + " " + help + "\n";
        out += "# TYPE " + name + " " + type + "\n";
      }
      switch (s.type) {
        case kind::counter:
          out += name;
          append_labels(out, s.labels);
          out += " " + std::to_string(s.c->value()) + "\n";
          break;
        case kind::gauge:
          out += name;
          append_labels(out, s.labels);
          out += " " + std::to_string(s.g->value()) + "\n";
          break;
        case kind::callback_gauge:
        case kind::callback_counter:
          out += name;
          append_labels(out, s.labels);
          out += " " + number(s.f()) + "\n";
          break;
        case kind::histogram: {
          auto& b = histogram::bounds();
          for (size_t i = 0; i <= histogram::bucket_count; ++i) {
            out += name + "_bucket";
            auto le = i < b.size() ? number(b[i]) : std::string{"+Inf"};
            append_labels(out, s.labels, le.c_str());
            out += " " + std::to_string(s.h->cumulative(i)) + "\n";
          }
          out += name + "_sum";
          append_labels(out, s.labels);
          out += " " + number(s.h->sum_seconds()) + "\n";
          out += name + "_count";
          append_labels(out, s.labels);
          out += " " + std::to_string(s.h->count()) + "\n";
          break;
        }
      }
    }
  }
  return out;
}

node_metrics::node_metrics(metrics_registry& reg)
  : invocations_ok(reg.get_counter("ftsr_invocations_total",
                                   "Invocations made from this node "
                                   "(ftsr::call), by outcome",
                                   {{"outcome", "ok"}})),
    invocations_failed(reg.get_counter("ftsr_invocations_total", "",
                                       {{"outcome", "error"}})),
    invocation_latency(reg.get_histogram(
      "ftsr_invocation_latency_seconds",
      "Latency of invocations made from this node, backups and retries "
      "included")),
    node_failures(reg.get_counter("ftsr_failures_detected_total",
                                  "Failures this node learned of, by kind",
                                  {{"kind", "node"}})),
    actor_failures(reg.get_counter("ftsr_failures_detected_total", "",
                                   {{"kind", "actor"}})),
    replica_failures(reg.get_counter("ftsr_failures_detected_total", "",
                                     {{"kind", "replica"}})),
    monitors_fired(reg.get_counter("ftsr_monitors_fired_total",
                                   "Monitor notifications this node "
                                   "delivered")),
    persistent_restarts(reg.get_counter("ftsr_restarts_total",
                                        "Restarts run on this node, by kind",
                                        {{"kind", "persistent"}})),
    replica_restarts(reg.get_counter("ftsr_restarts_total", "",
                                     {{"kind", "replica"}})),
    membership_views(reg.get_counter("ftsr_view_changes_total",
                                     "Views installed on this node, by kind",
                                     {{"kind", "membership"}})),
    group_views(reg.get_counter("ftsr_view_changes_total", "",
                                {{"kind", "group"}})),
    nodes_up(reg.get_gauge("ftsr_nodes_up",
                           "Members of the cluster view this node installed "
                           "last")),
    view_number(reg.get_gauge("ftsr_view_number",
                              "Number of the cluster view this node "
                              "installed last")),
    store_writes(reg.get_counter("ftsr_store_writes_total",
                                 "Stable-store write batches committed on "
                                 "this node, by outcome",
                                 {{"outcome", "ok"}})),
    store_write_errors(reg.get_counter("ftsr_store_writes_total", "",
                                       {{"outcome", "error"}})),
    store_commit_latency(reg.get_histogram(
      "ftsr_store_commit_seconds",
      "Stable-store commit latency, the fsync included in sync mode")) {
  // nop
}

} // namespace ftsr
