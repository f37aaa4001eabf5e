#include "vigil/common/remote_write.h"

#include <google/protobuf/stubs/logging.h>
#include <snappy.h>
#include <spdlog/spdlog.h>

#include <mutex>

namespace vigil::remote {
namespace {

// Finds the first framing error in protobuf wire data: a bad tag, a truncated varint, a length
// past the end. Descends into the fields that are messages in remote.proto (WriteRequest.1,
// TimeSeries.1/2/3, Exemplar.1) so the error names the innermost place.
Status ScanWire(std::string_view data, size_t base, std::string_view msg, int depth) {
  size_t pos = 0;
  auto varint = [&](uint64_t& v) -> bool {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos >= data.size()) return false;
      auto b = static_cast<uint8_t>(data[pos++]);
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  };
  auto fail = [&](size_t at, const std::string& what) {
    return InvalidArgument("invalid protobuf in " + std::string(msg) + " at byte " +
                           std::to_string(base + at) + ": " + what);
  };
  while (pos < data.size()) {
    size_t field_start = pos;
    uint64_t key;
    if (!varint(key)) return fail(field_start, "truncated field tag");
    uint64_t field = key >> 3;
    auto wire = static_cast<int>(key & 7);
    if (field == 0) return fail(field_start, "field number 0");
    uint64_t v;
    switch (wire) {
      case 0:
        if (!varint(v))
          return fail(field_start, "truncated varint in field " + std::to_string(field));
        break;
      case 1:
        if (data.size() - pos < 8)
          return fail(field_start, "truncated fixed64 field " + std::to_string(field));
        pos += 8;
        break;
      case 5:
        if (data.size() - pos < 4)
          return fail(field_start, "truncated fixed32 field " + std::to_string(field));
        pos += 4;
        break;
      case 2: {
        if (!varint(v))
          return fail(field_start, "truncated length of field " + std::to_string(field));
        if (v > data.size() - pos) {
          return fail(field_start, "field " + std::to_string(field) + " claims " +
                                       std::to_string(v) + " bytes but " +
                                       std::to_string(data.size() - pos) + " remain");
        }
        std::string_view inner = data.substr(pos, v);
        std::string_view inner_msg;
        if (msg == "WriteRequest" && field == 1) inner_msg = "TimeSeries";
        if (msg == "WriteRequest" && field == 3) inner_msg = "MetricMetadata";
        if (msg == "TimeSeries" && field == 1) inner_msg = "Label";
        if (msg == "TimeSeries" && field == 2) inner_msg = "Sample";
        if (msg == "TimeSeries" && field == 3) inner_msg = "Exemplar";
        if (msg == "Exemplar" && field == 1) inner_msg = "Label";
        if (!inner_msg.empty() && depth < 4) {
          VIGIL_RETURN_IF_ERROR(ScanWire(inner, base + pos, inner_msg, depth + 1));
        }
        pos += v;
        break;
      }
      default:
        return fail(field_start, "unsupported wire type " + std::to_string(wire) + " in field " +
                                     std::to_string(field));
    }
  }
  return Status::Ok();
}

void QuietProtobufLogs() {
  static std::once_flag once;
  std::call_once(once, [] {
    google::protobuf::SetLogHandler(
        [](google::protobuf::LogLevel, const char*, int, const std::string& message) {
          spdlog::debug("protobuf: {}", message);
        });
  });
}

}  // namespace

std::string Encode(const prometheus::WriteRequest& request) {
  std::string raw;
  request.SerializeToString(&raw);
  std::string out;
  snappy::Compress(raw.data(), raw.size(), &out);
  return out;
}

Result<prometheus::WriteRequest> Decode(std::string_view body, const WriteLimits& limits) {
  prometheus::WriteRequest req;
  VIGIL_RETURN_IF_ERROR(DecodeInto(body, limits, req));
  return req;
}

Status DecodeInto(std::string_view body, const WriteLimits& limits, prometheus::WriteRequest& req) {
  QuietProtobufLogs();
  size_t length = 0;
  if (!snappy::GetUncompressedLength(body.data(), body.size(), &length)) {
    return InvalidArgument(
        "snappy: corrupt input: no valid uncompressed length in the first bytes");
  }
  if (length > limits.max_decompressed_bytes) {
    return OutOfRange("snappy: decompressed size " + std::to_string(length) +
                      " bytes exceeds the limit of " +
                      std::to_string(limits.max_decompressed_bytes));
  }
  std::string raw;
  if (!snappy::Uncompress(body.data(), body.size(), &raw)) {
    return InvalidArgument("snappy: corrupt or truncated input (" + std::to_string(body.size()) +
                           " bytes, declaring " + std::to_string(length) + " decompressed)");
  }
  if (!req.ParseFromString(raw)) {
    Status where = ScanWire(raw, 0, "WriteRequest", 0);
    if (!where.ok()) return where;
    return InvalidArgument(
        "invalid protobuf WriteRequest: a field has the wrong type or a string is not UTF-8");
  }
  return Validate(req, limits);
}

Status Validate(const prometheus::WriteRequest& req, const WriteLimits& limits) {
  if (static_cast<size_t>(req.timeseries_size()) > limits.max_series) {
    return InvalidArgument("request has " + std::to_string(req.timeseries_size()) +
                           " series, over the limit of " + std::to_string(limits.max_series));
  }
  for (int i = 0; i < req.timeseries_size(); ++i) {
    const auto& ts = req.timeseries(i);
    auto where = [&] { return "series " + std::to_string(i); };
    if (static_cast<size_t>(ts.labels_size()) > limits.max_labels_per_series) {
      return InvalidArgument(where() + " has " + std::to_string(ts.labels_size()) +
                             " labels, over the limit of " +
                             std::to_string(limits.max_labels_per_series));
    }
    if (static_cast<size_t>(ts.samples_size()) > limits.max_samples_per_series) {
      return InvalidArgument(where() + " has " + std::to_string(ts.samples_size()) +
                             " samples, over the limit of " +
                             std::to_string(limits.max_samples_per_series));
    }
    for (const auto& l : ts.labels()) {
      if (l.name().size() > limits.max_label_name_bytes) {
        return InvalidArgument(where() + ": label name longer than " +
                               std::to_string(limits.max_label_name_bytes) + " bytes");
      }
      if (l.value().size() > limits.max_label_value_bytes) {
        return InvalidArgument(where() + ": value of label \"" + l.name() + "\" longer than " +
                               std::to_string(limits.max_label_value_bytes) + " bytes");
      }
    }
    auto labels = ToLabels(ts);
    if (!labels.ok()) return labels.status().WithContext(where());
    VIGIL_RETURN_IF_ERROR(ValidateLabels(*labels, /*require_name=*/true).WithContext(where()));
  }
  return Status::Ok();
}

Result<Labels> ToLabels(const prometheus::TimeSeries& series) {
  std::vector<Label> pairs;
  pairs.reserve(static_cast<size_t>(series.labels_size()));
  for (const auto& l : series.labels()) pairs.push_back(Label{l.name(), l.value()});
  return Labels::FromPairs(std::move(pairs));
}

}  // namespace vigil::remote
