// A node's metrics: counters, gauges and latency histograms, rendered in
// the Prometheus text exposition format (version 0.0.4) for /metrics.
//
// Thread-safety: recording (counter::inc, gauge::set, histogram::observe)
// is lock-free (relaxed atomics) and may run on any thread, including hot
// paths. Registration and render() take the registry's mutex; metrics are
// never removed, so a reference returned by the registry stays valid for
// the registry's lifetime. Register once (e.g. at node start) and keep the
// reference: lookups by name are not for hot paths.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace ftsr {

/// Label pairs of one series, e.g. {{"kind", "node"}}.
using metric_labels = std::vector<std::pair<std::string, std::string>>;

/// Monotonic count.
class counter {
public:
  void inc(uint64_t n = 1) noexcept {
    value_.fetch_add(n, std::memory_order_relaxed);
  }

  uint64_t value() const noexcept {
    return value_.load(std::memory_order_relaxed);
  }

private:
  std::atomic<uint64_t> value_{0};
};

/// A value that goes up and down.
class gauge {
public:
  void set(int64_t x) noexcept {
    value_.store(x, std::memory_order_relaxed);
  }

  void add(int64_t x) noexcept {
    value_.fetch_add(x, std::memory_order_relaxed);
  }

  int64_t value() const noexcept {
    return value_.load(std::memory_order_relaxed);
  }

private:
  std::atomic<int64_t> value_{0};
};

/// Latency histogram with fixed buckets from 50 us to 10 s (upper bounds in
/// seconds, see bounds()); observations are durations.
class histogram {
public:
  static constexpr size_t bucket_count = 16;

  /// Upper bounds of the buckets, in seconds, increasing (the +Inf bucket
  /// is implicit).
  static const std::array<double, bucket_count>& bounds();

  void observe(std::chrono::nanoseconds d) noexcept;

  /// Cumulative count of observations <= bounds()[i]; i == bucket_count is
  /// +Inf (the total count).
  uint64_t cumulative(size_t i) const noexcept;

  uint64_t count() const noexcept {
    return count_.load(std::memory_order_relaxed);
  }

  /// Sum of the observations, in seconds.
  double sum_seconds() const noexcept {
    return static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
  }

private:
  std::array<std::atomic<uint64_t>, bucket_count> buckets_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_ns_{0};
};

/// The metrics of one node. Names follow Prometheus conventions (ftsr_
/// prefix, _total for counters, _seconds for durations); a name is of one
/// type, and each (name, labels) pair is one series.
class metrics_registry {
public:
  /// Registers (or finds) a series. Help texts are those of the first
  /// registration of a name.
  counter& get_counter(const std::string& name, const std::string& help,
                       metric_labels labels = {});
  gauge& get_gauge(const std::string& name, const std::string& help,
                   metric_labels labels = {});
  histogram& get_histogram(const std::string& name, const std::string& help,
                           metric_labels labels = {});

  /// A gauge whose value `f` computes at each render (e.g. a queue length
  /// read where it lives). `f` runs under the registry's mutex on the
  /// rendering thread: it must be thread-safe and must not use the
  /// registry.
  void add_callback_gauge(const std::string& name, const std::string& help,
                          std::function<double()> f,
                          metric_labels labels = {});

  /// Like add_callback_gauge, for a count kept elsewhere that never
  /// decreases (rendered as a counter).
  void add_callback_counter(const std::string& name, const std::string& help,
                            std::function<double()> f,
                            metric_labels labels = {});

  /// Every series in the Prometheus text format, grouped by name.
  std::string render() const;

private:
  enum class kind { counter, gauge, histogram, callback_gauge,
                    callback_counter };

  struct series {
    std::string name;
    metric_labels labels;
    kind type;
    std::unique_ptr<counter> c;
    std::unique_ptr<gauge> g;
    std::unique_ptr<histogram> h;
    std::function<double()> f;
  };

  series& find_or_add(const std::string& name, const std::string& help,
                      metric_labels labels, kind type);

  mutable std::mutex mtx_;
  std::deque<series> series_;
  std::vector<std::pair<std::string, std::string>> help_;
};

/// The metrics every node records, registered once at node start so the
/// hot paths only touch atomics.
struct node_metrics {
  explicit node_metrics(metrics_registry& reg);

  counter& invocations_ok;
  counter& invocations_failed;
  histogram& invocation_latency;
  counter& node_failures;
  counter& actor_failures;
  counter& replica_failures;
  counter& monitors_fired;
  counter& persistent_restarts;
  counter& replica_restarts;
  counter& membership_views;
  counter& group_views;
  gauge& nodes_up;
  gauge& view_number;
  counter& store_writes;
  counter& store_write_errors;
  histogram& store_commit_latency;
};

} // namespace ftsr
