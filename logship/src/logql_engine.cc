#include "vigil/logship/logql_engine.h"

#include <re2/re2.h>

#include <algorithm>
#include <charconv>
#include <map>
#include <nlohmann/json.hpp>
#include <queue>

namespace vigil::logql {
namespace {

using nlohmann::json;

// A label name as Loki makes one from a JSON key or logfmt key: invalid characters become "_".
std::string SanitizeName(std::string_view key) {
  std::string out;
  for (size_t i = 0; i < key.size(); ++i) {
    const char c = key[i];
    const bool ok = std::isalpha(static_cast<unsigned char>(c)) || c == '_' ||
                    (i > 0 && std::isdigit(static_cast<unsigned char>(c)));
    out += ok ? c : '_';
  }
  if (out.empty()) out = "_";
  return out;
}

// A line_format template: literal text and {{.name}} references, the subset supported.
struct Template {
  std::vector<std::pair<bool, std::string>> parts;  // (is a label, text or name)
};

Result<Template> CompileTemplate(std::string_view t) {
  Template out;
  size_t i = 0;
  while (i < t.size()) {
    const size_t open = t.find("{{", i);
    if (open == std::string_view::npos) {
      out.parts.emplace_back(false, std::string(t.substr(i)));
      break;
    }
    if (open > i) out.parts.emplace_back(false, std::string(t.substr(i, open - i)));
    const size_t close = t.find("}}", open);
    if (close == std::string_view::npos) {
      return InvalidArgument("line_format: unclosed action at byte " + std::to_string(open));
    }
    std::string_view body = t.substr(open + 2, close - open - 2);
    while (!body.empty() && body.front() == ' ') body.remove_prefix(1);
    while (!body.empty() && body.back() == ' ') body.remove_suffix(1);
    if (body.size() < 2 || body.front() != '.' || SanitizeName(body.substr(1)) != body.substr(1)) {
      return InvalidArgument("line_format: \"{{" +
                             std::string(t.substr(open + 2, close - open - 2)) +
                             "}}\" is not supported; this subset knows {{.label}} only");
    }
    out.parts.emplace_back(true, std::string(body.substr(1)));
    i = close + 2;
  }
  return out;
}

// The compiled pipeline of a log selector, run entry by entry.
class Pipeline {
 public:
  static Result<Pipeline> Make(const LogSelector& sel) {
    Pipeline p;
    p.stages_ = &sel.stages;
    for (const Stage& s : sel.stages) {
      if (s.kind == Stage::Kind::kLineFormat) {
        VIGIL_ASSIGN_OR_RETURN(Template t, CompileTemplate(s.format));
        p.templates_.push_back(std::move(t));
      }
    }
    return p;
  }

  // Runs the stages on one entry of a stream with `base` labels. False: filtered out. Else
  // `labels` and `line` are the entry's result.
  bool Run(const Labels& base, std::string_view in, Labels& labels, std::string& line) {
    line.assign(in);
    extracted_.clear();
    bool have_extracted = false;
    size_t tmpl = 0;
    for (const Stage& s : *stages_) {
      switch (s.kind) {
        case Stage::Kind::kLineFilter:
          if (!LineMatches(s.line, line)) return false;
          break;
        case Stage::Kind::kJson:
          have_extracted = true;
          if (!Json(line)) Set("__error__", "JSONParserErr", base);
          break;
        case Stage::Kind::kLogfmt:
          have_extracted = true;
          if (!Logfmt(line)) Set("__error__", "LogfmtParserErr", base);
          break;
        case Stage::Kind::kLabelFilter: {
          bool any = false;
          for (const auto& all : s.any_of) {
            bool ok = true;
            for (const LabelFilter& f : all) {
              if (!LabelMatches(f, Get(base, f.name), base, have_extracted)) {
                ok = false;
                break;
              }
            }
            if (ok) {
              any = true;
              break;
            }
          }
          if (!any) return false;
          break;
        }
        case Stage::Kind::kLineFormat: {
          std::string out;
          for (const auto& [is_label, text] : templates_[tmpl].parts) {
            out += is_label ? std::string(Get(base, text)) : text;
          }
          ++tmpl;
          line = std::move(out);
          break;
        }
      }
    }
    if (extracted_.empty()) {
      labels = base;
    } else {
      LabelsBuilder b(base);
      for (const auto& [n, v] : extracted_) b.Set(n, v);
      labels = b.Build();
    }
    return true;
  }

 private:
  static bool LineMatches(const LineFilter& f, std::string_view line) {
    switch (f.op) {
      case LineFilter::Op::kContains:
        return line.find(f.value) != std::string_view::npos;
      case LineFilter::Op::kNotContains:
        return line.find(f.value) == std::string_view::npos;
      case LineFilter::Op::kMatches:
        return re2::RE2::PartialMatch(re2::StringPiece(line.data(), line.size()), *f.re);
      case LineFilter::Op::kNotMatches:
        return !re2::RE2::PartialMatch(re2::StringPiece(line.data(), line.size()), *f.re);
    }
    return false;
  }

  bool LabelMatches(const LabelFilter& f, std::string_view v, const Labels& base, bool) {
    switch (f.op) {
      case LabelFilter::Op::kEq:
        return v == f.value;
      case LabelFilter::Op::kNe:
        return v != f.value;
      case LabelFilter::Op::kRe:
        return re2::RE2::FullMatch(re2::StringPiece(v.data(), v.size()), *f.re);
      case LabelFilter::Op::kNre:
        return !re2::RE2::FullMatch(re2::StringPiece(v.data(), v.size()), *f.re);
      default:
        break;
    }
    double x = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
    if (ec != std::errc() || p != v.data() + v.size() || v.empty()) {
      // As Loki: the entry is kept, marked with the error.
      Set("__error__", "LabelFilterErr", base);
      return true;
    }
    switch (f.op) {
      case LabelFilter::Op::kGt:
        return x > f.number;
      case LabelFilter::Op::kGe:
        return x >= f.number;
      case LabelFilter::Op::kLt:
        return x < f.number;
      case LabelFilter::Op::kLe:
        return x <= f.number;
      case LabelFilter::Op::kNumEq:
        return x == f.number;
      case LabelFilter::Op::kNumNe:
        return x != f.number;
      default:
        return false;
    }
  }

  std::string_view Get(const Labels& base, std::string_view name) const {
    for (auto it = extracted_.rbegin(); it != extracted_.rend(); ++it) {
      if (it->first == name) return it->second;
    }
    return base.Get(name);
  }

  void Set(std::string name, std::string value, const Labels& base) {
    if (name != "__error__" && base.Has(name)) name += "_extracted";
    for (auto& [n, v] : extracted_) {
      if (n == name) {
        v = std::move(value);
        return;
      }
    }
    extracted_.emplace_back(std::move(name), std::move(value));
  }

  bool Json(std::string_view line) {
    json doc;
    try {
      doc = json::parse(line, nullptr, false);
    } catch (const json::exception&) {
      return false;
    }
    if (doc.is_discarded() || !doc.is_object()) return false;
    Flatten(doc, "", *current_base_);
    return true;
  }
  void Flatten(const json& obj, const std::string& prefix, const Labels& base) {
    for (const auto& [k, v] : obj.items()) {
      const std::string name = prefix.empty() ? SanitizeName(k) : prefix + "_" + SanitizeName(k);
      if (v.is_object()) {
        Flatten(v, name, base);
      } else if (v.is_string()) {
        Set(name, v.get<std::string>(), base);
      } else if (v.is_number() || v.is_boolean()) {
        Set(name, v.dump(), base);
      } else if (v.is_null()) {
        Set(name, "", base);
      }  // arrays are skipped, as Loki does
    }
  }

  bool Logfmt(std::string_view line) {
    size_t i = 0;
    while (i < line.size()) {
      while (i < line.size() && line[i] == ' ') ++i;
      if (i >= line.size()) break;
      const size_t start = i;
      while (i < line.size() && line[i] != '=' && line[i] != ' ') ++i;
      const std::string_view key = line.substr(start, i - start);
      std::string value;
      if (i < line.size() && line[i] == '=') {
        ++i;
        if (i < line.size() && line[i] == '"') {
          ++i;
          bool closed = false;
          while (i < line.size()) {
            if (line[i] == '\\' && i + 1 < line.size()) {
              const char e = line[i + 1];
              value += e == 'n' ? '\n' : e == 't' ? '\t' : e;
              i += 2;
            } else if (line[i] == '"') {
              closed = true;
              ++i;
              break;
            } else {
              value += line[i++];
            }
          }
          if (!closed) return false;
        } else {
          const size_t vstart = i;
          while (i < line.size() && line[i] != ' ') ++i;
          value = std::string(line.substr(vstart, i - vstart));
        }
      }
      if (key.empty()) return false;
      Set(SanitizeName(key), std::move(value), *current_base_);
    }
    return true;
  }

 public:
  void SetBase(const Labels* base) { current_base_ = base; }

 private:
  const std::vector<Stage>* stages_ = nullptr;
  std::vector<Template> templates_;
  std::vector<std::pair<std::string, std::string>> extracted_;
  const Labels* current_base_ = nullptr;
};

// Runs the selector over [start, end) and calls fn(labels, ts, line) for every entry that
// passes, stream by stream, each in time order.
template <typename Fn>
Status Scan(const logship::LogStore& store, const LogSelector& sel, int64_t start_ns,
            int64_t end_ns, const EngineLimits& limits, Fn&& fn) {
  VIGIL_ASSIGN_OR_RETURN(Pipeline pipeline, Pipeline::Make(sel));
  size_t scanned = 0;
  Status over;
  for (const auto& stream : store.Select(sel.matchers)) {
    pipeline.SetBase(&stream.labels);
    Labels labels;
    std::string line;
    bool more = true;
    VIGIL_RETURN_IF_ERROR(
        store.ForEachEntry(stream.id, start_ns, end_ns, [&](const logship::LogEntry& e) {
          if (++scanned > limits.max_entries_scanned) {
            over = OutOfRange("the query would scan more than " +
                              std::to_string(limits.max_entries_scanned) +
                              " entries; narrow the selector or the time range");
            return false;
          }
          if (!pipeline.Run(stream.labels, e.line, labels, line)) return true;
          more = fn(labels, e.ts_ns, line);
          return more;
        }));
    VIGIL_RETURN_IF_ERROR(over);
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<StreamResult>> RunLogQuery(const logship::LogStore& store,
                                              const LogSelector& selector, int64_t start_ns,
                                              int64_t end_ns, size_t limit, bool forward,
                                              const EngineLimits& limits) {
  // The `limit` entries to return, kept in a heap whose top is the first to give up: the oldest
  // when going backward (newest wanted), the newest when going forward.
  struct Item {
    int64_t ts;
    uint64_t order;
    size_t stream;
    std::string line;
  };
  auto worse = [forward](const Item& a, const Item& b) {
    // true when a is preferred over b (so the heap's top is the least preferred)
    return forward ? std::tie(a.ts, a.order) < std::tie(b.ts, b.order)
                   : std::tie(a.ts, a.order) > std::tie(b.ts, b.order);
  };
  std::priority_queue<Item, std::vector<Item>, decltype(worse)> heap(worse);
  std::map<Labels, size_t> stream_index;
  std::vector<Labels> streams;
  uint64_t order = 0;
  if (limit == 0) return std::vector<StreamResult>{};
  VIGIL_RETURN_IF_ERROR(Scan(store, selector, start_ns, end_ns, limits,
                             [&](const Labels& labels, int64_t ts, const std::string& line) {
                               auto [it, fresh] = stream_index.emplace(labels, streams.size());
                               if (fresh) streams.push_back(labels);
                               Item item{ts, order++, it->second, line};
                               if (heap.size() < limit) {
                                 heap.push(std::move(item));
                               } else if (worse(item, heap.top())) {
                                 heap.pop();
                                 heap.push(std::move(item));
                               }
                               return true;
                             }));
  std::vector<Item> items;
  while (!heap.empty()) {
    items.push_back(heap.top());
    heap.pop();
  }
  std::reverse(items.begin(), items.end());  // most preferred first: the query's direction
  std::map<size_t, StreamResult> by_stream;
  for (auto& item : items) {
    auto& r = by_stream[item.stream];
    r.labels = streams[item.stream];
    r.entries.emplace_back(item.ts, std::move(item.line));
  }
  std::vector<StreamResult> out;
  for (auto& [i, r] : by_stream) out.push_back(std::move(r));
  if (out.size() > limits.max_series) {
    return OutOfRange("the query returns more than " + std::to_string(limits.max_series) +
                      " streams");
  }
  return out;
}

namespace {

// What a metric query is evaluated over: a store, or parts pushed down.
struct Source {
  const logship::LogStore* store = nullptr;
  const PushDownFn* push = nullptr;
};

Result<std::vector<Series>> Eval(const Source& src, const MetricExpr& e, int64_t start_ns,
                                 int64_t end_ns, int64_t step_ns, const EngineLimits& limits) {
  if (src.push != nullptr) {
    VIGIL_ASSIGN_OR_RETURN(std::optional<std::vector<Series>> pushed,
                           (*src.push)(e, start_ns, end_ns, step_ns));
    if (pushed) return std::move(*pushed);
  }
  if (e.kind == MetricExpr::Kind::kCompare) {
    VIGIL_ASSIGN_OR_RETURN(std::vector<Series> in,
                           Eval(src, *e.inner, start_ns, end_ns, step_ns, limits));
    auto holds = [&](double v) {
      switch (e.cmp) {
        case MetricExpr::CmpOp::kGt:
          return v > e.threshold;
        case MetricExpr::CmpOp::kGe:
          return v >= e.threshold;
        case MetricExpr::CmpOp::kLt:
          return v < e.threshold;
        case MetricExpr::CmpOp::kLe:
          return v <= e.threshold;
        case MetricExpr::CmpOp::kEq:
          return v == e.threshold;
        case MetricExpr::CmpOp::kNe:
          return v != e.threshold;
      }
      return false;
    };
    std::vector<Series> out;
    for (auto& s : in) {
      std::erase_if(s.points, [&](const auto& p) { return !holds(p.second); });
      if (!s.points.empty()) out.push_back(std::move(s));
    }
    return out;
  }
  if (e.kind == MetricExpr::Kind::kRange) {
    if (src.store == nullptr) return Internal("a range function with no store to read");
    // Each result series' entries (time, bytes) over (start - range, end], then windows.
    std::map<Labels, std::vector<std::pair<int64_t, size_t>>> entries;
    VIGIL_RETURN_IF_ERROR(Scan(*src.store, e.selector, start_ns - e.range_ns + 1, end_ns + 1,
                               limits,
                               [&](const Labels& labels, int64_t ts, const std::string& line) {
                                 entries[labels].emplace_back(ts, line.size());
                                 return true;
                               }));
    if (entries.size() > limits.max_series) {
      return OutOfRange("the query makes more than " + std::to_string(limits.max_series) +
                        " series");
    }
    const double range_s = static_cast<double>(e.range_ns) / 1e9;
    std::vector<Series> out;
    for (auto& [labels, list] : entries) {
      std::sort(list.begin(), list.end());  // streams merged by extracted labels
      Series s;
      s.labels = labels;
      size_t lo = 0, hi = 0;
      double bytes = 0;
      for (int64_t t = start_ns; t <= end_ns; t += step_ns) {
        while (hi < list.size() && list[hi].first <= t)
          bytes += static_cast<double>(list[hi++].second);
        while (lo < hi && list[lo].first <= t - e.range_ns)
          bytes -= static_cast<double>(list[lo++].second);
        const double count = static_cast<double>(hi - lo);
        if (count > 0) {
          double v = 0;
          switch (e.fn) {
            case MetricExpr::RangeFn::kCountOverTime:
              v = count;
              break;
            case MetricExpr::RangeFn::kRate:
              v = count / range_s;
              break;
            case MetricExpr::RangeFn::kBytesOverTime:
              v = bytes;
              break;
            case MetricExpr::RangeFn::kBytesRate:
              v = bytes / range_s;
              break;
          }
          s.points.emplace_back(t, v);
        }
        if (step_ns <= 0) break;
      }
      if (!s.points.empty()) out.push_back(std::move(s));
    }
    return out;
  }
  VIGIL_ASSIGN_OR_RETURN(std::vector<Series> in,
                         Eval(src, *e.inner, start_ns, end_ns, step_ns, limits));
  auto group_of = [&](const Labels& l) {
    LabelsBuilder b(l);
    if (!e.grouped) return Labels();
    if (e.without) {
      for (const auto& n : e.grouping) b.Del(n);
      return b.Build();
    }
    std::vector<Label> keep;
    for (const auto& n : e.grouping) {
      if (l.Has(n)) keep.push_back(Label{n, std::string(l.Get(n))});
    }
    auto r = Labels::FromPairs(std::move(keep));
    return r.ok() ? *r : Labels();
  };
  if (e.op == MetricExpr::AggOp::kTopk || e.op == MetricExpr::AggOp::kBottomk) {
    // Per step and group, the k largest (smallest); series keep their labels.
    std::map<std::pair<int64_t, Labels>, std::vector<std::pair<double, size_t>>> per;
    for (size_t i = 0; i < in.size(); ++i) {
      const Labels g = group_of(in[i].labels);
      for (const auto& [t, v] : in[i].points) per[{t, g}].emplace_back(v, i);
    }
    std::vector<Series> out(in.size());
    for (size_t i = 0; i < in.size(); ++i) out[i].labels = in[i].labels;
    for (auto& [key, list] : per) {
      const bool top = e.op == MetricExpr::AggOp::kTopk;
      std::sort(list.begin(), list.end(), [top](const auto& a, const auto& b) {
        return top ? a.first > b.first : a.first < b.first;
      });
      for (size_t j = 0; j < list.size() && j < static_cast<size_t>(e.k); ++j) {
        out[list[j].second].points.emplace_back(key.first, list[j].first);
      }
    }
    std::vector<Series> kept;
    for (auto& s : out) {
      if (s.points.empty()) continue;
      std::sort(s.points.begin(), s.points.end());
      kept.push_back(std::move(s));
    }
    return kept;
  }
  struct Acc {
    double sum = 0, min = 0, max = 0;
    size_t n = 0;
  };
  std::map<Labels, std::map<int64_t, Acc>> groups;
  for (const auto& s : in) {
    auto& g = groups[group_of(s.labels)];
    for (const auto& [t, v] : s.points) {
      Acc& a = g[t];
      if (a.n == 0) {
        a.min = a.max = v;
      } else {
        a.min = std::min(a.min, v);
        a.max = std::max(a.max, v);
      }
      a.sum += v;
      ++a.n;
    }
  }
  std::vector<Series> out;
  for (auto& [labels, points] : groups) {
    Series s;
    s.labels = labels;
    for (const auto& [t, a] : points) {
      double v = 0;
      switch (e.op) {
        case MetricExpr::AggOp::kSum:
          v = a.sum;
          break;
        case MetricExpr::AggOp::kAvg:
          v = a.sum / static_cast<double>(a.n);
          break;
        case MetricExpr::AggOp::kMin:
          v = a.min;
          break;
        case MetricExpr::AggOp::kMax:
          v = a.max;
          break;
        case MetricExpr::AggOp::kCount:
          v = static_cast<double>(a.n);
          break;
        default:
          break;
      }
      s.points.emplace_back(t, v);
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

namespace {

Result<std::vector<Series>> Run(const Source& src, const MetricExpr& expr, int64_t start_ns,
                                int64_t end_ns, int64_t step_ns, const EngineLimits& limits) {
  VIGIL_RETURN_IF_ERROR(CheckSteps(start_ns, end_ns, step_ns, limits));
  return Eval(src, expr, start_ns, end_ns, start_ns == end_ns ? 0 : step_ns, limits);
}

}  // namespace

Status CheckSteps(int64_t start_ns, int64_t end_ns, int64_t step_ns, const EngineLimits& limits) {
  if (end_ns < start_ns) return InvalidArgument("end timestamp must not be before start time");
  if (start_ns != end_ns) {
    if (step_ns <= 0) {
      return InvalidArgument(
          "zero or negative query resolution step widths are not accepted. "
          "Try a positive integer");
    }
    if ((end_ns - start_ns) / step_ns + 1 > static_cast<int64_t>(limits.max_steps)) {
      return InvalidArgument(
          "exceeded maximum resolution of " + std::to_string(limits.max_steps) +
          " points per timeseries. Try decreasing the query resolution (?step=XX)");
    }
  }
  return Status::Ok();
}

Result<std::vector<Series>> RunMetricQuery(const logship::LogStore& store, const MetricExpr& expr,
                                           int64_t start_ns, int64_t end_ns, int64_t step_ns,
                                           const EngineLimits& limits) {
  return Run({.store = &store}, expr, start_ns, end_ns, step_ns, limits);
}

Result<std::vector<Series>> RunMetricQuery(const PushDownFn& push, const MetricExpr& expr,
                                           int64_t start_ns, int64_t end_ns, int64_t step_ns,
                                           const EngineLimits& limits) {
  return Run({.push = &push}, expr, start_ns, end_ns, step_ns, limits);
}

}  // namespace vigil::logql
