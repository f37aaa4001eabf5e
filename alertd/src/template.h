#pragma once

// The Go-template subset Prometheus' alert labels and annotations use, executed as Prometheus
// 2.42 does (text/template with missingkey=zero and its template functions):
//
//   {{ $labels.instance }}  {{ $value }}  {{ $externalLabels.cluster }}  {{ $externalURL }}
//   {{ .Labels.job }}  {{ .Value }}            the same through the data
//   {{ $value | humanize }}  humanize1024  humanizePercentage  humanizeDuration
//   {{ printf "%.2f" $value }}  toUpper  toLower  title  reReplaceAll "re" "repl" text
//   {{ with query "up" }}{{ . | first | value }}{{ end }}  first  value  label "name" sample
//   {{ if gt $value 10.0 }}…{{ else if … }}…{{ else }}…{{ end }}   with … else … end
//   eq ne lt le gt ge and or not len index print, {{- trims -}}, {{/* comments */}}
//
// Anything else (range, define, template, block, unknown functions) fails at parse time, so a
// rule file with it fails to load. Parse errors read "template: <line>:<col>: <what>".

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/common/labels.h"
#include "vigil/common/status.h"

namespace vigil::alertd {

// One sample of an instant query: what rules evaluate to and what `query` gives templates.
struct Sample {
  Labels labels;
  double value = 0;
};
// Runs `query "expr"` at the evaluation's time.
using TemplateQueryFunc = std::function<Result<std::vector<Sample>>(std::string_view)>;

// What a rule's template sees: the alert's labels and value, the external labels and URL.
struct TemplateData {
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> external_labels;
  std::string external_url;
  double value = 0;
};

class Template {
 public:
  struct Node;
  // Parses `text`. The error names the line and column within it.
  static Result<Template> Parse(std::string_view text);
  // Expands the template. Errors are execution errors ("error calling query: …").
  Result<std::string> Execute(const TemplateData& data, const TemplateQueryFunc& query) const;
  // True if the text has no action: expanding is a copy.
  bool literal() const { return literal_; }

 private:
  std::shared_ptr<const Node> root_;
  std::string text_;
  bool literal_ = true;
};

}  // namespace vigil::alertd
