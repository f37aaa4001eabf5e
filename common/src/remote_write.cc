#include "vigil/common/remote_write.h"

#include <snappy.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <mutex>
#include <type_traits>

#include "vigil/common/logging.h"

namespace vigil::remote {
namespace {

// One field of protobuf wire data.
struct Field {
  uint64_t number = 0;
  int wire = 0;
  uint64_t varint = 0;     // wire type 0
  std::string_view bytes;  // wire types 1 and 5 (the fixed bytes) and 2 (the payload)
};

// Reads the field at data[pos], advancing pos. Errors say "invalid protobuf in <msg> at byte N"
// with N counted from the start of the whole request (`base` is data's offset in it).
Status NextField(std::string_view data, size_t& pos, size_t base, std::string_view msg, Field& f) {
  const size_t start = pos;
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
  auto fail = [&](const std::string& what) {
    return InvalidArgument("invalid protobuf in " + std::string(msg) + " at byte " +
                           std::to_string(base + start) + ": " + what);
  };
  uint64_t key;
  if (!varint(key)) return fail("truncated field tag");
  f.number = key >> 3;
  f.wire = static_cast<int>(key & 7);
  if (f.number == 0) return fail("field number 0");
  auto field = [&] { return std::to_string(f.number); };  // for errors only: this is hot
  switch (f.wire) {
    case 0:
      if (!varint(f.varint)) return fail("truncated varint in field " + field());
      return Status::Ok();
    case 1:
    case 5: {
      const size_t n = f.wire == 1 ? 8 : 4;
      if (data.size() - pos < n) {
        return fail(std::string("truncated ") + (n == 8 ? "fixed64" : "fixed32") + " field " +
                    field());
      }
      f.bytes = data.substr(pos, n);
      pos += n;
      return Status::Ok();
    }
    case 2: {
      uint64_t n;
      if (!varint(n)) return fail("truncated length of field " + field());
      if (n > data.size() - pos) {
        return fail("field " + field() + " claims " + std::to_string(n) + " bytes but " +
                    std::to_string(data.size() - pos) + " remain");
      }
      f.bytes = data.substr(pos, n);
      pos += n;
      return Status::Ok();
    }
    default:
      return fail("unsupported wire type " + std::to_string(f.wire) + " in field " + field());
  }
}

// Checks the framing of a message we do not read (exemplars, metadata), descending into the
// messages of remote.proto so that an error names the innermost place.
Status ScanWire(std::string_view data, size_t base, std::string_view msg, int depth) {
  size_t pos = 0;
  Field f;
  while (pos < data.size()) {
    VIGIL_RETURN_IF_ERROR(NextField(data, pos, base, msg, f));
    if (f.wire != 2 || depth >= 4) continue;
    std::string_view inner;
    if (msg == "Exemplar" && f.number == 1) inner = "Label";
    if (msg == "Exemplar" && f.number == 2) inner = "Sample";
    if (!inner.empty()) {
      VIGIL_RETURN_IF_ERROR(ScanWire(
          f.bytes, base + static_cast<size_t>(f.bytes.data() - data.data()), inner, depth + 1));
    }
  }
  return Status::Ok();
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
  // The view decoder does the checks and words the errors; protobuf then builds the message.
  thread_local WriteRequestView view;
  VIGIL_RETURN_IF_ERROR(DecodeView(body, limits, view));
  if (!req.ParseFromArray(view.raw().data(), static_cast<int>(view.raw().size()))) {
    return InvalidArgument(
        "invalid protobuf WriteRequest: a field has the wrong type or a string is not UTF-8");
  }
  return Status::Ok();
}

Status WriteRequestView::Parse() {
  const std::string_view raw = raw_;
  auto offset = [&](std::string_view inner) {
    return static_cast<size_t>(inner.data() - raw.data());
  };
  size_t pos = 0;
  Field f;
  while (pos < raw.size()) {
    VIGIL_RETURN_IF_ERROR(NextField(raw, pos, 0, "WriteRequest", f));
    if (f.wire != 2) continue;  // as protobuf: a field of another wire type is unknown
    if (f.number == 3) {
      VIGIL_RETURN_IF_ERROR(ScanWire(f.bytes, offset(f.bytes), "MetricMetadata", 1));
      continue;
    }
    if (f.number != 1) continue;
    Range r{static_cast<uint32_t>(labels_.size()), 0, static_cast<uint32_t>(samples_.size()), 0};
    const std::string_view ts = f.bytes;
    size_t tpos = 0;
    Field tf;
    while (tpos < ts.size()) {
      VIGIL_RETURN_IF_ERROR(NextField(ts, tpos, offset(ts), "TimeSeries", tf));
      if (tf.wire != 2) continue;
      const std::string_view inner = tf.bytes;
      size_t ipos = 0;
      Field x;
      if (tf.number == 1) {
        LabelView l;
        while (ipos < inner.size()) {
          VIGIL_RETURN_IF_ERROR(NextField(inner, ipos, offset(inner), "Label", x));
          if (x.wire != 2) continue;
          if (x.number == 1) l.name = x.bytes;
          if (x.number == 2) l.value = x.bytes;
        }
        labels_.push_back(l);
      } else if (tf.number == 2) {
        SamplePoint sp;
        while (ipos < inner.size()) {
          VIGIL_RETURN_IF_ERROR(NextField(inner, ipos, offset(inner), "Sample", x));
          if (x.number == 1 && x.wire == 1) std::memcpy(&sp.v, x.bytes.data(), 8);
          if (x.number == 2 && x.wire == 0) sp.t = static_cast<int64_t>(x.varint);
        }
        samples_.push_back(sp);
      } else if (tf.number == 3) {
        VIGIL_RETURN_IF_ERROR(ScanWire(inner, offset(inner), "Exemplar", 2));
      }
    }
    r.label_end = static_cast<uint32_t>(labels_.size());
    r.sample_end = static_cast<uint32_t>(samples_.size());
    series_.push_back(r);
  }
  return Status::Ok();
}

Status WriteRequestView::Validate(const WriteLimits& limits) {
  if (series_.size() > limits.max_series) {
    return InvalidArgument("request has " + std::to_string(series_.size()) +
                           " series, over the limit of " + std::to_string(limits.max_series));
  }
  for (size_t i = 0; i < series_.size(); ++i) {
    const Range& r = series_[i];
    auto where = [&] { return "series " + std::to_string(i); };
    const size_t n_labels = r.label_end - r.label_begin;
    const size_t n_samples = r.sample_end - r.sample_begin;
    if (n_labels > limits.max_labels_per_series) {
      return InvalidArgument(where() + " has " + std::to_string(n_labels) +
                             " labels, over the limit of " +
                             std::to_string(limits.max_labels_per_series));
    }
    if (n_samples > limits.max_samples_per_series) {
      return InvalidArgument(where() + " has " + std::to_string(n_samples) +
                             " samples, over the limit of " +
                             std::to_string(limits.max_samples_per_series));
    }
    std::span<LabelView> ls(labels_.data() + r.label_begin, n_labels);
    for (const LabelView& l : ls) {
      if (l.name.size() > limits.max_label_name_bytes) {
        return InvalidArgument(where() + ": label name longer than " +
                               std::to_string(limits.max_label_name_bytes) + " bytes");
      }
      if (l.value.size() > limits.max_label_value_bytes) {
        return InvalidArgument(where() + ": value of label \"" + std::string(l.name) +
                               "\" longer than " + std::to_string(limits.max_label_value_bytes) +
                               " bytes");
      }
    }
    VIGIL_RETURN_IF_ERROR(SortLabels(ls).WithContext(where()));
    VIGIL_RETURN_IF_ERROR(ValidateLabels(ls, /*require_name=*/true).WithContext(where()));
  }
  return Status::Ok();
}

Status DecodeView(std::string_view body, const WriteLimits& limits, WriteRequestView& out) {
  // Buffers are reused, but one huge request must not pin its memory in every thread for good.
  constexpr size_t kKeepBytes = 16 << 20;
  auto reset = [](auto& buffer) {
    using T = std::decay_t<decltype(buffer)>;
    if (buffer.capacity() * sizeof(buffer[0]) > kKeepBytes) {
      T().swap(buffer);
    } else {
      buffer.clear();
    }
  };
  reset(out.raw_);
  reset(out.labels_);
  reset(out.samples_);
  reset(out.series_);
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
  out.raw_.resize(length);
  if (!snappy::RawUncompress(body.data(), body.size(), out.raw_.data())) {
    out.raw_.clear();
    return InvalidArgument("snappy: corrupt or truncated input (" + std::to_string(body.size()) +
                           " bytes, declaring " + std::to_string(length) + " decompressed)");
  }
  VIGIL_RETURN_IF_ERROR(out.Parse());
  return out.Validate(limits);
}

Result<Labels> ToLabels(const prometheus::TimeSeries& series) {
  std::vector<Label> pairs;
  pairs.reserve(static_cast<size_t>(series.labels_size()));
  for (const auto& l : series.labels()) pairs.push_back(Label{l.name(), l.value()});
  return Labels::FromPairs(std::move(pairs));
}

namespace {

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

size_t LabelSize(const LabelView& l) {
  return 1 + VarintSize(l.name.size()) + l.name.size() + 1 + VarintSize(l.value.size()) +
         l.value.size();
}

}  // namespace

void WriteRequestEncoder::Add(std::span<const LabelView> labels, int64_t t_ms, double v) {
  // TimeSeries { labels = 1: Label { name = 1, value = 2 }, samples = 2: Sample { value = 1
  // (fixed64), timestamp = 2 (varint) } }, as field 1 of WriteRequest.
  const uint64_t t = static_cast<uint64_t>(t_ms);
  const size_t sample_size = 1 + 8 + 1 + VarintSize(t);
  size_t series_size = 1 + VarintSize(sample_size) + sample_size;
  for (const LabelView& l : labels) {
    const size_t n = LabelSize(l);
    series_size += 1 + VarintSize(n) + n;
  }
  bytes_ += '\x0a';
  PutVarint(bytes_, series_size);
  for (const LabelView& l : labels) {
    bytes_ += '\x0a';
    PutVarint(bytes_, LabelSize(l));
    bytes_ += '\x0a';
    PutVarint(bytes_, l.name.size());
    bytes_ += l.name;
    bytes_ += '\x12';
    PutVarint(bytes_, l.value.size());
    bytes_ += l.value;
  }
  bytes_ += '\x12';
  PutVarint(bytes_, sample_size);
  bytes_ += '\x09';
  char raw[8];
  std::memcpy(raw, &v, 8);  // little-endian, as protobuf's fixed64
  bytes_.append(raw, 8);
  bytes_ += '\x10';
  PutVarint(bytes_, t);
  ++samples_;
}

void WriteRequestEncoder::Append(std::string_view serialized, size_t samples) {
  bytes_ += serialized;
  samples_ += samples;
}

}  // namespace vigil::remote
