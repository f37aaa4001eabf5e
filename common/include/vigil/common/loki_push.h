#pragma once

// The Loki push API (POST /loki/api/v1/push), both bodies Loki accepts:
// - JSON: {"streams": [{"stream": {"label": "value"}, "values": [["<unix ns>", "<line>"],
//   ["<unix ns>", "<line>", {"structured": "metadata"}]]}]} (timestamps as strings, as Loki
//   requires);
// - protobuf: logproto.PushRequest (common/proto/push.proto), snappy block-compressed, with
//   Content-Type: application/x-protobuf.
//
// Decoding is bounded (the decompressed size is checked before allocating, every count and size
// has a limit) and every error names the stream and entry, in Loki's words where Loki has them.
// Errors: OutOfRange for a body past its limit (HTTP 413), InvalidArgument for the rest (400).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/common/labels.h"
#include "vigil/common/status.h"

namespace vigil::loki {

struct Entry {
  int64_t ts_ns = 0;
  std::string line;
  Labels metadata;  // structured metadata; empty for most senders
};

struct Stream {
  Labels labels;
  std::vector<Entry> entries;
};

struct PushLimits {
  size_t max_body_bytes = 64 << 20;  // decompressed
  size_t max_streams = 10'000;
  size_t max_entries = 1'000'000;
  size_t max_line_bytes = 256 << 10;
  size_t max_labels_per_stream = 15;  // Loki's max_label_names_per_series
  size_t max_label_name_bytes = 1024;
  size_t max_label_value_bytes = 2048;
};

inline constexpr std::string_view kProtobufContentType = "application/x-protobuf";
inline constexpr std::string_view kJsonContentType = "application/json";

// A stream's labels in LogQL selector form: {a="x", b="y"} (values quoted as Go strings with
// ", ' or `). Names must be valid label names, unique; at least one pair.
Result<Labels> ParseStreamLabels(std::string_view text);
// The same form, as Loki prints a stream: {a="x", b="y"}.
std::string FormatStreamLabels(const Labels& labels);

// Whether a Content-Type names the protobuf body (else the body is JSON).
inline bool IsProtobufPush(std::string_view content_type) {
  return content_type.find(kProtobufContentType) != std::string_view::npos;
}

// Decodes a push body by its Content-Type (protobuf when it says x-protobuf, else JSON) and
// checks every stream against the limits.
Result<std::vector<Stream>> DecodePush(std::string_view body, std::string_view content_type,
                                       const PushLimits& limits = {});

// A push request as the agent sends it: protobuf, snappy-compressed.
std::string EncodePush(const std::vector<Stream>& streams);
// The same as JSON (the modern form), for tools and tests.
std::string EncodePushJson(const std::vector<Stream>& streams);

}  // namespace vigil::loki
