#include "vigil/tsdb/promql/series_notation.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>

#include "vigil/common/stale.h"
#include "vigil/tsdb/promql/parser.h"

namespace vigil::promql {
namespace {

bool ParseNumber(std::string_view s, double& v) {
  if (s == "Inf" || s == "+Inf" || s == "inf" || s == "+inf") {
    v = INFINITY;
    return true;
  }
  if (s == "-Inf" || s == "-inf") {
    v = -INFINITY;
    return true;
  }
  if (s == "NaN" || s == "nan") {
    v = NAN;
    return true;
  }
  if (s.empty()) return false;
  const std::string str(s);
  char* end = nullptr;
  v = std::strtod(str.c_str(), &end);
  return end == str.c_str() + str.size();
}

// One token into `out`; false if it is not in the notation.
bool Expand(std::string_view tok, SeriesValues& out) {
  if (tok == "_") {
    out.push_back(std::nullopt);
    return true;
  }
  if (tok == "stale") {
    out.push_back(StaleNaN());
    return true;
  }
  const size_t x = tok.rfind('x');
  if (x != std::string_view::npos && x + 1 < tok.size() &&
      tok.find_first_not_of("0123456789", x + 1) == std::string_view::npos) {
    uint64_t n = 0;
    const auto digits = tok.substr(x + 1);
    if (std::from_chars(digits.data(), digits.data() + digits.size(), n).ec != std::errc() ||
        n > 10'000'000) {
      return false;
    }
    const std::string_view head = tok.substr(0, x);
    if (head == "_") {
      out.insert(out.end(), n, std::nullopt);
      return true;
    }
    // a+b or a-b: the operator is a sign not at the start and not after an exponent's 'e'.
    size_t op = std::string_view::npos;
    for (size_t i = 1; i < head.size(); ++i) {
      if ((head[i] == '+' || head[i] == '-') && head[i - 1] != 'e' && head[i - 1] != 'E') {
        op = i;
        break;
      }
    }
    double a = 0, b = 0;
    if (op == std::string_view::npos) {
      if (!ParseNumber(head, a)) return false;
    } else {
      if (!ParseNumber(head.substr(0, op), a) || !ParseNumber(head.substr(op + 1), b)) {
        return false;
      }
      if (head[op] == '-') b = -b;
    }
    for (uint64_t i = 0; i <= n; ++i) out.push_back(a + b * static_cast<double>(i));
    return true;
  }
  double v;
  if (!ParseNumber(tok, v)) return false;
  out.push_back(v);
  return true;
}

}  // namespace

Result<Labels> ParseSeriesLabels(std::string_view series) {
  while (!series.empty() && (series.front() == ' ' || series.front() == '\t')) {
    series.remove_prefix(1);
  }
  while (!series.empty() && (series.back() == ' ' || series.back() == '\t'))
    series.remove_suffix(1);
  if (series == "{}") return Labels();
  VIGIL_ASSIGN_OR_RETURN(auto matchers, ParseMetricSelector(series));
  std::vector<Label> pairs;
  for (const Matcher& m : matchers) {
    if (m.type() != MatchType::kEqual) {
      return InvalidArgument("series " + std::string(series) + ": only = matchers name a series");
    }
    pairs.push_back({m.name(), m.value()});
  }
  return Labels::FromPairs(std::move(pairs));
}

Result<SeriesValues> ParseSeriesValues(std::string_view values) {
  SeriesValues out;
  size_t token = 0;
  size_t i = 0;
  while (i < values.size()) {
    if (values[i] == ' ' || values[i] == '\t') {
      ++i;
      continue;
    }
    size_t j = values.find_first_of(" \t", i);
    if (j == std::string_view::npos) j = values.size();
    ++token;
    const std::string_view tok = values.substr(i, j - i);
    if (!Expand(tok, out)) {
      return InvalidArgument("bad value \"" + std::string(tok) + "\" (token " +
                             std::to_string(token) + "): expected a number, _, stale, a+bxN, " +
                             "a-bxN, axN or _xN");
    }
    i = j;
  }
  return out;
}

Result<SeriesDescription> ParseSeriesDescription(std::string_view line) {
  // The series ends at the closing brace of its labels, or at the first space without them.
  size_t end;
  const size_t brace = line.find('{');
  const size_t space = line.find_first_of(" \t");
  if (brace != std::string_view::npos && (space == std::string_view::npos || brace < space)) {
    bool quoted = false;
    end = brace;
    for (; end < line.size(); ++end) {
      if (line[end] == '\\') {
        ++end;
        continue;
      }
      if (line[end] == '"') quoted = !quoted;
      if (line[end] == '}' && !quoted) break;
    }
    end = std::min(end + 1, line.size());
  } else {
    end = space == std::string_view::npos ? line.size() : space;
  }
  SeriesDescription d;
  VIGIL_ASSIGN_OR_RETURN(d.labels, ParseSeriesLabels(line.substr(0, end)));
  VIGIL_ASSIGN_OR_RETURN(d.values, ParseSeriesValues(line.substr(end)));
  return d;
}

}  // namespace vigil::promql
