#include "template.h"

#include <re2/re2.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <optional>
#include <set>
#include <variant>

#include "vigil/common/exposition.h"
#include "vigil/common/go_string.h"

namespace vigil::alertd {

// ---- values ---------------------------------------------------------------------------------

namespace {

using StringMap = std::map<std::string, std::string>;
using Samples = std::vector<Sample>;

// The data's root (`.` at the top): its fields are Labels, ExternalLabels, ExternalURL, Value.
struct Root {
  const TemplateData* data;
};

struct Value {
  // monostate is Go's nil ("<no value>").
  std::variant<std::monostate, std::string, double, int64_t, bool, std::shared_ptr<StringMap>,
               std::shared_ptr<Samples>, std::shared_ptr<Sample>, Root>
      v;

  static Value Str(std::string s) { return {std::move(s)}; }
  static Value Map(StringMap m) { return {std::make_shared<StringMap>(std::move(m))}; }
  bool is_nil() const { return std::holds_alternative<std::monostate>(v); }
};

std::string TypeName(const Value& x) {
  switch (x.v.index()) {
    case 0:
      return "<nil>";
    case 1:
      return "string";
    case 2:
      return "float64";
    case 3:
      return "int";
    case 4:
      return "bool";
    case 5:
      return "map[string]string";
    case 6:
      return "template.queryResult";
    case 7:
      return "*template.sample";
    default:
      return "*template.tmplData";
  }
}

std::string Print(const Value& x);

std::string PrintMap(const StringMap& m) {
  std::string out = "map[";
  bool first = true;
  for (const auto& [k, v] : m) {
    if (!first) out += ' ';
    first = false;
    out += k + ":" + v;
  }
  return out + "]";
}

std::string PrintSample(const Sample& s) {
  StringMap m;
  for (const Label& l : s.labels) m[l.name] = l.value;
  return "{" + PrintMap(m) + " " + expo::FormatValue(s.value) + "}";
}

// What {{ x }} writes: Go's fmt.Sprint of the value.
std::string Print(const Value& x) {
  if (x.is_nil()) return "<no value>";
  if (auto* s = std::get_if<std::string>(&x.v)) return *s;
  if (auto* f = std::get_if<double>(&x.v)) return expo::FormatValue(*f);
  if (auto* i = std::get_if<int64_t>(&x.v)) return std::to_string(*i);
  if (auto* b = std::get_if<bool>(&x.v)) return *b ? "true" : "false";
  if (auto* m = std::get_if<std::shared_ptr<StringMap>>(&x.v)) return PrintMap(**m);
  if (auto* ss = std::get_if<std::shared_ptr<Samples>>(&x.v)) {
    std::string out = "[";
    for (size_t k = 0; k < (*ss)->size(); ++k) {
      if (k > 0) out += ' ';
      out += PrintSample((**ss)[k]);
    }
    return out + "]";
  }
  if (auto* s = std::get_if<std::shared_ptr<Sample>>(&x.v)) return PrintSample(**s);
  const TemplateData& d = *std::get<Root>(x.v).data;
  return "{" + PrintMap(d.labels) + " " + PrintMap(d.external_labels) + " " + d.external_url + " " +
         expo::FormatValue(d.value) + "}";
}

// Go's truth: false, 0, "", nil and empty collections are false.
bool Truth(const Value& x) {
  if (x.is_nil()) return false;
  if (auto* s = std::get_if<std::string>(&x.v)) return !s->empty();
  if (auto* f = std::get_if<double>(&x.v)) return *f != 0;
  if (auto* i = std::get_if<int64_t>(&x.v)) return *i != 0;
  if (auto* b = std::get_if<bool>(&x.v)) return *b;
  if (auto* m = std::get_if<std::shared_ptr<StringMap>>(&x.v)) return !(*m)->empty();
  if (auto* ss = std::get_if<std::shared_ptr<Samples>>(&x.v)) return !(*ss)->empty();
  return true;
}

// Prometheus' convertToFloat: numbers, and strings that parse as one.
Result<double> ToFloat(const Value& x) {
  if (auto* f = std::get_if<double>(&x.v)) return *f;
  if (auto* i = std::get_if<int64_t>(&x.v)) return static_cast<double>(*i);
  if (auto* s = std::get_if<std::string>(&x.v)) {
    double v = 0;
    const char* b = s->data();
    const char* e = b + s->size();
    if (*s == "NaN") return NAN;
    if (*s == "+Inf" || *s == "Inf") return INFINITY;
    if (*s == "-Inf") return -INFINITY;
    auto r = std::from_chars(b, e, v);
    if (r.ec != std::errc() || r.ptr != e) {
      return InvalidArgument("strconv.ParseFloat: parsing \"" + *s + "\": invalid syntax");
    }
    return v;
  }
  return InvalidArgument("can't convert " + TypeName(x) + " to float");
}

// C's printf of one number with a Go verb's flags, width and precision; NaN and Inf as Go.
std::string FormatNumber(const std::string& flags, int width, int prec, char verb, double v) {
  if (std::isnan(v) || std::isinf(v)) {
    std::string s = std::isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf");
    if (width > static_cast<int>(s.size())) {
      const std::string pad(static_cast<size_t>(width) - s.size(), ' ');
      s = flags.find('-') != std::string::npos ? s + pad : pad + s;
    }
    return s;
  }
  if ((verb == 'g' || verb == 'G') && prec < 0) {
    std::string s = expo::FormatValue(v);
    if (verb == 'G') {
      for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    if (width > static_cast<int>(s.size())) {
      const std::string pad(static_cast<size_t>(width) - s.size(), ' ');
      s = flags.find('-') != std::string::npos ? s + pad : pad + s;
    }
    return s;
  }
  std::string spec = "%" + flags;
  if (width >= 0) spec += std::to_string(width);
  if (prec >= 0) spec += "." + std::to_string(prec);
  spec += verb;
  char buf[512];
  std::snprintf(buf, sizeof(buf), spec.c_str(), v);
  return buf;
}

// Go's fmt.Sprintf for the verbs templates use: %v %s %q %d %f %F %e %E %g %G %x %X %t %%.
std::string Sprintf(std::string_view format, const std::vector<Value>& args) {
  std::string out;
  size_t argi = 0;
  for (size_t i = 0; i < format.size(); ++i) {
    const char c = format[i];
    if (c != '%') {
      out += c;
      continue;
    }
    if (i + 1 < format.size() && format[i + 1] == '%') {
      out += '%';
      ++i;
      continue;
    }
    size_t j = i + 1;
    std::string flags;
    while (j < format.size() && std::string_view("+-# 0").find(format[j]) != std::string::npos) {
      flags += format[j++];
    }
    int width = -1, prec = -1;
    if (j < format.size() && std::isdigit(static_cast<unsigned char>(format[j]))) {
      width = 0;
      while (j < format.size() && std::isdigit(static_cast<unsigned char>(format[j])) &&
             width < 10000) {
        width = width * 10 + (format[j++] - '0');
      }
    }
    if (j < format.size() && format[j] == '.') {
      ++j;
      prec = 0;
      while (j < format.size() && std::isdigit(static_cast<unsigned char>(format[j])) &&
             prec < 1000) {
        prec = prec * 10 + (format[j++] - '0');
      }
    }
    if (j >= format.size()) {
      out += "%!(NOVERB)";
      break;
    }
    const char verb = format[j];
    i = j;
    if (argi >= args.size()) {
      out += std::string("%!") + verb + "(MISSING)";
      continue;
    }
    const Value& a = args[argi++];
    auto bad = [&] { return std::string("%!") + verb + "(" + TypeName(a) + "=" + Print(a) + ")"; };
    auto pad = [&](std::string s) {
      if (width > static_cast<int>(s.size())) {
        const std::string p(static_cast<size_t>(width) - s.size(), ' ');
        s = flags.find('-') != std::string::npos ? s + p : p + s;
      }
      return s;
    };
    const auto* f = std::get_if<double>(&a.v);
    const auto* n = std::get_if<int64_t>(&a.v);
    const auto* s = std::get_if<std::string>(&a.v);
    switch (verb) {
      case 'v':
        out += pad(Print(a));
        break;
      case 's':
        if (s != nullptr) {
          out += pad(prec >= 0 ? s->substr(0, static_cast<size_t>(prec)) : *s);
        } else if (f == nullptr && n == nullptr && !std::holds_alternative<bool>(a.v)) {
          out += pad(Print(a));
        } else {
          out += bad();
        }
        break;
      case 'q':
        if (s == nullptr) {
          out += bad();
        } else {
          std::string q = "\"";
          for (char ch : *s) {
            if (ch == '"' || ch == '\\') q += '\\';
            if (ch == '\n') {
              q += "\\n";
              continue;
            }
            q += ch;
          }
          out += pad(q + "\"");
        }
        break;
      case 't':
        if (const auto* b = std::get_if<bool>(&a.v)) {
          out += pad(*b ? "true" : "false");
        } else {
          out += bad();
        }
        break;
      case 'd':
        if (n == nullptr) {
          out += bad();
        } else {
          std::string spec = "%" + flags + (width >= 0 ? std::to_string(width) : "") + "lld";
          char buf[128];
          std::snprintf(buf, sizeof(buf), spec.c_str(), static_cast<long long>(*n));
          out += buf;
        }
        break;
      case 'x':
      case 'X':
        if (n != nullptr) {
          std::string spec = "%" + flags + (width >= 0 ? std::to_string(width) : "") + "ll" + verb;
          char buf[128];
          std::snprintf(buf, sizeof(buf), spec.c_str(), static_cast<long long>(*n));
          out += buf;
        } else if (s != nullptr) {
          static constexpr char kHex[] = "0123456789abcdef";
          std::string h;
          for (unsigned char ch : *s) {
            h += verb == 'x' ? kHex[ch >> 4] : static_cast<char>(std::toupper(kHex[ch >> 4]));
            h += verb == 'x' ? kHex[ch & 15] : static_cast<char>(std::toupper(kHex[ch & 15]));
          }
          out += pad(h);
        } else {
          out += bad();
        }
        break;
      case 'f':
      case 'F':
      case 'e':
      case 'E':
      case 'g':
      case 'G':
        if (f == nullptr) {
          out += bad();
        } else {
          out += FormatNumber(flags, width, prec, verb, *f);
        }
        break;
      default:
        out += std::string("%!") + verb + "(" + TypeName(a) + "=" + Print(a) + ")";
    }
  }
  if (argi < args.size()) {
    out += "%!(EXTRA ";
    for (size_t k = argi; k < args.size(); ++k) {
      if (k > argi) out += ", ";
      out += TypeName(args[k]) + "=" + Print(args[k]);
    }
    out += ")";
  }
  return out;
}

// Go's %.4g, as Prometheus' humanize functions format.
std::string GoG4(double v) { return FormatNumber("", -1, 4, 'g', v); }

// Prometheus' humanize: SI prefixes, 4 significant digits.
std::string Humanize(double v) {
  if (v == 0 || std::isnan(v) || std::isinf(v)) return GoG4(v);
  std::string prefix;
  if (std::fabs(v) >= 1) {
    for (const char* p : {"k", "M", "G", "T", "P", "E", "Z", "Y"}) {
      if (std::fabs(v) < 1000) break;
      prefix = p;
      v /= 1000;
    }
    return GoG4(v) + prefix;
  }
  for (const char* p : {"m", "u", "n", "p", "f", "a", "z", "y"}) {
    if (std::fabs(v) >= 1) break;
    prefix = p;
    v *= 1000;
  }
  return GoG4(v) + prefix;
}

std::string Humanize1024(double v) {
  if (std::fabs(v) <= 1 || std::isnan(v) || std::isinf(v)) return GoG4(v);
  std::string prefix;
  for (const char* p : {"ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"}) {
    if (std::fabs(v) < 1024) break;
    prefix = p;
    v /= 1024;
  }
  return GoG4(v) + prefix;
}

std::string HumanizeDuration(double v) {
  if (std::isnan(v) || std::isinf(v)) return GoG4(v);
  if (v == 0) return GoG4(v) + "s";
  if (std::fabs(v) >= 1) {
    std::string sign;
    if (v < 0) {
      sign = "-";
      v = -v;
    }
    const auto d = static_cast<int64_t>(v);
    const int64_t seconds = d % 60, minutes = (d / 60) % 60, hours = (d / 3600) % 24,
                  days = d / 86400;
    auto s = [](int64_t x) { return std::to_string(x); };
    if (days != 0)
      return sign + s(days) + "d " + s(hours) + "h " + s(minutes) + "m " + s(seconds) + "s";
    if (hours != 0) return sign + s(hours) + "h " + s(minutes) + "m " + s(seconds) + "s";
    if (minutes != 0) return sign + s(minutes) + "m " + s(seconds) + "s";
    return sign + GoG4(v) + "s";
  }
  std::string prefix;
  for (const char* p : {"m", "u", "n", "p", "f", "a", "z", "y"}) {
    if (std::fabs(v) >= 1) break;
    prefix = p;
    v *= 1000;
  }
  return GoG4(v) + prefix + "s";
}

// Go's strings.Title: the first letter of each word upper-cased.
std::string Title(std::string s) {
  bool start = true;
  for (char& c : s) {
    const auto u = static_cast<unsigned char>(c);
    const bool letter = std::isalnum(u) || c == '_' || u >= 0x80 || c == '\'';
    if (start && std::isalpha(u)) c = static_cast<char>(std::toupper(u));
    start = !letter;
  }
  return s;
}

// Go's Regexp.ReplaceAllString: $1, ${1}, $name and ${name} in `repl` expand to submatches.
Result<std::string> ReReplaceAll(const std::string& pattern, const std::string& repl,
                                 const std::string& text) {
  RE2::Options opts;
  opts.set_log_errors(false);
  RE2 re(pattern, opts);
  if (!re.ok()) return InvalidArgument("error parsing regexp: " + re.error());
  const int groups = re.NumberOfCapturingGroups() + 1;
  std::vector<re2::StringPiece> m(static_cast<size_t>(groups));
  const auto& names = re.NamedCapturingGroups();
  auto expand = [&](std::string& out) {
    for (size_t i = 0; i < repl.size(); ++i) {
      if (repl[i] != '$' || i + 1 >= repl.size()) {
        out += repl[i];
        continue;
      }
      if (repl[i + 1] == '$') {
        out += '$';
        ++i;
        continue;
      }
      size_t a = i + 1, b;
      bool brace = repl[a] == '{';
      if (brace) ++a;
      b = a;
      while (b < repl.size() &&
             (std::isalnum(static_cast<unsigned char>(repl[b])) || repl[b] == '_')) {
        ++b;
      }
      if (b == a || (brace && (b >= repl.size() || repl[b] != '}'))) {
        out += '$';  // malformed: the $ is text
        continue;
      }
      const std::string name = repl.substr(a, b - a);
      int idx = -1;
      if (name.find_first_not_of("0123456789") == std::string::npos) {
        if (name.size() < 6) idx = std::stoi(name);
      } else if (auto it = names.find(name); it != names.end()) {
        idx = it->second;
      }
      if (idx >= 0 && idx < groups && m[static_cast<size_t>(idx)].data() != nullptr) {
        out.append(m[static_cast<size_t>(idx)].data(), m[static_cast<size_t>(idx)].size());
      }
      i = brace ? b : b - 1;
    }
  };
  std::string out;
  size_t search = 0, last_end = 0;
  while (search <= text.size()) {
    if (!re.Match(text, search, text.size(), RE2::UNANCHORED, m.data(), groups)) break;
    const auto a = static_cast<size_t>(m[0].data() - text.data());
    const size_t b = a + m[0].size();
    out.append(text, last_end, a - last_end);
    // An empty match right after the previous one is not replaced (as Go).
    if (b > last_end || a == 0) expand(out);
    last_end = b;
    size_t width = 1;
    if (search < text.size()) {
      const auto c = static_cast<unsigned char>(text[search]);
      width = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    }
    search = search + width > b ? search + width : b;
  }
  if (last_end < text.size()) out.append(text, last_end);
  return out;
}

}  // namespace

// ---- the tree -------------------------------------------------------------------------------

struct Pipeline;

struct Operand {
  enum class Kind { kVar, kDot, kString, kInt, kFloat, kBool, kNil, kFunc, kSub };
  Kind kind = Kind::kNil;
  std::string name;                 // variable (without $) or function
  std::vector<std::string> fields;  // .A.B after it
  std::string str;
  int64_t i = 0;
  double f = 0;
  bool b = false;
  std::shared_ptr<Pipeline> sub;
};

struct Command {
  std::vector<Operand> args;
};

struct Pipeline {
  std::string decl;  // `$x :=` declares x
  std::vector<Command> cmds;
};

struct Template::Node {
  enum class Kind { kList, kText, kAction, kIf, kWith };
  Kind kind = Kind::kList;
  std::string text;
  Pipeline pipe;
  std::vector<std::shared_ptr<Node>> list;     // kList
  std::shared_ptr<Node> then_list, else_list;  // kIf, kWith
};

namespace {

using Node = Template::Node;
using NodePtr = std::shared_ptr<Node>;

bool IsFunction(std::string_view name) {
  static const std::set<std::string_view> kFuncs = {"humanize",
                                                    "humanize1024",
                                                    "humanizePercentage",
                                                    "humanizeDuration",
                                                    "printf",
                                                    "toUpper",
                                                    "toLower",
                                                    "title",
                                                    "reReplaceAll",
                                                    "query",
                                                    "first",
                                                    "value",
                                                    "label",
                                                    "eq",
                                                    "ne",
                                                    "lt",
                                                    "le",
                                                    "gt",
                                                    "ge",
                                                    "and",
                                                    "or",
                                                    "not",
                                                    "len",
                                                    "index",
                                                    "print"};
  return kFuncs.count(name) > 0;
}

// ---- the parser -----------------------------------------------------------------------------

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Result<NodePtr> Parse(bool& literal) {
    std::string end_kw;
    VIGIL_ASSIGN_OR_RETURN(NodePtr root, ParseList(end_kw));
    if (!end_kw.empty()) return Error(last_action_, "unexpected {{" + end_kw + "}}");
    literal = !saw_action_;
    return root;
  }

 private:
  // Position of byte `at` as line:col.
  std::string Where(size_t at) const {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < at && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    return std::to_string(line) + ":" + std::to_string(col);
  }
  Status Error(size_t at, const std::string& what) const {
    return InvalidArgument("template: " + Where(at) + ": " + what);
  }

  // Parses nodes until {{end}} or {{else…}} (returned in end_kw, with the action's
  // remaining words left in `rest_`), or the end of the text (end_kw empty).
  Result<NodePtr> ParseList(std::string& end_kw) {
    auto list = std::make_shared<Node>();
    list->kind = Node::Kind::kList;
    while (pos_ < text_.size()) {
      const size_t open = text_.find("{{", pos_);
      std::string chunk(text_.substr(
          pos_, open == std::string_view::npos ? std::string_view::npos : open - pos_));
      pos_ = open == std::string_view::npos ? text_.size() : open;
      if (trim_next_) {
        const size_t k = chunk.find_first_not_of(" \t\r\n");
        chunk = k == std::string::npos ? "" : chunk.substr(k);
        trim_next_ = false;
      }
      if (open != std::string_view::npos && open + 2 < text_.size() && text_[open + 2] == '-' &&
          open + 3 < text_.size() && std::isspace(static_cast<unsigned char>(text_[open + 3]))) {
        const size_t k = chunk.find_last_not_of(" \t\r\n");
        chunk = k == std::string::npos ? "" : chunk.substr(0, k + 1);
      }
      if (!chunk.empty()) {
        auto t = std::make_shared<Node>();
        t->kind = Node::Kind::kText;
        t->text = std::move(chunk);
        list->list.push_back(std::move(t));
      }
      if (open == std::string_view::npos) break;
      saw_action_ = true;
      last_action_ = open;
      VIGIL_RETURN_IF_ERROR(ReadAction(open));
      if (toks_.empty()) continue;  // a comment
      const Tok& first = toks_[0];
      if (first.kind == TokKind::kIdent && (first.text == "end" || first.text == "else")) {
        end_kw = first.text;
        tok_ = 1;
        return list;
      }
      if (first.kind == TokKind::kIdent && (first.text == "if" || first.text == "with")) {
        auto n = std::make_shared<Node>();
        n->kind = first.text == "if" ? Node::Kind::kIf : Node::Kind::kWith;
        tok_ = 1;
        VIGIL_RETURN_IF_ERROR(ParseBranches(*n, first.text));
        list->list.push_back(std::move(n));
        continue;
      }
      if (first.kind == TokKind::kIdent &&
          (first.text == "range" || first.text == "define" || first.text == "template" ||
           first.text == "block" || first.text == "break" || first.text == "continue")) {
        return Error(first.at, "\"" + first.text + "\" is not supported in vigil's templates");
      }
      auto n = std::make_shared<Node>();
      n->kind = Node::Kind::kAction;
      tok_ = 0;
      VIGIL_ASSIGN_OR_RETURN(n->pipe, ParsePipeline(false));
      if (tok_ < toks_.size())
        return Error(toks_[tok_].at, "unexpected \"" + toks_[tok_].text + "\"");
      list->list.push_back(std::move(n));
    }
    return list;
  }

  // After `{{if pipeline}}` or `{{with pipeline}}`: the pipeline, the branch, and an else
  // (`{{else}}` or `{{else if …}}`, which nests) up to the matching {{end}}. `kw` is a copy:
  // the actions inside re-tokenize, which frees the tokens it could have pointed into.
  Status ParseBranches(Node& n, std::string kw) {
    const size_t at = toks_[0].at;
    VIGIL_ASSIGN_OR_RETURN(n.pipe, ParsePipeline(true));
    if (n.pipe.cmds.empty()) return Error(at, "missing value for " + kw);
    if (tok_ < toks_.size())
      return Error(toks_[tok_].at, "unexpected \"" + toks_[tok_].text + "\"");
    std::string end_kw;
    VIGIL_ASSIGN_OR_RETURN(n.then_list, ParseList(end_kw));
    if (end_kw.empty()) return Error(at, "unexpected EOF: {{" + kw + "}} without {{end}}");
    if (end_kw == "else") {
      if (tok_ < toks_.size() && toks_[tok_].kind == TokKind::kIdent &&
          (toks_[tok_].text == "if" || toks_[tok_].text == "with")) {
        // {{else if …}}: an if inside the else, sharing this {{end}}.
        auto inner = std::make_shared<Node>();
        inner->kind = toks_[tok_].text == "if" ? Node::Kind::kIf : Node::Kind::kWith;
        const std::string inner_kw = toks_[tok_].text;
        ++tok_;
        VIGIL_RETURN_IF_ERROR(ParseBranches(*inner, inner_kw));
        auto l = std::make_shared<Node>();
        l->kind = Node::Kind::kList;
        l->list.push_back(std::move(inner));
        n.else_list = std::move(l);
        return Status::Ok();
      }
      if (tok_ < toks_.size())
        return Error(toks_[tok_].at, "unexpected \"" + toks_[tok_].text + "\" in else");
      VIGIL_ASSIGN_OR_RETURN(n.else_list, ParseList(end_kw));
      if (end_kw != "end") return Error(last_action_, "expected {{end}} after {{else}}");
    }
    if (tok_ < toks_.size())
      return Error(toks_[tok_].at, "unexpected \"" + toks_[tok_].text + "\" in end");
    return Status::Ok();
  }

  enum class TokKind { kIdent, kVar, kField, kString, kNumber, kPipe, kLParen, kRParen, kDeclare };
  struct Tok {
    TokKind kind;
    std::string text;  // identifier, variable name (no $), field chain (".A.B"), string value
    size_t at;
  };

  // Lexes the action at `open` ({{ … }}) into toks_, moving pos_ past it.
  Status ReadAction(size_t open) {
    toks_.clear();
    tok_ = 0;
    size_t i = open + 2;
    if (i < text_.size() && text_[i] == '-' && i + 1 < text_.size() &&
        std::isspace(static_cast<unsigned char>(text_[i + 1]))) {
      ++i;
    }
    while (true) {
      while (i < text_.size() && std::isspace(static_cast<unsigned char>(text_[i]))) ++i;
      if (i >= text_.size()) return Error(open, "unclosed action");
      if (text_.compare(i, 2, "}}") == 0) {
        pos_ = i + 2;
        return Status::Ok();
      }
      if (text_[i] == '-' && text_.compare(i + 1, 2, "}}") == 0 && i > 0 &&
          std::isspace(static_cast<unsigned char>(text_[i - 1]))) {
        pos_ = i + 3;
        trim_next_ = true;
        return Status::Ok();
      }
      if (text_.compare(i, 2, "/*") == 0) {
        const size_t e = text_.find("*/", i + 2);
        if (e == std::string_view::npos) return Error(i, "unclosed comment");
        i = e + 2;
        continue;
      }
      const char c = text_[i];
      const size_t at = i;
      if (c == '|') {
        toks_.push_back({TokKind::kPipe, "|", at});
        ++i;
      } else if (c == '(') {
        toks_.push_back({TokKind::kLParen, "(", at});
        ++i;
      } else if (c == ')') {
        toks_.push_back({TokKind::kRParen, ")", at});
        ++i;
      } else if (c == ':' && i + 1 < text_.size() && text_[i + 1] == '=') {
        toks_.push_back({TokKind::kDeclare, ":=", at});
        i += 2;
      } else if (c == '"' || c == '`') {
        size_t e = i + 1;
        while (e < text_.size() && text_[e] != c) {
          if (c == '"' && text_[e] == '\\') ++e;
          if (c == '"' && e < text_.size() && text_[e] == '\n')
            return Error(at, "unterminated quoted string");
          ++e;
        }
        if (e >= text_.size()) return Error(at, "unterminated quoted string");
        const std::string_view body = text_.substr(i + 1, e - i - 1);
        if (c == '"') {
          auto s = UnquoteGo(body, '"');
          if (!s.ok()) return Error(at, s.status().message());
          toks_.push_back({TokKind::kString, *s, at});
        } else {
          toks_.push_back({TokKind::kString, std::string(body), at});
        }
        i = e + 1;
      } else if (c == '$' || c == '.' || std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t e = i + 1;
        while (e < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[e])) ||
                                    text_[e] == '_' || text_[e] == '.')) {
          ++e;
        }
        const std::string word(text_.substr(i, e - i));
        if (c == '$') {
          toks_.push_back({TokKind::kVar, word.substr(1), at});
        } else if (c == '.') {
          toks_.push_back({TokKind::kField, word, at});
        } else {
          toks_.push_back({TokKind::kIdent, word, at});
        }
        i = e;
      } else if (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+') {
        size_t e = i + 1;
        while (e < text_.size() &&
               (std::isalnum(static_cast<unsigned char>(text_[e])) || text_[e] == '.' ||
                ((text_[e] == '-' || text_[e] == '+') &&
                 (text_[e - 1] == 'e' || text_[e - 1] == 'E')))) {
          ++e;
        }
        toks_.push_back({TokKind::kNumber, std::string(text_.substr(i, e - i)), at});
        i = e;
      } else {
        return Error(at, std::string("unexpected \"") + c + "\" in command");
      }
    }
  }

  // pipeline := [$x :=] command ('|' command)*, up to the end of the action or a ')'.
  Result<Pipeline> ParsePipeline(bool in_control) {
    (void)in_control;
    Pipeline p;
    if (tok_ + 1 < toks_.size() && toks_[tok_].kind == TokKind::kVar &&
        toks_[tok_ + 1].kind == TokKind::kDeclare) {
      p.decl = toks_[tok_].text;
      tok_ += 2;
    }
    while (tok_ < toks_.size() && toks_[tok_].kind != TokKind::kRParen) {
      Command cmd;
      while (tok_ < toks_.size() && toks_[tok_].kind != TokKind::kPipe &&
             toks_[tok_].kind != TokKind::kRParen) {
        VIGIL_ASSIGN_OR_RETURN(Operand o, ParseOperand());
        cmd.args.push_back(std::move(o));
      }
      if (cmd.args.empty()) {
        return Error(tok_ < toks_.size() ? toks_[tok_].at : last_action_, "missing command");
      }
      if (cmd.args.size() > 1 && cmd.args[0].kind != Operand::Kind::kFunc) {
        return Error(last_action_, "can't give argument to non-function");
      }
      p.cmds.push_back(std::move(cmd));
      if (tok_ < toks_.size() && toks_[tok_].kind == TokKind::kPipe) {
        ++tok_;
        if (tok_ >= toks_.size() || toks_[tok_].kind == TokKind::kRParen) {
          return Error(last_action_, "missing command after |");
        }
      }
    }
    if (!p.decl.empty() && p.cmds.empty()) return Error(last_action_, "missing value for :=");
    return p;
  }

  Result<Operand> ParseOperand() {
    const Tok& t = toks_[tok_++];
    Operand o;
    auto split_fields = [](const std::string& chain, std::vector<std::string>& out) {
      size_t i = 0;
      while (i < chain.size()) {
        size_t j = chain.find('.', i + 1);
        if (j == std::string::npos) j = chain.size();
        out.push_back(chain.substr(i + 1, j - i - 1));
        i = j;
      }
    };
    switch (t.kind) {
      case TokKind::kVar: {
        o.kind = Operand::Kind::kVar;
        const size_t dot = t.text.find('.');
        o.name = t.text.substr(0, dot);
        if (dot != std::string::npos) split_fields(t.text.substr(dot), o.fields);
        if (!declared_.count(o.name)) return Error(t.at, "undefined variable \"$" + o.name + "\"");
        break;
      }
      case TokKind::kField:
        o.kind = Operand::Kind::kDot;
        if (t.text != ".") split_fields(t.text, o.fields);
        for (const auto& f : o.fields) {
          if (f.empty()) return Error(t.at, "bad field \"" + t.text + "\"");
        }
        break;
      case TokKind::kString:
        o.kind = Operand::Kind::kString;
        o.str = t.text;
        break;
      case TokKind::kNumber: {
        const char* b = t.text.data();
        const char* e = b + t.text.size();
        const char* nb = (*b == '+') ? b + 1 : b;
        int64_t iv;
        if (auto r = std::from_chars(nb, e, iv); r.ec == std::errc() && r.ptr == e) {
          o.kind = Operand::Kind::kInt;
          o.i = iv;
        } else if (auto r2 = std::from_chars(nb, e, o.f); r2.ec == std::errc() && r2.ptr == e) {
          o.kind = Operand::Kind::kFloat;
        } else {
          return Error(t.at, "bad number syntax: \"" + t.text + "\"");
        }
        break;
      }
      case TokKind::kIdent:
        if (t.text == "true" || t.text == "false") {
          o.kind = Operand::Kind::kBool;
          o.b = t.text == "true";
        } else if (t.text == "nil") {
          o.kind = Operand::Kind::kNil;
        } else if (IsFunction(t.text)) {
          o.kind = Operand::Kind::kFunc;
          o.name = t.text;
        } else {
          return Error(t.at, "function \"" + t.text + "\" not defined");
        }
        break;
      case TokKind::kLParen: {
        o.kind = Operand::Kind::kSub;
        VIGIL_ASSIGN_OR_RETURN(Pipeline p, ParsePipeline(false));
        if (tok_ >= toks_.size() || toks_[tok_].kind != TokKind::kRParen) {
          return Error(t.at, "unclosed left paren");
        }
        ++tok_;
        o.sub = std::make_shared<Pipeline>(std::move(p));
        // (pipeline).Field
        if (tok_ < toks_.size() && toks_[tok_].kind == TokKind::kField &&
            toks_[tok_].at == toks_[tok_ - 1].at + 1) {
          split_fields(toks_[tok_++].text, o.fields);
        }
        break;
      }
      default:
        return Error(t.at, "unexpected \"" + t.text + "\" in operand");
    }
    return o;
  }

 public:
  std::set<std::string> declared_ = {"", "labels", "externalLabels", "externalURL", "value"};

 private:
  std::string_view text_;
  size_t pos_ = 0;
  bool trim_next_ = false;
  bool saw_action_ = false;
  size_t last_action_ = 0;
  std::vector<Tok> toks_;
  size_t tok_ = 0;
};

// ---- execution ------------------------------------------------------------------------------

constexpr size_t kMaxOutput = 1 << 20;  // a template expanding past this is an error

class Exec {
 public:
  Exec(const TemplateData& data, const TemplateQueryFunc& query) : query_(query) {
    vars_[""] = Value{Root{&data}};
    vars_["labels"] = Value::Map(data.labels);
    vars_["externalLabels"] = Value::Map(data.external_labels);
    vars_["externalURL"] = Value::Str(data.external_url);
    vars_["value"] = Value{data.value};
  }

  Status Run(const Node& n, const Value& dot, std::string& out) {
    switch (n.kind) {
      case Node::Kind::kList:
        for (const auto& c : n.list) VIGIL_RETURN_IF_ERROR(Run(*c, dot, out));
        break;
      case Node::Kind::kText:
        out += n.text;
        break;
      case Node::Kind::kAction: {
        VIGIL_ASSIGN_OR_RETURN(Value v, Pipe(n.pipe, dot));
        if (n.pipe.decl.empty()) out += Print(v);
        break;
      }
      case Node::Kind::kIf:
      case Node::Kind::kWith: {
        auto saved = vars_;
        VIGIL_ASSIGN_OR_RETURN(Value v, Pipe(n.pipe, dot));
        if (Truth(v)) {
          VIGIL_RETURN_IF_ERROR(Run(*n.then_list, n.kind == Node::Kind::kWith ? v : dot, out));
        } else if (n.else_list) {
          VIGIL_RETURN_IF_ERROR(Run(*n.else_list, dot, out));
        }
        vars_ = std::move(saved);
        break;
      }
    }
    if (out.size() > kMaxOutput) return InvalidArgument("template output over 1 MiB");
    return Status::Ok();
  }

 private:
  Result<Value> Pipe(const Pipeline& p, const Value& dot) {
    Value v;
    bool has = false;
    for (const Command& c : p.cmds) {
      VIGIL_ASSIGN_OR_RETURN(v, Cmd(c, dot, has ? &v : nullptr));
      has = true;
    }
    if (!p.decl.empty()) vars_[p.decl] = v;
    return v;
  }

  Result<Value> Field(Value v, const std::vector<std::string>& fields) {
    for (const std::string& f : fields) {
      if (auto* m = std::get_if<std::shared_ptr<StringMap>>(&v.v)) {
        auto it = (*m)->find(f);
        v = Value::Str(it == (*m)->end() ? "" : it->second);  // missingkey=zero
      } else if (auto* r = std::get_if<Root>(&v.v)) {
        if (f == "Labels") {
          v = Value::Map(r->data->labels);
        } else if (f == "ExternalLabels") {
          v = Value::Map(r->data->external_labels);
        } else if (f == "ExternalURL") {
          v = Value::Str(r->data->external_url);
        } else if (f == "Value") {
          v = Value{r->data->value};
        } else {
          return InvalidArgument("can't evaluate field " + f + " in type *template.tmplData");
        }
      } else if (auto* s = std::get_if<std::shared_ptr<Sample>>(&v.v)) {
        if (f == "Labels") {
          StringMap m;
          for (const Label& l : (*s)->labels) m[l.name] = l.value;
          v = Value::Map(std::move(m));
        } else if (f == "Value") {
          v = Value{(*s)->value};
        } else {
          return InvalidArgument("can't evaluate field " + f + " in type *template.sample");
        }
      } else {
        return InvalidArgument("can't evaluate field " + f + " in type " + TypeName(v));
      }
    }
    return v;
  }

  Result<Value> Arg(const Operand& o, const Value& dot) {
    switch (o.kind) {
      case Operand::Kind::kVar: {
        auto it = vars_.find(o.name);
        if (it == vars_.end()) return InvalidArgument("undefined variable: $" + o.name);
        return Field(it->second, o.fields);
      }
      case Operand::Kind::kDot:
        return Field(dot, o.fields);
      case Operand::Kind::kString:
        return Value::Str(o.str);
      case Operand::Kind::kInt:
        return Value{o.i};
      case Operand::Kind::kFloat:
        return Value{o.f};
      case Operand::Kind::kBool:
        return Value{o.b};
      case Operand::Kind::kNil:
        return Value{};
      case Operand::Kind::kSub: {
        VIGIL_ASSIGN_OR_RETURN(Value v, Pipe(*o.sub, dot));
        return Field(std::move(v), o.fields);
      }
      case Operand::Kind::kFunc:
        return Call(o.name, {}, dot);
    }
    return Value{};
  }

  Result<Value> Cmd(const Command& c, const Value& dot, const Value* piped) {
    const Operand& head = c.args[0];
    if (head.kind != Operand::Kind::kFunc) {
      if (piped != nullptr) return InvalidArgument("can't give argument to non-function");
      return Arg(head, dot);
    }
    std::vector<Value> args;
    for (size_t i = 1; i < c.args.size(); ++i) {
      VIGIL_ASSIGN_OR_RETURN(Value v, Arg(c.args[i], dot));
      args.push_back(std::move(v));
    }
    if (piped != nullptr) args.push_back(*piped);
    return Call(head.name, std::move(args), dot);
  }

  static Status Arity(const std::string& fn, const std::vector<Value>& args, size_t want) {
    if (args.size() != want) {
      return InvalidArgument("wrong number of args for " + fn + ": want " + std::to_string(want) +
                             " got " + std::to_string(args.size()));
    }
    return Status::Ok();
  }

  static Result<std::string> Str(const std::string& fn, const Value& v) {
    if (auto* s = std::get_if<std::string>(&v.v)) return *s;
    return InvalidArgument("error calling " + fn + ": expected string; found " + TypeName(v));
  }

  // Go's basic comparison (eq, lt…): numbers with numbers, strings with strings.
  static Result<int> Compare(const std::string& fn, const Value& a, const Value& b) {
    const bool an = std::holds_alternative<double>(a.v) || std::holds_alternative<int64_t>(a.v);
    const bool bn = std::holds_alternative<double>(b.v) || std::holds_alternative<int64_t>(b.v);
    if (an && bn) {
      if (a.v.index() != b.v.index()) {
        return InvalidArgument("error calling " + fn + ": incompatible types for comparison");
      }
      const double x = *ToFloat(a), y = *ToFloat(b);
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    const auto* as = std::get_if<std::string>(&a.v);
    const auto* bs = std::get_if<std::string>(&b.v);
    if (as != nullptr && bs != nullptr) return as->compare(*bs) < 0 ? -1 : (*as == *bs ? 0 : 1);
    const auto* ab = std::get_if<bool>(&a.v);
    const auto* bb = std::get_if<bool>(&b.v);
    if (ab != nullptr && bb != nullptr && (fn == "eq" || fn == "ne")) return *ab == *bb ? 0 : 1;
    return InvalidArgument("error calling " + fn + ": incompatible types for comparison");
  }

  Result<Value> Call(const std::string& fn, std::vector<Value> args, const Value& dot) {
    (void)dot;
    auto num1 = [&](auto f) -> Result<Value> {
      VIGIL_RETURN_IF_ERROR(Arity(fn, args, 1));
      auto v = ToFloat(args[0]);
      if (!v.ok()) return InvalidArgument("error calling " + fn + ": " + v.status().message());
      return Value::Str(f(*v));
    };
    if (fn == "humanize") return num1(Humanize);
    if (fn == "humanize1024") return num1(Humanize1024);
    if (fn == "humanizeDuration") return num1(HumanizeDuration);
    if (fn == "humanizePercentage") {
      return num1([](double v) { return GoG4(v * 100) + "%"; });
    }
    if (fn == "printf") {
      if (args.empty())
        return InvalidArgument("wrong number of args for printf: want at least 1 got 0");
      VIGIL_ASSIGN_OR_RETURN(std::string f, Str(fn, args[0]));
      args.erase(args.begin());
      return Value::Str(Sprintf(f, args));
    }
    if (fn == "print") {
      std::string out;
      for (size_t i = 0; i < args.size(); ++i) {
        // Go's Sprint: a space between operands when neither is a string.
        if (i > 0 && !std::holds_alternative<std::string>(args[i].v) &&
            !std::holds_alternative<std::string>(args[i - 1].v)) {
          out += ' ';
        }
        out += Print(args[i]);
      }
      return Value::Str(out);
    }
    if (fn == "toUpper" || fn == "toLower" || fn == "title") {
      VIGIL_RETURN_IF_ERROR(Arity(fn, args, 1));
      VIGIL_ASSIGN_OR_RETURN(std::string s, Str(fn, args[0]));
      if (fn == "title") return Value::Str(Title(std::move(s)));
      for (char& c : s) {
        const auto u = static_cast<unsigned char>(c);
        c = static_cast<char>(fn == "toUpper" ? std::toupper(u) : std::tolower(u));
      }
      return Value::Str(std::move(s));
    }
    if (fn == "reReplaceAll") {
      VIGIL_RETURN_IF_ERROR(Arity(fn, args, 3));
      VIGIL_ASSIGN_OR_RETURN(std::string pattern, Str(fn, args[0]));
      VIGIL_ASSIGN_OR_RETURN(std::string repl, Str(fn, args[1]));
      VIGIL_ASSIGN_OR_RETURN(std::string text, Str(fn, args[2]));
      auto r = ReReplaceAll(pattern, repl, text);
      if (!r.ok()) return InvalidArgument("error calling reReplaceAll: " + r.status().message());
      return Value::Str(std::move(*r));
    }
    if (fn == "query") {
      VIGIL_RETURN_IF_ERROR(Arity(fn, args, 1));
      VIGIL_ASSIGN_OR_RETURN(std::string q, Str(fn, args[0]));
      if (!query_) return InvalidArgument("error calling query: no query source");
      auto r = query_(q);
      if (!r.ok()) return InvalidArgument("error calling query: " + r.status().message());
      return Value{std::make_shared<Samples>(std::move(*r))};
    }
    if (fn == "first") {
      VIGIL_RETURN_IF_ERROR(Arity(fn, args, 1));
      auto* ss = std::get_if<std::shared_ptr<Samples>>(&args[0].v);
      if (ss == nullptr) return InvalidArgument("error calling first: expected a query result");
      if ((*ss)->empty()) {
        return InvalidArgument("error calling first: first() called on vector with no elements");
      }
      return Value{std::make_shared<Sample>((*ss)->front())};
    }
    if (fn == "value" || fn == "label") {
      VIGIL_RETURN_IF_ERROR(Arity(fn, args, fn == "value" ? 1 : 2));
      auto* s = std::get_if<std::shared_ptr<Sample>>(&args.back().v);
      if (s == nullptr) return InvalidArgument("error calling " + fn + ": expected a sample");
      if (fn == "value") return Value{(*s)->value};
      VIGIL_ASSIGN_OR_RETURN(std::string name, Str(fn, args[0]));
      return Value::Str(std::string((*s)->labels.Get(name)));
    }
    if (fn == "eq" || fn == "ne" || fn == "lt" || fn == "le" || fn == "gt" || fn == "ge") {
      if (args.size() < 2) return InvalidArgument("missing argument for comparison");
      if (fn == "eq") {
        // eq a b c…: a equals any of the rest.
        for (size_t i = 1; i < args.size(); ++i) {
          VIGIL_ASSIGN_OR_RETURN(int c, Compare(fn, args[0], args[i]));
          if (c == 0) return Value{true};
        }
        return Value{false};
      }
      VIGIL_RETURN_IF_ERROR(Arity(fn, args, 2));
      VIGIL_ASSIGN_OR_RETURN(int c, Compare(fn, args[0], args[1]));
      if (fn == "ne") return Value{c != 0};
      if (fn == "lt") return Value{c < 0};
      if (fn == "le") return Value{c <= 0};
      if (fn == "gt") return Value{c > 0};
      return Value{c >= 0};
    }
    if (fn == "and" || fn == "or") {
      if (args.empty()) return InvalidArgument("wrong number of args for " + fn);
      for (size_t i = 0; i + 1 < args.size(); ++i) {
        if (Truth(args[i]) != (fn == "and")) return args[i];
      }
      return args.back();
    }
    if (fn == "not") {
      VIGIL_RETURN_IF_ERROR(Arity(fn, args, 1));
      return Value{!Truth(args[0])};
    }
    if (fn == "len") {
      VIGIL_RETURN_IF_ERROR(Arity(fn, args, 1));
      if (auto* s = std::get_if<std::string>(&args[0].v))
        return Value{static_cast<int64_t>(s->size())};
      if (auto* m = std::get_if<std::shared_ptr<StringMap>>(&args[0].v)) {
        return Value{static_cast<int64_t>((*m)->size())};
      }
      if (auto* ss = std::get_if<std::shared_ptr<Samples>>(&args[0].v)) {
        return Value{static_cast<int64_t>((*ss)->size())};
      }
      return InvalidArgument("error calling len: len of type " + TypeName(args[0]));
    }
    if (fn == "index") {
      VIGIL_RETURN_IF_ERROR(Arity(fn, args, 2));
      if (auto* m = std::get_if<std::shared_ptr<StringMap>>(&args[0].v)) {
        VIGIL_ASSIGN_OR_RETURN(std::string k, Str(fn, args[1]));
        auto it = (*m)->find(k);
        return Value::Str(it == (*m)->end() ? "" : it->second);
      }
      if (auto* ss = std::get_if<std::shared_ptr<Samples>>(&args[0].v)) {
        auto* i = std::get_if<int64_t>(&args[1].v);
        if (i == nullptr || *i < 0 || static_cast<size_t>(*i) >= (*ss)->size()) {
          return InvalidArgument("error calling index: index out of range");
        }
        return Value{std::make_shared<Sample>((**ss)[static_cast<size_t>(*i)])};
      }
      return InvalidArgument("error calling index: can't index item of type " + TypeName(args[0]));
    }
    return InvalidArgument("function \"" + fn + "\" not defined");
  }

  const TemplateQueryFunc& query_;
  std::map<std::string, Value> vars_;
};

// Variables a template declares with := are known to later actions (scoping is loose: a
// variable declared inside an if is known after it too, which only accepts more templates).
void CollectDecls(std::string_view text, std::set<std::string>& out) {
  for (size_t i = text.find('$'); i != std::string_view::npos; i = text.find('$', i + 1)) {
    size_t e = i + 1;
    while (e < text.size() &&
           (std::isalnum(static_cast<unsigned char>(text[e])) || text[e] == '_')) {
      ++e;
    }
    size_t k = e;
    while (k < text.size() && text[k] == ' ') ++k;
    if (text.compare(k, 2, ":=") == 0) out.insert(std::string(text.substr(i + 1, e - i - 1)));
  }
}

}  // namespace

Result<Template> Template::Parse(std::string_view text) {
  Parser p(text);
  CollectDecls(text, p.declared_);
  Template t;
  t.text_ = std::string(text);
  VIGIL_ASSIGN_OR_RETURN(auto root, p.Parse(t.literal_));
  t.root_ = std::move(root);
  return t;
}

Result<std::string> Template::Execute(const TemplateData& data,
                                      const TemplateQueryFunc& query) const {
  if (literal_) return text_;
  Exec e(data, query);
  std::string out;
  VIGIL_RETURN_IF_ERROR(e.Run(*root_, Value{Root{&data}}, out));
  return out;
}

}  // namespace vigil::alertd
