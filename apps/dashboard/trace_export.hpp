// Trace export: spans collected from a cluster's members written as Chrome
// trace-event JSON (opens in Perfetto and chrome://tracing; one process per
// node) and as OTLP/JSON (the OpenTelemetry protocol's JSON encoding of
// ExportTraceServiceRequest; one resource per node). Plain functions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/trace.hpp"
#include "apps/dashboard/cluster_probe.hpp"

namespace ftsr::dashboard {

/// Whether `s` records work that failed: its outcome is "error" (calls,
/// group sequencing and delivery) or its detail starts with "failed"
/// (recoveries, checkpoints).
bool span_failed(const span& s);

/// The spans of every answer, each once (by trace and span id), oldest
/// first.
std::vector<span> merge_spans(const std::vector<member_answer>& answers);

/// The spans of trace `trace_id` among `spans`.
std::vector<span> spans_of_trace(const std::vector<span>& spans,
                                 uint64_t trace_id);

enum class trace_format { chrome, otlp };

/// "chrome" or "otlp"; nullopt for anything else.
std::optional<trace_format> parse_trace_format(const std::string& text);

nlohmann::json chrome_trace(const std::vector<span>& spans);

nlohmann::json otlp_trace(const std::vector<span>& spans);

nlohmann::json export_trace(const std::vector<span>& spans, trace_format f);

} // namespace ftsr::dashboard
