#include "scrape_config.h"

#include <gtest/gtest.h>

#include "relabel.h"
#include "scraper.h"

namespace vigil::agent {
namespace {

using std::chrono::milliseconds;

ScrapeConfigFile MustParse(const std::string& yaml) {
  auto c = ParseScrapeConfig(yaml, "s.yml", milliseconds(15'000));
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? *c : ScrapeConfigFile{};
}

std::string ErrorOf(const std::string& yaml) {
  auto c = ParseScrapeConfig(yaml, "s.yml", milliseconds(15'000));
  return c.ok() ? "" : c.status().message();
}

TEST(ScrapeConfigTest, DefaultsComeFromGlobalThenTheAgentInterval) {
  auto c = MustParse(R"(
global: {scrape_interval: 30s}
scrape_configs:
  - job_name: a
    static_configs: [{targets: ["h:1"]}]
  - job_name: b
    scrape_interval: 5s
    scrape_timeout: 2s
    metrics_path: /m
    scheme: https
    params: {module: [x, y]}
    honor_labels: true
    honor_timestamps: false
    sample_limit: 100
    body_size_limit: 1MiB
)");
  ASSERT_EQ(c.jobs.size(), 2u);
  EXPECT_EQ(c.jobs[0].interval, milliseconds(30'000));
  EXPECT_EQ(c.jobs[0].timeout, milliseconds(10'000));
  EXPECT_EQ(c.jobs[1].interval, milliseconds(5'000));
  EXPECT_EQ(c.jobs[1].timeout, milliseconds(2'000));
  EXPECT_EQ(c.jobs[1].metrics_path, "/m");
  EXPECT_EQ(c.jobs[1].params.at("module"), (std::vector<std::string>{"x", "y"}));
  EXPECT_TRUE(c.jobs[1].honor_labels);
  EXPECT_FALSE(c.jobs[1].honor_timestamps);
  EXPECT_EQ(c.jobs[1].sample_limit, 100u);
  EXPECT_EQ(c.jobs[1].body_size_limit, 1u << 20);
  // Without global, the agent's interval; the timeout is capped by it.
  auto d = ParseScrapeConfig("scrape_configs: [{job_name: x}]", "s", milliseconds(5'000));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->jobs[0].interval, milliseconds(5'000));
  EXPECT_EQ(d->jobs[0].timeout, milliseconds(5'000));
}

TEST(ScrapeConfigTest, ErrorsNameFileLineColumnAndWhat) {
  EXPECT_EQ(ErrorOf("scrape_configs:\n  - job_name: a\n    scrape_intervl: 5s\n"),
            "s.yml:3:5: scrape_configs: unknown key \"scrape_intervl\"");
  EXPECT_EQ(ErrorOf("scrape_configs:\n  - job_name: a\n    kubernetes_sd_configs: []\n"),
            "s.yml:3:5: scrape_configs: \"kubernetes_sd_configs\" is valid in Prometheus but "
            "not supported by the vigil agent");
  EXPECT_EQ(
      ErrorOf("scrape_configs:\n  - job_name: a\n    scrape_interval: 5 s\n"),
      "s.yml:3:22: scrape_interval: invalid duration \"5 s\": expected a unit (y, w, d, h, m, s, "
      "ms) in order at position 1");
  EXPECT_EQ(ErrorOf("scrape_configs:\n  - job_name: a\n  - job_name: a\n"),
            "s.yml:3:5: found multiple scrape configs with job name \"a\"");
  EXPECT_EQ(ErrorOf("scrape_configs:\n  - job_name: a\n    relabel_configs:\n"
                    "      - {regex: \"(\", action: drop}\n"),
            "s.yml:4:17: regex: invalid regex \"(\": missing ): (");
  EXPECT_EQ(ErrorOf("scrape_configs:\n  - job_name: a\n    relabel_configs:\n"
                    "      - {action: explode}\n"),
            "s.yml:4:18: action: \"explode\" is not one of replace, keep, drop, labelmap, "
            "labeldrop, labelkeep, lowercase, uppercase");
  EXPECT_EQ(ErrorOf("scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n"
                    "    scrape_timeout: 10s\n"),
            "s.yml: job \"a\": scrape timeout 10s greater than scrape interval 5s");
  EXPECT_EQ(ErrorOf("scrape_configs: [{job_name: a, static_configs: [{targets: h}]}]"),
            "s.yml:1:59: targets: expected a list of strings");
  EXPECT_EQ(ErrorOf("scrape_configs: [{]"), "s.yml:1:19: illegal flow end");
  EXPECT_EQ(ErrorOf("scrape_configs:\n  - scheme: http\n"),
            "s.yml:2:5: scrape_configs: job_name is required");
}

// Relabels `labels` (name=value, ...) with the rules of a scrape config's relabel_configs.
std::string RelabelWith(const std::string& rules, Labels labels) {
  auto c = MustParse("scrape_configs:\n  - job_name: j\n    relabel_configs:\n" + rules);
  if (c.jobs.empty()) return "parse error";
  LabelsBuilder lb(labels);
  if (!Relabel(c.jobs[0].relabel_configs, lb)) return "dropped";
  return lb.Build().ToString();
}

TEST(RelabelTest, ActionsAsPrometheus) {
  const Labels in{{"__address__", "10.0.0.1:9100"}, {"env", "prod"}, {"__meta_x_team", "db"}};
  EXPECT_EQ(RelabelWith("      - {source_labels: [__address__], regex: '(.*):\\d+', "
                        "target_label: host, replacement: 'h-$1'}\n",
                        in),
            "{__address__=\"10.0.0.1:9100\", __meta_x_team=\"db\", env=\"prod\", "
            "host=\"h-10.0.0.1\"}");
  // No match: nothing changes. An empty result removes the target label.
  EXPECT_EQ(RelabelWith("      - {source_labels: [env], regex: 'dev', target_label: env, "
                        "replacement: x}\n",
                        in),
            in.ToString());
  EXPECT_EQ(RelabelWith("      - {source_labels: [env], target_label: env, replacement: ''}\n", in),
            "{__address__=\"10.0.0.1:9100\", __meta_x_team=\"db\"}");
  EXPECT_EQ(RelabelWith("      - {source_labels: [env], regex: prod, action: keep}\n", in),
            in.ToString());
  EXPECT_EQ(RelabelWith("      - {source_labels: [env], regex: prod, action: drop}\n", in),
            "dropped");
  EXPECT_EQ(RelabelWith("      - {source_labels: [env], regex: pro, action: keep}\n", in),
            "dropped")
      << "the regex is anchored at both ends";
  EXPECT_EQ(RelabelWith("      - {regex: '__meta_x_(.+)', action: labelmap}\n", in),
            "{__address__=\"10.0.0.1:9100\", __meta_x_team=\"db\", env=\"prod\", team=\"db\"}");
  EXPECT_EQ(RelabelWith("      - {regex: '__meta_.*', action: labeldrop}\n", in),
            "{__address__=\"10.0.0.1:9100\", env=\"prod\"}");
  EXPECT_EQ(RelabelWith("      - {regex: '__address__|env', action: labelkeep}\n", in),
            "{__address__=\"10.0.0.1:9100\", env=\"prod\"}");
  EXPECT_EQ(RelabelWith("      - {source_labels: [env, __meta_x_team], separator: '/', "
                        "target_label: path}\n",
                        in),
            "{__address__=\"10.0.0.1:9100\", __meta_x_team=\"db\", env=\"prod\", "
            "path=\"prod/db\"}");
  EXPECT_EQ(RelabelWith("      - {source_labels: [env], target_label: e, action: uppercase}\n", in),
            "{__address__=\"10.0.0.1:9100\", __meta_x_team=\"db\", e=\"PROD\", env=\"prod\"}");
}

TEST(RelabelTest, TemplatesExpandAsGoRegexpExpand) {
  RE2 re("(?P<a>x)(y)");
  std::vector<re2::StringPiece> g(3);
  ASSERT_TRUE(re.Match("xy", 0, 2, RE2::ANCHOR_BOTH, g.data(), 3));
  EXPECT_EQ(ExpandTemplate("$1-${2}-$a-${a}-$$-$", re, g), "x-y-x-x-$-$");
  EXPECT_EQ(ExpandTemplate("$1x", re, g), "") << "$1x names group \"1x\", which is empty";
  EXPECT_EQ(ExpandTemplate("${1}x $9 ${bad-name}", re, g), "xx  ${bad-name}");
}

TEST(PopulateTargetsTest, LabelsAddressesAndUrls) {
  auto c = MustParse(R"(
scrape_configs:
  - job_name: blackbox
    metrics_path: /probe
    params: {module: [http_2xx]}
    relabel_configs:
      - {source_labels: [__address__], target_label: __param_target}
      - {source_labels: [__param_target], target_label: instance}
      - {target_label: __address__, replacement: "127.0.0.1:9115"}
  - job_name: plain
    scheme: https
)");
  auto bb = std::make_shared<const ScrapeJob>(c.jobs[0]);
  auto targets = PopulateTargets(bb, {{"https://example.org"}, Labels{{"zone", "a"}}, ""});
  ASSERT_EQ(targets.size(), 1u);
  EXPECT_EQ(targets[0].url,
            "http://127.0.0.1:9115/probe?module=http_2xx&target=https%3A%2F%2Fexample.org");
  EXPECT_EQ(targets[0].labels.ToString(),
            "{instance=\"https://example.org\", job=\"blackbox\", zone=\"a\"}");
  auto plain = std::make_shared<const ScrapeJob>(c.jobs[1]);
  targets = PopulateTargets(plain, {{"node1", "bad/addr"}, {}, "/sd/file.json"});
  ASSERT_EQ(targets.size(), 1u) << "an address with a path is skipped";
  EXPECT_EQ(targets[0].url, "https://node1:443/metrics");
  EXPECT_EQ(targets[0].labels.ToString(), "{instance=\"node1:443\", job=\"plain\"}");
}

TEST(TargetGroupsTest, JsonAndYamlFiles) {
  auto json = ParseTargetGroups(R"([{"targets": ["a:1", "b:2"], "labels": {"x": "y"}}])", "f");
  ASSERT_TRUE(json.ok()) << json.status().ToString();
  ASSERT_EQ(json->size(), 1u);
  EXPECT_EQ((*json)[0].targets, (std::vector<std::string>{"a:1", "b:2"}));
  EXPECT_EQ((*json)[0].labels.Get("x"), "y");
  EXPECT_EQ((*json)[0].source, "f");
  auto yaml = ParseTargetGroups("- targets: [c:3]\n", "g");
  ASSERT_TRUE(yaml.ok());
  EXPECT_EQ((*yaml)[0].targets[0], "c:3");
  auto bad = ParseTargetGroups(R"([{"targets": ["a:1"], "labels": {"0x": "y"}}])", "f");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "f:1:34: labels: \"0x\" is not a valid label name");
}

}  // namespace
}  // namespace vigil::agent
