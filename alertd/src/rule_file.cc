#include "rule_file.h"

#include <yaml-cpp/yaml.h>

#include <set>

#include "vigil/common/duration.h"
#include "vigil/common/file_system.h"
#include "vigil/common/labels.h"
#include "vigil/logship/logql.h"
#include "vigil/tsdb/promql/parser.h"

namespace vigil::alertd {
namespace {

constexpr size_t kMaxRuleFileBytes = 64 << 20;

std::string At(const std::string& file, const YAML::Node& node) {
  const YAML::Mark m = node.Mark();
  if (m.line < 0) return file;
  return file + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

Status Err(const std::string& file, const YAML::Node& node, const std::string& what) {
  return InvalidArgument(At(file, node) + ": " + what);
}

Result<std::string> Scalar(const std::string& file, const YAML::Node& node,
                           const std::string& key) {
  if (!node.IsScalar()) return Err(file, node, key + ": expected a string");
  return node.Scalar();
}

Result<milliseconds> Duration(const std::string& file, const YAML::Node& node,
                              const std::string& key) {
  VIGIL_ASSIGN_OR_RETURN(std::string s, Scalar(file, node, key));
  auto d = ParseDuration(s);
  if (!d.ok()) return Err(file, node, key + ": " + d.status().message());
  return *d;
}

// A mapping of strings in file order, with each key once.
Result<std::vector<std::pair<std::string, std::string>>> StringMap(const std::string& file,
                                                                   const YAML::Node& node,
                                                                   const std::string& key) {
  std::vector<std::pair<std::string, std::string>> out;
  if (node.IsNull()) return out;
  if (!node.IsMap()) return Err(file, node, key + ": expected a mapping of names to strings");
  std::set<std::string> seen;
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) return Err(file, kv.first, key + ": expected a name");
    if (!kv.second.IsScalar() && !kv.second.IsNull()) {
      return Err(file, kv.second, key + "." + kv.first.Scalar() + ": expected a string");
    }
    if (!seen.insert(kv.first.Scalar()).second) {
      return Err(file, kv.first, key + ": \"" + kv.first.Scalar() + "\" is repeated");
    }
    out.emplace_back(kv.first.Scalar(), kv.second.IsNull() ? "" : kv.second.Scalar());
  }
  return out;
}

Status UnknownKey(const std::string& file, const YAML::Node& key, const std::string& where,
                  const std::string& known) {
  return Err(
      file, key,
      "field " + key.Scalar() + " not found in " + where + " (expected one of: " + known + ")");
}

Result<RuleSpec> ParseRule(const std::string& file, const YAML::Node& node, Source source,
                           const std::string& group, size_t index) {
  if (!node.IsMap()) return Err(file, node, "a rule must be a mapping");
  RuleSpec r;
  r.line = node.Mark().line + 1;
  YAML::Node expr_node;
  bool has_for = false, has_keep = false, has_annotations = false;
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) return Err(file, kv.first, "expected a key");
    const std::string& k = kv.first.Scalar();
    if (k == "alert") {
      VIGIL_ASSIGN_OR_RETURN(r.alert, Scalar(file, kv.second, k));
    } else if (k == "record") {
      VIGIL_ASSIGN_OR_RETURN(r.record, Scalar(file, kv.second, k));
    } else if (k == "expr") {
      VIGIL_ASSIGN_OR_RETURN(r.expr, Scalar(file, kv.second, k));
      expr_node = kv.second;
    } else if (k == "for") {
      VIGIL_ASSIGN_OR_RETURN(r.for_, Duration(file, kv.second, k));
      has_for = true;
    } else if (k == "keep_firing_for") {
      VIGIL_ASSIGN_OR_RETURN(r.keep_firing_for, Duration(file, kv.second, k));
      has_keep = true;
    } else if (k == "labels") {
      VIGIL_ASSIGN_OR_RETURN(r.labels, StringMap(file, kv.second, k));
    } else if (k == "annotations") {
      VIGIL_ASSIGN_OR_RETURN(r.annotations, StringMap(file, kv.second, k));
      has_annotations = true;
    } else {
      return UnknownKey(file, kv.first, "a rule",
                        "alert, record, expr, for, keep_firing_for, labels, annotations");
    }
  }
  // Errors about the rule as a whole name it as promtool does: group, index, name.
  const std::string what = "group \"" + group + "\", rule " + std::to_string(index + 1) +
                           (r.name().empty() ? "" : ", \"" + r.name() + "\"");
  auto fail = [&](const YAML::Node& n, const std::string& msg) {
    return Err(file, n, what + ": " + msg);
  };
  if (r.alert.empty() && r.record.empty()) {
    return fail(node, "one of 'record' or 'alert' must be set");
  }
  if (!r.alert.empty() && !r.record.empty()) {
    return fail(node, "only one of 'record' and 'alert' must be set");
  }
  if (r.expr.empty()) return fail(node, "field 'expr' must be set in rule");
  if (!r.record.empty()) {
    if (!IsValidMetricName(r.record)) {
      return fail(node, "invalid recording rule name: " + r.record);
    }
    if (has_annotations) return fail(node, "invalid field 'annotations' in recording rule");
    if (has_for) return fail(node, "invalid field 'for' in recording rule");
    if (has_keep) return fail(node, "invalid field 'keep_firing_for' in recording rule");
  }
  for (const auto& [name, value] : r.labels) {
    if (!IsValidLabelName(name) || name == kMetricNameLabel) {
      return fail(node, "invalid label name: " + name);
    }
    (void)value;
  }
  for (const auto& [name, value] : r.annotations) {
    if (!IsValidLabelName(name)) return fail(node, "invalid annotation name: " + name);
    (void)value;
  }
  // The expression, in its language.
  if (source == Source::kLogs) {
    auto q = logql::Parse(r.expr);
    if (!q.ok())
      return fail(expr_node, "could not parse LogQL expression: " + q.status().message());
    if (!q->metric) {
      return fail(expr_node,
                  "a rule's LogQL must be a metric query (count_over_time, rate, …), not a log "
                  "query");
    }
  } else {
    auto e = promql::ParseExpr(r.expr);
    if (!e.ok()) return fail(expr_node, "could not parse expression: " + e.status().message());
    const auto type = (*e)->type();
    if (type != promql::ValueType::kVector && type != promql::ValueType::kScalar) {
      return fail(expr_node, "invalid expression type \"" +
                                 std::string(promql::ValueTypeName(type)) +
                                 "\" for rule, must be vector or scalar");
    }
  }
  // Templates: alerting rules' labels and annotations (recording rules' labels are plain).
  if (r.is_alert()) {
    auto parse = [&](const std::string& kind, const std::string& name, const std::string& text,
                     std::vector<Template>& into) -> Status {
      auto t = Template::Parse(text);
      if (!t.ok()) {
        return fail(node, kind + " \"" + name + "\": " + t.status().message());
      }
      into.push_back(std::move(*t));
      return Status::Ok();
    };
    for (const auto& [name, text] : r.labels) {
      VIGIL_RETURN_IF_ERROR(parse("label", name, text, r.label_templates));
    }
    for (const auto& [name, text] : r.annotations) {
      VIGIL_RETURN_IF_ERROR(parse("annotation", name, text, r.annotation_templates));
    }
  }
  return r;
}

Result<GroupSpec> ParseGroup(const std::string& file, const YAML::Node& node) {
  if (!node.IsMap()) return Err(file, node, "a group must be a mapping");
  GroupSpec g;
  g.file = file;
  g.line = node.Mark().line + 1;
  YAML::Node rules;
  bool named = false;
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) return Err(file, kv.first, "expected a key");
    const std::string& k = kv.first.Scalar();
    if (k == "name") {
      VIGIL_ASSIGN_OR_RETURN(g.name, Scalar(file, kv.second, k));
      named = true;
    } else if (k == "interval") {
      VIGIL_ASSIGN_OR_RETURN(g.interval, Duration(file, kv.second, k));
      if (g.interval.count() <= 0) return Err(file, kv.second, "interval: must be above 0");
    } else if (k == "limit") {
      VIGIL_ASSIGN_OR_RETURN(std::string s, Scalar(file, kv.second, k));
      try {
        size_t used = 0;
        g.limit = std::stoll(s, &used);
        if (used != s.size() || g.limit < 0) throw std::invalid_argument(s);
      } catch (const std::exception&) {
        return Err(file, kv.second, "limit: expected a number of 0 or more, got " + s);
      }
    } else if (k == "source") {
      VIGIL_ASSIGN_OR_RETURN(std::string s, Scalar(file, kv.second, k));
      if (s == "logs") {
        g.source = Source::kLogs;
      } else if (s == "metrics" || s.empty()) {
        g.source = Source::kMetrics;
      } else {
        return Err(file, kv.second, "source: expected logs or metrics, got " + s);
      }
    } else if (k == "rules") {
      rules = kv.second;
    } else {
      return UnknownKey(file, kv.first, "a group", "name, interval, limit, rules, source");
    }
  }
  if (!named || g.name.empty()) return Err(file, node, "groupname must not be empty");
  if (rules && !rules.IsNull()) {
    if (!rules.IsSequence()) return Err(file, rules, "rules: expected a list of rules");
    size_t i = 0;
    for (const auto& r : rules) {
      VIGIL_ASSIGN_OR_RETURN(RuleSpec rule, ParseRule(file, r, g.source, g.name, i++));
      g.rules.push_back(std::move(rule));
    }
  }
  return g;
}

}  // namespace

Result<std::vector<GroupSpec>> ParseRuleFile(std::string_view text, const std::string& file) {
  if (text.size() > kMaxRuleFileBytes) {
    return InvalidArgument(file + ": over " + std::to_string(kMaxRuleFileBytes >> 20) + " MiB");
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return InvalidArgument(file + ":" + std::to_string(e.mark.line + 1) + ":" +
                           std::to_string(e.mark.column + 1) + ": invalid YAML: " + e.msg);
  }
  std::vector<GroupSpec> out;
  if (root.IsNull()) return out;
  if (!root.IsMap()) return Err(file, root, "expected a mapping with a groups key");
  try {
    std::set<std::string> names;
    for (const auto& kv : root) {
      if (!kv.first.IsScalar() || kv.first.Scalar() != "groups") {
        return UnknownKey(file, kv.first, "the file", "groups");
      }
      if (kv.second.IsNull()) continue;
      if (!kv.second.IsSequence()) return Err(file, kv.second, "groups: expected a list");
      for (const auto& g : kv.second) {
        VIGIL_ASSIGN_OR_RETURN(GroupSpec group, ParseGroup(file, g));
        if (!names.insert(group.name).second) {
          return Err(file, g, "groupname: \"" + group.name + "\" is repeated in the same file");
        }
        out.push_back(std::move(group));
      }
    }
  } catch (const YAML::Exception& e) {
    return InvalidArgument(file + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  return out;
}

Result<std::vector<GroupSpec>> LoadRuleFile(const std::string& path) {
  auto text = RealFileSystem()->ReadFile(path);
  if (!text.ok()) return InvalidArgument(path + ": " + text.status().message());
  return ParseRuleFile(*text, path);
}

Result<std::vector<std::string>> ExpandRuleGlobs(const std::vector<std::string>& patterns) {
  std::set<std::string> files;
  for (const std::string& p : patterns) {
    if (p.find_first_of("*?[") == std::string::npos) {
      files.insert(p);
      continue;
    }
    auto matched = RealFileSystem()->Glob(p);
    if (!matched.ok()) return matched.status();
    if (matched->empty()) return InvalidArgument("rule files: " + p + " matches no file");
    files.insert(matched->begin(), matched->end());
  }
  return std::vector<std::string>(files.begin(), files.end());
}

}  // namespace vigil::alertd
