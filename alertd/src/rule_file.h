#pragma once

// Prometheus rule files (rulefmt, as Prometheus 2.42 reads them), with one vigil extension:
// a group's `source: logs` makes its expressions LogQL metric queries (against logship) instead
// of PromQL. Files without it are exactly Prometheus' and stay valid for promtool.
//
//   groups:
//     - name: node            # unique in the file
//       interval: 1m          # optional; the global evaluation interval otherwise
//       limit: 0              # optional; most alerts (series) a rule may produce, 0: no limit
//       source: logs          # optional, vigil's: LogQL
//       rules:
//         - alert: NodeDown   # or record: level:metric:op
//           expr: up == 0
//           for: 5m
//           keep_firing_for: 1m
//           labels: {severity: page}
//           annotations: {summary: "{{ $labels.instance }} is down"}
//
// Loading checks everything promtool's `check rules` checks (YAML shape and unknown keys, names,
// PromQL, templates) plus LogQL for log groups; every error names the file, line and column.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "template.h"
#include "vigil/common/status.h"

namespace vigil::alertd {

using std::chrono::milliseconds;

struct RuleSpec {
  std::string alert;   // an alerting rule's name, or
  std::string record;  // a recording rule's metric name
  std::string expr;
  milliseconds for_{0};
  milliseconds keep_firing_for{0};
  // In file order; alerting rules' values are templates (parsed alongside).
  std::vector<std::pair<std::string, std::string>> labels;
  std::vector<std::pair<std::string, std::string>> annotations;
  std::vector<Template> label_templates;
  std::vector<Template> annotation_templates;
  int line = 0;  // of the rule's first key

  bool is_alert() const { return !alert.empty(); }
  const std::string& name() const { return is_alert() ? alert : record; }
};

enum class Source { kMetrics, kLogs };

struct GroupSpec {
  std::string file;
  std::string name;
  milliseconds interval{0};  // 0: the default
  int64_t limit = 0;
  Source source = Source::kMetrics;
  std::vector<RuleSpec> rules;
  int line = 0;
};

// Parses one file's text; `file` names it in errors. Checks the expressions and templates.
Result<std::vector<GroupSpec>> ParseRuleFile(std::string_view text, const std::string& file);
// Reads and parses a file.
Result<std::vector<GroupSpec>> LoadRuleFile(const std::string& path);
// Expands globs (as --rules takes them) into file names, sorted; a pattern that matches nothing
// is an error naming it.
Result<std::vector<std::string>> ExpandRuleGlobs(const std::vector<std::string>& patterns);

}  // namespace vigil::alertd
