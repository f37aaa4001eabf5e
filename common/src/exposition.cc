#include "vigil/common/exposition.h"
#include <algorithm>

#include <array>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

namespace vigil::expo {

Format FormatFromContentType(std::string_view ct) {
  return ct.find("application/openmetrics-text") != std::string_view::npos ? Format::kOpenMetrics
                                                                           : Format::kText;
}

std::string_view ContentType(Format f) {
  return f == Format::kOpenMetrics ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                                   : "text/plain; version=0.0.4; charset=utf-8";
}

std::string_view MetricTypeName(MetricType t, Format f) {
  switch (t) {
    case MetricType::kUnknown:
      return f == Format::kText ? "untyped" : "unknown";
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
    case MetricType::kSummary:
      return "summary";
    case MetricType::kGaugeHistogram:
      return "gaugehistogram";
    case MetricType::kStateSet:
      return "stateset";
    case MetricType::kInfo:
      return "info";
  }
  return "untyped";
}

bool ParseValue(std::string_view s, double& v) {
  std::string_view t = s;
  bool neg = false;
  if (!t.empty() && (t[0] == '+' || t[0] == '-')) {
    neg = t[0] == '-';
    t.remove_prefix(1);
  }
  if (t.empty() || t[0] == '+' || t[0] == '-') return false;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (p != t.data() + t.size()) return false;
  if (ec == std::errc::result_out_of_range) {
    // Go returns ±Inf for overflow and 0 for underflow, both with an error; Prometheus rejects
    // them. So do we.
    return false;
  }
  if (ec != std::errc()) return false;
  if (neg) v = -v;
  return true;
}

namespace {

bool IsNameStart(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }
bool IsBlank(char c) { return c == ' ' || c == '\t'; }

std::string Show(char c) {
  if (c == '\n') return "end of line";
  if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
    char buf[8];
    std::snprintf(buf, sizeof(buf), "0x%02x", static_cast<unsigned char>(c));
    return buf;
  }
  return std::string("'") + c + "'";
}

// Suffixes that put a sample into a family of the given type.
bool SampleBelongs(std::string_view sample, std::string_view family, MetricType type,
                   Format format) {
  if (sample == family) {
    // An OpenMetrics counter's samples are only name_total and name_created.
    return !(format == Format::kOpenMetrics &&
             (type == MetricType::kCounter || type == MetricType::kInfo));
  }
  if (!sample.starts_with(family)) return false;
  std::string_view suffix = sample.substr(family.size());
  switch (type) {
    case MetricType::kCounter:
      return suffix == "_total" || suffix == "_created";
    case MetricType::kHistogram:
      return suffix == "_bucket" || suffix == "_sum" || suffix == "_count" || suffix == "_created";
    case MetricType::kGaugeHistogram:
      return suffix == "_bucket" || suffix == "_gsum" || suffix == "_gcount";
    case MetricType::kSummary:
      return suffix == "_sum" || suffix == "_count" || suffix == "_created";
    case MetricType::kInfo:
      return suffix == "_info";
    default:
      return false;
  }
}

class Parser {
 public:
  Parser(std::string_view body, Format format, const ParseLimits& limits)
      : body_(body), format_(format), limits_(limits) {}

  Result<std::vector<Family>> Run() {
    bool eof_seen = false;
    while (pos_ < body_.size()) {
      line_start_ = pos_;
      size_t nl = body_.find('\n', pos_);
      line_end_ = nl == std::string_view::npos ? body_.size() : nl;
      if (eof_seen) return Error("content after # EOF");
      if (line_end_ - line_start_ > limits_.max_line_bytes) {
        return Error("line longer than " + std::to_string(limits_.max_line_bytes) + " bytes");
      }
      if (format_ == Format::kOpenMetrics && nl == std::string_view::npos) {
        // OpenMetrics lines all end in "\n", "# EOF" included.
        if (body_.substr(line_start_, line_end_ - line_start_) != "# EOF") {
          pos_ = line_end_;
          return Error("expected a newline at the end of the line");
        }
      }
      Status st = Line(eof_seen);
      if (!st.ok()) return st;
      pos_ = line_end_ + 1;
      ++line_;
    }
    if (format_ == Format::kOpenMetrics && !eof_seen) {
      return InvalidArgument("line " + std::to_string(line_) + ": expected \"# EOF\" at the end");
    }
    return std::move(families_);
  }

 private:
  Status Error(const std::string& what) const {
    return InvalidArgument("line " + std::to_string(line_) + ", column " +
                           std::to_string(pos_ - line_start_ + 1) + ": " + what);
  }
  char Peek() const { return pos_ < line_end_ ? body_[pos_] : '\n'; }
  bool AtEnd() const { return pos_ >= line_end_; }
  void SkipBlanks() {
    while (pos_ < line_end_ && IsBlank(body_[pos_])) ++pos_;
  }
  Status Expect(char c, std::string_view context) {
    if (Peek() != c) {
      return Error("expected '" + std::string(1, c) + "' " + std::string(context) + ", got " +
                   Show(Peek()));
    }
    ++pos_;
    return Status::Ok();
  }

  std::string_view Name() {
    size_t start = pos_;
    if (pos_ < line_end_ && IsNameStart(body_[pos_])) {
      ++pos_;
      while (pos_ < line_end_ && IsNameChar(body_[pos_])) ++pos_;
    }
    return body_.substr(start, pos_ - start);
  }

  // A token up to the next blank or end of line.
  std::string_view Token() {
    size_t start = pos_;
    while (pos_ < line_end_ && !IsBlank(body_[pos_])) ++pos_;
    return body_.substr(start, pos_ - start);
  }

  Status Line(bool& eof_seen) {
    if (format_ == Format::kText) SkipBlanks();
    if (AtEnd()) {
      if (format_ == Format::kOpenMetrics) return Error("empty line");
      return Status::Ok();
    }
    if (Peek() == '#') return Comment(eof_seen);
    return SampleLine();
  }

  Status Comment(bool& eof_seen) {
    ++pos_;
    if (format_ == Format::kOpenMetrics) {
      if (body_.substr(pos_, line_end_ - pos_) == " EOF") {
        eof_seen = true;
        return Status::Ok();
      }
      if (Peek() != ' ') return Error("expected ' ' after '#', got " + Show(Peek()));
      ++pos_;
    } else {
      SkipBlanks();
    }
    size_t kw_start = pos_;
    std::string_view keyword = Token();
    if (keyword != "HELP" && keyword != "TYPE" &&
        !(keyword == "UNIT" && format_ == Format::kOpenMetrics)) {
      if (format_ == Format::kText) return Status::Ok();  // any other comment
      pos_ = kw_start;
      return Error("expected HELP, TYPE, UNIT or EOF after '# ', got \"" + std::string(keyword) +
                   "\"");
    }
    if (!IsBlank(Peek())) return Error("expected a metric name after " + std::string(keyword));
    SkipBlanks();
    std::string_view name = Name();
    if (name.empty()) return Error("expected a metric name, got " + Show(Peek()));
    Family& fam = FamilyFor(name);
    if (keyword == "HELP") {
      if (AtEnd()) return Status::Ok();
      if (!IsBlank(Peek())) return Error("expected ' ' after the metric name, got " + Show(Peek()));
      ++pos_;
      if (format_ == Format::kText) SkipBlanks();
      return Help(fam);
    }
    if (!IsBlank(Peek())) return Error("expected ' ' after the metric name, got " + Show(Peek()));
    SkipBlanks();
    std::string_view value = body_.substr(pos_, line_end_ - pos_);
    if (format_ == Format::kText) {
      while (!value.empty() && IsBlank(value.back())) value.remove_suffix(1);
    }
    if (keyword == "UNIT") {
      if (!value.empty() && !name.ends_with("_" + std::string(value))) {
        return Error("unit \"" + std::string(value) + "\" is not a suffix of the metric name");
      }
      fam.unit = std::string(value);
      return Status::Ok();
    }
    static const std::array<std::pair<std::string_view, MetricType>, 9> kTypes = {{
        {"counter", MetricType::kCounter},
        {"gauge", MetricType::kGauge},
        {"histogram", MetricType::kHistogram},
        {"summary", MetricType::kSummary},
        {"untyped", MetricType::kUnknown},
        {"unknown", MetricType::kUnknown},
        {"gaugehistogram", MetricType::kGaugeHistogram},
        {"stateset", MetricType::kStateSet},
        {"info", MetricType::kInfo},
    }};
    for (const auto& [tname, type] : kTypes) {
      const bool allowed = format_ == Format::kOpenMetrics
                               ? tname != "untyped"
                               : static_cast<int>(type) <= 4 && tname != "unknown";
      if (tname == value && allowed) {
        if (!fam.samples.empty())
          return Error("TYPE for " + std::string(name) + " after its samples");
        fam.type = type;
        return Status::Ok();
      }
    }
    return Error("invalid metric type \"" + std::string(value) + "\"");
  }

  Status Help(Family& fam) {
    std::string help;
    while (!AtEnd()) {
      char c = body_[pos_];
      if (c == '\\') {
        ++pos_;
        char e = Peek();
        if (e == '\\') {
          help += '\\';
        } else if (e == 'n') {
          help += '\n';
        } else if (e == '"' && format_ == Format::kOpenMetrics) {
          help += '"';
        } else if (format_ == Format::kText && e != '\n') {
          // The text format keeps unknown escapes as they are.
          help += '\\';
          help += e;
        } else {
          return Error("invalid escape sequence in HELP: \\" +
                       std::string(e == '\n' ? "" : std::string(1, e)));
        }
        ++pos_;
        continue;
      }
      help += c;
      ++pos_;
    }
    fam.help = std::move(help);
    return Status::Ok();
  }

  Family& FamilyFor(std::string_view name) {
    if (!families_.empty() && families_.back().name == name) return families_.back();
    Family f;
    f.name = std::string(name);
    families_.push_back(std::move(f));
    return families_.back();
  }

  Status LabelValue(std::string& out) {
    VIGIL_RETURN_IF_ERROR(Expect('"', "to open a label value"));
    for (;;) {
      if (AtEnd()) return Error("unterminated label value");
      char c = body_[pos_];
      if (c == '"') {
        ++pos_;
        break;
      }
      if (c == '\\') {
        ++pos_;
        char e = Peek();
        if (e == '\\' || e == '"') {
          out += e;
        } else if (e == 'n') {
          out += '\n';
        } else {
          return Error("invalid escape sequence in label value: \\" +
                       (e == '\n' ? std::string() : std::string(1, e)));
        }
        ++pos_;
      } else {
        out += c;
        ++pos_;
      }
      if (out.size() > limits_.max_label_value_bytes) {
        return Error("label value longer than " + std::to_string(limits_.max_label_value_bytes) +
                     " bytes");
      }
    }
    if (!IsValidUtf8(out)) return Error("label value is not valid UTF-8");
    return Status::Ok();
  }

  // {name="value",...}; the opening brace is at pos_.
  Status LabelSet(std::vector<Label>& labels) {
    ++pos_;
    for (;;) {
      if (format_ == Format::kText) SkipBlanks();
      if (Peek() == '}') {
        ++pos_;
        return Status::Ok();
      }
      size_t name_pos = pos_;
      std::string_view name = Name();
      if (name.empty() || name.find(':') != std::string_view::npos) {
        pos_ = name_pos;
        return Error("expected a label name, got " + Show(Peek()));
      }
      if (name.size() > limits_.max_label_name_bytes) return Error("label name too long");
      if (format_ == Format::kText) SkipBlanks();
      VIGIL_RETURN_IF_ERROR(Expect('=', "after label name \"" + std::string(name) + "\""));
      if (format_ == Format::kText) SkipBlanks();
      std::string value;
      VIGIL_RETURN_IF_ERROR(LabelValue(value));
      for (const Label& l : labels) {
        if (l.name == name) {
          pos_ = name_pos;
          return Error("duplicate label name \"" + std::string(name) + "\"");
        }
      }
      if (labels.size() >= limits_.max_labels_per_sample) {
        return Error("more than " + std::to_string(limits_.max_labels_per_sample) + " labels");
      }
      labels.push_back(Label{std::string(name), std::move(value)});
      if (format_ == Format::kText) SkipBlanks();
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      if (Peek() != '}') return Error("expected ',' or '}' after a label, got " + Show(Peek()));
    }
  }

  Result<double> Value(std::string_view context) {
    size_t start = pos_;
    std::string_view tok = Token();
    if (tok.empty()) return Error("expected a " + std::string(context) + ", got " + Show(Peek()));
    double v;
    if (!ParseValue(tok, v)) {
      pos_ = start;
      return Error("invalid " + std::string(context) + " \"" + std::string(tok) + "\"");
    }
    return v;
  }

  Status SampleLine() {
    std::string_view name = Name();
    if (name.empty()) return Error("expected a metric name or '#', got " + Show(Peek()));
    std::vector<Label> labels;
    labels.push_back(Label{std::string(kMetricNameLabel), std::string(name)});
    size_t mark = pos_;
    if (format_ == Format::kText) SkipBlanks();
    if (Peek() == '{') {
      VIGIL_RETURN_IF_ERROR(LabelSet(labels));
      mark = pos_;
      if (format_ == Format::kText) SkipBlanks();
    }
    if (pos_ == mark) {
      if (!IsBlank(Peek())) return Error("expected ' ' before the value, got " + Show(Peek()));
      SkipBlanks();
    }
    Sample s;
    VIGIL_ASSIGN_OR_RETURN(s.value, Value("value"));
    if (format_ == Format::kText) SkipBlanks();
    if (!AtEnd() && !(format_ == Format::kOpenMetrics && body_.substr(pos_, 2) == " #")) {
      if (format_ == Format::kOpenMetrics) {
        VIGIL_RETURN_IF_ERROR(Expect(' ', "before the timestamp"));
      }
      size_t ts_pos = pos_;
      std::string_view tok = Token();
      if (format_ == Format::kText) {
        int64_t ts;
        auto [p, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), ts);
        if (ec != std::errc() || p != tok.data() + tok.size()) {
          pos_ = ts_pos;
          return Error("invalid timestamp \"" + std::string(tok) + "\" (want milliseconds)");
        }
        s.timestamp_ms = ts;
        SkipBlanks();
      } else {
        double secs;
        if (!ParseValue(tok, secs) || !std::isfinite(secs) || std::fabs(secs) > 9.2e15) {
          pos_ = ts_pos;
          return Error("invalid timestamp \"" + std::string(tok) + "\" (want seconds)");
        }
        s.timestamp_ms = static_cast<int64_t>(std::llround(secs * 1000));
      }
    }
    if (format_ == Format::kOpenMetrics && body_.substr(pos_, 2) == " #") {
      VIGIL_RETURN_IF_ERROR(Exemplar());
    }
    if (!AtEnd()) return Error("unexpected " + Show(Peek()) + " after the sample");
    if (++sample_count_ > limits_.max_samples) {
      return Error("more than " + std::to_string(limits_.max_samples) + " samples");
    }
    s.labels = Labels::FromPairs(std::move(labels)).value();  // duplicates were rejected above
    Family* fam = nullptr;
    if (!families_.empty() &&
        SampleBelongs(name, families_.back().name, families_.back().type, format_)) {
      fam = &families_.back();
    } else if (format_ == Format::kOpenMetrics && !families_.empty() &&
               families_.back().samples.empty() && families_.back().type != MetricType::kUnknown) {
      return Error("sample \"" + std::string(name) + "\" does not belong to family \"" +
                   families_.back().name + "\" of type " +
                   std::string(MetricTypeName(families_.back().type, format_)));
    } else {
      fam = &FamilyFor(name);
    }
    fam->samples.push_back(std::move(s));
    return Status::Ok();
  }

  // " # {labels} value [timestamp]": checked, then dropped.
  Status Exemplar() {
    pos_ += 2;
    VIGIL_RETURN_IF_ERROR(Expect(' ', "after '#' of an exemplar"));
    if (Peek() != '{')
      return Error("expected '{' to open the exemplar's labels, got " + Show(Peek()));
    std::vector<Label> labels;
    VIGIL_RETURN_IF_ERROR(LabelSet(labels));
    size_t runes = 0;
    for (const auto& l : labels) runes += l.name.size() + l.value.size();
    if (runes > 128) return Error("exemplar labels longer than 128 characters");
    VIGIL_RETURN_IF_ERROR(Expect(' ', "before the exemplar value"));
    VIGIL_RETURN_IF_ERROR(Value("exemplar value").status());
    if (!AtEnd()) {
      VIGIL_RETURN_IF_ERROR(Expect(' ', "before the exemplar timestamp"));
      VIGIL_RETURN_IF_ERROR(Value("exemplar timestamp").status());
    }
    return Status::Ok();
  }

  std::string_view body_;
  Format format_;
  const ParseLimits& limits_;
  size_t pos_ = 0;
  size_t line_start_ = 0;
  size_t line_end_ = 0;
  size_t line_ = 1;
  size_t sample_count_ = 0;
  std::vector<Family> families_;
};

void AppendEscaped(std::string& out, std::string_view s, bool quotes) {
  // Runs without a character to escape (nearly every value) are appended whole.
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c != '\\' && c != '\n' && (c != '"' || !quotes)) continue;
    out.append(s.data() + start, i - start);
    out += c == '\\' ? "\\\\" : c == '\n' ? "\\n" : "\\\"";
    start = i + 1;
  }
  out.append(s.data() + start, s.size() - start);
}

}  // namespace

Result<std::vector<Family>> Parse(std::string_view body, Format format, const ParseLimits& limits) {
  return Parser(body, format, limits).Run();
}

void AppendValue(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  // Go's shortest 'g': the shortest digits that round-trip, in exponent form when the decimal
  // exponent is below -4 or at least 6 ("1e+06", "1.5e-07"), else in fixed form.
  char buf[64];
  auto [p, ec] = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<size_t>(p - buf));
  size_t e = sci.find('e');
  int exp = 0;
  std::from_chars(sci.data() + e + (sci[e + 1] == '+' ? 2 : 1), sci.data() + sci.size(), exp);
  if (exp < -4 || exp >= 6) {
    out += sci;
    return;
  }
  auto [q, ec2] = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed);
  out.append(buf, q);
}

std::string FormatValue(double v) {
  std::string out;
  AppendValue(out, v);
  return out;
}

void AppendFamilyHeader(std::string& out, std::string_view name, MetricType type,
                        std::string_view help, std::string_view unit, Format format) {
  if (format == Format::kOpenMetrics && type == MetricType::kCounter) {
    if (name.ends_with("_total")) {
      name.remove_suffix(6);
    } else {
      type = MetricType::kUnknown;
    }
  }
  if (!help.empty()) {
    out += "# HELP ";
    out += name;
    out += ' ';
    AppendEscaped(out, help, format == Format::kOpenMetrics);
    out += '\n';
  }
  out += "# TYPE ";
  out += name;
  out += ' ';
  out += MetricTypeName(type, format);
  out += '\n';
  if (!unit.empty() && format == Format::kOpenMetrics) {
    out += "# UNIT ";
    out += name;
    out += ' ';
    out += unit;
    out += '\n';
  }
}

void AppendEscapedLabelValue(std::string& out, std::string_view value) {
  AppendEscaped(out, value, true);
}

void AppendSeries(std::string& out, const Labels& labels) {
  out += labels.MetricName();
  bool first = true;
  for (const Label& l : labels) {
    if (l.name == kMetricNameLabel) continue;
    out += first ? '{' : ',';
    first = false;
    out += l.name;
    out += "=\"";
    AppendEscaped(out, l.value, true);
    out += '"';
  }
  if (!first) out += '}';
}

void Append(std::string& out, const std::vector<Family>& families, Format format) {
  for (const Family& f : families) {
    // A counter family whose samples are already named as OpenMetrics names them (name_total,
    // name_created) keeps its type; AppendFamilyHeader decides the rest.
    std::string_view name = f.name;
    MetricType type = f.type;
    if (format == Format::kOpenMetrics && type == MetricType::kCounter &&
        !name.ends_with("_total") && !f.samples.empty() &&
        std::all_of(f.samples.begin(), f.samples.end(), [&](const Sample& x) {
          const std::string_view n = x.labels.MetricName();
          return n.size() > name.size() && n.starts_with(name) &&
                 (n.substr(name.size()) == "_total" || n.substr(name.size()) == "_created");
        })) {
      // Named the OpenMetrics way already: write the header as is.
      out += f.help.empty() ? "" : "# HELP " + f.name + " ";
      if (!f.help.empty()) {
        AppendEscaped(out, f.help, true);
        out += '\n';
      }
      out += "# TYPE " + f.name + " counter\n";
      if (!f.unit.empty()) out += "# UNIT " + f.name + " " + f.unit + "\n";
    } else {
      AppendFamilyHeader(out, name, type, f.help, f.unit, format);
    }
    for (const Sample& s : f.samples) {
      AppendSeries(out, s.labels);
      out += ' ';
      AppendValue(out, s.value);
      if (s.timestamp_ms) {
        out += ' ';
        if (format == Format::kOpenMetrics) {
          int64_t ms = *s.timestamp_ms;
          char buf[48];
          std::snprintf(buf, sizeof(buf), "%s%lld.%03lld", ms < 0 ? "-" : "",
                        static_cast<long long>(std::llabs(ms) / 1000),
                        static_cast<long long>(std::llabs(ms) % 1000));
          out += buf;
        } else {
          out += std::to_string(*s.timestamp_ms);
        }
      }
      out += '\n';
    }
  }
}

void AppendEnd(std::string& out, Format format) {
  if (format == Format::kOpenMetrics) out += "# EOF\n";
}

std::string Write(const std::vector<Family>& families, Format format) {
  std::string out;
  Append(out, families, format);
  AppendEnd(out, format);
  return out;
}

}  // namespace vigil::expo
