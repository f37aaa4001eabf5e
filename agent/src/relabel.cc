#include "relabel.h"

#include <cctype>

namespace vigil::agent {
namespace {

bool IsWordChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Matches the whole of `s`; fills `groups` (0: the whole match) when it does.
bool FullMatch(const RE2& re, std::string_view s, std::vector<re2::StringPiece>& groups) {
  groups.assign(static_cast<size_t>(re.NumberOfCapturingGroups()) + 1, {});
  return re.Match(s, 0, s.size(), RE2::ANCHOR_BOTH, groups.data(), static_cast<int>(groups.size()));
}

}  // namespace

Result<std::shared_ptr<const RE2>> CompileRelabelRegex(const std::string& text) {
  RE2::Options o;
  o.set_log_errors(false);
  if (RE2 bare(text, o); !bare.ok()) {  // RE2's complaint about the user's text, not ours
    return Status(StatusCode::kInvalidArgument, "invalid regex \"" + text + "\": " + bare.error());
  }
  auto re = std::make_shared<const RE2>("^(?:" + text + ")$", o);
  if (!re->ok()) {
    return Status(StatusCode::kInvalidArgument, "invalid regex \"" + text + "\": " + re->error());
  }
  return std::shared_ptr<const RE2>(re);
}

std::string ExpandTemplate(std::string_view tmpl, const RE2& re,
                           const std::vector<re2::StringPiece>& groups) {
  std::string out;
  for (size_t i = 0; i < tmpl.size();) {
    if (tmpl[i] != '$' || i + 1 == tmpl.size()) {
      out += tmpl[i++];
      continue;
    }
    if (tmpl[i + 1] == '$') {
      out += '$';
      i += 2;
      continue;
    }
    std::string_view name;
    size_t next = i + 1;
    if (tmpl[next] == '{') {
      const size_t close = tmpl.find('}', next);
      if (close == std::string_view::npos) {
        out += tmpl[i++];
        continue;
      }
      name = tmpl.substr(next + 1, close - next - 1);
      next = close + 1;
      bool word = !name.empty();
      for (char c : name) word = word && IsWordChar(c);
      if (!word) {  // malformed: the dollar is text, as in Go
        out += tmpl[i++];
        continue;
      }
    } else {
      size_t end = next;
      while (end < tmpl.size() && IsWordChar(tmpl[end])) ++end;
      if (end == next) {
        out += tmpl[i++];
        continue;
      }
      name = tmpl.substr(next, end - next);
      next = end;
    }
    bool digits = true;
    for (char c : name) digits = digits && std::isdigit(static_cast<unsigned char>(c));
    int index = -1;
    if (digits) {
      if (name.size() < 6) index = std::stoi(std::string(name));
    } else {
      const auto& named = re.NamedCapturingGroups();
      if (auto it = named.find(std::string(name)); it != named.end()) index = it->second;
    }
    if (index >= 0 && static_cast<size_t>(index) < groups.size()) {
      out.append(groups[index].data(), groups[index].size());
    }
    i = next;
  }
  return out;
}

bool Relabel(const std::vector<RelabelRule>& rules, LabelsBuilder& labels) {
  std::vector<re2::StringPiece> groups;
  std::string value;
  for (const auto& rule : rules) {
    const RE2& re = *rule.regex;
    value.clear();
    for (size_t i = 0; i < rule.source_labels.size(); ++i) {
      if (i > 0) value += rule.separator;
      value += labels.Get(rule.source_labels[i]);
    }
    switch (rule.action) {
      case RelabelAction::kKeep:
        if (!FullMatch(re, value, groups)) return false;
        break;
      case RelabelAction::kDrop:
        if (FullMatch(re, value, groups)) return false;
        break;
      case RelabelAction::kReplace: {
        if (!FullMatch(re, value, groups)) break;
        const std::string target = ExpandTemplate(rule.target_label, re, groups);
        if (!IsValidLabelName(target)) break;
        const std::string repl = ExpandTemplate(rule.replacement, re, groups);
        labels.Set(target, repl);  // empty removes it
        break;
      }
      case RelabelAction::kLowercase:
      case RelabelAction::kUppercase: {
        std::string v = value;
        for (char& c : v) {
          c = static_cast<char>(rule.action == RelabelAction::kLowercase
                                    ? std::tolower(static_cast<unsigned char>(c))
                                    : std::toupper(static_cast<unsigned char>(c)));
        }
        labels.Set(rule.target_label, v);
        break;
      }
      case RelabelAction::kLabelMap: {
        std::vector<Label> add;
        for (const auto& l : labels.pairs()) {
          if (FullMatch(re, l.name, groups)) {
            add.push_back({ExpandTemplate(rule.replacement, re, groups), l.value});
          }
        }
        for (const auto& l : add) {
          if (IsValidLabelName(l.name)) labels.Set(l.name, l.value);
        }
        break;
      }
      case RelabelAction::kLabelDrop:
      case RelabelAction::kLabelKeep: {
        const bool keep = rule.action == RelabelAction::kLabelKeep;
        std::vector<std::string> del;
        for (const auto& l : labels.pairs()) {
          if (FullMatch(re, l.name, groups) != keep) del.push_back(l.name);
        }
        for (const auto& n : del) labels.Del(n);
        break;
      }
    }
  }
  return true;
}

}  // namespace vigil::agent
