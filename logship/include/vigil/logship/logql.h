#pragma once

// LogQL, the subset logship answers (Loki's grammar and words for what it has):
//
//   log query:     {name="v", name=~"re", ...} stage*
//   stages:        |= "s"   != "s"   |~ "re"   !~ "re"     line filters
//                  | json   | logfmt                      labels from the line
//                  | name op value [and|, name op value]   label filters: = != =~ !~ for
//                                                          strings, > >= < <= == != for numbers
//                  | line_format "{{.name}} text"          the line rewritten from labels
//   metric query:  count_over_time(q [d])  rate(q [d])  bytes_over_time(q [d])  bytes_rate(q [d])
//                  sum|avg|min|max|count [by|without (l, ...)] (metric) [by|without (...)]
//                  topk(k, metric)  bottomk(k, metric)
//                  metric > >= < <= == != number   (a filter, for alerting rules)
//
// Errors read as Loki's: "parse error at line 1, col 12: syntax error: unexpected ...".

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/common/labels.h"
#include "vigil/common/matcher.h"
#include "vigil/common/status.h"

namespace re2 {
class RE2;
}

namespace vigil::logql {

struct LineFilter {
  enum class Op { kContains, kNotContains, kMatches, kNotMatches };
  Op op = Op::kContains;
  std::string value;
  std::shared_ptr<const re2::RE2> re;  // for the regex ops
};

struct LabelFilter {
  enum class Op { kEq, kNe, kRe, kNre, kGt, kGe, kLt, kLe, kNumEq, kNumNe };
  std::string name;
  Op op = Op::kEq;
  std::string value;
  double number = 0;  // for the numeric ops
  std::shared_ptr<const re2::RE2> re;
};

struct Stage {
  enum class Kind { kLineFilter, kJson, kLogfmt, kLabelFilter, kLineFormat };
  Kind kind = Kind::kLineFilter;
  LineFilter line;
  // Label filters joined by `and` (or `,`); alternatives joined by `or` are separate groups.
  std::vector<std::vector<LabelFilter>> any_of;
  std::string format;  // line_format's template
};

struct LogSelector {
  std::vector<Matcher> matchers;
  std::vector<Stage> stages;
};

struct MetricExpr {
  // kCompare: `inner op threshold`, keeping the samples for which it holds (as Loki and PromQL
  // without `bool`), the form alerting rules take.
  enum class Kind { kRange, kVector, kCompare };
  Kind kind = Kind::kRange;
  enum class CmpOp { kGt, kGe, kLt, kLe, kEq, kNe };
  CmpOp cmp = CmpOp::kGt;
  double threshold = 0;
  // kRange
  enum class RangeFn { kCountOverTime, kRate, kBytesOverTime, kBytesRate };
  RangeFn fn = RangeFn::kCountOverTime;
  LogSelector selector;
  int64_t range_ns = 0;
  // kVector
  enum class AggOp { kSum, kAvg, kMin, kMax, kCount, kTopk, kBottomk };
  AggOp op = AggOp::kSum;
  bool without = false;
  bool grouped = false;  // by/without given
  std::vector<std::string> grouping;
  int64_t k = 0;
  std::unique_ptr<MetricExpr> inner;
};

struct Query {
  std::optional<LogSelector> log;      // a log query
  std::unique_ptr<MetricExpr> metric;  // or a metric query
};

Result<Query> Parse(std::string_view text);

// A query written out again: Parse of the text gives the same query (a fan-out sends parts of
// a query to the shards this way).
std::string ToString(const LogSelector& selector);
std::string ToString(const MetricExpr& expr);

}  // namespace vigil::logql
