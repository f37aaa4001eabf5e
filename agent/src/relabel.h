#pragma once

// Prometheus relabeling (relabel_configs, metric_relabel_configs), as Prometheus 2.42 applies it:
// the source labels' values joined by `separator` must match the whole of `regex` (anchored);
// `replacement` expands $1, ${1}, $name and ${name} as Go's Regexp.Expand does.

#include <re2/re2.h>

#include <memory>
#include <string>
#include <vector>

#include "vigil/common/labels.h"

namespace vigil::agent {

enum class RelabelAction {
  kReplace,
  kKeep,
  kDrop,
  kLabelMap,
  kLabelDrop,
  kLabelKeep,
  kLowercase,
  kUppercase,
};

struct RelabelRule {
  std::vector<std::string> source_labels;
  std::string separator = ";";
  std::shared_ptr<const RE2> regex;  // anchored: ^(?:<regex>)$
  std::string regex_text = "(.*)";
  std::string target_label;
  std::string replacement = "$1";
  RelabelAction action = RelabelAction::kReplace;
};

// Applies the rules in order to `labels`; false when a keep or drop rule dropped them.
bool Relabel(const std::vector<RelabelRule>& rules, LabelsBuilder& labels);

// Compiles `text` as Prometheus does (anchored). InvalidArgument naming RE2's complaint.
Result<std::shared_ptr<const RE2>> CompileRelabelRegex(const std::string& text);

// `tmpl` with $1, ${1}, $name, ${name} replaced by the groups of the last match of `re`
// (`groups[0]` is the whole match); $$ is a dollar.
std::string ExpandTemplate(std::string_view tmpl, const RE2& re,
                           const std::vector<re2::StringPiece>& groups);

}  // namespace vigil::agent
