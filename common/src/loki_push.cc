#include "vigil/common/loki_push.h"

#include <snappy.h>

#include <charconv>
#include <nlohmann/json.hpp>

#include "push.pb.h"
#include "vigil/common/go_string.h"
#include "vigil/common/logging.h"

namespace vigil::loki {
namespace {

using nlohmann::json;

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Checks a stream against the limits, in Loki's words (its validation errors).
Status CheckStream(const Stream& s, const PushLimits& limits) {
  if (s.labels.empty())
    return InvalidArgument("error at least one label pair is required per stream");
  if (s.labels.size() > limits.max_labels_per_stream) {
    return InvalidArgument("stream '" + FormatStreamLabels(s.labels) + "' has " +
                           std::to_string(s.labels.size()) + " label names; limit " +
                           std::to_string(limits.max_labels_per_stream));
  }
  for (const Label& l : s.labels) {
    if (l.name.size() > limits.max_label_name_bytes) {
      return InvalidArgument("stream '" + FormatStreamLabels(s.labels) +
                             "' has label name too long: '" + l.name + "'");
    }
    if (l.value.size() > limits.max_label_value_bytes) {
      return InvalidArgument("stream '" + FormatStreamLabels(s.labels) +
                             "' has label value too long: '" + l.value + "'");
    }
    if (!IsValidUtf8(l.value)) {
      return InvalidArgument("stream '" + FormatStreamLabels(s.labels) + "' label '" + l.name +
                             "' has a value that is not valid UTF-8");
    }
  }
  for (size_t i = 0; i < s.entries.size(); ++i) {
    const Entry& e = s.entries[i];
    if (e.line.size() > limits.max_line_bytes) {
      return InvalidArgument("Max entry size '" + std::to_string(limits.max_line_bytes) +
                             "' bytes exceeded for stream '" + FormatStreamLabels(s.labels) +
                             "' while adding an entry with length '" +
                             std::to_string(e.line.size()) + "' bytes (entry " + std::to_string(i) +
                             ")");
    }
  }
  return Status::Ok();
}

Status CheckCounts(size_t streams, size_t entries, const PushLimits& limits) {
  if (streams > limits.max_streams) {
    return OutOfRange("push has " + std::to_string(streams) + " streams; limit " +
                      std::to_string(limits.max_streams));
  }
  if (entries > limits.max_entries) {
    return OutOfRange("push has more than " + std::to_string(limits.max_entries) + " entries");
  }
  return Status::Ok();
}

Result<int64_t> ParseUnixNanos(std::string_view s, const std::string& where) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) {
    return InvalidArgument(where + ": timestamp \"" + std::string(s.substr(0, 64)) +
                           "\" is not a decimal count of Unix nanoseconds");
  }
  return v;
}

Result<Labels> LabelsFromObject(const json& obj, const std::string& where) {
  if (!obj.is_object())
    return InvalidArgument(where + ": must be an object of label names to values");
  std::vector<Label> pairs;
  for (const auto& [k, v] : obj.items()) {
    if (!v.is_string()) {
      return InvalidArgument(where + ": the value of label \"" + k + "\" must be a string");
    }
    VIGIL_RETURN_IF_ERROR(ValidateLabelName(k));
    pairs.push_back(Label{k, v.get<std::string>()});
  }
  auto labels = Labels::FromPairs(std::move(pairs));
  if (!labels.ok()) return InvalidArgument(where + ": " + labels.status().message());
  return labels;
}

Result<std::vector<Stream>> DecodeJson(std::string_view body, const PushLimits& limits) {
  if (body.size() > limits.max_body_bytes) {
    return OutOfRange("request body of " + std::to_string(body.size()) +
                      " bytes exceeds the limit of " + std::to_string(limits.max_body_bytes));
  }
  json doc;
  try {
    doc = json::parse(body);
  } catch (const json::exception& e) {  // parse_error, and out_of_range for a number too large
    return InvalidArgument(std::string("malformed JSON push: ") + e.what());
  }
  if (!doc.is_object() || !doc.contains("streams") || !doc["streams"].is_array()) {
    return InvalidArgument("malformed JSON push: expected an object with a \"streams\" array");
  }
  const json& streams = doc["streams"];
  size_t entries = 0;
  for (const auto& s : streams) {
    if (s.is_object() && s.contains("values") && s["values"].is_array()) {
      entries += s["values"].size();
    }
  }
  VIGIL_RETURN_IF_ERROR(CheckCounts(streams.size(), entries, limits));
  std::vector<Stream> out;
  out.reserve(streams.size());
  for (size_t i = 0; i < streams.size(); ++i) {
    const json& s = streams[i];
    const std::string where = "streams[" + std::to_string(i) + "]";
    if (!s.is_object()) return InvalidArgument(where + ": must be an object");
    Stream stream;
    if (s.contains("stream")) {
      VIGIL_ASSIGN_OR_RETURN(stream.labels, LabelsFromObject(s["stream"], where + ".stream"));
    }
    if (s.contains("values")) {
      const json& values = s["values"];
      if (!values.is_array()) return InvalidArgument(where + ".values: must be an array");
      stream.entries.reserve(values.size());
      for (size_t j = 0; j < values.size(); ++j) {
        const json& v = values[j];
        const std::string at = where + ".values[" + std::to_string(j) + "]";
        if (!v.is_array() || v.size() < 2 || v.size() > 3 || !v[0].is_string() ||
            !v[1].is_string()) {
          return InvalidArgument(at +
                                 ": must be [\"<unix nanoseconds>\", \"<line>\"] with an optional "
                                 "object of structured metadata");
        }
        Entry e;
        VIGIL_ASSIGN_OR_RETURN(e.ts_ns, ParseUnixNanos(v[0].get<std::string>(), at));
        e.line = v[1].get<std::string>();
        if (v.size() == 3) {
          VIGIL_ASSIGN_OR_RETURN(e.metadata, LabelsFromObject(v[2], at + "[2]"));
        }
        stream.entries.push_back(std::move(e));
      }
    }
    VIGIL_RETURN_IF_ERROR(CheckStream(stream, limits));
    out.push_back(std::move(stream));
  }
  return out;
}

Result<std::vector<Stream>> DecodeProto(std::string_view body, const PushLimits& limits) {
  QuietProtobufLogs();
  size_t length = 0;
  if (!snappy::GetUncompressedLength(body.data(), body.size(), &length)) {
    return InvalidArgument(
        "snappy: corrupt input: no valid uncompressed length in the first bytes");
  }
  if (length > limits.max_body_bytes) {
    return OutOfRange("snappy: decompressed size " + std::to_string(length) +
                      " bytes exceeds the limit of " + std::to_string(limits.max_body_bytes));
  }
  std::string raw(length, '\0');
  if (!snappy::RawUncompress(body.data(), body.size(), raw.data())) {
    return InvalidArgument("snappy: corrupt or truncated input (" + std::to_string(body.size()) +
                           " bytes, declaring " + std::to_string(length) + " decompressed)");
  }
  logproto::PushRequest req;
  if (!req.ParseFromString(raw)) {
    return InvalidArgument("malformed protobuf push: not a logproto.PushRequest (" +
                           std::to_string(raw.size()) + " bytes)");
  }
  size_t entries = 0;
  for (const auto& s : req.streams()) entries += static_cast<size_t>(s.entries_size());
  VIGIL_RETURN_IF_ERROR(CheckCounts(static_cast<size_t>(req.streams_size()), entries, limits));
  std::vector<Stream> out;
  out.reserve(static_cast<size_t>(req.streams_size()));
  for (int i = 0; i < req.streams_size(); ++i) {
    auto& s = *req.mutable_streams(i);
    const std::string where = "streams[" + std::to_string(i) + "]";
    Stream stream;
    auto labels = ParseStreamLabels(s.labels());
    if (!labels.ok()) return InvalidArgument(where + ".labels: " + labels.status().message());
    stream.labels = std::move(*labels);
    stream.entries.reserve(static_cast<size_t>(s.entries_size()));
    for (int j = 0; j < s.entries_size(); ++j) {
      auto& e = *s.mutable_entries(j);
      Entry entry;
      entry.ts_ns = e.timestamp().seconds() * 1'000'000'000 + e.timestamp().nanos();
      entry.line = std::move(*e.mutable_line());
      if (e.structuredmetadata_size() > 0) {
        std::vector<Label> pairs;
        for (const auto& m : e.structuredmetadata()) pairs.push_back(Label{m.name(), m.value()});
        auto md = Labels::FromPairs(std::move(pairs));
        if (!md.ok()) {
          return InvalidArgument(where + ".entries[" + std::to_string(j) +
                                 "].structuredMetadata: " + md.status().message());
        }
        entry.metadata = std::move(*md);
      }
      stream.entries.push_back(std::move(entry));
    }
    VIGIL_RETURN_IF_ERROR(CheckStream(stream, limits));
    out.push_back(std::move(stream));
  }
  return out;
}

}  // namespace

Result<Labels> ParseStreamLabels(std::string_view text) {
  size_t i = 0;
  auto error = [&](const std::string& what) {
    return InvalidArgument("parse error in labels " + std::string(text.substr(0, 256)) +
                           " at column " + std::to_string(i + 1) + ": " + what);
  };
  auto skip = [&] {
    while (i < text.size() && IsBlank(text[i])) ++i;
  };
  skip();
  if (i >= text.size() || text[i] != '{') return error("expected '{'");
  ++i;
  std::vector<Label> pairs;
  skip();
  if (i < text.size() && text[i] == '}') return error("at least one label pair is required");
  for (;;) {
    skip();
    const size_t start = i;
    while (i < text.size() && (std::isalnum(static_cast<unsigned char>(text[i])) || text[i] == '_'))
      ++i;
    if (i == start) return error("expected a label name");
    std::string name(text.substr(start, i - start));
    if (!IsValidLabelName(name)) return error("invalid label name \"" + name + "\"");
    skip();
    if (i >= text.size() || text[i] != '=')
      return error("expected '=' after label name \"" + name + "\"");
    ++i;
    skip();
    if (i >= text.size() || (text[i] != '"' && text[i] != '\'' && text[i] != '`')) {
      return error("expected a quoted value for label \"" + name + "\"");
    }
    const char quote = text[i++];
    const size_t body = i;
    while (i < text.size() && text[i] != quote) {
      if (text[i] == '\\' && quote != '`') ++i;
      ++i;
    }
    if (i >= text.size()) return error("unterminated value of label \"" + name + "\"");
    // Raw strings (`...`) keep their backslashes, as in Go.
    auto value = quote == '`' ? Result<std::string>(std::string(text.substr(body, i - body)))
                              : UnquoteGo(text.substr(body, i - body), quote);
    if (!value.ok()) return error("value of label \"" + name + "\": " + value.status().message());
    if (!IsValidUtf8(*value)) return error("value of label \"" + name + "\" is not valid UTF-8");
    ++i;
    pairs.push_back(Label{std::move(name), std::move(*value)});
    skip();
    if (i < text.size() && text[i] == ',') {
      ++i;
      continue;
    }
    if (i < text.size() && text[i] == '}') {
      ++i;
      break;
    }
    return error("expected ',' or '}'");
  }
  skip();
  if (i != text.size()) return error("unexpected text after '}'");
  auto labels = Labels::FromPairs(std::move(pairs));
  if (!labels.ok())
    return InvalidArgument("labels " + std::string(text.substr(0, 256)) + ": " +
                           labels.status().message());
  return labels;
}

std::string FormatStreamLabels(const Labels& labels) { return labels.ToString(); }

Result<std::vector<Stream>> DecodePush(std::string_view body, std::string_view content_type,
                                       const PushLimits& limits) {
  if (IsProtobufPush(content_type)) {
    return DecodeProto(body, limits);
  }
  return DecodeJson(body, limits);
}

std::string EncodePush(const std::vector<Stream>& streams) {
  logproto::PushRequest req;
  for (const Stream& s : streams) {
    auto* out = req.add_streams();
    out->set_labels(FormatStreamLabels(s.labels));
    for (const Entry& e : s.entries) {
      auto* entry = out->add_entries();
      int64_t secs = e.ts_ns / 1'000'000'000;
      int64_t nanos = e.ts_ns % 1'000'000'000;
      if (nanos < 0) {
        nanos += 1'000'000'000;
        --secs;
      }
      entry->mutable_timestamp()->set_seconds(secs);
      entry->mutable_timestamp()->set_nanos(static_cast<int32_t>(nanos));
      entry->set_line(e.line);
      for (const Label& m : e.metadata) {
        auto* md = entry->add_structuredmetadata();
        md->set_name(m.name);
        md->set_value(m.value);
      }
    }
  }
  std::string raw, out;
  req.SerializeToString(&raw);
  snappy::Compress(raw.data(), raw.size(), &out);
  return out;
}

std::string EncodePushJson(const std::vector<Stream>& streams) {
  json doc = {{"streams", json::array()}};
  for (const Stream& s : streams) {
    json labels = json::object();
    for (const Label& l : s.labels) labels[l.name] = l.value;
    json values = json::array();
    for (const Entry& e : s.entries) {
      json v = {std::to_string(e.ts_ns), e.line};
      if (!e.metadata.empty()) {
        json md = json::object();
        for (const Label& m : e.metadata) md[m.name] = m.value;
        v.push_back(std::move(md));
      }
      values.push_back(std::move(v));
    }
    doc["streams"].push_back({{"stream", std::move(labels)}, {"values", std::move(values)}});
  }
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace vigil::loki
