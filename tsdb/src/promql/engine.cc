#include "vigil/tsdb/promql/engine.h"

#include <re2/re2.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <unordered_map>
#include <unordered_set>

#include "vigil/tsdb/promql/functions.h"
#include "vigil/tsdb/promql/parser.h"

namespace vigil::promql {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

Status ExecError(std::string msg) { return FailedPrecondition(std::move(msg)); }

Labels DropName(const Labels& l) {
  if (!l.Has(kMetricNameLabel)) return l;
  return LabelsBuilder(l).Del(kMetricNameLabel).Build();
}

// The key of a label set in maps: its (cached) 64-bit hash. Like Prometheus, the engine treats
// equal hashes as equal label sets.
uint64_t Key(const Labels& l) { return l.Hash(); }

// Prometheus' "vector cannot contain metrics with the same labelset", for a step's vector or a
// matrix of series.
template <class Items>
Status CheckUniqueLabelsets(const Items& items) {
  if (items.size() < 2) return Status::Ok();
  std::unordered_set<uint64_t> seen;
  for (const auto& x : items) {
    if (!seen.insert(Key(x.labels)).second) {
      return ExecError("vector cannot contain metrics with the same labelset");
    }
  }
  return Status::Ok();
}

// Label sets flattened to strings that compare as the label sets do (name, NUL, value, NUL,
// ...), so sorting many series is a memcmp per comparison. Exact unless a value holds a NUL,
// which `exact` reports.
std::string SortKey(const Labels& l, bool& exact) {
  std::string key;
  for (const Label& x : l) {
    if (x.value.find('\0') != std::string::npos) exact = false;
    key += x.name;
    key += '\0';
    key += x.value;
    key += '\0';
  }
  return key;
}

// The matching signature: a hash of the values of `names` (on) or of everything but `names` and
// the metric name (ignoring); a hash, as Prometheus' signatures are.
uint64_t Signature(const Labels& l, bool on, const std::vector<std::string>& names) {
  thread_local std::string buf;
  buf.clear();
  auto listed = [&](std::string_view n) {
    return std::find(names.begin(), names.end(), n) != names.end();
  };
  for (const Label& x : l) {
    const bool keep = on ? listed(x.name) : (!listed(x.name) && x.name != kMetricNameLabel);
    if (!keep) continue;
    buf += x.name;
    buf += '\xff';
    buf += x.value;
    buf += '\xfe';
  }
  return std::hash<std::string_view>{}(buf);
}

// Signatures of the series that recur at every step of a range evaluation, computed once each.
class SignatureCache {
 public:
  SignatureCache(bool on, const std::vector<std::string>& names) : on_(on), names_(names) {}
  // By the element's source series when it has one (an array slot), else by its labels.
  uint64_t operator()(const Element& el) {
    if (el.source != Element::kNoSource) {
      if (el.source >= by_source_.size()) by_source_.resize(el.source + 1, {0, false});
      auto& slot = by_source_[el.source];
      if (!slot.second) slot = {Signature(el.labels, on_, names_), true};
      return slot.first;
    }
    return (*this)(el.labels);
  }
  uint64_t operator()(const Labels& l) {
    auto [it, fresh] = cache_.try_emplace(l.Hash(), 0);
    if (fresh) it->second = Signature(l, on_, names_);
    return it->second;
  }

 private:
  bool on_;
  const std::vector<std::string>& names_;
  std::vector<std::pair<uint64_t, bool>> by_source_;
  std::unordered_map<uint64_t, uint64_t> cache_;
};

Labels KeepOnly(const Labels& l, bool on, const std::vector<std::string>& names) {
  std::vector<Label> out;
  auto listed = [&](std::string_view n) {
    return std::find(names.begin(), names.end(), n) != names.end();
  };
  for (const Label& x : l) {
    const bool keep = on ? listed(x.name) : (!listed(x.name) && x.name != kMetricNameLabel);
    if (keep) out.push_back(x);
  }
  return Labels::FromSorted(std::move(out));
}

// Go's strconv.FormatFloat(v, 'f', -1, 64): the shortest decimal that reads back the same.
std::string FormatFloatShortest(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[400];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed);
  (void)ec;
  return std::string(buf, end);
}

// Go's strconv.ParseFloat for the le label: numbers, "+Inf", "Inf", "-Inf", "NaN" (any case).
bool ParseGoFloat(std::string_view s, double& out) {
  std::string l;
  for (char c : s) l += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (l == "+inf" || l == "inf" || l == "+infinity" || l == "infinity") {
    out = kInf;
    return true;
  }
  if (l == "-inf" || l == "-infinity") {
    out = -kInf;
    return true;
  }
  if (l == "nan") {
    out = kNaN;
    return true;
  }
  std::string_view num = s;
  if (num.starts_with('+')) num.remove_prefix(1);
  if (num.empty()) return false;
  auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), out);
  return ec == std::errc() && end == num.data() + num.size();
}

bool IsStale(double v) { return tsdb::IsStaleNaN(v); }

// The expression inside any parentheses.
const Expr& Unparen(const Expr& e) {
  const Expr* x = &e;
  while (x->kind == NodeKind::kParen) x = x->args[0].get();
  return *x;
}

// A number written in the query (-1, (2)): the same in every store.
bool IsLiteral(const Expr& e) {
  const Expr& x = Unparen(e);
  if (x.kind == NodeKind::kUnary) return IsLiteral(*x.args[0]);
  return x.kind == NodeKind::kNumber;
}

// Functions whose result series each come from one argument series, labels unchanged but for the
// metric name: what a store can evaluate on its own series alone.
bool MapsSeries(const Function& f, size_t nargs) {
  switch (f.id) {
    case Fn::kAbsent:
    case Fn::kAbsentOverTime:
    case Fn::kHistogramQuantile:
    case Fn::kLabelReplace:
    case Fn::kLabelJoin:
    case Fn::kPi:
    case Fn::kScalar:
    case Fn::kSort:
    case Fn::kSortDesc:
    case Fn::kTime:
    case Fn::kVector:
      return false;
    case Fn::kDaysInMonth:
    case Fn::kDayOfMonth:
    case Fn::kDayOfWeek:
    case Fn::kDayOfYear:
    case Fn::kHour:
    case Fn::kMinute:
    case Fn::kMonth:
    case Fn::kYear:
      return nargs == 1;  // without an argument: of vector(time())
    default:
      return true;
  }
}

// A selector of a pushed-down expression and how far before its reference time it reads.
struct ReadSelector {
  const Expr* sel;
  int64_t back;  // the matrix range, or 0 for the lookback delta
};

// Whether each series `e` yields depends on one series of its selectors alone, so that a store
// holding that series whole computes it as one store holding everything would: selectors,
// functions that map series (rate, abs, ...) and arithmetic with numbers. Not: anything that
// matches or merges series (binary operators between vectors, aggregations, label_replace), nor
// subqueries and @ start()/end(), whose times a store would see differently. Collects the
// selectors.
bool SeriesLocal(const Expr& e, std::vector<ReadSelector>& sels) {
  switch (e.kind) {
    case NodeKind::kNumber:
    case NodeKind::kString:
      return true;
    case NodeKind::kParen:
    case NodeKind::kUnary:
      return SeriesLocal(*e.args[0], sels);
    case NodeKind::kVectorSelector:
      if (e.at_kind == Expr::AtKind::kStart || e.at_kind == Expr::AtKind::kEnd) return false;
      sels.push_back({&e, 0});
      return true;
    case NodeKind::kMatrixSelector: {
      const Expr& sel = *e.args[0];
      if (sel.at_kind == Expr::AtKind::kStart || sel.at_kind == Expr::AtKind::kEnd) return false;
      sels.push_back({&sel, e.range});
      return true;
    }
    case NodeKind::kBinary: {
      const bool l = IsLiteral(*e.args[0]), r = IsLiteral(*e.args[1]);
      if (l == r) return false;  // two vectors (or two numbers: not an aggregation's input)
      return SeriesLocal(*e.args[l ? 1 : 0], sels);
    }
    case NodeKind::kCall:
      if (!MapsSeries(*e.func, e.args.size())) return false;
      for (const auto& a : e.args) {
        if (a->type() == ValueType::kScalar ? !IsLiteral(*a) : !SeriesLocal(*a, sels)) {
          return false;
        }
      }
      return true;
    case NodeKind::kSubquery:
    case NodeKind::kAggregate:
      return false;
  }
  return false;
}

// The labels absent() and absent_over_time() give their 1: the selector's equality matchers but
// the metric name, without names matched more than once or otherwise (Prometheus'
// createLabelsForAbsentFunction).
Labels AbsentLabels(const Expr& arg) {
  const Expr& x = Unparen(arg);
  const Expr* sel = x.kind == NodeKind::kMatrixSelector   ? x.args[0].get()
                    : x.kind == NodeKind::kVectorSelector ? &x
                                                          : nullptr;
  LabelsBuilder b;
  if (sel == nullptr) return b.Build();
  std::vector<std::string> set, drop;
  for (const Matcher& m : sel->matchers) {
    if (m.name() == kMetricNameLabel) continue;
    if (m.type() == MatchType::kEqual && std::find(set.begin(), set.end(), m.name()) == set.end()) {
      b.Set(m.name(), m.value());
      set.push_back(m.name());
    } else {
      drop.push_back(m.name());
    }
  }
  for (const auto& d : drop) b.Del(d);
  return b.Build();
}

// Go's math.Log2, whose rounding differs from C's log2 near 1: Prometheus' answers are Go's.
double GoLog2(double x) {
  int exp = 0;
  const double frac = std::frexp(x, &exp);
  if (frac == 0.5) return static_cast<double>(exp - 1);
  return std::log(frac) * (1 / M_LN2) + static_cast<double>(exp);
}

std::pair<double, double> KahanInc(double inc, double sum, double c) {
  const double t = sum + inc;
  if (std::fabs(sum) >= std::fabs(inc)) {
    c += (sum - t) + inc;
  } else {
    c += (inc - t) + sum;
  }
  return {t, c};
}

// NaN sorts first, as Prometheus' vectorByValueHeap.
double Quantile(double q, std::vector<double> values) {
  if (values.empty() || std::isnan(q)) return kNaN;
  if (q < 0) return -kInf;
  if (q > 1) return kInf;
  std::sort(values.begin(), values.end(), [](double a, double b) {
    if (std::isnan(a)) return !std::isnan(b);
    return a < b;
  });
  const double n = static_cast<double>(values.size());
  const double rank = q * (n - 1);
  const double lower = std::max(0.0, std::floor(rank));
  const double upper = std::min(n - 1, lower + 1);
  const double weight = rank - std::floor(rank);
  return values[static_cast<size_t>(lower)] * (1 - weight) +
         values[static_cast<size_t>(upper)] * weight;
}

struct Bucket {
  double upper;
  double count;
};

double BucketQuantile(double q, std::vector<Bucket> buckets) {
  if (std::isnan(q)) return kNaN;
  if (q < 0) return -kInf;
  if (q > 1) return kInf;
  std::sort(buckets.begin(), buckets.end(),
            [](const Bucket& a, const Bucket& b) { return a.upper < b.upper; });
  if (buckets.empty() || !std::isinf(buckets.back().upper) || buckets.back().upper < 0) {
    return kNaN;
  }
  // Coalesce buckets with the same bound.
  std::vector<Bucket> merged;
  for (const Bucket& b : buckets) {
    if (!merged.empty() && merged.back().upper == b.upper) {
      merged.back().count += b.count;
    } else {
      merged.push_back(b);
    }
  }
  buckets = std::move(merged);
  double max = -kInf;
  for (Bucket& b : buckets) {
    if (b.count > max) {
      max = b.count;
    } else if (b.count < max) {
      b.count = max;
    }
  }
  if (buckets.size() < 2) return kNaN;
  const double observations = buckets.back().count;
  if (observations == 0) return kNaN;
  double rank = q * observations;
  size_t b = 0;
  while (b < buckets.size() - 1 && !(buckets[b].count >= rank)) ++b;
  if (b == buckets.size() - 1) return buckets[buckets.size() - 2].upper;
  if (b == 0 && buckets[0].upper <= 0) return buckets[0].upper;
  double start = 0, end = buckets[b].upper, count = buckets[b].count;
  if (b > 0) {
    start = buckets[b - 1].upper;
    count -= buckets[b - 1].count;
    rank -= buckets[b - 1].count;
  }
  return start + (end - start) * (rank / count);
}

std::pair<double, double> LinearRegression(std::span<const Point> ps, int64_t intercept_t) {
  double n = 0, sum_x = 0, cx = 0, sum_y = 0, cy = 0, sum_xy = 0, cxy = 0, sum_x2 = 0, cx2 = 0;
  const double init_y = ps[0].v;
  bool const_y = true;
  for (size_t i = 0; i < ps.size(); ++i) {
    if (const_y && i > 0 && ps[i].v != init_y) const_y = false;
    n += 1;
    const double x = static_cast<double>(ps[i].t - intercept_t) / 1e3;
    std::tie(sum_x, cx) = KahanInc(x, sum_x, cx);
    std::tie(sum_y, cy) = KahanInc(ps[i].v, sum_y, cy);
    std::tie(sum_xy, cxy) = KahanInc(x * ps[i].v, sum_xy, cxy);
    std::tie(sum_x2, cx2) = KahanInc(x * x, sum_x2, cx2);
  }
  if (const_y) {
    if (std::isinf(init_y)) return {kNaN, kNaN};
    return {0, init_y};
  }
  sum_x += cx;
  sum_y += cy;
  sum_xy += cxy;
  sum_x2 += cx2;
  const double cov = sum_xy - sum_x * sum_y / n;
  const double var = sum_x2 - sum_x * sum_x / n;
  const double slope = cov / var;
  return {slope, sum_y / n - slope * sum_x / n};
}

// Go's regexp Expand for label_replace: $1, ${1}, $name, ${name}, $$.
std::string ExpandTemplate(const re2::RE2& re, std::string_view tmpl,
                           const std::vector<std::string_view>& groups) {
  std::string out;
  const auto& names = re.NamedCapturingGroups();
  auto group = [&](std::string_view name) -> std::string_view {
    bool numeric = !name.empty() && std::all_of(name.begin(), name.end(),
                                                [](char c) { return c >= '0' && c <= '9'; });
    if (numeric) {
      size_t idx = 0;
      for (char c : name) {
        idx = idx * 10 + static_cast<size_t>(c - '0');
        if (idx > groups.size()) return {};
      }
      return idx < groups.size() ? groups[idx] : std::string_view();
    }
    auto it = names.find(std::string(name));
    if (it == names.end() || static_cast<size_t>(it->second) >= groups.size()) return {};
    return groups[static_cast<size_t>(it->second)];
  };
  for (size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] != '$' || i + 1 >= tmpl.size()) {
      out += tmpl[i];
      continue;
    }
    if (tmpl[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    auto is_name = [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    };
    if (tmpl[i + 1] == '{') {
      const size_t close = tmpl.find('}', i + 2);
      if (close == std::string_view::npos) {
        out += tmpl[i];
        continue;
      }
      std::string_view name = tmpl.substr(i + 2, close - i - 2);
      if (name.empty() || !std::all_of(name.begin(), name.end(), is_name)) {
        out += tmpl[i];
        continue;
      }
      out += group(name);
      i = close;
      continue;
    }
    size_t j = i + 1;
    while (j < tmpl.size() && is_name(tmpl[j])) ++j;
    if (j == i + 1) {
      out += tmpl[i];
      continue;
    }
    out += group(tmpl.substr(i + 1, j - i - 1));
    i = j - 1;
  }
  return out;
}

// The state of sum, avg, count, group, min, max, stddev or stdvar over one group at one step,
// updated element by element as Prometheus' aggregation does; count 0 is "no element yet".
struct Fold {
  double value = 0, mean = 0;
  int64_t count = 0;
};

void FoldIn(Op op, Fold& a, double v) {
  if (a.count == 0) {
    a.value = (op == Op::kStddev || op == Op::kStdvar) ? 0 : v;
    a.mean = v;
    a.count = 1;
    return;
  }
  switch (op) {
    case Op::kSum:
      a.value += v;
      break;
    case Op::kAvg:
      ++a.count;
      if (std::isinf(a.mean)) {
        if (std::isinf(v) && (a.mean > 0) == (v > 0)) break;
        if (!std::isinf(v) && !std::isnan(v)) break;
      }
      a.mean += v / static_cast<double>(a.count) - a.mean / static_cast<double>(a.count);
      break;
    case Op::kCount:
      ++a.count;
      break;
    case Op::kMax:
      if (a.value < v || std::isnan(a.value)) a.value = v;
      break;
    case Op::kMin:
      if (a.value > v || std::isnan(a.value)) a.value = v;
      break;
    case Op::kStddev:
    case Op::kStdvar: {
      ++a.count;
      const double delta = v - a.mean;
      a.mean += delta / static_cast<double>(a.count);
      a.value += delta * (v - a.mean);
      break;
    }
    default:  // group
      break;
  }
}

double FoldOut(Op op, const Fold& a) {
  switch (op) {
    case Op::kAvg:
      return a.mean;
    case Op::kCount:
      return static_cast<double>(a.count);
    case Op::kGroup:
      return 1;
    case Op::kStdvar:
      return a.value / static_cast<double>(a.count);
    case Op::kStddev:
      return std::sqrt(a.value / static_cast<double>(a.count));
    default:
      return a.value;
  }
}

// ---------------------------------------------------------------------------------------------

class Evaluator {
 public:
  Evaluator(tsdb::Querier& querier, const EngineOptions& opts, int64_t start, int64_t end,
            int64_t interval, std::chrono::steady_clock::time_point deadline)
      : q_(querier),
        opts_(opts),
        start_(start),
        end_(end),
        interval_(interval),
        deadline_(deadline) {}

  // Evaluates a scalar or vector expression at every step: a matrix whose points are at step
  // times (a scalar is one series without labels). Matrix-typed expressions go to EvalMatrix.
  Result<Matrix> Eval(const Expr& e);
  // The series (with their raw points) of a matrix selector or subquery as a function argument
  // or a top-level result; `range`/`offset` describe the window per step.
  Result<Matrix> EvalRangeArg(const Expr& e, int64_t& range, int64_t& offset);

  size_t Steps() const { return static_cast<size_t>((end_ - start_) / interval_) + 1; }
  int64_t start() const { return start_; }
  int64_t interval() const { return interval_; }

 private:
  Status CheckDeadline() {
    if (std::chrono::steady_clock::now() > deadline_) {
      return DeadlineExceeded("query timed out in query execution");
    }
    return Status::Ok();
  }
  // An instant vector selector's sample at step ts: the newest point at or before the reference
  // time, within the lookback delta (closed on both ends), unless it is a stale marker. `next`
  // is a cursor into pts that only moves forward while the reference time does.
  const Point* SampleAt(const Expr& sel, std::span<const Point> pts, int64_t ts, size_t& next,
                        int64_t& prev_ref) const {
    const int64_t ref = RefTime(sel, ts);
    if (ref < prev_ref) next = 0;  // not with a constant offset; safe anyway
    prev_ref = ref;
    while (next < pts.size() && pts[next].t <= ref) ++next;
    if (next == 0) return nullptr;
    const Point& p = pts[next - 1];
    if (p.t < ref - opts_.lookback_delta_ms || IsStale(p.v)) return nullptr;
    return &p;
  }
  Status AddSamples(int64_t n) {
    samples_ += n;
    if (samples_ > opts_.max_samples) {
      return ExecError(
          "query processing would load too many samples into memory in query "
          "execution");
    }
    return Status::Ok();
  }

  // The selector's reference time at step ts: its @ time if any, else ts; minus the offset.
  int64_t RefTime(const Expr& sel, int64_t ts) const {
    int64_t base = ts;
    switch (sel.at_kind) {
      case Expr::AtKind::kValue:
        base = *sel.at;
        break;
      case Expr::AtKind::kStart:
        base = query_start_;
        break;
      case Expr::AtKind::kEnd:
        base = query_end_;
        break;
      case Expr::AtKind::kNone:
        break;
    }
    return base - sel.offset;
  }

  // Streams the series `sel` matches in [mint, maxt]: fn(labels, points) sees one series at a
  // time, so only that series' samples are held, and they count against the sample limit while
  // they are. fn appends at most one series to `out` per call. The store reads in its own order
  // (series that are neighbours on disk one after the other); the results are then put in the
  // label order of their inputs, the order aggregations meet ties in, as in Prometheus. Without
  // `out` (nullptr), the series stay in the store's order, for a consumer the order does not
  // matter to.
  template <class Fn>
  Status ForEachSeries(const Expr& sel, int64_t mint, int64_t maxt, bool newest_only,
                       Matrix* out_or_null, Fn&& fn) {
    Matrix none;
    Matrix& out = out_or_null != nullptr ? *out_or_null : none;
    auto set = q_.Select(mint, maxt, sel.matchers, {.sorted = false, .newest_only = newest_only});
    const size_t base = out.size();
    // Each result's input labels, as a key that sorts as they do, and its position.
    struct Ordered {
      std::string key;
      Labels labels;
      size_t pos;
    };
    std::vector<Ordered> order;
    bool keys_exact = true;
    while (set->Next()) {
      const std::vector<Point>& pts = set->samples();
      const auto n = static_cast<int64_t>(pts.size());
      VIGIL_RETURN_IF_ERROR(AddSamples(n));
      const size_t before = out.size();
      Status st = fn(set->labels(), std::span<const Point>(pts));
      samples_ -= n;
      VIGIL_RETURN_IF_ERROR(st);
      if (out_or_null != nullptr && out.size() > before) {
        order.push_back({SortKey(set->labels(), keys_exact), set->labels(), before});
      }
      VIGIL_RETURN_IF_ERROR(CheckDeadline());
    }
    VIGIL_RETURN_IF_ERROR(set->Err());
    // A label value with a NUL byte breaks the keys' order; then the labels themselves.
    auto by_key = [](const Ordered& a, const Ordered& b) { return a.key < b.key; };
    auto by_labels = [](const Ordered& a, const Ordered& b) { return a.labels < b.labels; };
    if (!keys_exact) {
      std::sort(order.begin(), order.end(), by_labels);
    } else if (!std::is_sorted(order.begin(), order.end(), by_key)) {
      std::sort(order.begin(), order.end(), by_key);
    }
    if (!std::is_sorted(order.begin(), order.end(),
                        [](const Ordered& a, const Ordered& b) { return a.pos < b.pos; })) {
      Matrix sorted;
      sorted.reserve(order.size());
      for (auto& o : order) sorted.push_back(std::move(out[o.pos]));
      std::move(sorted.begin(), sorted.end(), out.begin() + static_cast<std::ptrdiff_t>(base));
    }
    return Status::Ok();
  }
  // The same for a matrix selector over the whole query: each series' points in the windows of
  // all steps, without stale markers (they never take part in range functions).
  template <class Fn>
  Status ForEachRangeSeries(const Expr& matrix_sel, Matrix& out, Fn&& fn) {
    const Expr& sel = *matrix_sel.args[0];
    const int64_t lo = std::min(RefTime(sel, start_), RefTime(sel, end_));
    const int64_t hi = std::max(RefTime(sel, start_), RefTime(sel, end_));
    std::vector<Point> kept;
    return ForEachSeries(
        sel, lo - matrix_sel.range, hi, /*newest_only=*/false, &out,
        [&](const Labels& labels, std::span<const Point> pts) {
          if (std::any_of(pts.begin(), pts.end(), [](const Point& p) { return IsStale(p.v); })) {
            kept.clear();
            for (const Point& p : pts) {
              if (!IsStale(p.v)) kept.push_back(p);
            }
            pts = kept;
          }
          return fn(labels, pts);
        });
  }
  Result<Matrix> EvalVectorSelector(const Expr& e, bool keep_sample_time);
  Result<Matrix> EvalCall(const Expr& e);
  Result<Matrix> EvalAggregate(const Expr& e);
  Result<Matrix> EvalBinary(const Expr& e);

  // Runs `fn` at every step over the arguments evaluated as vectors (scalars as one-element
  // vectors without labels) and collects the results into series.
  using StepFn = std::function<Result<Vector>(const std::vector<Vector>&, int64_t ts)>;
  Result<Matrix> RangeEval(const std::vector<const Expr*>& args, const StepFn& fn,
                           bool scalar_result = false);
  // Evaluates each argument over all steps, noting which are scalars.
  Status EvalArgs(const std::vector<const Expr*>& args, std::vector<Matrix>& in,
                  std::vector<bool>& is_scalar) {
    for (const Expr* a : args) {
      VIGIL_ASSIGN_OR_RETURN(Matrix m, Eval(*a));
      in.push_back(std::move(m));
      is_scalar.push_back(a->type() == ValueType::kScalar);
    }
    return Status::Ok();
  }
  // The same over arguments already evaluated.
  Result<Matrix> RangeEval(std::vector<Matrix> in, std::vector<bool> is_scalar, const StepFn& fn,
                           bool scalar_result);
  // The aggregation `e` with operator `op` over its arguments evaluated (`in`: the parameter, if
  // any, then the expression).
  Result<Matrix> Aggregate(const Expr& e, Op op, std::vector<Matrix> in,
                           std::vector<bool> is_scalar);
  // Aggregations that fold series (sum, avg, count, group, min, max, stddev, stdvar) a series
  // at a time; nullopt where the per-step state would be much larger than the input.
  Result<std::optional<Matrix>> AggregateBySeries(const Expr& e, Op op, const Matrix& in);
  // `e` evaluated by the stores that hold its series (a fan-out over shards), each sending its
  // partial result, combined here; nullopt where that would not be exact.
  Result<std::optional<Matrix>> PushDownAggregate(const Expr& e);
  // The same for an expression each of whose series comes from one stored series: the stores'
  // results side by side.
  Result<std::optional<Matrix>> PushDownSeries(const Expr& e);
  // Whether the querier evaluates parts of queries where the data is, and none of this
  // evaluation was refused.
  bool MayPushDown() const { return q_.CanPushDown() && !pushdown_refused_; }
  // What the stores read for `input` (its selectors and their window), without queries yet;
  // nullopt where `input` is not series-local or cannot be pushed down here.
  std::optional<tsdb::PushDown> PlanPushDown(const Expr& input) const;
  // The plan's queries evaluated by the stores: nullopt where a series is in two stores (then
  // nothing more of this evaluation is pushed down).
  Result<std::optional<std::vector<Matrix>>> RunPushDown(const tsdb::PushDown& p);
  // The same at one step directly over a selector's series as the store streams them.
  Result<Matrix> FoldSelector(const Expr& e, const Expr& sel);

 public:
  int64_t query_start_ = 0;
  int64_t query_end_ = 0;
  int64_t interval_default_ = 60'000;  // a subquery's step when it names none

 private:
  tsdb::Querier& q_;
  const EngineOptions& opts_;
  int64_t start_, end_, interval_;
  std::chrono::steady_clock::time_point deadline_;
  int64_t samples_ = 0;
  bool pushdown_refused_ = false;
};

Result<Matrix> Evaluator::EvalVectorSelector(const Expr& e, bool keep_sample_time) {
  const int64_t lo = std::min(RefTime(e, start_), RefTime(e, end_));
  const int64_t hi = std::max(RefTime(e, start_), RefTime(e, end_));
  Matrix out;
  VIGIL_RETURN_IF_ERROR(ForEachSeries(
      // One reference time for all steps (an instant query, or @): the newest sample is enough.
      e, lo - opts_.lookback_delta_ms, hi, /*newest_only=*/lo == hi, &out,
      [&](const Labels& labels, std::span<const Point> pts) {
        Series r;
        size_t next = 0;
        int64_t prev_ref = std::numeric_limits<int64_t>::min();
        for (int64_t ts = start_; ts <= end_; ts += interval_) {
          if (const Point* p = SampleAt(e, pts, ts, next, prev_ref)) {
            r.points.push_back({keep_sample_time ? p->t : ts, p->v});
          }
        }
        if (r.points.empty()) return Status::Ok();
        r.labels = labels;
        out.push_back(std::move(r));
        return AddSamples(static_cast<int64_t>(out.back().points.size()));
      }));
  return out;
}

Result<Matrix> Evaluator::EvalRangeArg(const Expr& e, int64_t& range, int64_t& offset) {
  const Expr* x = &Unparen(e);
  if (x->kind == NodeKind::kMatrixSelector) {
    range = x->range;
    offset = x->args[0]->offset;
    Matrix out;
    VIGIL_RETURN_IF_ERROR(
        ForEachRangeSeries(*x, out, [&](const Labels& labels, std::span<const Point> pts) {
          out.push_back(Series{labels, {pts.begin(), pts.end()}});
          return AddSamples(static_cast<int64_t>(pts.size()));
        }));
    return out;
  }
  if (x->kind == NodeKind::kSubquery) {
    range = x->range;
    offset = x->offset;
    const int64_t step = x->step > 0 ? x->step : interval_default_;
    // The inner evaluation covers every window of the outer steps; with @, the one window.
    int64_t outer_start = RefTime(*x, start_), outer_end = RefTime(*x, end_);
    if (outer_start > outer_end) std::swap(outer_start, outer_end);
    int64_t inner_start = step * ((outer_start - range) / step);
    if (inner_start < outer_start - range) inner_start += step;
    Evaluator inner(q_, opts_, inner_start, outer_end, step, deadline_);
    inner.query_start_ = query_start_;
    inner.query_end_ = query_end_;
    inner.interval_default_ = interval_default_;
    inner.samples_ = samples_;
    VIGIL_ASSIGN_OR_RETURN(Matrix m, inner.Eval(*x->args[0]));
    samples_ = inner.samples_;
    return m;
  }
  return ExecError("expected a range vector");
}

Result<Matrix> Evaluator::RangeEval(const std::vector<const Expr*>& args, const StepFn& fn,
                                    bool scalar_result) {
  std::vector<Matrix> in;
  std::vector<bool> is_scalar;
  VIGIL_RETURN_IF_ERROR(EvalArgs(args, in, is_scalar));
  return RangeEval(std::move(in), std::move(is_scalar), fn, scalar_result);
}

Result<Matrix> Evaluator::RangeEval(std::vector<Matrix> in, std::vector<bool> is_scalar,
                                    const StepFn& fn, bool scalar_result) {
  // Cursors into each series of each argument.
  std::vector<std::vector<size_t>> cursor(in.size());
  for (size_t i = 0; i < in.size(); ++i) cursor[i].assign(in[i].size(), 0);
  std::unordered_map<uint64_t, size_t> index;
  Matrix out;
  std::vector<Vector> vecs(in.size());
  for (int64_t ts = start_; ts <= end_; ts += interval_) {
    VIGIL_RETURN_IF_ERROR(CheckDeadline());
    for (size_t i = 0; i < in.size(); ++i) {
      // The elements are rewritten in place: the same series recur at every step, and their
      // labels are only copied when a slot changes series.
      size_t n = 0;
      Vector& vec = vecs[i];
      for (size_t s = 0; s < in[i].size(); ++s) {
        auto& pts = in[i][s].points;
        size_t& c = cursor[i][s];
        while (c < pts.size() && pts[c].t < ts) ++c;
        if (c >= pts.size() || pts[c].t != ts) continue;
        if (n == vec.size()) vec.emplace_back();
        Element& el = vec[n++];
        if (el.labels.identity() != in[i][s].labels.identity() || el.labels.identity() == nullptr) {
          el.labels = in[i][s].labels;
        }
        el.t = ts;
        el.v = pts[c].v;
        el.source = static_cast<uint32_t>(s);
      }
      vec.resize(n);
      if (is_scalar[i] && vec.empty()) vec.push_back({Labels(), ts, kNaN});
    }
    VIGIL_ASSIGN_OR_RETURN(Vector r, fn(vecs, ts));
    if (!scalar_result) VIGIL_RETURN_IF_ERROR(CheckUniqueLabelsets(r));
    for (Element& el : r) {
      auto [it, fresh] = index.emplace(Key(el.labels), out.size());
      if (fresh) out.push_back(Series{std::move(el.labels), {}});
      out[it->second].points.push_back({ts, el.v});
    }
    VIGIL_RETURN_IF_ERROR(AddSamples(static_cast<int64_t>(r.size())));
  }
  return out;
}

double Arith(Op op, double l, double r, bool& keep) {
  keep = true;
  switch (op) {
    case Op::kAdd:
      return l + r;
    case Op::kSub:
      return l - r;
    case Op::kMul:
      return l * r;
    case Op::kDiv:
      return l / r;
    case Op::kPow:
      return std::pow(l, r);
    case Op::kMod:
      return std::fmod(l, r);
    case Op::kAtan2:
      return std::atan2(l, r);
    case Op::kEql:
      keep = l == r;
      return l;
    case Op::kNeq:
      keep = l != r;
      return l;
    case Op::kGtr:
      keep = l > r;
      return l;
    case Op::kLss:
      keep = l < r;
      return l;
    case Op::kGte:
      keep = l >= r;
      return l;
    case Op::kLte:
      keep = l <= r;
      return l;
    default:
      return kNaN;
  }
}

bool DropsName(Op op) {
  return op == Op::kAdd || op == Op::kSub || op == Op::kMul || op == Op::kDiv || op == Op::kPow ||
         op == Op::kMod;
}

Result<Matrix> Evaluator::EvalBinary(const Expr& e) {
  const Expr& l = *e.args[0];
  const Expr& r = *e.args[1];
  const Op op = e.op;
  const bool ls = l.type() == ValueType::kScalar, rs = r.type() == ValueType::kScalar;
  if (ls && rs) {
    return RangeEval(
        {&l, &r},
        [&](const std::vector<Vector>& v, int64_t ts) -> Result<Vector> {
          bool keep;
          double val = Arith(op, v[0][0].v, v[1][0].v, keep);
          if (e.return_bool) val = keep ? 1 : 0;
          return Vector{{Labels(), ts, val}};
        },
        true);
  }
  if (ls || rs) {
    const bool swap = ls;  // the vector is always handled as the left side
    return RangeEval({&l, &r}, [&](const std::vector<Vector>& v, int64_t) -> Result<Vector> {
      const Vector& vec = swap ? v[1] : v[0];
      const double sc = swap ? v[0][0].v : v[1][0].v;
      Vector out;
      for (const Element& el : vec) {
        double lv = el.v, rv = sc;
        if (swap) std::swap(lv, rv);
        bool keep;
        double val = Arith(op, lv, rv, keep);
        if (IsComparison(op) && swap) val = rv;
        if (e.return_bool) {
          val = keep ? 1 : 0;
          keep = true;
        }
        if (!keep) continue;
        out.push_back(
            {(DropsName(op) || e.return_bool) ? DropName(el.labels) : el.labels, el.t, val});
      }
      return out;
    });
  }
  // Vector and vector.
  const VectorMatching vm = e.matching.value_or(VectorMatching{});
  SignatureCache sigs_l(vm.on, vm.labels), sigs_r(vm.on, vm.labels);
  return RangeEval({&l, &r}, [&](const std::vector<Vector>& v, int64_t) -> Result<Vector> {
    const Vector& lhs = v[0];
    const Vector& rhs = v[1];
    Vector out;
    auto sig_l = [&](const Element& x) { return sigs_l(x); };
    auto sig_r = [&](const Element& x) { return sigs_r(x); };
    if (op == Op::kAnd || op == Op::kUnless) {
      std::unordered_set<uint64_t> right;
      for (const Element& el : rhs) right.insert(sig_r(el));
      for (const Element& el : lhs) {
        if ((right.count(sig_l(el)) > 0) == (op == Op::kAnd)) out.push_back(el);
      }
      return out;
    }
    if (op == Op::kOr) {
      std::unordered_set<uint64_t> left;
      for (const Element& el : lhs) {
        left.insert(sig_l(el));
        out.push_back(el);
      }
      for (const Element& el : rhs) {
        if (left.count(sig_r(el)) == 0) out.push_back(el);
      }
      return out;
    }
    const Vector* a = &lhs;
    const Vector* b = &rhs;
    if (vm.card == Cardinality::kOneToMany) std::swap(a, b);
    std::unordered_map<uint64_t, const Element*> right;
    for (const Element& el : *b) {
      auto [it, fresh] = right.emplace(b == &rhs ? sig_r(el) : sig_l(el), &el);
      if (!fresh) {
        const std::string side = vm.card == Cardinality::kOneToMany ? "left" : "right";
        return ExecError("found duplicate series for the match group " +
                         KeepOnly(el.labels, vm.on, vm.labels).ToString() + " on the " + side +
                         " hand-side of the operation: [" + el.labels.ToString() + ", " +
                         it->second->labels.ToString() +
                         "];many-to-many matching not allowed: matching labels must be unique "
                         "on one side");
      }
    }
    std::unordered_map<uint64_t, std::unordered_set<uint64_t>> matched;
    for (const Element& el : *a) {
      const uint64_t s = a == &lhs ? sig_l(el) : sig_r(el);
      auto it = right.find(s);
      if (it == right.end()) continue;
      const Element& other = *it->second;
      double vl = el.v, vr = other.v;
      if (vm.card == Cardinality::kOneToMany) std::swap(vl, vr);
      bool keep;
      double val = Arith(op, vl, vr, keep);
      if (e.return_bool) {
        val = keep ? 1 : 0;
      } else if (!keep) {
        continue;
      }
      // The result's labels.
      LabelsBuilder b(el.labels);
      if (DropsName(op)) b.Del(kMetricNameLabel);
      if (vm.card == Cardinality::kOneToOne) {
        if (vm.on) {
          for (const Label& x : el.labels) {
            if (std::find(vm.labels.begin(), vm.labels.end(), x.name) == vm.labels.end()) {
              b.Del(x.name);
            }
          }
        } else {
          for (const auto& n : vm.labels) b.Del(n);
        }
      }
      for (const auto& n : vm.include) b.Set(n, other.labels.Get(n));
      Labels metric = b.Build();
      if (e.return_bool) metric = DropName(metric);
      auto found = matched.find(s);
      if (vm.card == Cardinality::kOneToOne) {
        if (found != matched.end()) {
          return ExecError(
              "multiple matches for labels: many-to-one matching must be explicit "
              "(group_left/group_right)");
        }
        matched[s];
      } else {
        auto& inserted = matched[s];
        if (!inserted.insert(Key(metric)).second) {
          return ExecError(
              "multiple matches for labels: grouping labels must ensure unique "
              "matches");
        }
      }
      out.push_back({std::move(metric), el.t, val});
    }
    return out;
  });
}

Result<Matrix> Evaluator::EvalAggregate(const Expr& e) {
  if (MayPushDown()) {
    VIGIL_ASSIGN_OR_RETURN(std::optional<Matrix> pushed, PushDownAggregate(e));
    if (pushed) return std::move(*pushed);
  }
  const Expr& inner = *e.args.back();
  const Expr* param = e.args.size() == 2 ? e.args[0].get() : nullptr;
  // The folding aggregations directly over a selector at one step (an instant query, alert
  // rules): the series stream in the store's order straight into their groups. Not where the
  // selector can be pushed down (the stores evaluate it, stale markers included).
  const bool folds = param == nullptr && e.op != Op::kCountValues;
  if (folds && Steps() == 1 && Unparen(inner).kind == NodeKind::kVectorSelector && !MayPushDown()) {
    return FoldSelector(e, Unparen(inner));
  }
  std::vector<const Expr*> args;
  if (param != nullptr && e.op != Op::kCountValues) args.push_back(param);
  args.push_back(&inner);
  std::vector<Matrix> in;
  std::vector<bool> is_scalar;
  VIGIL_RETURN_IF_ERROR(EvalArgs(args, in, is_scalar));
  return Aggregate(e, e.op, std::move(in), std::move(is_scalar));
}

Result<Matrix> Evaluator::Aggregate(const Expr& e, const Op op, std::vector<Matrix> in,
                                    std::vector<bool> is_scalar) {
  const Expr* param = e.args.size() == 2 ? e.args[0].get() : nullptr;
  std::string value_label;
  if (op == Op::kCountValues) {
    const Expr* p = &Unparen(*param);
    if (p->kind != NodeKind::kString) return ExecError("count_values needs a string literal");
    value_label = p->str;
    if (!IsValidLabelName(value_label)) {
      return ExecError("invalid label name \"" + value_label + "\"");
    }
  }
  std::vector<std::string> grouping = e.grouping;
  if (op == Op::kCountValues && !e.without) grouping.push_back(value_label);
  const bool has_param = param != nullptr && op != Op::kCountValues;
  SignatureCache group_sig(!e.without, grouping);
  struct Group {
    Labels labels;
    Fold fold;
    std::vector<double> values;  // quantile
    Vector heap;                 // topk/bottomk
  };
  const Op fold_op = op == Op::kCountValues ? Op::kCount : op;
  if (!has_param && op != Op::kCountValues) {
    VIGIL_ASSIGN_OR_RETURN(std::optional<Matrix> folded, AggregateBySeries(e, op, in.back()));
    if (folded) return std::move(*folded);
  }
  // Kept across steps so their memory is reused.
  std::vector<Group> groups;
  std::unordered_map<uint64_t, size_t> index;
  return RangeEval(
      std::move(in), std::move(is_scalar),
      [&](const std::vector<Vector>& v, int64_t ts) -> Result<Vector> {
        const Vector& in = v.back();
        const double p = has_param ? v[0][0].v : 0;
        groups.clear();
        index.clear();
        int64_t k = 0;
        if (op == Op::kTopk || op == Op::kBottomk) {
          if (std::isnan(p) || p >= 9.2e18 || p <= -9.2e18) {
            return ExecError("Scalar value " + FormatFloatShortest(p) + " overflows int64");
          }
          k = static_cast<int64_t>(p);
          if (k < 1) return Vector{};
        }
        for (const Element& el0 : in) {
          // A copy only where the labels change (count_values); else the input element itself.
          Element counted;
          if (op == Op::kCountValues) counted = el0;
          const Element& el = op == Op::kCountValues ? counted : el0;
          if (op == Op::kCountValues) {
            counted.labels =
                LabelsBuilder(el0.labels).Set(value_label, FormatFloatShortest(el0.v)).Build();
            counted.source = Element::kNoSource;  // its group depends on the value, not the series
          }
          // The group: a hash of the grouping labels; their Labels only for a new group.
          const uint64_t key = group_sig(el);
          auto [it, fresh] = index.emplace(key, groups.size());
          if (fresh) {
            Group g;
            g.labels = KeepOnly(el.labels, !e.without, grouping);
            switch (op) {
              case Op::kQuantile:
                g.values.push_back(el.v);
                break;
              case Op::kTopk:
              case Op::kBottomk:
                g.heap.push_back(el);
                break;
              default:
                FoldIn(fold_op, g.fold, el.v);
                break;
            }
            groups.push_back(std::move(g));
            continue;
          }
          Group& g = groups[it->second];
          switch (op) {
            case Op::kQuantile:
              g.values.push_back(el.v);
              break;
            case Op::kTopk:
            case Op::kBottomk: {
              // Keep the k best; the worst is replaced. NaN is the worst for both.
              auto worse = [&](double a, double b) {  // a is worse than b
                if (std::isnan(a)) return !std::isnan(b);
                if (std::isnan(b)) return false;
                return op == Op::kTopk ? a < b : a > b;
              };
              if (static_cast<int64_t>(g.heap.size()) < k) {
                g.heap.push_back(el);
              } else {
                auto w = std::min_element(
                    g.heap.begin(), g.heap.end(),
                    [&](const Element& a, const Element& b) { return worse(a.v, b.v); });
                if (worse(w->v, el.v)) *w = el;
              }
              break;
            }
            default:
              FoldIn(fold_op, g.fold, el.v);
              break;
          }
        }
        Vector out;
        for (Group& g : groups) {
          double val = 0;
          switch (op) {
            case Op::kQuantile:
              val = Quantile(p, g.values);
              break;
            case Op::kTopk:
            case Op::kBottomk: {
              std::stable_sort(g.heap.begin(), g.heap.end(),
                               [&](const Element& a, const Element& b) {
                                 if (std::isnan(a.v)) return false;
                                 if (std::isnan(b.v)) return true;
                                 return op == Op::kTopk ? a.v > b.v : a.v < b.v;
                               });
              for (Element& el : g.heap) out.push_back({std::move(el.labels), ts, el.v});
              continue;
            }
            default:
              val = FoldOut(fold_op, g.fold);
          }
          out.push_back({std::move(g.labels), ts, val});
        }
        return out;
      },
      /*scalar_result=*/false);
}

Result<Matrix> Evaluator::FoldSelector(const Expr& e, const Expr& sel) {
  // Groups in the order the store's series first reach them, as Prometheus' head does. The
  // order of additions within a group is the store's too, so a sum may differ from one in
  // label order in its last bits, as Prometheus' sums over its head and over its blocks do.
  std::unordered_map<uint64_t, uint32_t> index;
  std::vector<Labels> group_labels;
  std::vector<Fold> acc;
  const int64_t ref = RefTime(sel, start_);
  VIGIL_RETURN_IF_ERROR(ForEachSeries(
      sel, ref - opts_.lookback_delta_ms, ref, /*newest_only=*/true, /*out_or_null=*/nullptr,
      [&](const Labels& labels, std::span<const Point> pts) {
        size_t next = 0;
        int64_t prev_ref = std::numeric_limits<int64_t>::min();
        const Point* p = SampleAt(sel, pts, start_, next, prev_ref);
        if (p == nullptr) return Status::Ok();
        const uint64_t key = Signature(labels, !e.without, e.grouping);
        auto [it, fresh] = index.emplace(key, static_cast<uint32_t>(group_labels.size()));
        if (fresh) {
          group_labels.push_back(KeepOnly(labels, !e.without, e.grouping));
          acc.emplace_back();
          VIGIL_RETURN_IF_ERROR(AddSamples(1));
        }
        FoldIn(e.op, acc[it->second], p->v);
        return Status::Ok();
      }));
  Matrix out;
  out.reserve(group_labels.size());
  for (size_t g = 0; g < group_labels.size(); ++g) {
    out.push_back(Series{std::move(group_labels[g]), {{start_, FoldOut(e.op, acc[g])}}});
  }
  return out;
}

std::optional<tsdb::PushDown> Evaluator::PlanPushDown(const Expr& input) const {
  if (!MayPushDown()) return std::nullopt;
  std::vector<ReadSelector> sels;
  if (!SeriesLocal(input, sels) || sels.empty()) return std::nullopt;
  // The stores' query APIs answer at most 11,000 steps (a long subquery may have more).
  if (Steps() > 11'000) return std::nullopt;
  tsdb::PushDown p;
  p.start = start_;
  p.end = end_;
  p.step = interval_;
  p.mint = std::numeric_limits<int64_t>::max();
  p.maxt = std::numeric_limits<int64_t>::min();
  for (const ReadSelector& r : sels) {
    const int64_t a = RefTime(*r.sel, start_), b = RefTime(*r.sel, end_);
    p.mint = std::min(p.mint, std::min(a, b) - (r.back > 0 ? r.back : opts_.lookback_delta_ms));
    p.maxt = std::max(p.maxt, std::max(a, b));
    p.selectors.push_back(r.sel->matchers);
  }
  p.names_kept = Unparen(input).kind == NodeKind::kVectorSelector;
  return p;
}

Result<std::optional<std::vector<Matrix>>> Evaluator::RunPushDown(const tsdb::PushDown& p) {
  using Out = std::optional<std::vector<Matrix>>;
  VIGIL_ASSIGN_OR_RETURN(auto parts, q_.Evaluate(p));
  if (!parts) {
    // Series in two stores: the raw samples from here on (the parts of this expression read
    // the same series, and would be refused the same).
    pushdown_refused_ = true;
    return Out();
  }
  std::vector<Matrix> out;
  for (auto& part : *parts) {
    Matrix m;
    m.reserve(part.size());
    for (tsdb::SeriesSamples& s : part) {
      VIGIL_RETURN_IF_ERROR(AddSamples(static_cast<int64_t>(s.samples.size())));
      m.push_back(Series{std::move(s.labels), std::move(s.samples)});
    }
    out.push_back(std::move(m));
  }
  return Out(std::move(out));
}

Result<std::optional<Matrix>> Evaluator::PushDownSeries(const Expr& e) {
  std::optional<tsdb::PushDown> plan = PlanPushDown(e);
  if (!plan) return std::optional<Matrix>();
  plan->queries = {e.ToString()};
  VIGIL_ASSIGN_OR_RETURN(auto parts, RunPushDown(*plan));
  if (!parts) return std::optional<Matrix>();
  // Each series whole in one store: the stores' series side by side, in label order as a
  // selector's are here.
  Matrix& m = (*parts)[0];
  std::sort(m.begin(), m.end(),
            [](const Series& a, const Series& b) { return a.labels < b.labels; });
  VIGIL_RETURN_IF_ERROR(CheckUniqueLabelsets(m));
  return std::optional<Matrix>(std::move(m));
}

Result<std::optional<Matrix>> Evaluator::PushDownAggregate(const Expr& e) {
  // What combines the stores' partial results: the same aggregation over them, but counts are
  // summed, and an average is a sum divided by a count.
  const Op op = e.op;
  switch (op) {
    case Op::kSum:
    case Op::kMin:
    case Op::kMax:
    case Op::kGroup:
    case Op::kCount:
    case Op::kAvg:
    case Op::kTopk:
    case Op::kBottomk:
      break;
    default:  // stddev, stdvar, quantile, count_values: not from partial results
      return std::optional<Matrix>();
  }
  if (e.args.size() == 2 && !IsLiteral(*e.args[0])) return std::optional<Matrix>();
  std::optional<tsdb::PushDown> plan = PlanPushDown(*e.args.back());
  if (!plan) return std::optional<Matrix>();
  const std::string text = e.ToString();
  plan->queries = {text};
  if (op == Op::kAvg) {
    const std::string rest = text.substr(std::string_view(OpName(op)).size());
    plan->queries = {OpName(Op::kSum) + rest, OpName(Op::kCount) + rest};
  }
  VIGIL_ASSIGN_OR_RETURN(auto parts, RunPushDown(*plan));
  if (!parts) return std::optional<Matrix>();
  // Each query's partial results as the input of the combining aggregation.
  std::vector<std::vector<Matrix>> ins;
  for (Matrix& m : *parts) {
    std::vector<Matrix> in;
    if (e.args.size() == 2) {
      VIGIL_ASSIGN_OR_RETURN(Matrix k, Eval(*e.args[0]));
      in.push_back(std::move(k));
    }
    in.push_back(std::move(m));
    ins.push_back(std::move(in));
  }
  std::vector<bool> scalars(ins[0].size(), false);
  if (scalars.size() == 2) scalars[0] = true;  // topk's k
  if (op != Op::kAvg) {
    VIGIL_ASSIGN_OR_RETURN(
        Matrix m, Aggregate(e, op == Op::kCount ? Op::kSum : op, std::move(ins[0]), scalars));
    return std::optional<Matrix>(std::move(m));
  }
  VIGIL_ASSIGN_OR_RETURN(Matrix sums, Aggregate(e, Op::kSum, std::move(ins[0]), scalars));
  VIGIL_ASSIGN_OR_RETURN(Matrix counts, Aggregate(e, Op::kSum, std::move(ins[1]), scalars));
  std::unordered_map<uint64_t, const Series*> count_of;
  for (const Series& c : counts) count_of.emplace(Key(c.labels), &c);
  for (Series& s : sums) {
    auto it = count_of.find(Key(s.labels));
    if (it == count_of.end()) return ExecError("a shard's partial average has no count");
    const std::vector<Point>& cs = it->second->points;
    size_t j = 0;
    for (Point& pt : s.points) {
      while (j < cs.size() && cs[j].t < pt.t) ++j;
      if (j == cs.size() || cs[j].t != pt.t) {
        return ExecError("a shard's partial average has no count");
      }
      pt.v /= cs[j].v;
    }
  }
  return std::optional<Matrix>(std::move(sums));
}

Result<std::optional<Matrix>> Evaluator::AggregateBySeries(const Expr& e, const Op op,
                                                           const Matrix& in) {
  // Each input series finds its group once.
  std::vector<uint32_t> group_of(in.size());
  std::unordered_map<uint64_t, uint32_t> index;
  std::vector<Labels> group_labels;
  size_t points = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    const uint64_t key = Signature(in[i].labels, !e.without, e.grouping);
    auto [it, fresh] = index.emplace(key, static_cast<uint32_t>(group_labels.size()));
    if (fresh) group_labels.push_back(KeepOnly(in[i].labels, !e.without, e.grouping));
    group_of[i] = it->second;
    points += in[i].points.size();
  }
  const size_t steps = Steps();
  if (group_labels.size() * steps > 2 * points + steps) return std::optional<Matrix>();
  // Per group and step, as the step-by-step fold keeps it; count 0 is "no element yet". The
  // series are visited in input order, so each (group, step) sees its elements in the order a
  // step's vector has them and the results are the same to the bit.
  std::vector<Fold> acc(group_labels.size() * steps);
  // Where each group first appears (step, then input series), the order results come in.
  std::vector<std::pair<size_t, size_t>> first(group_labels.size(), {SIZE_MAX, SIZE_MAX});
  for (size_t i = 0; i < in.size(); ++i) {
    const size_t g = group_of[i];
    for (const Point& p : in[i].points) {
      const auto step = static_cast<size_t>((p.t - start_) / interval_);
      Fold& a = acc[g * steps + step];
      if (a.count == 0) first[g] = std::min(first[g], std::pair<size_t, size_t>(step, i));
      FoldIn(op, a, p.v);
    }
  }
  std::vector<uint32_t> order(group_labels.size());
  for (uint32_t g = 0; g < order.size(); ++g) order[g] = g;
  std::sort(order.begin(), order.end(),
            [&](uint32_t x, uint32_t y) { return first[x] < first[y]; });
  Matrix out;
  for (uint32_t g : order) {
    Series r;
    r.labels = std::move(group_labels[g]);
    for (size_t step = 0; step < steps; ++step) {
      const Fold& a = acc[g * steps + step];
      if (a.count == 0) continue;
      const double val = FoldOut(op, a);
      r.points.push_back({start_ + static_cast<int64_t>(step) * interval_, val});
    }
    VIGIL_RETURN_IF_ERROR(AddSamples(static_cast<int64_t>(r.points.size())));
    out.push_back(std::move(r));
  }
  return std::optional<Matrix>(std::move(out));
}

// ---- functions ------------------------------------------------------------------------------

using WindowFn = std::function<std::optional<double>(const std::vector<Point>&, int64_t ts)>;

Result<Matrix> Evaluator::EvalCall(const Expr& e) {
  const Function& f = *e.func;
  // Functions over a range vector: per series and step, the window's points.
  int matrix_arg = -1;
  for (size_t i = 0; i < e.args.size(); ++i) {
    if (e.args[i]->type() == ValueType::kMatrix) matrix_arg = static_cast<int>(i);
  }
  if (matrix_arg >= 0) {
    int64_t range = 0, offset = 0;
    const Expr& marg = *e.args[static_cast<size_t>(matrix_arg)];
    const Expr* sel = &Unparen(marg);
    // A selector's series are streamed one at a time; a subquery's are evaluated first.
    const bool streamed = sel->kind == NodeKind::kMatrixSelector;
    Matrix series;
    if (streamed) {
      range = sel->range;
    } else {
      VIGIL_ASSIGN_OR_RETURN(series, EvalRangeArg(marg, range, offset));
    }
    const Expr& modifier_node = sel->kind == NodeKind::kMatrixSelector ? *sel->args[0] : *sel;
    // Scalar arguments, per step.
    std::vector<Matrix> scalars(e.args.size());
    for (size_t i = 0; i < e.args.size(); ++i) {
      if (static_cast<int>(i) == matrix_arg) continue;
      VIGIL_ASSIGN_OR_RETURN(scalars[i], Eval(*e.args[i]));
    }
    auto scalar_at = [&](size_t i, size_t step) {
      if (scalars[i].empty()) return kNaN;
      const auto& pts = scalars[i][0].points;
      return step < pts.size() ? pts[step].v : kNaN;
    };
    const Fn id = f.id;
    Matrix out;
    const size_t steps = Steps();
    auto per_series = [&](const Labels& labels, std::span<const Point> pts) -> Status {
      Series r;
      // Whether a counter reset is anywhere in the series: rate() and increase() only walk a
      // window for its resets when there is one.
      bool has_reset = false;
      if (id == Fn::kRate || id == Fn::kIncrease) {
        for (size_t i = 1; i < pts.size() && !has_reset; ++i) has_reset = pts[i].v < pts[i - 1].v;
      }
      // The window [mint, maxt] slides forward with the steps; with @ it stays put.
      size_t a = 0, b = 0;
      int64_t prev_mint = std::numeric_limits<int64_t>::min();
      for (size_t step = 0; step < steps; ++step) {
        const int64_t ts = start_ + static_cast<int64_t>(step) * interval_;
        const int64_t maxt = RefTime(modifier_node, ts);
        const int64_t mint = maxt - range;
        if (mint < prev_mint) a = b = 0;  // never with a constant offset; safe anyway
        prev_mint = mint;
        while (a < pts.size() && pts[a].t < mint) ++a;
        if (b < a) b = a;
        while (b < pts.size() && pts[b].t <= maxt) ++b;
        if (a >= b) continue;
        const std::span<const Point> w(pts.data() + a, b - a);
        const double n = static_cast<double>(w.size());
        std::optional<double> val;
        auto extrapolated = [&](bool counter, bool rate) -> std::optional<double> {
          if (w.size() < 2) return std::nullopt;
          double result = w.back().v - w.front().v;
          if (counter && has_reset) {
            double last = 0;
            for (const Point& p : w) {
              if (p.v < last) result += last;
              last = p.v;
            }
          }
          double to_start = static_cast<double>(w.front().t - mint) / 1000;
          const double to_end = static_cast<double>(maxt - w.back().t) / 1000;
          const double sampled = static_cast<double>(w.back().t - w.front().t) / 1000;
          const double avg = sampled / (n - 1);
          if (counter && result > 0 && w.front().v >= 0) {
            const double to_zero = sampled * (w.front().v / result);
            if (to_zero < to_start) to_start = to_zero;
          }
          const double threshold = avg * 1.1;
          double interval = sampled;
          interval += to_start < threshold ? to_start : avg / 2;
          interval += to_end < threshold ? to_end : avg / 2;
          result = result * (interval / sampled);
          if (rate) result /= static_cast<double>(range) / 1000;
          return result;
        };
        auto instant = [&](bool rate) -> std::optional<double> {
          if (w.size() < 2) return std::nullopt;
          const Point& last = w.back();
          const Point& prev = w[w.size() - 2];
          double result = (rate && last.v < prev.v) ? last.v : last.v - prev.v;
          const int64_t dt = last.t - prev.t;
          if (dt == 0) return std::nullopt;
          if (rate) result /= static_cast<double>(dt) / 1000;
          return result;
        };
        switch (id) {
          case Fn::kRate:
            val = extrapolated(true, true);
            break;
          case Fn::kIncrease:
            val = extrapolated(true, false);
            break;
          case Fn::kDelta:
            val = extrapolated(false, false);
            break;
          case Fn::kIrate:
            val = instant(true);
            break;
          case Fn::kIdelta:
            val = instant(false);
            break;
          case Fn::kDeriv:
            if (w.size() >= 2) val = LinearRegression(w, w[0].t).first;
            break;
          case Fn::kPredictLinear:
            if (w.size() >= 2) {
              auto [slope, intercept] = LinearRegression(w, ts);
              val = slope * scalar_at(1, step) + intercept;
            }
            break;
          case Fn::kHoltWinters: {
            const double sf = scalar_at(1, step), tf = scalar_at(2, step);
            if (sf <= 0 || sf >= 1) {
              char buf[128];
              std::snprintf(buf, sizeof(buf),
                            "invalid smoothing factor. Expected: 0 < sf < 1, got: %f", sf);
              return ExecError(buf);
            }
            if (tf <= 0 || tf >= 1) {
              char buf[128];
              std::snprintf(buf, sizeof(buf), "invalid trend factor. Expected: 0 < tf < 1, got: %f",
                            tf);
              return ExecError(buf);
            }
            if (w.size() < 2) break;
            double s0 = 0, s1 = w[0].v, b = w[1].v - w[0].v;
            for (size_t i = 1; i < w.size(); ++i) {
              const double x = sf * w[i].v;
              if (i - 1 > 0) b = tf * (s1 - s0) + (1 - tf) * b;
              const double y = (1 - sf) * (s1 + b);
              s0 = s1;
              s1 = x + y;
            }
            val = s1;
            break;
          }
          case Fn::kChanges: {
            double changes = 0, prev = w[0].v;
            for (size_t i = 1; i < w.size(); ++i) {
              const double cur = w[i].v;
              if (cur != prev && !(std::isnan(cur) && std::isnan(prev))) ++changes;
              prev = cur;
            }
            val = changes;
            break;
          }
          case Fn::kResets: {
            double resets = 0, prev = w[0].v;
            for (size_t i = 1; i < w.size(); ++i) {
              if (w[i].v < prev) ++resets;
              prev = w[i].v;
            }
            val = resets;
            break;
          }
          case Fn::kAvgOverTime: {
            double mean = 0, c = 0, count = 0;
            for (const Point& p : w) {
              ++count;
              if (std::isinf(mean)) {
                if (std::isinf(p.v) && (mean > 0) == (p.v > 0)) continue;
                if (!std::isinf(p.v) && !std::isnan(p.v)) continue;
              }
              std::tie(mean, c) = KahanInc(p.v / count - mean / count, mean, c);
            }
            val = std::isinf(mean) ? mean : mean + c;
            break;
          }
          case Fn::kSumOverTime: {
            double sum = 0, c = 0;
            for (const Point& p : w) std::tie(sum, c) = KahanInc(p.v, sum, c);
            val = std::isinf(sum) ? sum : sum + c;
            break;
          }
          case Fn::kCountOverTime:
            val = n;
            break;
          case Fn::kLastOverTime:
            val = w.back().v;
            break;
          case Fn::kPresentOverTime:
          case Fn::kAbsentOverTime:
            val = 1;
            break;
          case Fn::kMaxOverTime: {
            double m = w[0].v;
            for (const Point& p : w) {
              if (p.v > m || std::isnan(m)) m = p.v;
            }
            val = m;
            break;
          }
          case Fn::kMinOverTime: {
            double m = w[0].v;
            for (const Point& p : w) {
              if (p.v < m || std::isnan(m)) m = p.v;
            }
            val = m;
            break;
          }
          case Fn::kQuantileOverTime: {
            std::vector<double> vs;
            for (const Point& p : w) vs.push_back(p.v);
            val = Quantile(scalar_at(0, step), std::move(vs));
            break;
          }
          case Fn::kStddevOverTime:
          case Fn::kStdvarOverTime: {
            double count = 0, mean = 0, cmean = 0, aux = 0, caux = 0;
            for (const Point& p : w) {
              ++count;
              const double delta = p.v - (mean + cmean);
              std::tie(mean, cmean) = KahanInc(delta / count, mean, cmean);
              std::tie(aux, caux) = KahanInc(delta * (p.v - (mean + cmean)), aux, caux);
            }
            const double var = (aux + caux) / count;
            val = id == Fn::kStddevOverTime ? std::sqrt(var) : var;
            break;
          }
          default:
            return ExecError("function " + std::string(f.name) + " does not take a range vector");
        }
        if (val) r.points.push_back({ts, *val});
      }
      if (r.points.empty()) return Status::Ok();
      r.labels = id == Fn::kLastOverTime ? labels : DropName(labels);
      out.push_back(std::move(r));
      return AddSamples(static_cast<int64_t>(out.back().points.size()));
    };
    if (streamed) {
      VIGIL_RETURN_IF_ERROR(ForEachRangeSeries(*sel, out, per_series));
    } else {
      for (const Series& s : series) {
        VIGIL_RETURN_IF_ERROR(CheckDeadline());
        VIGIL_RETURN_IF_ERROR(per_series(s.labels, s.points));
      }
    }
    if (id == Fn::kAbsentOverTime) {
      std::unordered_set<int64_t> found;
      for (const Series& s : out) {
        for (const Point& p : s.points) found.insert(p.t);
      }
      Series r;
      r.labels = AbsentLabels(marg);
      for (int64_t ts = start_; ts <= end_; ts += interval_) {
        if (!found.count(ts)) r.points.push_back({ts, 1});
      }
      Matrix m;
      if (!r.points.empty()) m.push_back(std::move(r));
      return m;
    }
    VIGIL_RETURN_IF_ERROR(CheckUniqueLabelsets(out));
    return out;
  }

  // timestamp() of a vector selector reports the samples' own times.
  if (f.id == Fn::kTimestamp) {
    const Expr* x = &Unparen(*e.args[0]);
    if (x->kind == NodeKind::kVectorSelector) {
      VIGIL_ASSIGN_OR_RETURN(Matrix m, EvalVectorSelector(*x, /*keep_sample_time=*/true));
      Matrix out;
      for (Series& s : m) {
        Series r;
        r.labels = DropName(s.labels);
        int64_t ts = start_;
        for (const Point& p : s.points) {
          // Points are one per step, in order; recover each step's time.
          while (ts <= end_ && RefTime(*x, ts) < p.t) ts += interval_;
          r.points.push_back({ts, static_cast<double>(p.t) / 1000});
          ts += interval_;
        }
        out.push_back(std::move(r));
      }
      return out;
    }
  }

  std::vector<const Expr*> args;
  for (const auto& a : e.args) {
    if (a->type() != ValueType::kString) args.push_back(a.get());
  }
  auto str_arg = [&](size_t i) -> std::string { return Unparen(*e.args[i]).str; };
  const Fn id = f.id;

  // label_replace and label_join: checked once, then per step.
  std::shared_ptr<re2::RE2> re;
  if (id == Fn::kLabelReplace) {
    const std::string dst = str_arg(1), regex = str_arg(4);
    re = std::make_shared<re2::RE2>("^(?:" + regex + ")$", re2::RE2::Quiet);
    if (!re->ok()) {
      return ExecError("invalid regular expression in label_replace(): " + regex);
    }
    if (!IsValidLabelName(dst)) {
      return ExecError("invalid destination label name in label_replace(): " + dst);
    }
  }
  if (id == Fn::kLabelJoin) {
    const std::string dst = str_arg(1);
    if (!IsValidLabelName(dst)) {
      return ExecError("invalid destination label name in label_join(): " + dst);
    }
    for (size_t i = 3; i < e.args.size(); ++i) {
      if (!IsValidLabelName(str_arg(i))) {
        return ExecError("invalid source label name in label_join(): " + str_arg(i));
      }
    }
  }

  const bool scalar_result = f.result == ValueType::kScalar;
  const Labels absent_labels = id == Fn::kAbsent ? AbsentLabels(*e.args[0]) : Labels();
  // The same input series recur at every step: their name-less labels are made once.
  std::unordered_map<uint64_t, std::pair<Labels, Labels>> dropped;
  auto drop_name = [&dropped](const Labels& l) -> const Labels& {
    auto [it, fresh] = dropped.try_emplace(Key(l));
    if (fresh || !(it->second.first == l)) it->second = {l, DropName(l)};
    return it->second.second;
  };
  auto simple = [&](const Vector& in, auto fn) {
    Vector out;
    out.reserve(in.size());
    for (const Element& el : in) out.push_back({drop_name(el.labels), el.t, fn(el.v)});
    return out;
  };
  auto date = [&](const std::vector<Vector>& v, int64_t ts, auto fn) -> Vector {
    Vector in = v.empty() ? Vector{{Labels(), ts, static_cast<double>(ts) / 1000}} : v[0];
    Vector out;
    for (const Element& el : in) {
      if (std::isnan(el.v) || std::isinf(el.v)) {
        out.push_back({drop_name(el.labels), el.t, kNaN});
        continue;
      }
      const auto secs = static_cast<time_t>(el.v);
      std::tm tm{};
      gmtime_r(&secs, &tm);
      out.push_back({drop_name(el.labels), el.t, fn(tm)});
    }
    return out;
  };
  return RangeEval(
      args,
      [&](const std::vector<Vector>& v, int64_t ts) -> Result<Vector> {
        switch (id) {
          case Fn::kAbs:
            return simple(v[0], [](double x) { return std::fabs(x); });
          case Fn::kCeil:
            return simple(v[0], [](double x) { return std::ceil(x); });
          case Fn::kFloor:
            return simple(v[0], [](double x) { return std::floor(x); });
          case Fn::kExp:
            return simple(v[0], [](double x) { return std::exp(x); });
          case Fn::kSqrt:
            return simple(v[0], [](double x) { return std::sqrt(x); });
          case Fn::kLn:
            return simple(v[0], [](double x) { return std::log(x); });
          case Fn::kLog2:
            return simple(v[0], GoLog2);
          case Fn::kLog10:
            return simple(v[0], [](double x) { return std::log(x) * (1 / M_LN10); });
          case Fn::kSin:
            return simple(v[0], [](double x) { return std::sin(x); });
          case Fn::kCos:
            return simple(v[0], [](double x) { return std::cos(x); });
          case Fn::kTan:
            return simple(v[0], [](double x) { return std::tan(x); });
          case Fn::kAsin:
            return simple(v[0], [](double x) { return std::asin(x); });
          case Fn::kAcos:
            return simple(v[0], [](double x) { return std::acos(x); });
          case Fn::kAtan:
            return simple(v[0], [](double x) { return std::atan(x); });
          case Fn::kSinh:
            return simple(v[0], [](double x) { return std::sinh(x); });
          case Fn::kCosh:
            return simple(v[0], [](double x) { return std::cosh(x); });
          case Fn::kTanh:
            return simple(v[0], [](double x) { return std::tanh(x); });
          case Fn::kAsinh:
            return simple(v[0], [](double x) { return std::asinh(x); });
          case Fn::kAcosh:
            return simple(v[0], [](double x) { return std::acosh(x); });
          case Fn::kAtanh:
            return simple(v[0], [](double x) { return std::atanh(x); });
          case Fn::kDeg:
            return simple(v[0], [](double x) { return x * 180 / M_PI; });
          case Fn::kRad:
            return simple(v[0], [](double x) { return x * M_PI / 180; });
          case Fn::kSgn:
            return simple(v[0], [](double x) {
              if (x < 0) return -1.0;
              if (x > 0) return 1.0;
              return x;  // 0 and NaN as they are
            });
          case Fn::kRound: {
            const double to = v.size() > 1 ? v[1][0].v : 1.0;
            const double inv = 1.0 / to;
            return simple(v[0], [inv](double x) { return std::floor(x * inv + 0.5) / inv; });
          }
          case Fn::kClamp: {
            const double lo = v[1][0].v, hi = v[2][0].v;
            if (hi < lo) return Vector{};
            return simple(v[0], [lo, hi](double x) {
              if (std::isnan(x) || std::isnan(lo) || std::isnan(hi)) return kNaN;
              return std::max(lo, std::min(hi, x));
            });
          }
          case Fn::kClampMax: {
            const double hi = v[1][0].v;
            return simple(v[0], [hi](double x) {
              if (std::isnan(x) || std::isnan(hi)) return kNaN;
              return std::min(hi, x);
            });
          }
          case Fn::kClampMin: {
            const double lo = v[1][0].v;
            return simple(v[0], [lo](double x) {
              if (std::isnan(x) || std::isnan(lo)) return kNaN;
              return std::max(lo, x);
            });
          }
          case Fn::kTimestamp:
            return simple(v[0], [ts](double) { return static_cast<double>(ts) / 1000; });
          case Fn::kTime:
            return Vector{{Labels(), ts, static_cast<double>(ts) / 1000}};
          case Fn::kPi:
            return Vector{{Labels(), ts, M_PI}};
          case Fn::kVector:
            return Vector{{Labels(), ts, v[0][0].v}};
          case Fn::kScalar:
            return Vector{{Labels(), ts, v[0].size() == 1 ? v[0][0].v : kNaN}};
          case Fn::kSort:
          case Fn::kSortDesc: {
            Vector out = v[0];
            const bool desc = id == Fn::kSortDesc;
            std::stable_sort(out.begin(), out.end(), [desc](const Element& a, const Element& b) {
              if (std::isnan(a.v)) return false;
              if (std::isnan(b.v)) return true;
              return desc ? a.v > b.v : a.v < b.v;
            });
            return out;
          }
          case Fn::kAbsent:
            if (!v[0].empty()) return Vector{};
            return Vector{{absent_labels, ts, 1}};
          case Fn::kHistogramQuantile: {
            const double q = v[0][0].v;
            std::unordered_map<uint64_t, std::pair<Labels, std::vector<Bucket>>> groups;
            std::vector<uint64_t> order;
            static const std::vector<std::string> kLe = {"le"};
            for (const Element& el : v[1]) {
              double upper;
              if (!ParseGoFloat(el.labels.Get("le"), upper)) continue;
              // Grouped by every label but le (the metric name included, as Prometheus).
              uint64_t key = 0;
              {
                std::string buf(el.labels.MetricName());
                key = Signature(el.labels, false, kLe) ^ std::hash<std::string>{}(buf);
              }
              auto [it, fresh] = groups.try_emplace(key);
              if (fresh) {
                LabelsBuilder b(el.labels);
                b.Del("le");
                it->second.first = DropName(b.Build());
                order.push_back(key);
              }
              it->second.second.push_back({upper, el.v});
            }
            Vector out;
            for (const auto& key : order) {
              auto& [labels, buckets] = groups[key];
              out.push_back({labels, ts, BucketQuantile(q, buckets)});
            }
            return out;
          }
          case Fn::kLabelReplace: {
            const std::string dst = str_arg(1), repl = str_arg(2), src = str_arg(3);
            Vector out;
            const int n = re->NumberOfCapturingGroups();
            std::vector<re2::StringPiece> sub(static_cast<size_t>(n) + 1);
            for (const Element& el : v[0]) {
              const std::string value(el.labels.Get(src));
              if (re->Match(value, 0, value.size(), re2::RE2::UNANCHORED, sub.data(),
                            static_cast<int>(sub.size()))) {
                std::vector<std::string_view> groups;
                for (const auto& s : sub) groups.emplace_back(s.data(), s.size());
                const std::string res = ExpandTemplate(*re, repl, groups);
                out.push_back({LabelsBuilder(el.labels).Set(dst, res).Build(), el.t, el.v});
              } else {
                out.push_back(el);
              }
            }
            return out;
          }
          case Fn::kLabelJoin: {
            const std::string dst = str_arg(1), sep = str_arg(2);
            Vector out;
            for (const Element& el : v[0]) {
              std::string joined;
              for (size_t i = 3; i < e.args.size(); ++i) {
                if (i > 3) joined += sep;
                joined += el.labels.Get(str_arg(i));
              }
              out.push_back({LabelsBuilder(el.labels).Set(dst, joined).Build(), el.t, el.v});
            }
            return out;
          }
          case Fn::kDaysInMonth:
            return date(v, ts, [](const std::tm& tm) {
              static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
              const int y = tm.tm_year + 1900;
              const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
              return static_cast<double>(kDays[tm.tm_mon] + (tm.tm_mon == 1 && leap ? 1 : 0));
            });
          case Fn::kDayOfMonth:
            return date(v, ts, [](const std::tm& tm) { return static_cast<double>(tm.tm_mday); });
          case Fn::kDayOfWeek:
            return date(v, ts, [](const std::tm& tm) { return static_cast<double>(tm.tm_wday); });
          case Fn::kDayOfYear:
            return date(v, ts,
                        [](const std::tm& tm) { return static_cast<double>(tm.tm_yday + 1); });
          case Fn::kHour:
            return date(v, ts, [](const std::tm& tm) { return static_cast<double>(tm.tm_hour); });
          case Fn::kMinute:
            return date(v, ts, [](const std::tm& tm) { return static_cast<double>(tm.tm_min); });
          case Fn::kMonth:
            return date(v, ts,
                        [](const std::tm& tm) { return static_cast<double>(tm.tm_mon + 1); });
          case Fn::kYear:
            return date(v, ts,
                        [](const std::tm& tm) { return static_cast<double>(tm.tm_year + 1900); });
          default:
            return ExecError("function " + std::string(f.name) + " is not implemented");
        }
      },
      scalar_result);
}

Result<Matrix> Evaluator::Eval(const Expr& e) {
  VIGIL_RETURN_IF_ERROR(CheckDeadline());
  if (e.kind != NodeKind::kAggregate && e.kind != NodeKind::kNumber && MayPushDown()) {
    VIGIL_ASSIGN_OR_RETURN(std::optional<Matrix> pushed, PushDownSeries(e));
    if (pushed) return std::move(*pushed);
  }
  switch (e.kind) {
    case NodeKind::kNumber: {
      Series s;
      for (int64_t ts = start_; ts <= end_; ts += interval_) s.points.push_back({ts, e.number});
      return Matrix{std::move(s)};
    }
    case NodeKind::kParen:
      return Eval(*e.args[0]);
    case NodeKind::kVectorSelector:
      return EvalVectorSelector(e, false);
    case NodeKind::kUnary: {
      VIGIL_ASSIGN_OR_RETURN(Matrix m, Eval(*e.args[0]));
      if (e.op == Op::kSub) {
        for (Series& s : m) {
          s.labels = DropName(s.labels);
          for (Point& p : s.points) p.v = -p.v;
        }
        VIGIL_RETURN_IF_ERROR(CheckUniqueLabelsets(m));
      }
      return m;
    }
    case NodeKind::kBinary:
      return EvalBinary(e);
    case NodeKind::kAggregate:
      return EvalAggregate(e);
    case NodeKind::kCall:
      return EvalCall(e);
    case NodeKind::kString:
    case NodeKind::kMatrixSelector:
    case NodeKind::kSubquery:
      return ExecError(std::string("unexpected ") + ValueTypeName(e.type()) +
                       " in an expression evaluated per step");
  }
  return ExecError("unknown expression");
}

}  // namespace

Result<QueryResult> Engine::Instant(tsdb::Queryable& store, std::string_view query, int64_t t_ms) {
  VIGIL_ASSIGN_OR_RETURN(ExprPtr e, ParseExpr(query));
  return Eval(store, *e, t_ms, t_ms, 0, true);
}

Result<QueryResult> Engine::Range(tsdb::Queryable& store, std::string_view query, int64_t start_ms,
                                  int64_t end_ms, int64_t step_ms) {
  VIGIL_ASSIGN_OR_RETURN(ExprPtr e, ParseExpr(query));
  const ValueType t = e->type();
  if (t != ValueType::kScalar && t != ValueType::kVector) {
    return InvalidArgument(std::string("invalid expression type \"") + ValueTypeName(t) +
                           "\" for range query, must be Scalar or instant Vector");
  }
  return Eval(store, *e, start_ms, end_ms, step_ms, false);
}

Result<QueryResult> Engine::Eval(tsdb::Queryable& store, const Expr& expr, int64_t start_ms,
                                 int64_t end_ms, int64_t step_ms, bool instant) {
  auto querier = store.NewQuerier();
  auto r = EvalOn(*querier, expr, start_ms, end_ms, step_ms, instant);
  if (r.ok()) r->warnings = querier->Warnings();
  return r;
}

Result<QueryResult> Engine::EvalOn(tsdb::Querier& querier, const Expr& expr, int64_t start_ms,
                                   int64_t end_ms, int64_t step_ms, bool instant) {
  const auto deadline = std::chrono::steady_clock::now() + opts_.timeout;
  // An instant query is one step; its interval only matters for subqueries (Prometheus uses 1m
  // as the default subquery step when none is given).
  const int64_t interval = instant ? 1 : step_ms;
  Evaluator ev(querier, opts_, start_ms, end_ms, interval, deadline);
  ev.query_start_ = start_ms;
  ev.query_end_ = end_ms;
  ev.interval_default_ = opts_.default_subquery_step_ms;
  QueryResult out;
  out.type = expr.type();
  out.t = start_ms;
  const Expr* top = &Unparen(expr);
  switch (out.type) {
    case ValueType::kString:
      out.str = top->str;
      return out;
    case ValueType::kMatrix: {
      int64_t range = 0, offset = 0;
      VIGIL_ASSIGN_OR_RETURN(Matrix m, ev.EvalRangeArg(*top, range, offset));
      if (top->kind == NodeKind::kMatrixSelector) {
        // The window at the query time: [t - range, t] shifted by offset and @.
        for (Series& s : m) {
          const Expr& sel = *top->args[0];
          int64_t ref = start_ms;
          if (sel.at_kind == Expr::AtKind::kValue) ref = *sel.at;
          ref -= sel.offset;
          std::erase_if(s.points, [&](const Point& p) { return p.t < ref - range || p.t > ref; });
        }
      }
      std::erase_if(m, [](const Series& s) { return s.points.empty(); });
      out.matrix = std::move(m);
      return out;
    }
    default:
      break;
  }
  VIGIL_ASSIGN_OR_RETURN(Matrix m, ev.Eval(expr));
  if (out.type == ValueType::kScalar) {
    if (instant) {
      out.scalar = m.empty() || m[0].points.empty() ? kNaN : m[0].points[0].v;
      return out;
    }
    for (Series& s : m) s.labels = Labels();
    out.type = ValueType::kMatrix;
    out.matrix = std::move(m);
    return out;
  }
  if (instant) {
    out.type = ValueType::kVector;
    for (Series& s : m) {
      if (!s.points.empty())
        out.vector.push_back({std::move(s.labels), s.points[0].t, s.points[0].v});
    }
    return out;
  }
  out.type = ValueType::kMatrix;
  std::sort(m.begin(), m.end(),
            [](const Series& a, const Series& b) { return a.labels < b.labels; });
  out.matrix = std::move(m);
  return out;
}

}  // namespace vigil::promql
