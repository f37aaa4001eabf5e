#pragma once

// Prometheus remote_write 1.0: a protobuf WriteRequest (common/proto/, written from the
// specification), snappy block-compressed, as the body of POST /api/v1/write with headers
// Content-Encoding: snappy, Content-Type: application/x-protobuf and
// X-Prometheus-Remote-Write-Version: 0.1.0.
//
// Decode checks the declared decompressed size before allocating, so a small hostile body cannot
// make it allocate more than `max_decompressed_bytes`; every error says what and where.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "remote.pb.h"
#include "vigil/common/labels.h"
#include "vigil/common/status.h"

namespace vigil::remote {

struct WriteLimits {
  size_t max_decompressed_bytes = 256 << 20;
  size_t max_series = 1'000'000;
  size_t max_samples_per_series = 1'000'000;
  size_t max_labels_per_series = 128;
  size_t max_label_name_bytes = 1024;
  size_t max_label_value_bytes = 16 * 1024;
};

inline constexpr std::string_view kContentType = "application/x-protobuf";
inline constexpr std::string_view kContentEncoding = "snappy";
inline constexpr std::string_view kVersionHeader = "X-Prometheus-Remote-Write-Version";
inline constexpr std::string_view kVersion = "0.1.0";

// Serializes and snappy-compresses.
std::string Encode(const prometheus::WriteRequest& request);

// Decompresses, parses and validates (as DecodeView below). Errors: OutOfRange when the body
// decompresses past max_decompressed_bytes (HTTP 413); InvalidArgument for everything else:
// corrupt snappy, malformed protobuf, invalid series and the per-series limits (HTTP 400).
Result<prometheus::WriteRequest> Decode(std::string_view body, const WriteLimits& limits = {});
// The same into `out`, which may live on a protobuf Arena (the ingest path does that: one arena
// per request instead of an allocation per label string).
Status DecodeInto(std::string_view body, const WriteLimits& limits, prometheus::WriteRequest& out);

struct SamplePoint {
  int64_t t = 0;
  double v = 0;
};

// A decoded WriteRequest that points into its own decompressed bytes instead of copying every
// string: the ingest path's form. Each series' labels are sorted by name. Reuse one per thread:
// its buffers are kept between requests.
class WriteRequestView {
 public:
  size_t size() const { return series_.size(); }
  std::span<const LabelView> labels(size_t i) const {
    return {labels_.data() + series_[i].label_begin, labels_.data() + series_[i].label_end};
  }
  std::span<const SamplePoint> samples(size_t i) const {
    return {samples_.data() + series_[i].sample_begin, samples_.data() + series_[i].sample_end};
  }
  // The decompressed protobuf bytes.
  std::string_view raw() const { return raw_; }

 private:
  friend Status DecodeView(std::string_view, const WriteLimits&, WriteRequestView&);
  struct Range {
    uint32_t label_begin, label_end, sample_begin, sample_end;
  };
  Status Parse();
  Status Validate(const WriteLimits& limits);
  std::string raw_;
  std::vector<LabelView> labels_;
  std::vector<SamplePoint> samples_;
  std::vector<Range> series_;
};

// Decompresses, parses and validates: every series has a valid metric name, valid unique label
// names, UTF-8 values within the size limits; counts within the limits. Errors as Decode's; a
// validation error names the series by index and labels.
Status DecodeView(std::string_view body, const WriteLimits& limits, WriteRequestView& out);

// The labels of a series as a sorted Labels (fails on duplicate names).
Result<Labels> ToLabels(const prometheus::TimeSeries& series);

// Writes a serialized WriteRequest series by series, straight into bytes: no message objects,
// so a batch of 50k series costs its bytes and nothing else. The result parses as the
// WriteRequest of the same series; serialized WriteRequests also concatenate into one.
class WriteRequestEncoder {
 public:
  // One series with one sample. `labels` are written as given (sorted by name, as the
  // specification asks).
  void Add(std::span<const LabelView> labels, int64_t t_ms, double v);
  // Appends an already serialized WriteRequest (its series follow the ones added so far).
  void Append(std::string_view serialized, size_t samples);
  const std::string& bytes() const { return bytes_; }
  size_t samples() const { return samples_; }
  void Clear() {
    bytes_.clear();
    samples_ = 0;
  }

 private:
  std::string bytes_;
  size_t samples_ = 0;
};

}  // namespace vigil::remote
