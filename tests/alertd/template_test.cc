#include "template.h"

#include <gtest/gtest.h>

namespace vigil::alertd {
namespace {

std::string Expand(const std::string& text, double value = 0,
                   const TemplateQueryFunc& query = nullptr) {
  auto t = Template::Parse(text);
  if (!t.ok()) return "parse: " + t.status().message();
  TemplateData d;
  d.labels = {{"instance", "a:1"}, {"job", "node"}};
  d.external_labels = {{"cluster", "east"}};
  d.external_url = "http://x";
  d.value = value;
  auto r = t->Execute(d, query);
  return r.ok() ? *r : "exec: " + r.status().message();
}

TEST(TemplateTest, VariablesAndData) {
  EXPECT_EQ(Expand("{{ $labels.instance }}/{{ .Labels.job }} {{ $value }} {{ .Value }}", 1.5),
            "a:1/node 1.5 1.5");
  EXPECT_EQ(Expand("{{ $externalLabels.cluster }} {{ $externalURL }} [{{ $labels.none }}]"),
            "east http://x []");
  EXPECT_EQ(Expand("{{ $value }}", 1e6), "1e+06");
  EXPECT_EQ(Expand("plain text"), "plain text");
}

TEST(TemplateTest, FunctionsAsPrometheus) {
  EXPECT_EQ(Expand("{{ humanize 1234567.0 }} {{ humanize 0.0 }} {{ humanize -0.5 }}"),
            "1.235M 0 -500m");
  EXPECT_EQ(Expand("{{ humanize1024 1536.0 }}"), "1.5ki");
  EXPECT_EQ(Expand("{{ humanizeDuration 86400.0 }} {{ humanizeDuration -61.0 }}"),
            "1d 0h 0m 0s -1m 1s");
  EXPECT_EQ(Expand("{{ humanizePercentage 0.5 }}"), "50%");
  EXPECT_EQ(Expand("{{ humanize \"1000\" }}"), "1k");
  EXPECT_EQ(Expand("{{ printf \"%d%%\" 5 }} {{ printf \"%s\" 1.5 }}"), "5% %!s(float64=1.5)");
  EXPECT_EQ(Expand("{{ printf \"%d %d\" 1 }}"), "1 %!d(MISSING)");
}

TEST(TemplateTest, QueryFirstValueLabel) {
  TemplateQueryFunc q = [](std::string_view expr) -> Result<std::vector<Sample>> {
    if (expr == "bad") return InvalidArgument("parse error");
    if (expr == "none") return std::vector<Sample>{};
    return std::vector<Sample>{{Labels{{"pod", "p1"}}, 3}, {Labels{{"pod", "p2"}}, 4}};
  };
  EXPECT_EQ(
      Expand("{{ query \"x\" | first | value }} {{ query \"x\" | first | label \"pod\" }}", 0, q),
      "3 p1");
  EXPECT_EQ(Expand("{{ with query \"none\" }}some{{ else }}none{{ end }}", 0, q), "none");
  EXPECT_EQ(Expand("{{ (index (query \"x\") 1).Value }}", 0, q), "4");
  EXPECT_EQ(Expand("{{ query \"bad\" }}", 0, q), "exec: error calling query: parse error");
  EXPECT_EQ(Expand("{{ query \"none\" | first }}", 0, q),
            "exec: error calling first: first() called on vector with no elements");
}

TEST(TemplateTest, ParseErrorsNameThePosition) {
  EXPECT_EQ(Expand("a\n{{ humanise $value }}"),
            "parse: template: 2:4: function \"humanise\" not defined");
  EXPECT_EQ(Expand("{{ range $labels }}x{{ end }}"),
            "parse: template: 1:4: \"range\" is not supported in vigil's templates");
  EXPECT_EQ(Expand("{{ $nope }}"), "parse: template: 1:4: undefined variable \"$nope\"");
  EXPECT_EQ(Expand("{{ if 1 }}x"), "parse: template: 1:4: unexpected EOF: {{if}} without {{end}}");
  // Actions inside the branch re-tokenize; the keyword named in the error must outlive them
  // (a use after free the fuzzer found).
  EXPECT_EQ(Expand("{{ with 1 }}{{ $labels.instance_name_longer_than_sso }}"),
            "parse: template: 1:4: unexpected EOF: {{with}} without {{end}}");
  EXPECT_EQ(Expand("{{ \"x }}"), "parse: template: 1:4: unterminated quoted string");
  EXPECT_EQ(Expand("{{ end }}"), "parse: template: 1:1: unexpected {{end}}");
  EXPECT_EQ(Expand("{{ 1 2 }}"), "parse: template: 1:1: can't give argument to non-function");
  EXPECT_EQ(Expand("{{"), "parse: template: 1:1: unclosed action");
}

TEST(TemplateTest, OutputIsBounded) {
  TemplateQueryFunc q = [](std::string_view) -> Result<std::vector<Sample>> {
    return std::vector<Sample>{};
  };
  std::string big(600 << 10, 'x');
  auto t = Template::Parse("{{ $labels.big }}{{ $labels.big }}");
  ASSERT_TRUE(t.ok());
  TemplateData d;
  d.labels["big"] = big;
  auto r = t->Execute(d, q);
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace vigil::alertd
