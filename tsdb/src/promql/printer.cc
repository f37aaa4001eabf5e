// Expr::ToString: expressions printed as Prometheus 2.42's String() methods print them.

#include <cmath>
#include <cstdio>
#include <string>

#include "vigil/common/duration.h"
#include "vigil/tsdb/promql/ast.h"
#include "vigil/tsdb/promql/functions.h"

namespace vigil::promql {
namespace {

// Go's fmt.Sprint(float64): shortest round-trip digits, %e form past 1e21 or below 1e-4.
std::string GoFloat(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof(buf), "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  std::string s = buf;
  // C's %g switches to exponents at 1e-5 and 10^prec; Go at 1e-4 and 1e21.
  const double a = std::fabs(v);
  if (a != 0 && (a < 1e-4 || a >= 1e21)) {
    const size_t e = s.find('e');
    if (e == std::string::npos) {
      // rewrite in exponent form
      int prec = 1;
      for (; prec <= 17; ++prec) {
        std::snprintf(buf, sizeof(buf), "%.*e", prec - 1, v);
        if (std::strtod(buf, nullptr) == v) break;
      }
      s = buf;
    }
  } else if (s.find('e') != std::string::npos) {
    std::snprintf(buf, sizeof(buf), "%.17g", v);
    // shortest fixed form
    for (int prec = 0; prec <= 20; ++prec) {
      std::snprintf(buf, sizeof(buf), "%.*f", prec, v);
      if (std::strtod(buf, nullptr) == v) break;
    }
    s = buf;
  }
  return s;
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

std::string Selector(const Expr& e) {
  std::string out = e.str;
  std::string ms;
  for (const Matcher& m : e.matchers) {
    if (!e.str.empty() && m.name() == kMetricNameLabel && m.type() == MatchType::kEqual &&
        m.value() == e.str) {
      continue;
    }
    if (!ms.empty()) ms += ", ";
    ms += m.ToString();
  }
  if (!ms.empty() || e.str.empty()) out += "{" + ms + "}";
  return out;
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + v[i];
  return out;
}

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
    case NodeKind::kBinary: {
      std::string m;
      if (return_bool) m += " bool";
      if (matching) {
        const VectorMatching& vm = *matching;
        if (!vm.labels.empty() || vm.on) {
          m += std::string(vm.on ? " on" : " ignoring") + "(" + Join(vm.labels) + ")";
        }
        if (vm.card == Cardinality::kManyToOne || vm.card == Cardinality::kOneToMany) {
          m += std::string(vm.card == Cardinality::kManyToOne ? " group_left" : " group_right") +
               "(" + Join(vm.include) + ")";
        }
      }
      return args[0]->ToString() + " " + OpName(op) + m + " " + args[1]->ToString();
    }
    case NodeKind::kAggregate: {
      std::string out = OpName(op);
      if (without) {
        out += " without (" + Join(grouping) + ") ";
      } else if (!grouping.empty()) {
        out += " by (" + Join(grouping) + ") ";
      }
      out += "(";
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

}  // namespace vigil::promql
