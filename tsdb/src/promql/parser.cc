#include "vigil/tsdb/promql/parser.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>

#include "vigil/common/duration.h"
#include "vigil/common/go_string.h"
#include "vigil/tsdb/promql/functions.h"

namespace vigil::promql {
namespace {

enum class Tok {
  kEOF,
  kIdent,   // also keywords, told apart by text
  kMetric,  // an identifier with a colon
  kNumber,
  kDuration,
  kString,
  kLParen,
  kRParen,
  kLBrace,
  kRBrace,
  kLBracket,
  kRBracket,
  kComma,
  kColon,
  kAt,
  kAssign,  // =
  kEqlRegex,
  kNeqRegex,
  kOp,  // binary/comparison operators, text in `text`
};

struct Token {
  Tok kind = Tok::kEOF;
  std::string text;  // raw text (strings: the decoded value)
  int pos = 0;
  int end = 0;
};

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) { return IsAlpha(c) || IsDigit(c); }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Op AggregateOp(std::string_view lower) {
  static const std::pair<std::string_view, Op> kAggs[] = {
      {"sum", Op::kSum},
      {"avg", Op::kAvg},
      {"count", Op::kCount},
      {"min", Op::kMin},
      {"max", Op::kMax},
      {"group", Op::kGroup},
      {"stddev", Op::kStddev},
      {"stdvar", Op::kStdvar},
      {"topk", Op::kTopk},
      {"bottomk", Op::kBottomk},
      {"count_values", Op::kCountValues},
      {"quantile", Op::kQuantile},
  };
  for (const auto& [name, op] : kAggs) {
    if (name == lower) return op;
  }
  return Op::kNone;
}

bool IsKeyword(std::string_view lower) {
  static const std::string_view kKeywords[] = {
      "and",      "or",         "unless",      "atan2", "by",     "without", "on",
      "ignoring", "group_left", "group_right", "bool",  "offset", "start",   "end"};
  for (auto k : kKeywords) {
    if (k == lower) return true;
  }
  return AggregateOp(lower) != Op::kNone;
}

class Parser {
 public:
  explicit Parser(std::string_view q) : q_(q) {}

  Result<ExprPtr> Run() {
    VIGIL_RETURN_IF_ERROR(Lex());
    if (toks_.size() == 1) return Error(0, 0, "no expression found in input");
    VIGIL_ASSIGN_OR_RETURN(auto e, ParseBinary(0));
    if (Peek().kind != Tok::kEOF) return Unexpected(Peek(), "");
    VIGIL_RETURN_IF_ERROR(Check(*e));
    return e;
  }

 private:
  // ---- errors -------------------------------------------------------------------------------

  // Prometheus reports the start of a range; the end is kept at call sites for the reader.
  Status Error(int pos, int /*end*/, const std::string& msg) const {
    int line = 1, last_break = -1;
    for (int i = 0; i < pos && i < static_cast<int>(q_.size()); ++i) {
      if (q_[static_cast<size_t>(i)] == '\n') {
        last_break = i;
        ++line;
      }
    }
    return InvalidArgument(std::to_string(line) + ":" + std::to_string(pos - last_break) +
                           ": parse error: " + msg);
  }
  Status Error(const Expr& e, const std::string& msg) const {
    return Error(e.pos.start, e.pos.end, msg);
  }

  static std::string Describe(const Token& t) {
    switch (t.kind) {
      case Tok::kEOF:
        return "end of input";
      case Tok::kIdent: {
        const std::string l = Lower(t.text);
        if (AggregateOp(l) != Op::kNone) return "aggregation \"" + t.text + "\"";
        if (l == "and" || l == "or" || l == "unless" || l == "atan2") {
          return "<op:" + t.text + ">";
        }
        if (IsKeyword(l)) return t.text;
        return "identifier \"" + t.text + "\"";
      }
      case Tok::kMetric:
        return "metric identifier \"" + t.text + "\"";
      case Tok::kNumber:
        return "number \"" + t.text + "\"";
      case Tok::kDuration:
        return "duration \"" + t.text + "\"";
      case Tok::kString:
        return "string \"" + t.text + "\"";
      case Tok::kOp:
        return "<op:" + t.text + ">";
      case Tok::kLParen:
        return "\"(\"";
      case Tok::kRParen:
        return "\")\"";
      case Tok::kLBrace:
        return "\"{\"";
      case Tok::kRBrace:
        return "\"}\"";
      case Tok::kLBracket:
        return "\"[\"";
      case Tok::kRBracket:
        return "\"]\"";
      case Tok::kComma:
        return "\",\"";
      case Tok::kColon:
        return "\":\"";
      case Tok::kAt:
        return "\"@\"";
      case Tok::kAssign:
        return "\"=\"";
      case Tok::kEqlRegex:
        return "\"=~\"";
      case Tok::kNeqRegex:
        return "\"!~\"";
    }
    return "token";
  }
  Status Unexpected(const Token& t, const std::string& context) const {
    if (t.kind == Tok::kEOF && !eof_error_.empty()) return Error(t.pos, t.end, eof_error_);
    std::string m = "unexpected " + Describe(t);
    if (!context.empty()) m += " in " + context;
    return Error(t.pos, t.end, m);
  }

  // ---- lexer --------------------------------------------------------------------------------

  Status Lex() {
    size_t i = 0;
    const size_t n = q_.size();
    int bracket_depth = 0, paren_depth = 0;
    bool in_braces = false;
    while (true) {
      while (i < n && (q_[i] == ' ' || q_[i] == '\t' || q_[i] == '\n' || q_[i] == '\r')) ++i;
      if (i < n && q_[i] == '#') {  // comment to end of line
        while (i < n && q_[i] != '\n') ++i;
        continue;
      }
      Token t;
      t.pos = static_cast<int>(i);
      if (i >= n) {
        t.kind = Tok::kEOF;
        t.end = t.pos;
        // What Prometheus' lexer reports when the input ends early; the parser uses it for an
        // unexpected end.
        if (in_braces) {
          eof_error_ = "unexpected end of input inside braces";
        } else if (paren_depth > 0) {
          eof_error_ = "unclosed left parenthesis";
        } else if (bracket_depth > 0) {
          eof_error_ = "unclosed left bracket";
        }
        toks_.push_back(t);
        return Status::Ok();
      }
      const char c = q_[i];
      auto two = [&](const char* s) { return i + 1 < n && q_[i] == s[0] && q_[i + 1] == s[1]; };
      if (IsAlpha(c) || c == ':') {
        if (c == ':' && bracket_depth > 0) {
          t.kind = Tok::kColon;
          ++i;
        } else {
          size_t j = i;
          bool colon = false;
          while (j < n && (IsAlnum(q_[j]) || q_[j] == ':')) {
            if (q_[j] == ':') {
              if (bracket_depth > 0) break;
              colon = true;
            }
            ++j;
          }
          t.text = std::string(q_.substr(i, j - i));
          const std::string l = Lower(t.text);
          if (!colon && (l == "inf" || l == "nan")) {
            t.kind = Tok::kNumber;
          } else {
            t.kind = colon ? Tok::kMetric : Tok::kIdent;
          }
          i = j;
        }
      } else if (IsDigit(c) || (c == '.' && i + 1 < n && IsDigit(q_[i + 1]))) {
        size_t j = i;
        if (c == '0' && i + 1 < n && (q_[i + 1] == 'x' || q_[i + 1] == 'X')) {
          j += 2;
          while (j < n && std::isxdigit(static_cast<unsigned char>(q_[j]))) ++j;
        } else {
          while (j < n && IsDigit(q_[j])) ++j;
          if (j < n && q_[j] == '.') {
            ++j;
            while (j < n && IsDigit(q_[j])) ++j;
          }
          if (j < n && (q_[j] == 'e' || q_[j] == 'E')) {
            size_t k = j + 1;
            if (k < n && (q_[k] == '+' || q_[k] == '-')) ++k;
            if (k < n && IsDigit(q_[k])) {
              j = k;
              while (j < n && IsDigit(q_[j])) ++j;
            }
          }
        }
        // A duration: digits and units, e.g. 5m, 1h30m, 500ms.
        static const std::string_view kUnits = "smhdwy";
        if (j < n && kUnits.find(q_[j]) != std::string_view::npos &&
            q_.substr(i, j - i).find_first_not_of("0123456789") == std::string_view::npos) {
          while (j < n && (IsDigit(q_[j]) || kUnits.find(q_[j]) != std::string_view::npos)) ++j;
          t.kind = Tok::kDuration;
        } else {
          t.kind = Tok::kNumber;
        }
        if (j < n && (IsAlpha(q_[j]))) {
          t.end = static_cast<int>(j);
          return Error(
              t.pos, t.end,
              "bad number or duration syntax: \"" + std::string(q_.substr(i, j - i + 1)) + "\"");
        }
        t.text = std::string(q_.substr(i, j - i));
        i = j;
      } else if (c == '"' || c == '\'' || c == '`') {
        size_t j = i + 1;
        if (c == '`') {
          while (j < n && q_[j] != '`') ++j;
          if (j >= n) return Error(t.pos, t.pos, "unterminated raw string");
          t.text = std::string(q_.substr(i + 1, j - i - 1));
          if (!IsValidUtf8(t.text)) return Error(t.pos, t.pos, "invalid UTF-8 in string");
        } else {
          while (j < n && q_[j] != c) {
            if (q_[j] == '\\') ++j;
            if (j < n && q_[j] == '\n') break;
            ++j;
          }
          if (j >= n || q_[j] != c) return Error(t.pos, t.pos, "unterminated quoted string");
          auto s = UnquoteGo(q_.substr(i + 1, j - i - 1), c);
          if (!s.ok()) return Error(t.pos, static_cast<int>(j), s.status().message());
          t.text = *s;
        }
        t.kind = Tok::kString;
        i = j + 1;
      } else if (two("==") || two("!=") || two("<=") || two(">=")) {
        t.kind = Tok::kOp;
        t.text = std::string(q_.substr(i, 2));
        i += 2;
      } else if (two("=~")) {
        t.kind = Tok::kEqlRegex;
        i += 2;
      } else if (two("!~")) {
        t.kind = Tok::kNeqRegex;
        i += 2;
      } else {
        switch (c) {
          case '(':
            t.kind = Tok::kLParen;
            ++paren_depth;
            break;
          case ')':
            t.kind = Tok::kRParen;
            if (--paren_depth < 0) return Error(t.pos, t.pos, "unexpected right parenthesis ')'");
            break;
          case '{':
            t.kind = Tok::kLBrace;
            if (in_braces) return Error(t.pos, t.pos, "unexpected left brace '{'");
            in_braces = true;
            break;
          case '}':
            t.kind = Tok::kRBrace;
            if (!in_braces) return Error(t.pos, t.pos, "unexpected right brace '}'");
            in_braces = false;
            break;
          case '[':
            t.kind = Tok::kLBracket;
            if (bracket_depth > 0) return Error(t.pos, t.pos, "unexpected left bracket '['");
            ++bracket_depth;
            break;
          case ']':
            t.kind = Tok::kRBracket;
            if (--bracket_depth < 0) return Error(t.pos, t.pos, "unexpected right bracket ']'");
            break;
          case ',':
            t.kind = Tok::kComma;
            break;
          case '@':
            t.kind = Tok::kAt;
            break;
          case '=':
            t.kind = Tok::kAssign;
            break;
          case '+':
          case '-':
          case '*':
          case '/':
          case '%':
          case '^':
          case '<':
          case '>':
            t.kind = Tok::kOp;
            t.text = std::string(1, c);
            break;
          default:
            return Error(t.pos, t.pos, std::string("unexpected character: '") + c + "'");
        }
        ++i;
      }
      t.end = static_cast<int>(i);
      toks_.push_back(std::move(t));
    }
  }

  // ---- parser -------------------------------------------------------------------------------

  const Token& Peek(size_t k = 0) const { return toks_[std::min(p_ + k, toks_.size() - 1)]; }
  Token Next() { return toks_[std::min(p_++, toks_.size() - 1)]; }
  bool IsWord(const Token& t, std::string_view lower) const {
    return t.kind == Tok::kIdent && Lower(t.text) == lower;
  }

  // The binary operator at the current token, or kNone.
  Op PeekBinaryOp() const {
    const Token& t = Peek();
    if (t.kind == Tok::kOp) {
      static const std::pair<std::string_view, Op> kOps[] = {
          {"+", Op::kAdd},  {"-", Op::kSub}, {"*", Op::kMul},  {"/", Op::kDiv},
          {"%", Op::kMod},  {"^", Op::kPow}, {"==", Op::kEql}, {"!=", Op::kNeq},
          {"<=", Op::kLte}, {"<", Op::kLss}, {">=", Op::kGte}, {">", Op::kGtr}};
      for (const auto& [s, op] : kOps) {
        if (s == t.text) return op;
      }
    }
    if (t.kind == Tok::kIdent) {
      const std::string l = Lower(t.text);
      if (l == "and") return Op::kAnd;
      if (l == "or") return Op::kOr;
      if (l == "unless") return Op::kUnless;
      if (l == "atan2") return Op::kAtan2;
    }
    return Op::kNone;
  }

  static int Precedence(Op op) {
    switch (op) {
      case Op::kOr:
        return 1;
      case Op::kAnd:
      case Op::kUnless:
        return 2;
      case Op::kEql:
      case Op::kNeq:
      case Op::kLte:
      case Op::kLss:
      case Op::kGte:
      case Op::kGtr:
        return 3;
      case Op::kAdd:
      case Op::kSub:
        return 4;
      case Op::kMul:
      case Op::kDiv:
      case Op::kMod:
      case Op::kAtan2:
        return 5;
      case Op::kPow:
        return 6;
      default:
        return 0;
    }
  }

  static ExprPtr Make(NodeKind kind, int start, int end) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->pos = {start, end};
    return e;
  }

  // Nesting is bounded, so that hostile input cannot exhaust the stack (the parser, the checks,
  // the printer and the tree's destructor all recurse); real queries nest a few levels.
  static constexpr int kMaxDepth = 200;
  struct DepthGuard {
    int& depth;
    explicit DepthGuard(int& d) : depth(++d) {}
    ~DepthGuard() { --depth; }
  };

  Result<ExprPtr> ParseBinary(int min_prec) {
    DepthGuard guard(depth_);
    if (depth_ > kMaxDepth) {
      return Error(Peek().pos, Peek().end,
                   "expression nested more than " + std::to_string(kMaxDepth) + " levels deep");
    }
    VIGIL_ASSIGN_OR_RETURN(auto lhs, ParseUnary());
    while (true) {
      const Op op = PeekBinaryOp();
      const int prec = Precedence(op);
      if (op == Op::kNone || prec < min_prec) break;
      const Token op_tok = Next();
      auto e = Make(NodeKind::kBinary, lhs->pos.start, 0);
      e->op = op;
      e->op_pos = op_tok.pos;
      // Modifiers: bool, on/ignoring(...), group_left/group_right(...).
      if (IsWord(Peek(), "bool")) {
        Next();
        e->return_bool = true;
      }
      VectorMatching vm;
      bool has_matching = false;
      if (IsWord(Peek(), "on") || IsWord(Peek(), "ignoring")) {
        vm.on = IsWord(Peek(), "on");
        Next();
        VIGIL_ASSIGN_OR_RETURN(vm.labels, ParseLabelList());
        has_matching = true;
        if (IsWord(Peek(), "group_left") || IsWord(Peek(), "group_right")) {
          vm.card =
              IsWord(Peek(), "group_left") ? Cardinality::kManyToOne : Cardinality::kOneToMany;
          Next();
          if (Peek().kind == Tok::kLParen) {
            VIGIL_ASSIGN_OR_RETURN(vm.include, ParseLabelList());
          }
        }
      } else if (IsWord(Peek(), "group_left") || IsWord(Peek(), "group_right")) {
        return Unexpected(Peek(), "binary expression");
      }
      // ^ is right-associative; the others left.
      VIGIL_ASSIGN_OR_RETURN(auto rhs, ParseBinary(op == Op::kPow ? prec : prec + 1));
      e->pos.end = rhs->pos.end;
      if (IsSetOp(op)) vm.card = Cardinality::kManyToMany;
      if (has_matching || IsSetOp(op)) e->matching = vm;
      e->args.push_back(std::move(lhs));
      e->args.push_back(std::move(rhs));
      lhs = std::move(e);
    }
    return lhs;
  }

  Result<ExprPtr> ParseUnary() {
    const Token& t = Peek();
    if (t.kind == Tok::kOp && (t.text == "+" || t.text == "-")) {
      Token op = Next();
      // Unary operators bind like multiplication: -a^b is -(a^b), -a*b is (-a)*b.
      VIGIL_ASSIGN_OR_RETURN(auto inner, ParseBinary(Precedence(Op::kPow)));
      if (op.text == "+") {
        // Prometheus keeps +x as x, with the position of the operator.
        inner->pos.start = op.pos;
        return inner;
      }
      if (inner->kind == NodeKind::kNumber) {
        inner->number = -inner->number;
        inner->pos.start = op.pos;
        return inner;
      }
      auto e = Make(NodeKind::kUnary, op.pos, inner->pos.end);
      e->op = Op::kSub;
      e->args.push_back(std::move(inner));
      return e;
    }
    return ParsePostfix();
  }

  Result<ExprPtr> ParsePostfix() {
    VIGIL_ASSIGN_OR_RETURN(auto e, ParsePrimary());
    while (true) {
      const Token& t = Peek();
      if (t.kind == Tok::kLBracket) {
        const Token open = Next();
        VIGIL_ASSIGN_OR_RETURN(int64_t range, ParseDurationTok("range"));
        if (Peek().kind == Tok::kColon) {
          Next();
          int64_t step = 0;
          if (Peek().kind == Tok::kDuration || Peek().kind == Tok::kNumber) {
            VIGIL_ASSIGN_OR_RETURN(step, ParseDurationTok("step"));
          }
          if (Peek().kind != Tok::kRBracket) return Unexpected(Peek(), "subquery selector");
          const Token close = Next();
          auto s = Make(NodeKind::kSubquery, e->pos.start, close.end);
          s->range = range;
          s->step = step;
          s->args.push_back(std::move(e));
          e = std::move(s);
        } else {
          if (Peek().kind != Tok::kRBracket) return Unexpected(Peek(), "matrix selector");
          const Token close = Next();
          if (e->kind != NodeKind::kVectorSelector) {
            return Error(e->pos.start, close.end, "ranges only allowed for vector selectors");
          }
          if (e->offset != 0 || e->at_kind != Expr::AtKind::kNone) {
            return Error(open.pos, close.end, "no offset or @ modifier allowed before a range");
          }
          auto m = Make(NodeKind::kMatrixSelector, e->pos.start, close.end);
          m->range = range;
          m->args.push_back(std::move(e));
          e = std::move(m);
        }
      } else if (IsWord(t, "offset")) {
        const Token kw = Next();
        bool neg = false;
        if (Peek().kind == Tok::kOp && (Peek().text == "-" || Peek().text == "+")) {
          neg = Next().text == "-";
        }
        VIGIL_ASSIGN_OR_RETURN(int64_t off, ParseDurationTok("offset"));
        Expr* target = ModifierTarget(*e);
        if (target == nullptr) {
          return Error(e->pos.start, kw.end,
                       "offset modifier must be preceded by an instant vector selector or range "
                       "vector selector or a subquery");
        }
        if (target->offset != 0)
          return Error(kw.pos, kw.end, "offset may not be set multiple times");
        target->offset = neg ? -off : off;
        e->pos.end = toks_[p_ - 1].end;
      } else if (t.kind == Tok::kAt) {
        const Token at = Next();
        Expr* target = ModifierTarget(*e);
        if (target == nullptr) {
          return Error(e->pos.start, at.end,
                       "@ modifier must be preceded by an instant vector selector or range vector "
                       "selector or a subquery");
        }
        if (target->at_kind != Expr::AtKind::kNone) {
          return Error(at.pos, at.end, "@ <timestamp> may not be set multiple times");
        }
        if (IsWord(Peek(), "start") || IsWord(Peek(), "end")) {
          const bool start = IsWord(Peek(), "start");
          Next();
          if (Peek().kind != Tok::kLParen || Peek(1).kind != Tok::kRParen) {
            return Unexpected(Peek(), "@ modifier");
          }
          Next();
          Next();
          target->at_kind = start ? Expr::AtKind::kStart : Expr::AtKind::kEnd;
        } else {
          bool neg = false;
          if (Peek().kind == Tok::kOp && (Peek().text == "-" || Peek().text == "+")) {
            neg = Next().text == "-";
          }
          if (Peek().kind != Tok::kNumber) return Unexpected(Peek(), "@ modifier");
          const Token num = Next();
          VIGIL_ASSIGN_OR_RETURN(double v, ParseNumber(num));
          if (neg) v = -v;
          const double ms = std::round(v * 1000);
          if (!std::isfinite(v) || ms >= 9.2e18 || ms <= -9.2e18) {
            return Error(num.pos, num.end,
                         "timestamp out of bounds for @ modifier: " + FormatFloat(v));
          }
          target->at_kind = Expr::AtKind::kValue;
          target->at = static_cast<int64_t>(ms);
        }
        e->pos.end = toks_[p_ - 1].end;
      } else {
        break;
      }
    }
    return e;
  }

  static std::string FormatFloat(double v) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%f", v);
    return buf;
  }

  // The node an offset or @ applies to: a vector selector, the selector inside a matrix
  // selector, or a subquery; nullptr otherwise.
  static Expr* ModifierTarget(Expr& e) {
    if (e.kind == NodeKind::kVectorSelector || e.kind == NodeKind::kSubquery) return &e;
    if (e.kind == NodeKind::kMatrixSelector) return e.args[0].get();
    return nullptr;
  }

  Result<int64_t> ParseDurationTok(const char* what) {
    const Token t = Next();
    if (t.kind == Tok::kDuration) {
      auto d = ParseDuration(t.text);
      if (!d.ok()) return Error(t.pos, t.end, d.status().message());
      return static_cast<int64_t>(d->count());
    }
    if (t.kind == Tok::kNumber) {
      // Prometheus 2.42 requires a unit; a bare number is a parse error.
      return Error(
          t.pos, t.end,
          std::string("unexpected number \"") + t.text + "\" in " + what + ", expected duration");
    }
    return Unexpected(t, std::string(what));
  }

  Result<double> ParseNumber(const Token& t) const {
    const std::string l = Lower(t.text);
    if (l == "inf") return std::numeric_limits<double>::infinity();
    if (l == "nan") return std::numeric_limits<double>::quiet_NaN();
    // As Go's ParseInt(s, 0, 64) first (hex, octal with a leading 0), then ParseFloat.
    const std::string& s = t.text;
    errno = 0;
    char* end = nullptr;
    if (s.size() > 1 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
      const unsigned long long v = std::strtoull(s.c_str() + 2, &end, 16);
      if (end == s.c_str() + s.size() && errno == 0) return static_cast<double>(v);
    } else if (s.size() > 1 && s[0] == '0' &&
               s.find_first_not_of("01234567") == std::string::npos) {
      const unsigned long long v = std::strtoull(s.c_str(), &end, 8);
      if (end == s.c_str() + s.size() && errno == 0) return static_cast<double>(v);
    }
    errno = 0;
    const double d = std::strtod(s.c_str(), &end);
    if (end != s.c_str() + s.size()) {
      return Error(t.pos, t.end, "error parsing number: " + s);
    }
    return d;
  }

  Result<std::vector<std::string>> ParseLabelList() {
    std::vector<std::string> out;
    if (Peek().kind != Tok::kLParen) return Unexpected(Peek(), "grouping opts");
    Next();
    while (true) {
      const Token& t = Peek();
      if (t.kind == Tok::kRParen) {
        Next();
        return out;
      }
      if (t.kind != Tok::kIdent) return Unexpected(t, "grouping opts");
      out.push_back(Next().text);
      if (Peek().kind == Tok::kComma) {
        Next();
      } else if (Peek().kind != Tok::kRParen) {
        return Unexpected(Peek(), "grouping opts");
      }
    }
  }

  Result<ExprPtr> ParsePrimary() {
    const Token t = Peek();
    switch (t.kind) {
      case Tok::kNumber: {
        Next();
        auto e = Make(NodeKind::kNumber, t.pos, t.end);
        VIGIL_ASSIGN_OR_RETURN(e->number, ParseNumber(t));
        return e;
      }
      case Tok::kString: {
        Next();
        auto e = Make(NodeKind::kString, t.pos, t.end);
        e->str = t.text;
        return e;
      }
      case Tok::kLParen: {
        Next();
        VIGIL_ASSIGN_OR_RETURN(auto inner, ParseBinary(0));
        if (Peek().kind != Tok::kRParen) return Unexpected(Peek(), "paren expression");
        const Token close = Next();
        auto e = Make(NodeKind::kParen, t.pos, close.end);
        e->args.push_back(std::move(inner));
        return e;
      }
      case Tok::kLBrace:
        return ParseSelector("", t.pos);
      case Tok::kMetric:
        Next();
        return ParseSelector(t.text, t.pos);
      case Tok::kIdent: {
        const std::string l = Lower(t.text);
        const Op agg = AggregateOp(l);
        if (agg != Op::kNone &&
            (Peek(1).kind == Tok::kLParen || IsWord(Peek(1), "by") || IsWord(Peek(1), "without"))) {
          return ParseAggregate(agg);
        }
        if (Peek(1).kind == Tok::kLParen) return ParseCall();
        if (IsKeyword(l) && agg == Op::kNone) return Unexpected(t, "");
        Next();
        return ParseSelector(t.text, t.pos);
      }
      case Tok::kEOF:
        return Unexpected(t, "");
      default:
        return Unexpected(t, "");
    }
  }

  Result<ExprPtr> ParseSelector(std::string name, int start) {
    auto e = Make(NodeKind::kVectorSelector, start, toks_[p_ > 0 ? p_ - 1 : 0].end);
    e->str = name;
    if (!name.empty()) {
      VIGIL_ASSIGN_OR_RETURN(auto m, Matcher::Make(MatchType::kEqual, "__name__", name));
      e->matchers.push_back(std::move(m));
    }
    if (Peek().kind == Tok::kLBrace) {
      Next();
      while (true) {
        const Token lt = Peek();
        if (lt.kind == Tok::kRBrace) {
          Next();
          e->pos.end = lt.end;
          break;
        }
        if (lt.kind != Tok::kIdent)
          return Unexpected(lt, "label matching");  // 2.42: no quoted names
        Next();
        MatchType type;
        const Token op = Next();
        if (op.kind == Tok::kAssign) {
          type = MatchType::kEqual;
        } else if (op.kind == Tok::kOp && op.text == "!=") {
          type = MatchType::kNotEqual;
        } else if (op.kind == Tok::kEqlRegex) {
          type = MatchType::kRegexMatch;
        } else if (op.kind == Tok::kNeqRegex) {
          type = MatchType::kRegexNoMatch;
        } else {
          return Unexpected(op, "label matching, expected one of \"=\", \"!=\", \"=~\" or \"!~\"");
        }
        const Token val = Next();
        if (val.kind != Tok::kString) return Unexpected(val, "label matching, expected string");
        auto m = Matcher::Make(type, lt.text, val.text);
        if (!m.ok()) return Error(lt.pos, val.end, m.status().message());
        if (lt.text == "__name__" && !name.empty()) {
          return Error(
              lt.pos, val.end,
              "metric name must not be set twice: \"" + name + "\" or \"" + val.text + "\"");
        }
        e->matchers.push_back(std::move(*m));
        if (Peek().kind == Tok::kComma) {
          Next();
        } else if (Peek().kind != Tok::kRBrace) {
          return Unexpected(Peek(), "label matching, expected \",\" or \"}\"");
        }
      }
    }
    bool any = false;
    for (const Matcher& m : e->matchers) any |= !m.MatchesEmpty();
    if (!any) {
      return Error(*e, "vector selector must contain at least one non-empty matcher");
    }
    return e;
  }

  Result<ExprPtr> ParseAggregate(Op op) {
    const Token kw = Next();
    auto e = Make(NodeKind::kAggregate, kw.pos, 0);
    e->op = op;
    bool grouped = false;
    auto grouping = [&]() -> Status {
      if (IsWord(Peek(), "by") || IsWord(Peek(), "without")) {
        if (grouped) return Unexpected(Peek(), "aggregation");
        e->without = IsWord(Peek(), "without");
        Next();
        VIGIL_ASSIGN_OR_RETURN(e->grouping, ParseLabelList());
        grouped = true;
      }
      return Status::Ok();
    };
    VIGIL_RETURN_IF_ERROR(grouping());
    if (Peek().kind != Tok::kLParen) return Unexpected(Peek(), "aggregation");
    Next();
    if (Peek().kind == Tok::kRParen)
      return Error(kw.pos, Peek().end, "no arguments for aggregate expression provided");
    VIGIL_ASSIGN_OR_RETURN(auto first, ParseBinary(0));
    e->args.push_back(std::move(first));
    if (Peek().kind == Tok::kComma) {
      Next();
      VIGIL_ASSIGN_OR_RETURN(auto second, ParseBinary(0));
      e->args.push_back(std::move(second));
    }
    if (Peek().kind != Tok::kRParen) return Unexpected(Peek(), "aggregation");
    e->pos.end = Next().end;
    VIGIL_RETURN_IF_ERROR(grouping());
    if (grouped && e->pos.end < toks_[p_ - 1].end) e->pos.end = toks_[p_ - 1].end;
    const bool wants_param =
        op == Op::kTopk || op == Op::kBottomk || op == Op::kQuantile || op == Op::kCountValues;
    if (wants_param != (e->args.size() == 2)) {
      return Error(*e, wants_param ? std::string("wrong number of arguments for aggregate "
                                                 "expression provided, expected 2, got 1")
                                   : std::string("wrong number of arguments for aggregate "
                                                 "expression provided, expected 1, got 2"));
    }
    return e;
  }

  Result<ExprPtr> ParseCall() {
    const Token name = Next();
    const Function* f = LookupFunction(name.text);
    if (f == nullptr) {
      return Error(name.pos, name.end, "unknown function with name \"" + name.text + "\"");
    }
    Next();  // (
    auto e = Make(NodeKind::kCall, name.pos, 0);
    e->func = f;
    if (Peek().kind != Tok::kRParen) {
      while (true) {
        VIGIL_ASSIGN_OR_RETURN(auto arg, ParseBinary(0));
        e->args.push_back(std::move(arg));
        if (Peek().kind == Tok::kComma) {
          Next();
          continue;
        }
        break;
      }
    }
    if (Peek().kind != Tok::kRParen) return Unexpected(Peek(), "function call");
    e->pos.end = Next().end;
    return e;
  }

  // ---- type checks (Prometheus' checkAST) ---------------------------------------------------

  Status ExpectType(const Expr& e, ValueType want, const std::string& context) const {
    if (e.type() != want) {
      return Error(e, std::string("expected type ") + ValueTypeName(want) + " in " + context +
                          ", got " + ValueTypeName(e.type()));
    }
    return Status::Ok();
  }

  Status Check(const Expr& e) const {
    switch (e.kind) {
      case NodeKind::kNumber:
      case NodeKind::kString:
      case NodeKind::kVectorSelector:
        return Status::Ok();
      case NodeKind::kMatrixSelector:
        return Status::Ok();
      case NodeKind::kParen:
        return Check(*e.args[0]);
      case NodeKind::kSubquery:
        VIGIL_RETURN_IF_ERROR(Check(*e.args[0]));
        if (e.args[0]->type() != ValueType::kVector) {
          return Error(e, std::string("subquery is only allowed on instant vector, got ") +
                              ValueTypeName(e.args[0]->type()) + " instead");
        }
        return Status::Ok();
      case NodeKind::kUnary: {
        VIGIL_RETURN_IF_ERROR(Check(*e.args[0]));
        const ValueType t = e.args[0]->type();
        if (t != ValueType::kScalar && t != ValueType::kVector) {
          return Error(e, std::string("unary expression only allowed on expressions of type "
                                      "scalar or instant vector, got ") +
                              ValueTypeName(t));
        }
        return Status::Ok();
      }
      case NodeKind::kAggregate: {
        for (const auto& a : e.args) VIGIL_RETURN_IF_ERROR(Check(*a));
        const Expr& inner = *e.args.back();
        if (inner.type() != ValueType::kVector) {
          return Error(inner, std::string("expected type instant vector in aggregation "
                                          "expression, got ") +
                                  ValueTypeName(inner.type()));
        }
        if (e.args.size() == 2) {
          const ValueType want = e.op == Op::kCountValues ? ValueType::kString : ValueType::kScalar;
          VIGIL_RETURN_IF_ERROR(ExpectType(*e.args[0], want, "aggregation parameter"));
        }
        return Status::Ok();
      }
      case NodeKind::kCall: {
        const Function& f = *e.func;
        const size_t n = e.args.size(), want = f.args.size();
        if (f.variadic == 0 && n != want) {
          return Error(e, "expected " + std::to_string(want) + " argument(s) in call to \"" +
                              std::string(f.name) + "\", got " + std::to_string(n));
        }
        if (f.variadic != 0) {
          // As Prometheus: the last declared argument may be left out; only label_join (-1)
          // takes more than declared.
          const size_t min = want - 1;
          if (n < min) {
            return Error(e, "expected at least " + std::to_string(min) +
                                " argument(s) in call to \"" + std::string(f.name) + "\", got " +
                                std::to_string(n));
          }
          if (f.variadic > 0 && n > want) {
            return Error(e, "expected at most " + std::to_string(want) +
                                " argument(s) in call to \"" + std::string(f.name) + "\", got " +
                                std::to_string(n));
          }
        }
        for (size_t i = 0; i < n; ++i) {
          VIGIL_RETURN_IF_ERROR(Check(*e.args[i]));
          const ValueType t = f.args[std::min(i, want - 1)];
          VIGIL_RETURN_IF_ERROR(
              ExpectType(*e.args[i], t, "call to function \"" + std::string(f.name) + "\""));
        }
        return Status::Ok();
      }
      case NodeKind::kBinary: {
        const Expr& l = *e.args[0];
        const Expr& r = *e.args[1];
        VIGIL_RETURN_IF_ERROR(Check(l));
        VIGIL_RETURN_IF_ERROR(Check(r));
        auto ok_type = [](ValueType t) {
          return t == ValueType::kScalar || t == ValueType::kVector;
        };
        if (!ok_type(l.type()) || !ok_type(r.type())) {
          return Error(e.op_pos, e.op_pos,
                       "binary expression must contain only scalar and instant vector types");
        }
        if (e.return_bool && !IsComparison(e.op)) {
          return Error(e.op_pos, e.op_pos,
                       "bool modifier can only be used on comparison operators");
        }
        if (IsComparison(e.op) && !e.return_bool && l.type() == ValueType::kScalar &&
            r.type() == ValueType::kScalar) {
          return Error(e.op_pos, e.op_pos, "comparisons between scalars must use BOOL modifier");
        }
        const bool both_vectors = l.type() == ValueType::kVector && r.type() == ValueType::kVector;
        if (IsSetOp(e.op)) {
          if (l.type() == ValueType::kScalar || r.type() == ValueType::kScalar) {
            return Error(e, std::string("set operator \"") + OpName(e.op) +
                                "\" not allowed in binary scalar expression");
          }
        }
        if (e.matching && !both_vectors) {
          if (!e.matching->labels.empty() || e.matching->on ||
              (!IsSetOp(e.op) && e.matching->card != Cardinality::kOneToOne)) {
            return Error(e.op_pos, e.op_pos,
                         "vector matching only allowed between instant vectors");
          }
        }
        if (e.matching && both_vectors) {
          const VectorMatching& m = *e.matching;
          if (IsSetOp(e.op) &&
              (m.card == Cardinality::kManyToOne || m.card == Cardinality::kOneToMany)) {
            return Error(e,
                         std::string("no grouping allowed for \"") + OpName(e.op) + "\" operation");
          }
          if (m.on) {
            for (const auto& inc : m.include) {
              for (const auto& on : m.labels) {
                if (inc == on) {
                  return Error(e.op_pos, e.op_pos,
                               "label \"" + inc +
                                   "\" must not occur in ON and GROUP clause "
                                   "at once");
                }
              }
            }
          }
        }
        return Status::Ok();
      }
    }
    return Status::Ok();
  }

  std::string_view q_;
  std::vector<Token> toks_;
  size_t p_ = 0;
  std::string eof_error_;  // set by the lexer when the input ends inside (, { or [
  int depth_ = 0;
};

}  // namespace

const char* ValueTypeName(ValueType t) {
  switch (t) {
    case ValueType::kNone:
      return "none";
    case ValueType::kScalar:
      return "scalar";
    case ValueType::kVector:
      return "instant vector";
    case ValueType::kMatrix:
      return "range vector";
    case ValueType::kString:
      return "string";
  }
  return "none";
}

const char* OpName(Op op) {
  switch (op) {
    case Op::kNone:
      return "";
    case Op::kOr:
      return "or";
    case Op::kAnd:
      return "and";
    case Op::kUnless:
      return "unless";
    case Op::kEql:
      return "==";
    case Op::kNeq:
      return "!=";
    case Op::kLte:
      return "<=";
    case Op::kLss:
      return "<";
    case Op::kGte:
      return ">=";
    case Op::kGtr:
      return ">";
    case Op::kAdd:
      return "+";
    case Op::kSub:
      return "-";
    case Op::kMul:
      return "*";
    case Op::kDiv:
      return "/";
    case Op::kMod:
      return "%";
    case Op::kAtan2:
      return "atan2";
    case Op::kPow:
      return "^";
    case Op::kSum:
      return "sum";
    case Op::kAvg:
      return "avg";
    case Op::kCount:
      return "count";
    case Op::kMin:
      return "min";
    case Op::kMax:
      return "max";
    case Op::kGroup:
      return "group";
    case Op::kStddev:
      return "stddev";
    case Op::kStdvar:
      return "stdvar";
    case Op::kTopk:
      return "topk";
    case Op::kBottomk:
      return "bottomk";
    case Op::kCountValues:
      return "count_values";
    case Op::kQuantile:
      return "quantile";
  }
  return "";
}

bool IsComparison(Op op) {
  return op == Op::kEql || op == Op::kNeq || op == Op::kLte || op == Op::kLss || op == Op::kGte ||
         op == Op::kGtr;
}
bool IsSetOp(Op op) { return op == Op::kAnd || op == Op::kOr || op == Op::kUnless; }

ValueType Expr::type() const {
  switch (kind) {
    case NodeKind::kNumber:
      return ValueType::kScalar;
    case NodeKind::kString:
      return ValueType::kString;
    case NodeKind::kVectorSelector:
      return ValueType::kVector;
    case NodeKind::kMatrixSelector:
    case NodeKind::kSubquery:
      return ValueType::kMatrix;
    case NodeKind::kParen:
    case NodeKind::kUnary:
      return args[0]->type();
    case NodeKind::kAggregate:
      return ValueType::kVector;
    case NodeKind::kCall:
      return func->result;
    case NodeKind::kBinary:
      return args[0]->type() == ValueType::kScalar && args[1]->type() == ValueType::kScalar
                 ? ValueType::kScalar
                 : ValueType::kVector;
  }
  return ValueType::kNone;
}

Result<ExprPtr> ParseExpr(std::string_view query) { return Parser(query).Run(); }

Result<std::vector<Matcher>> ParseMetricSelector(std::string_view input) {
  VIGIL_ASSIGN_OR_RETURN(ExprPtr e, ParseExpr(input));
  if (e->kind != NodeKind::kVectorSelector || e->offset != 0 || e->at_kind != Expr::AtKind::kNone) {
    return InvalidArgument("1:1: parse error: expected a series selector, got " +
                           std::string(ValueTypeName(e->type())) + " expression");
  }
  return std::move(e->matchers);
}

}  // namespace vigil::promql
