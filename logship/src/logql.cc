#include "vigil/logship/logql.h"

#include <re2/re2.h>

#include <cctype>
#include <charconv>
#include <chrono>

#include "vigil/common/duration.h"
#include "vigil/common/go_string.h"

namespace vigil::logql {
namespace {

struct Token {
  enum Kind {
    kEnd,
    kIdent,
    kString,
    kNumber,
    kDuration,  // inside [ ]
    kLBrace,
    kRBrace,
    kLParen,
    kRParen,
    kLBracket,
    kRBracket,
    kComma,
    kPipe,       // |
    kPipeExact,  // |=
    kPipeMatch,  // |~
    kNeq,        // !=
    kNre,        // !~
    kEq,         // =
    kRe,         // =~
    kEqEq,       // ==
    kGt,
    kGe,
    kLt,
    kLe,
  };
  Kind kind = kEnd;
  std::string text;  // identifier, string value (unquoted), number or duration text
  size_t pos = 0;    // byte offset
};

std::string_view KindName(Token::Kind k) {
  switch (k) {
    case Token::kEnd:
      return "end of input";
    case Token::kIdent:
      return "IDENTIFIER";
    case Token::kString:
      return "STRING";
    case Token::kNumber:
      return "NUMBER";
    case Token::kDuration:
      return "RANGE";
    case Token::kLBrace:
      return "{";
    case Token::kRBrace:
      return "}";
    case Token::kLParen:
      return "(";
    case Token::kRParen:
      return ")";
    case Token::kLBracket:
      return "[";
    case Token::kRBracket:
      return "]";
    case Token::kComma:
      return ",";
    case Token::kPipe:
      return "|";
    case Token::kPipeExact:
      return "|=";
    case Token::kPipeMatch:
      return "|~";
    case Token::kNeq:
      return "!=";
    case Token::kNre:
      return "!~";
    case Token::kEq:
      return "=";
    case Token::kRe:
      return "=~";
    case Token::kEqEq:
      return "==";
    case Token::kGt:
      return ">";
    case Token::kGe:
      return ">=";
    case Token::kLt:
      return "<";
    case Token::kLe:
      return "<=";
  }
  return "?";
}

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Result<Query> Run() {
    VIGIL_RETURN_IF_ERROR(Lex());
    Query q;
    if (Peek().kind == Token::kLBrace) {
      VIGIL_ASSIGN_OR_RETURN(auto sel, LogQuery());
      q.log = std::move(sel);
    } else {
      VIGIL_ASSIGN_OR_RETURN(q.metric, Metric());
      VIGIL_ASSIGN_OR_RETURN(q.metric, Comparison(std::move(q.metric)));
    }
    if (Peek().kind != Token::kEnd) return Unexpected(Peek());
    return q;
  }

 private:
  // Line and column of a byte offset, 1-based, as Loki reports them.
  Status ErrorAt(size_t pos, const std::string& what) const {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < pos && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    return InvalidArgument("parse error at line " + std::to_string(line) + ", col " +
                           std::to_string(col) + ": " + what);
  }
  Status Unexpected(const Token& t) const {
    std::string what = "syntax error: unexpected " + std::string(KindName(t.kind));
    if (t.kind == Token::kIdent) what += " " + t.text;
    return ErrorAt(t.pos, what);
  }

  Status Lex() {
    size_t i = 0;
    bool in_range = false;
    while (i < text_.size()) {
      const char c = text_[i];
      if (std::isspace(static_cast<unsigned char>(c))) {
        ++i;
        continue;
      }
      Token t;
      t.pos = i;
      auto two = [&](std::string_view s) { return text_.substr(i, 2) == s; };
      if (in_range && c != ']') {
        const size_t start = i;
        while (i < text_.size() && text_[i] != ']' &&
               !std::isspace(static_cast<unsigned char>(text_[i])))
          ++i;
        t.kind = Token::kDuration;
        t.text = std::string(text_.substr(start, i - start));
        tokens_.push_back(std::move(t));
        continue;
      }
      if (c == '"' || c == '\'' || c == '`') {
        size_t j = i + 1;
        while (j < text_.size() && text_[j] != c) {
          if (text_[j] == '\\' && c != '`') ++j;
          ++j;
        }
        if (j >= text_.size()) return ErrorAt(i, "syntax error: unterminated string");
        const std::string_view body = text_.substr(i + 1, j - i - 1);
        if (c == '`') {
          t.text = std::string(body);
        } else {
          auto s = UnquoteGo(body, c);
          if (!s.ok()) return ErrorAt(i, "invalid string: " + s.status().message());
          t.text = std::move(*s);
        }
        t.kind = Token::kString;
        i = j + 1;
      } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        const size_t start = i;
        while (i < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[i])) ||
                                    text_[i] == '_' || text_[i] == '.')) {
          ++i;
        }
        t.kind = Token::kIdent;
        t.text = std::string(text_.substr(start, i - start));
      } else if (std::isdigit(static_cast<unsigned char>(c)) ||
                 (c == '-' && i + 1 < text_.size() &&
                  std::isdigit(static_cast<unsigned char>(text_[i + 1])))) {
        const size_t start = i;
        ++i;
        while (i < text_.size() &&
               (std::isalnum(static_cast<unsigned char>(text_[i])) || text_[i] == '.'))
          ++i;
        t.kind = Token::kNumber;
        t.text = std::string(text_.substr(start, i - start));
      } else if (two("|=")) {
        t.kind = Token::kPipeExact;
        i += 2;
      } else if (two("|~")) {
        t.kind = Token::kPipeMatch;
        i += 2;
      } else if (two("!=")) {
        t.kind = Token::kNeq;
        i += 2;
      } else if (two("!~")) {
        t.kind = Token::kNre;
        i += 2;
      } else if (two("=~")) {
        t.kind = Token::kRe;
        i += 2;
      } else if (two("==")) {
        t.kind = Token::kEqEq;
        i += 2;
      } else if (two(">=")) {
        t.kind = Token::kGe;
        i += 2;
      } else if (two("<=")) {
        t.kind = Token::kLe;
        i += 2;
      } else {
        switch (c) {
          case '{':
            t.kind = Token::kLBrace;
            break;
          case '}':
            t.kind = Token::kRBrace;
            break;
          case '(':
            t.kind = Token::kLParen;
            break;
          case ')':
            t.kind = Token::kRParen;
            break;
          case '[':
            t.kind = Token::kLBracket;
            in_range = true;
            break;
          case ']':
            t.kind = Token::kRBracket;
            in_range = false;
            break;
          case ',':
            t.kind = Token::kComma;
            break;
          case '|':
            t.kind = Token::kPipe;
            break;
          case '=':
            t.kind = Token::kEq;
            break;
          case '>':
            t.kind = Token::kGt;
            break;
          case '<':
            t.kind = Token::kLt;
            break;
          default:
            return ErrorAt(i, std::string("syntax error: unexpected character '") + c + "'");
        }
        ++i;
      }
      tokens_.push_back(std::move(t));
    }
    Token end;
    end.pos = text_.size();
    tokens_.push_back(end);
    return Status::Ok();
  }

  const Token& Peek(size_t ahead = 0) const {
    return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
  }
  Token Next() {
    Token t = Peek();
    if (pos_ < tokens_.size() - 1) ++pos_;
    return t;
  }
  Status Expect(Token::Kind k) {
    if (Peek().kind != k) return Unexpected(Peek());
    Next();
    return Status::Ok();
  }
  Result<std::string> ExpectString() {
    if (Peek().kind != Token::kString) return Unexpected(Peek());
    return Next().text;
  }

  Result<std::shared_ptr<const re2::RE2>> Regex(const std::string& re, size_t pos) {
    re2::RE2::Options o;
    o.set_log_errors(false);
    auto compiled = std::make_shared<const re2::RE2>(re, o);
    if (!compiled->ok())
      return ErrorAt(pos, "invalid regular expression \"" + re + "\": " + compiled->error());
    return compiled;
  }

  Result<LogSelector> LogQuery() {
    LogSelector sel;
    const size_t at = Peek().pos;
    VIGIL_RETURN_IF_ERROR(Expect(Token::kLBrace));
    while (Peek().kind != Token::kRBrace) {
      if (Peek().kind != Token::kIdent) return Unexpected(Peek());
      const Token name = Next();
      MatchType type;
      switch (Peek().kind) {
        case Token::kEq:
          type = MatchType::kEqual;
          break;
        case Token::kNeq:
          type = MatchType::kNotEqual;
          break;
        case Token::kRe:
          type = MatchType::kRegexMatch;
          break;
        case Token::kNre:
          type = MatchType::kRegexNoMatch;
          break;
        default:
          return Unexpected(Peek());
      }
      Next();
      const size_t vpos = Peek().pos;
      VIGIL_ASSIGN_OR_RETURN(std::string value, ExpectString());
      auto m = Matcher::Make(type, name.text, value);
      if (!m.ok()) return ErrorAt(vpos, m.status().message());
      sel.matchers.push_back(std::move(*m));
      if (Peek().kind == Token::kComma) {
        Next();
      } else if (Peek().kind != Token::kRBrace) {
        return Unexpected(Peek());
      }
    }
    Next();
    bool needed = false;
    for (const auto& m : sel.matchers) needed |= !m.MatchesEmpty();
    if (!needed) {
      return ErrorAt(at,
                     "queries require at least one regexp or equality matcher that does not "
                     "have an empty-compatible value. For instance, app=~\".*\" does not meet "
                     "this requirement, but app=~\".+\" will");
    }
    for (;;) {
      const Token t = Peek();
      if (t.kind == Token::kPipeExact || t.kind == Token::kNeq || t.kind == Token::kPipeMatch ||
          t.kind == Token::kNre) {
        Next();
        Stage s;
        s.kind = Stage::Kind::kLineFilter;
        const size_t vpos = Peek().pos;
        VIGIL_ASSIGN_OR_RETURN(s.line.value, ExpectString());
        s.line.op = t.kind == Token::kPipeExact   ? LineFilter::Op::kContains
                    : t.kind == Token::kNeq       ? LineFilter::Op::kNotContains
                    : t.kind == Token::kPipeMatch ? LineFilter::Op::kMatches
                                                  : LineFilter::Op::kNotMatches;
        if (t.kind == Token::kPipeMatch || t.kind == Token::kNre) {
          VIGIL_ASSIGN_OR_RETURN(s.line.re, Regex(s.line.value, vpos));
        }
        sel.stages.push_back(std::move(s));
      } else if (t.kind == Token::kPipe) {
        Next();
        VIGIL_ASSIGN_OR_RETURN(Stage s, PipeStage());
        sel.stages.push_back(std::move(s));
      } else {
        break;
      }
    }
    return sel;
  }

  Result<Stage> PipeStage() {
    const Token t = Peek();
    if (t.kind != Token::kIdent) return Unexpected(t);
    Stage s;
    if (t.text == "json" && !IsLabelOp(Peek(1).kind)) {
      Next();
      s.kind = Stage::Kind::kJson;
      return s;
    }
    if (t.text == "logfmt" && !IsLabelOp(Peek(1).kind)) {
      Next();
      s.kind = Stage::Kind::kLogfmt;
      return s;
    }
    if (t.text == "line_format" && !IsLabelOp(Peek(1).kind)) {
      Next();
      s.kind = Stage::Kind::kLineFormat;
      VIGIL_ASSIGN_OR_RETURN(s.format, ExpectString());
      return s;
    }
    if (!IsLabelOp(Peek(1).kind)) {
      return ErrorAt(t.pos, "syntax error: unexpected IDENTIFIER " + t.text +
                                ": this subset knows json, logfmt, line_format and label filters");
    }
    s.kind = Stage::Kind::kLabelFilter;
    s.any_of.emplace_back();
    for (;;) {
      VIGIL_ASSIGN_OR_RETURN(LabelFilter f, OneLabelFilter());
      s.any_of.back().push_back(std::move(f));
      if (Peek().kind == Token::kComma || (Peek().kind == Token::kIdent && Peek().text == "and")) {
        Next();
      } else if (Peek().kind == Token::kIdent && Peek().text == "or") {
        Next();
        s.any_of.emplace_back();
      } else {
        break;
      }
    }
    return s;
  }

  static bool IsLabelOp(Token::Kind k) {
    return k == Token::kEq || k == Token::kNeq || k == Token::kRe || k == Token::kNre ||
           k == Token::kGt || k == Token::kGe || k == Token::kLt || k == Token::kLe ||
           k == Token::kEqEq;
  }

  Result<LabelFilter> OneLabelFilter() {
    if (Peek().kind != Token::kIdent) return Unexpected(Peek());
    LabelFilter f;
    f.name = Next().text;
    const Token op = Next();
    const Token value = Next();
    if (value.kind == Token::kString) {
      f.value = value.text;
      switch (op.kind) {
        case Token::kEq:
          f.op = LabelFilter::Op::kEq;
          break;
        case Token::kNeq:
          f.op = LabelFilter::Op::kNe;
          break;
        case Token::kRe:
          f.op = LabelFilter::Op::kRe;
          break;
        case Token::kNre:
          f.op = LabelFilter::Op::kNre;
          break;
        default:
          return Unexpected(value);
      }
      if (f.op == LabelFilter::Op::kRe || f.op == LabelFilter::Op::kNre) {
        VIGIL_ASSIGN_OR_RETURN(f.re, Regex("^(?:" + f.value + ")$", value.pos));
      }
      return f;
    }
    if (value.kind != Token::kNumber) return Unexpected(value);
    f.value = value.text;
    auto [p, ec] =
        std::from_chars(value.text.data(), value.text.data() + value.text.size(), f.number);
    if (ec != std::errc() || p != value.text.data() + value.text.size()) {
      return ErrorAt(value.pos, "invalid number \"" + value.text + "\"");
    }
    switch (op.kind) {
      case Token::kGt:
        f.op = LabelFilter::Op::kGt;
        break;
      case Token::kGe:
        f.op = LabelFilter::Op::kGe;
        break;
      case Token::kLt:
        f.op = LabelFilter::Op::kLt;
        break;
      case Token::kLe:
        f.op = LabelFilter::Op::kLe;
        break;
      case Token::kEqEq:
      case Token::kEq:
        f.op = LabelFilter::Op::kNumEq;
        break;
      case Token::kNeq:
        f.op = LabelFilter::Op::kNumNe;
        break;
      default:
        return Unexpected(op);
    }
    return f;
  }

  Result<std::unique_ptr<MetricExpr>> Metric() {
    const Token t = Peek();
    if (t.kind != Token::kIdent) return Unexpected(t);
    auto e = std::make_unique<MetricExpr>();
    static const std::pair<std::string_view, MetricExpr::RangeFn> kRange[] = {
        {"count_over_time", MetricExpr::RangeFn::kCountOverTime},
        {"rate", MetricExpr::RangeFn::kRate},
        {"bytes_over_time", MetricExpr::RangeFn::kBytesOverTime},
        {"bytes_rate", MetricExpr::RangeFn::kBytesRate},
    };
    for (const auto& [name, fn] : kRange) {
      if (t.text != name) continue;
      Next();
      e->kind = MetricExpr::Kind::kRange;
      e->fn = fn;
      VIGIL_RETURN_IF_ERROR(Expect(Token::kLParen));
      VIGIL_ASSIGN_OR_RETURN(e->selector, LogQuery());
      const size_t rpos = Peek().pos;
      VIGIL_RETURN_IF_ERROR(Expect(Token::kLBracket));
      if (Peek().kind != Token::kDuration) return Unexpected(Peek());
      const Token d = Next();
      auto range = ParseDuration(d.text);
      if (!range.ok() || range->count() <= 0) {
        return ErrorAt(d.pos, "invalid range \"" + d.text + "\": a positive duration such as 5m");
      }
      e->range_ns = range->count() * 1'000'000;
      VIGIL_RETURN_IF_ERROR(Expect(Token::kRBracket));
      (void)rpos;
      VIGIL_RETURN_IF_ERROR(Expect(Token::kRParen));
      return e;
    }
    static const std::pair<std::string_view, MetricExpr::AggOp> kAgg[] = {
        {"sum", MetricExpr::AggOp::kSum},         {"avg", MetricExpr::AggOp::kAvg},
        {"min", MetricExpr::AggOp::kMin},         {"max", MetricExpr::AggOp::kMax},
        {"count", MetricExpr::AggOp::kCount},     {"topk", MetricExpr::AggOp::kTopk},
        {"bottomk", MetricExpr::AggOp::kBottomk},
    };
    for (const auto& [name, op] : kAgg) {
      if (t.text != name) continue;
      Next();
      e->kind = MetricExpr::Kind::kVector;
      e->op = op;
      VIGIL_RETURN_IF_ERROR(Grouping(*e));
      VIGIL_RETURN_IF_ERROR(Expect(Token::kLParen));
      if (op == MetricExpr::AggOp::kTopk || op == MetricExpr::AggOp::kBottomk) {
        if (Peek().kind != Token::kNumber) return Unexpected(Peek());
        const Token k = Next();
        auto [p, ec] = std::from_chars(k.text.data(), k.text.data() + k.text.size(), e->k);
        if (ec != std::errc() || p != k.text.data() + k.text.size() || e->k <= 0) {
          return ErrorAt(k.pos, "invalid parameter for " + std::string(name) + ": \"" + k.text +
                                    "\" is not a positive integer");
        }
        VIGIL_RETURN_IF_ERROR(Expect(Token::kComma));
      }
      VIGIL_ASSIGN_OR_RETURN(e->inner, Metric());
      VIGIL_RETURN_IF_ERROR(Expect(Token::kRParen));
      if (!e->grouped) VIGIL_RETURN_IF_ERROR(Grouping(*e));
      return e;
    }
    return ErrorAt(t.pos, "syntax error: unexpected IDENTIFIER " + t.text +
                              ": expected a stream selector {...}, a range function "
                              "(count_over_time, rate, bytes_over_time, bytes_rate) or an "
                              "aggregation (sum, avg, min, max, count, topk, bottomk)");
  }

  // `metric > 10`: a comparison with a number after a metric query, if one follows.
  Result<std::unique_ptr<MetricExpr>> Comparison(std::unique_ptr<MetricExpr> inner) {
    static const std::pair<Token::Kind, MetricExpr::CmpOp> kOps[] = {
        {Token::kGt, MetricExpr::CmpOp::kGt},   {Token::kGe, MetricExpr::CmpOp::kGe},
        {Token::kLt, MetricExpr::CmpOp::kLt},   {Token::kLe, MetricExpr::CmpOp::kLe},
        {Token::kEqEq, MetricExpr::CmpOp::kEq}, {Token::kNeq, MetricExpr::CmpOp::kNe},
    };
    for (const auto& [kind, op] : kOps) {
      if (Peek().kind != kind) continue;
      Next();
      const Token n = Peek();
      if (n.kind != Token::kNumber) {
        return ErrorAt(n.pos, "syntax error: unexpected " + std::string(KindName(n.kind)) +
                                  ": logship compares a metric query with a number only");
      }
      Next();
      auto e = std::make_unique<MetricExpr>();
      e->kind = MetricExpr::Kind::kCompare;
      e->cmp = op;
      auto [p, ec] = std::from_chars(n.text.data(), n.text.data() + n.text.size(), e->threshold);
      if (ec != std::errc() || p != n.text.data() + n.text.size()) {
        return ErrorAt(n.pos, "invalid number \"" + n.text + "\"");
      }
      e->inner = std::move(inner);
      return e;
    }
    return inner;
  }

  Status Grouping(MetricExpr& e) {
    if (Peek().kind != Token::kIdent || (Peek().text != "by" && Peek().text != "without")) {
      return Status::Ok();
    }
    e.without = Next().text == "without";
    e.grouped = true;
    VIGIL_RETURN_IF_ERROR(Expect(Token::kLParen));
    while (Peek().kind != Token::kRParen) {
      if (Peek().kind != Token::kIdent) return Unexpected(Peek());
      e.grouping.push_back(Next().text);
      if (Peek().kind == Token::kComma) {
        Next();
      } else if (Peek().kind != Token::kRParen) {
        return Unexpected(Peek());
      }
    }
    Next();
    return Status::Ok();
  }

  std::string_view text_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
};

}  // namespace

Result<Query> Parse(std::string_view text) { return Parser(text).Run(); }

namespace {

std::string Quoted(std::string_view v) {
  std::string out;
  AppendQuoted(out, v);
  return out;
}

const char* LabelOpText(LabelFilter::Op op) {
  switch (op) {
    case LabelFilter::Op::kEq:
      return "=";
    case LabelFilter::Op::kNe:
    case LabelFilter::Op::kNumNe:
      return "!=";
    case LabelFilter::Op::kRe:
      return "=~";
    case LabelFilter::Op::kNre:
      return "!~";
    case LabelFilter::Op::kGt:
      return ">";
    case LabelFilter::Op::kGe:
      return ">=";
    case LabelFilter::Op::kLt:
      return "<";
    case LabelFilter::Op::kLe:
      return "<=";
    case LabelFilter::Op::kNumEq:
      return "==";
  }
  return "=";
}

bool IsNumeric(LabelFilter::Op op) {
  return op != LabelFilter::Op::kEq && op != LabelFilter::Op::kNe && op != LabelFilter::Op::kRe &&
         op != LabelFilter::Op::kNre;
}

}  // namespace

std::string ToString(const LogSelector& selector) {
  std::string out = SelectorString(selector.matchers);
  for (const Stage& s : selector.stages) {
    switch (s.kind) {
      case Stage::Kind::kLineFilter: {
        static constexpr const char* kOps[] = {" |= ", " != ", " |~ ", " !~ "};
        out += kOps[static_cast<int>(s.line.op)] + Quoted(s.line.value);
        break;
      }
      case Stage::Kind::kJson:
        out += " | json";
        break;
      case Stage::Kind::kLogfmt:
        out += " | logfmt";
        break;
      case Stage::Kind::kLineFormat:
        out += " | line_format " + Quoted(s.format);
        break;
      case Stage::Kind::kLabelFilter: {
        out += " |";
        for (size_t g = 0; g < s.any_of.size(); ++g) {
          if (g > 0) out += " or";
          for (size_t i = 0; i < s.any_of[g].size(); ++i) {
            const LabelFilter& f = s.any_of[g][i];
            if (i > 0) out += " and";
            out += " " + f.name + " " + LabelOpText(f.op) + " " +
                   (IsNumeric(f.op) ? f.value : Quoted(f.value));
          }
        }
        break;
      }
    }
  }
  return out;
}

std::string ToString(const MetricExpr& e) {
  switch (e.kind) {
    case MetricExpr::Kind::kRange: {
      static constexpr const char* kFns[] = {"count_over_time", "rate", "bytes_over_time",
                                             "bytes_rate"};
      return std::string(kFns[static_cast<int>(e.fn)]) + "(" + ToString(e.selector) + " [" +
             FormatDuration(std::chrono::milliseconds(e.range_ns / 1'000'000)) + "])";
    }
    case MetricExpr::Kind::kVector: {
      static constexpr const char* kOps[] = {"sum",   "avg",  "min",    "max",
                                             "count", "topk", "bottomk"};
      std::string out = kOps[static_cast<int>(e.op)];
      if (e.grouped) {
        out += e.without ? " without (" : " by (";
        for (size_t i = 0; i < e.grouping.size(); ++i) out += (i ? ", " : "") + e.grouping[i];
        out += ")";
      }
      out += " (";
      if (e.op == MetricExpr::AggOp::kTopk || e.op == MetricExpr::AggOp::kBottomk) {
        out += std::to_string(e.k) + ", ";
      }
      return out + ToString(*e.inner) + ")";
    }
    case MetricExpr::Kind::kCompare: {
      static constexpr const char* kOps[] = {" > ", " >= ", " < ", " <= ", " == ", " != "};
      char buf[400];
      auto r = std::to_chars(buf, buf + sizeof(buf), e.threshold, std::chars_format::fixed);
      return ToString(*e.inner) + kOps[static_cast<int>(e.cmp)] +
             std::string(buf, r.ec == std::errc() ? r.ptr : buf);
    }
  }
  return "";
}

}  // namespace vigil::logql
