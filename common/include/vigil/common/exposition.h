#pragma once

// The Prometheus text exposition format 0.0.4 and OpenMetrics 1.0: parse (scrapes) and write
// (/metrics, /federate).
//
// Parsing is strict where the formats are and bounded: every error names the line and column and
// what was expected; limits cap samples and label sizes, so a hostile body costs at most memory
// proportional to its own size. OpenMetrics exemplars are validated and skipped.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/common/labels.h"
#include "vigil/common/status.h"

namespace vigil::expo {

enum class Format {
  kText,         // text/plain; version=0.0.4
  kOpenMetrics,  // application/openmetrics-text; version=1.0.0
};

// The format a Content-Type names (OpenMetrics if it says so, text otherwise).
Format FormatFromContentType(std::string_view content_type);
std::string_view ContentType(Format f);

enum class MetricType {
  kUnknown,  // "untyped" in the text format
  kCounter,
  kGauge,
  kHistogram,
  kSummary,
  kGaugeHistogram,  // OpenMetrics only
  kStateSet,        // OpenMetrics only
  kInfo,            // OpenMetrics only
};

std::string_view MetricTypeName(MetricType t, Format f);

struct Sample {
  Labels labels;  // includes __name__, the full sample name ("http_requests_total")
  double value = 0;
  std::optional<int64_t> timestamp_ms;
};

struct Family {
  std::string name;  // the family name: "http_requests" for an OpenMetrics counter
  MetricType type = MetricType::kUnknown;
  std::string help;
  std::string unit;
  std::vector<Sample> samples;
};

struct ParseLimits {
  size_t max_samples = 5'000'000;
  size_t max_labels_per_sample = 128;
  size_t max_label_name_bytes = 1024;
  size_t max_label_value_bytes = 16 * 1024;
  size_t max_line_bytes = 1 << 20;
};

// Parses a whole exposition. Samples are grouped into families by the preceding TYPE/HELP and
// the type's suffixes (_bucket, _sum, _count, _total, ...); a sample with no family gets an
// untyped family of its own name.
Result<std::vector<Family>> Parse(std::string_view body, Format format,
                                  const ParseLimits& limits = {});

// Writes families in the format. Families with no samples are written with their metadata only.
std::string Write(const std::vector<Family>& families, Format format);
// The same without OpenMetrics' closing "# EOF", appended to `out`, for documents written in
// parts; AppendEnd closes one.
void Append(std::string& out, const std::vector<Family>& families, Format format);
void AppendEnd(std::string& out, Format format);

// For writers that produce sample lines themselves: a family's HELP and TYPE lines (an
// OpenMetrics counter is named without "_total"; one named without it in the text style is
// written as unknown, as Write does), and a label value escaped for inside its quotes.
void AppendFamilyHeader(std::string& out, std::string_view name, MetricType type,
                        std::string_view help, std::string_view unit, Format format);
void AppendEscapedLabelValue(std::string& out, std::string_view value);
// A sample's name and labels as both formats write them: name{a="x",b="y"} (no value).
void AppendSeries(std::string& out, const Labels& labels);

// Go's strconv.FormatFloat(v, 'g', -1, 64) with Prometheus' spelling of +Inf, -Inf and NaN;
// AppendValue writes the same onto `out`.
std::string FormatValue(double v);
void AppendValue(std::string& out, double v);
// The inverse, as Prometheus parses a sample value (Go's strconv.ParseFloat: "1.5", "1e-07",
// "NaN", "+Inf", "-Inf"; out of range is an error), in the exposition formats and the API's JSON.
bool ParseValue(std::string_view s, double& v);

}  // namespace vigil::expo
