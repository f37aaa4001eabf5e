#include "vigil/tsdb/promql/functions.h"

#include <array>

namespace vigil::promql {
namespace {

constexpr ValueType S = ValueType::kScalar;
constexpr ValueType V = ValueType::kVector;
constexpr ValueType M = ValueType::kMatrix;
constexpr ValueType T = ValueType::kString;

const std::vector<Function>& Table() {
  static const std::vector<Function> kTable = {
      {"abs", Fn::kAbs, {V}, 0, V},
      {"absent", Fn::kAbsent, {V}, 0, V},
      {"absent_over_time", Fn::kAbsentOverTime, {M}, 0, V},
      {"acos", Fn::kAcos, {V}, 0, V},
      {"acosh", Fn::kAcosh, {V}, 0, V},
      {"asin", Fn::kAsin, {V}, 0, V},
      {"asinh", Fn::kAsinh, {V}, 0, V},
      {"atan", Fn::kAtan, {V}, 0, V},
      {"atanh", Fn::kAtanh, {V}, 0, V},
      {"avg_over_time", Fn::kAvgOverTime, {M}, 0, V},
      {"ceil", Fn::kCeil, {V}, 0, V},
      {"changes", Fn::kChanges, {M}, 0, V},
      {"clamp", Fn::kClamp, {V, S, S}, 0, V},
      {"clamp_max", Fn::kClampMax, {V, S}, 0, V},
      {"clamp_min", Fn::kClampMin, {V, S}, 0, V},
      {"cos", Fn::kCos, {V}, 0, V},
      {"cosh", Fn::kCosh, {V}, 0, V},
      {"count_over_time", Fn::kCountOverTime, {M}, 0, V},
      {"days_in_month", Fn::kDaysInMonth, {V}, 1, V},
      {"day_of_month", Fn::kDayOfMonth, {V}, 1, V},
      {"day_of_week", Fn::kDayOfWeek, {V}, 1, V},
      {"day_of_year", Fn::kDayOfYear, {V}, 1, V},
      {"deg", Fn::kDeg, {V}, 0, V},
      {"delta", Fn::kDelta, {M}, 0, V},
      {"deriv", Fn::kDeriv, {M}, 0, V},
      {"exp", Fn::kExp, {V}, 0, V},
      {"floor", Fn::kFloor, {V}, 0, V},
      {"histogram_quantile", Fn::kHistogramQuantile, {S, V}, 0, V},
      {"holt_winters", Fn::kHoltWinters, {M, S, S}, 0, V},
      {"hour", Fn::kHour, {V}, 1, V},
      {"idelta", Fn::kIdelta, {M}, 0, V},
      {"increase", Fn::kIncrease, {M}, 0, V},
      {"irate", Fn::kIrate, {M}, 0, V},
      {"label_replace", Fn::kLabelReplace, {V, T, T, T, T}, 0, V},
      {"label_join", Fn::kLabelJoin, {V, T, T, T}, -1, V},
      {"last_over_time", Fn::kLastOverTime, {M}, 0, V},
      {"ln", Fn::kLn, {V}, 0, V},
      {"log10", Fn::kLog10, {V}, 0, V},
      {"log2", Fn::kLog2, {V}, 0, V},
      {"max_over_time", Fn::kMaxOverTime, {M}, 0, V},
      {"min_over_time", Fn::kMinOverTime, {M}, 0, V},
      {"minute", Fn::kMinute, {V}, 1, V},
      {"month", Fn::kMonth, {V}, 1, V},
      {"pi", Fn::kPi, {}, 0, S},
      {"predict_linear", Fn::kPredictLinear, {M, S}, 0, V},
      {"present_over_time", Fn::kPresentOverTime, {M}, 0, V},
      {"quantile_over_time", Fn::kQuantileOverTime, {S, M}, 0, V},
      {"rad", Fn::kRad, {V}, 0, V},
      {"rate", Fn::kRate, {M}, 0, V},
      {"resets", Fn::kResets, {M}, 0, V},
      {"round", Fn::kRound, {V, S}, 1, V},
      {"scalar", Fn::kScalar, {V}, 0, S},
      {"sgn", Fn::kSgn, {V}, 0, V},
      {"sin", Fn::kSin, {V}, 0, V},
      {"sinh", Fn::kSinh, {V}, 0, V},
      {"sort", Fn::kSort, {V}, 0, V},
      {"sort_desc", Fn::kSortDesc, {V}, 0, V},
      {"sqrt", Fn::kSqrt, {V}, 0, V},
      {"stddev_over_time", Fn::kStddevOverTime, {M}, 0, V},
      {"stdvar_over_time", Fn::kStdvarOverTime, {M}, 0, V},
      {"sum_over_time", Fn::kSumOverTime, {M}, 0, V},
      {"tan", Fn::kTan, {V}, 0, V},
      {"tanh", Fn::kTanh, {V}, 0, V},
      {"time", Fn::kTime, {}, 0, S},
      {"timestamp", Fn::kTimestamp, {V}, 0, V},
      {"vector", Fn::kVector, {S}, 0, V},
      {"year", Fn::kYear, {V}, 1, V},
  };
  return kTable;
}

}  // namespace

const Function* LookupFunction(std::string_view name) {
  for (const Function& f : Table()) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

}  // namespace vigil::promql
