#pragma once

// The PromQL syntax tree, as Prometheus 2.42's parser builds it. One node type with a kind, so
// the engine and the printer switch over kinds; the fields a kind does not use stay empty.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vigil/common/matcher.h"

namespace vigil::promql {

enum class ValueType { kNone, kScalar, kVector, kMatrix, kString };
const char* ValueTypeName(ValueType t);  // "scalar", "instant vector", "range vector", "string"

enum class NodeKind {
  kNumber,
  kString,
  kVectorSelector,
  kMatrixSelector,
  kSubquery,
  kParen,
  kUnary,
  kBinary,
  kAggregate,
  kCall,
};

enum class Op {
  kNone,
  // Binary, by precedence from low to high.
  kOr,
  kAnd,
  kUnless,
  kEql,
  kNeq,
  kLte,
  kLss,
  kGte,
  kGtr,
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kAtan2,
  kPow,
  // Aggregations.
  kSum,
  kAvg,
  kCount,
  kMin,
  kMax,
  kGroup,
  kStddev,
  kStdvar,
  kTopk,
  kBottomk,
  kCountValues,
  kQuantile,
};
const char* OpName(Op op);  // as written in PromQL: "+", "and", "sum", ...
bool IsComparison(Op op);
bool IsSetOp(Op op);

enum class Cardinality { kOneToOne, kManyToOne, kOneToMany, kManyToMany };

struct VectorMatching {
  Cardinality card = Cardinality::kOneToOne;
  std::vector<std::string> labels;  // on(...) or ignoring(...)
  bool on = false;
  std::vector<std::string> include;  // group_left(...)/group_right(...)
};

struct Function;  // functions.h

// Byte offsets into the query: [start, end).
struct PosRange {
  int start = 0;
  int end = 0;
};

struct Expr {
  NodeKind kind;
  PosRange pos;

  // kNumber
  double number = 0;
  // kString; kVectorSelector: the metric name ("" if none)
  std::string str;
  // kVectorSelector
  std::vector<Matcher> matchers;
  // kVectorSelector and kSubquery: offset (ms, may be negative) and @ (ms), as written
  int64_t offset = 0;
  std::optional<int64_t> at;
  enum class AtKind { kNone, kValue, kStart, kEnd } at_kind = AtKind::kNone;
  // kMatrixSelector: range; kSubquery: range and step (0: the default evaluation interval)
  int64_t range = 0;
  int64_t step = 0;
  // kUnary, kBinary, kAggregate
  Op op = Op::kNone;
  // kBinary
  bool return_bool = false;
  int op_pos = 0;                          // where the operator is, for errors about it
  std::optional<VectorMatching> matching;  // set when both sides are vectors
  // kAggregate
  std::vector<std::string> grouping;
  bool without = false;
  // kCall
  const Function* func = nullptr;
  // Children: kMatrixSelector [vector selector]; kSubquery, kParen, kUnary [expr];
  // kBinary [lhs, rhs]; kAggregate [expr] or [param, expr]; kCall: the arguments.
  std::vector<std::unique_ptr<Expr>> args;

  ValueType type() const;
  // The expression on one line as Prometheus prints it (rule files, errors).
  std::string ToString() const;
  // Prometheus' prettified form (format_query): a node longer than 100 characters on one line
  // is split over lines, its children indented two spaces per level.
  std::string Pretty(int level = 0) const;
};

using ExprPtr = std::unique_ptr<Expr>;

}  // namespace vigil::promql
