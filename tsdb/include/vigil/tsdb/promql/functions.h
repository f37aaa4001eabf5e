#pragma once

// The functions of PromQL 2.42: names, argument types and result types, for the parser's type
// checks. The engine implements each by its id.

#include <string_view>
#include <vector>

#include "vigil/tsdb/promql/ast.h"

namespace vigil::promql {

enum class Fn {
  kAbs,
  kAbsent,
  kAbsentOverTime,
  kAcos,
  kAcosh,
  kAsin,
  kAsinh,
  kAtan,
  kAtanh,
  kAvgOverTime,
  kCeil,
  kChanges,
  kClamp,
  kClampMax,
  kClampMin,
  kCos,
  kCosh,
  kCountOverTime,
  kDaysInMonth,
  kDayOfMonth,
  kDayOfWeek,
  kDayOfYear,
  kDeg,
  kDelta,
  kDeriv,
  kExp,
  kFloor,
  kHistogramQuantile,
  kHoltWinters,
  kHour,
  kIdelta,
  kIncrease,
  kIrate,
  kLabelReplace,
  kLabelJoin,
  kLastOverTime,
  kLn,
  kLog10,
  kLog2,
  kMaxOverTime,
  kMinOverTime,
  kMinute,
  kMonth,
  kPi,
  kPredictLinear,
  kPresentOverTime,
  kQuantileOverTime,
  kRad,
  kRate,
  kResets,
  kRound,
  kScalar,
  kSgn,
  kSin,
  kSinh,
  kSort,
  kSortDesc,
  kSqrt,
  kStddevOverTime,
  kStdvarOverTime,
  kSumOverTime,
  kTan,
  kTanh,
  kTime,
  kTimestamp,
  kVector,
  kYear,
};

struct Function {
  std::string_view name;
  Fn id;
  std::vector<ValueType> args;
  // 0: exactly args; n > 0: up to n of the last arguments may be left out; -1: the last
  // argument repeats any number of times (label_join).
  int variadic;
  ValueType result;
};

// nullptr if there is no such function.
const Function* LookupFunction(std::string_view name);

}  // namespace vigil::promql
