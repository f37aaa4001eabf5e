// Expr::ToString and Expr::Pretty: expressions printed as Prometheus 2.42's String() and
// Pretty() methods (promql/parser/printer.go and prettier.go) print them.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "vigil/common/duration.h"
#include "vigil/tsdb/promql/ast.h"
#include "vigil/tsdb/promql/functions.h"

namespace vigil::promql {
namespace {

// Go's fmt.Sprint(float64), as Prometheus prints number literals: the shortest digits that read
// back the same, in exponent form when the exponent is below -4 or at least 6 ("1e+06").
std::string GoFloat(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  std::string sci(buf, r.ptr);
  const size_t e = sci.find('e');
  const int exp = std::atoi(sci.c_str() + e + 1);
  if (v != 0 && (exp < -4 || exp >= 6)) {
    std::string mant = sci.substr(0, e);
    const char sign = exp < 0 ? '-' : '+';
    std::string digits = std::to_string(exp < 0 ? -exp : exp);
    if (digits.size() < 2) digits = "0" + digits;
    return mant + "e" + sign + digits;
  }
  r = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed);
  return std::string(buf, r.ptr);
}

std::string Quote(const std::string& s) {
  std::string out;
  AppendQuoted(out, s);
  return out;
}

std::string Dur(int64_t ms) { return FormatDuration(std::chrono::milliseconds(ms)); }

std::string Modifiers(const Expr& e) {
  std::string out;
  if (e.offset > 0) out += " offset " + Dur(e.offset);
  if (e.offset < 0) out += " offset -" + Dur(-e.offset);
  switch (e.at_kind) {
    case Expr::AtKind::kValue: {
      char buf[64];
      std::snprintf(buf, sizeof(buf), " @ %.3f", static_cast<double>(*e.at) / 1000.0);
      out += buf;
      break;
    }
    case Expr::AtKind::kStart:
      out += " @ start()";
      break;
    case Expr::AtKind::kEnd:
      out += " @ end()";
      break;
    case Expr::AtKind::kNone:
      break;
  }
  return out;
}

// As 2.42 prints selectors: the matchers' texts sorted and joined by "," (no space).
std::string Selector(const Expr& e) {
  std::string out = e.str;
  std::vector<std::string> ms;
  for (const Matcher& m : e.matchers) {
    if (!e.str.empty() && m.name() == kMetricNameLabel && m.type() == MatchType::kEqual &&
        m.value() == e.str) {
      continue;
    }
    ms.push_back(m.ToString());
  }
  std::sort(ms.begin(), ms.end());
  std::string joined;
  for (size_t i = 0; i < ms.size(); ++i) joined += (i ? "," : "") + ms[i];
  if (!ms.empty() || e.str.empty()) out += "{" + joined + "}";
  return out;
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + v[i];
  return out;
}

// " bool", " on (a)", " group_left (b)": what follows a binary operator. As in Prometheus, the
// group modifier is only printed with a non-empty ignoring() or an on().
std::string BinaryModifiers(const Expr& e) {
  std::string m;
  if (e.return_bool) m += " bool";
  if (e.matching) {
    const VectorMatching& vm = *e.matching;
    if (!vm.labels.empty() || vm.on) {
      m += std::string(vm.on ? " on" : " ignoring") + " (" + Join(vm.labels) + ")";
      if (vm.card == Cardinality::kManyToOne || vm.card == Cardinality::kOneToMany) {
        m += std::string(vm.card == Cardinality::kManyToOne ? " group_left" : " group_right") +
             " (" + Join(vm.include) + ")";
      }
    }
  }
  return m;
}

// "sum", "sum by (a) ", "sum without (a) ": an aggregation before its parenthesis.
std::string AggregatePrefix(const Expr& e) {
  std::string out = OpName(e.op);
  if (e.without) {
    out += " without (" + Join(e.grouping) + ") ";
  } else if (!e.grouping.empty()) {
    out += " by (" + Join(e.grouping) + ") ";
  }
  return out;
}

std::string Indent(int level) { return std::string(static_cast<size_t>(level) * 2, ' '); }

constexpr size_t kMaxCharactersPerLine = 100;

}  // namespace

std::string Expr::ToString() const {
  switch (kind) {
    case NodeKind::kNumber:
      return GoFloat(number);
    case NodeKind::kString:
      return Quote(str);
    case NodeKind::kVectorSelector:
      return Selector(*this) + Modifiers(*this);
    case NodeKind::kMatrixSelector:
      return Selector(*args[0]) + "[" + Dur(range) + "]" + Modifiers(*args[0]);
    case NodeKind::kSubquery:
      return args[0]->ToString() + "[" + Dur(range) + ":" + (step ? Dur(step) : "") + "]" +
             Modifiers(*this);
    case NodeKind::kParen:
      return "(" + args[0]->ToString() + ")";
    case NodeKind::kUnary:
      return std::string(OpName(op)) + args[0]->ToString();
    case NodeKind::kBinary:
      return args[0]->ToString() + " " + OpName(op) + BinaryModifiers(*this) + " " +
             args[1]->ToString();
    case NodeKind::kAggregate: {
      std::string out = AggregatePrefix(*this) + "(";
      if (args.size() == 2) out += args[0]->ToString() + ", ";
      return out + args.back()->ToString() + ")";
    }
    case NodeKind::kCall: {
      std::vector<std::string> as;
      for (const auto& a : args) as.push_back(a->ToString());
      return std::string(func->name) + "(" + Join(as) + ")";
    }
  }
  return "";
}

std::string Expr::Pretty(int level) const {
  const std::string flat = ToString();
  const bool split = flat.size() > kMaxCharactersPerLine;
  const std::string in = Indent(level);
  switch (kind) {
    case NodeKind::kNumber:
    case NodeKind::kString:
    case NodeKind::kVectorSelector:
    case NodeKind::kMatrixSelector:
      return in + flat;
    case NodeKind::kSubquery:
      // Prometheus indents neither an unsplit subquery nor the suffix of a split one.
      if (!split) return flat;
      return args[0]->Pretty(level) + "[" + Dur(range) + ":" + (step ? Dur(step) : "") + "]" +
             Modifiers(*this);
    case NodeKind::kParen:
      if (!split) return in + flat;
      return in + "(\n" + args[0]->Pretty(level + 1) + "\n" + in + ")";
    case NodeKind::kUnary: {
      std::string child = args[0]->Pretty(level);
      const size_t b = child.find_first_not_of(" \t\n");
      const size_t e = child.find_last_not_of(" \t\n");
      child = b == std::string::npos ? "" : child.substr(b, e - b + 1);
      return in + OpName(op) + child;
    }
    case NodeKind::kBinary:
      if (!split) return in + flat;
      return args[0]->Pretty(level + 1) + "\n" + in + OpName(op) + BinaryModifiers(*this) + "\n" +
             args[1]->Pretty(level + 1);
    case NodeKind::kAggregate: {
      if (!split) return in + flat;
      std::string out = in + AggregatePrefix(*this) + "(\n";
      if (args.size() == 2) out += args[0]->Pretty(level + 1) + ",\n";
      return out + args.back()->Pretty(level + 1) + "\n" + in + ")";
    }
    case NodeKind::kCall: {
      if (!split) return in + flat;
      std::string out = in + std::string(func->name) + "(\n";
      for (size_t i = 0; i < args.size(); ++i) {
        out += args[i]->Pretty(level + 1) + (i + 1 < args.size() ? ",\n" : "");
      }
      return out + "\n" + in + ")";
    }
  }
  return flat;
}

}  // namespace vigil::promql
