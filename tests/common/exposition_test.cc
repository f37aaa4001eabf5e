#include "vigil/common/exposition.h"

#include <gtest/gtest.h>

#include <cmath>

namespace vigil::expo {
namespace {

TEST(ExpositionTest, ParsesTheTextFormat) {
  const char* body = R"(# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# A normal comment.
msdos_file_access_time_seconds{path="C:\\DIR\\FILE.TXT",error="Cannot find file:\n\"FILE.TXT\""} 1.458255915e9
metric_without_timestamp_and_labels 12.47
something_weird{problem="division by zero"} +Inf -3982045
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320
trailing_comma{a="b",} NaN
)";
  auto r = Parse(body, Format::kText);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const auto& fams = *r;
  ASSERT_EQ(fams.size(), 6u);
  EXPECT_EQ(fams[0].name, "http_requests_total");
  EXPECT_EQ(fams[0].type, MetricType::kCounter);
  EXPECT_EQ(fams[0].help, "The total number of HTTP requests.");
  ASSERT_EQ(fams[0].samples.size(), 2u);
  EXPECT_EQ(fams[0].samples[1].labels.Get("code"), "400");
  EXPECT_EQ(fams[0].samples[1].value, 3);
  EXPECT_EQ(*fams[0].samples[1].timestamp_ms, 1395066363000);
  EXPECT_EQ(fams[1].samples[0].labels.Get("path"), "C:\\DIR\\FILE.TXT");
  EXPECT_EQ(fams[1].samples[0].labels.Get("error"), "Cannot find file:\n\"FILE.TXT\"");
  EXPECT_EQ(fams[1].type, MetricType::kUnknown);
  EXPECT_FALSE(fams[2].samples[0].timestamp_ms.has_value());
  EXPECT_TRUE(std::isinf(fams[3].samples[0].value));
  EXPECT_EQ(*fams[3].samples[0].timestamp_ms, -3982045);
  EXPECT_EQ(fams[4].type, MetricType::kHistogram);
  EXPECT_EQ(fams[4].samples.size(), 4u);
  EXPECT_EQ(fams[4].samples[1].labels.Get("le"), "+Inf");
  EXPECT_TRUE(std::isnan(fams[5].samples[0].value));
}

TEST(ExpositionTest, ParsesOpenMetrics) {
  const char* body = R"(# TYPE acme_http_router_request_seconds summary
# UNIT acme_http_router_request_seconds seconds
# HELP acme_http_router_request_seconds Latency though all of ACME's HTTP request router.
acme_http_router_request_seconds_sum{path="/api/v1",method="GET"} 9036.32
acme_http_router_request_seconds_count{path="/api/v1",method="GET"} 807283.0
acme_http_router_request_seconds_created{path="/api/v1",method="GET"} 1605281325.0
# TYPE foo counter
foo_total 17.0 1520879607.789 # {trace_id="KOO5S4vxi0o"} 0.67
foo_created 1520872607.123
# TYPE hist histogram
hist_bucket{le="1"} 0 # {trace_id="a"} 0.5 123.4
hist_bucket{le="+Inf"} 3
hist_count 3
hist_sum 2
# EOF
)";
  auto r = Parse(body, Format::kOpenMetrics);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].unit, "seconds");
  EXPECT_EQ((*r)[0].type, MetricType::kSummary);
  EXPECT_EQ((*r)[0].samples.size(), 3u);
  EXPECT_EQ((*r)[1].name, "foo");
  ASSERT_EQ((*r)[1].samples.size(), 2u);
  EXPECT_EQ((*r)[1].samples[0].labels.MetricName(), "foo_total");
  EXPECT_EQ(*(*r)[1].samples[0].timestamp_ms, 1520879607789);  // seconds -> ms
  EXPECT_EQ((*r)[2].samples.size(), 4u);
}

struct BadCase {
  const char* body;
  Format format;
  const char* error;
};

TEST(ExpositionTest, ErrorsNameLineColumnAndWhat) {
  const BadCase cases[] = {
      {"up 1\nup{job=\"a} 1\n", Format::kText, "line 2, column 13: unterminated label value"},
      {"up{job=a} 1\n", Format::kText, "line 1, column 8: expected '\"' to open a label value"},
      {"up{job=\"a\" x=\"b\"} 1\n", Format::kText,
       "line 1, column 12: expected ',' or '}' after a label, got 'x'"},
      {"up 1x\n", Format::kText, "line 1, column 4: invalid value \"1x\""},
      {"up 1 12.5\n", Format::kText, "line 1, column 6: invalid timestamp \"12.5\""},
      {"up{a=\"1\",a=\"2\"} 1\n", Format::kText, "line 1, column 10: duplicate label name \"a\""},
      {"# TYPE up gaugee\n", Format::kText, "line 1, column 11: invalid metric type \"gaugee\""},
      {"up{a=\"\\q\"} 1\n", Format::kText, "invalid escape sequence in label value: \\q"},
      {"up{a=\"\xff\"} 1\n", Format::kText, "label value is not valid UTF-8"},
      {"up\n", Format::kText, "line 1, column 3: expected ' ' before the value, got end of line"},
      {"{a=\"b\"} 1\n", Format::kText, "line 1, column 1: expected a metric name or '#'"},
      {"up 1\n", Format::kOpenMetrics, "expected \"# EOF\" at the end"},
      {"up 1\n# EOF\nmore 2\n", Format::kOpenMetrics, "line 3, column 1: content after # EOF"},
      {"# TYPE foo counter\nfoo 1\n# EOF\n", Format::kOpenMetrics,
       "sample \"foo\" does not belong to family \"foo\" of type counter"},
      {"foo_total 1 # {a=\"b\"}\n# EOF\n", Format::kOpenMetrics,
       "expected ' ' before the exemplar value"},
      {"# random comment\n# EOF\n", Format::kOpenMetrics,
       "expected HELP, TYPE, UNIT or EOF after '# ', got \"random\""},
      {"# UNIT foo_seconds bytes\n# EOF\n", Format::kOpenMetrics,
       "unit \"bytes\" is not a suffix of the metric name"},
      {"up 1\n\n# EOF\n", Format::kOpenMetrics, "line 2, column 1: empty line"},
  };
  for (const auto& c : cases) {
    auto r = Parse(c.body, c.format);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(c.error), std::string::npos)
        << "body: " << c.body << "\nerror: " << r.status().message() << "\nwant: " << c.error;
  }
}

TEST(ExpositionTest, LimitsBoundTheWork) {
  ParseLimits limits;
  limits.max_samples = 2;
  EXPECT_NE(Parse("a 1\nb 2\nc 3\n", Format::kText, limits)
                .status()
                .message()
                .find("more than 2 samples"),
            std::string::npos);
  limits = {};
  limits.max_label_value_bytes = 4;
  EXPECT_FALSE(Parse("a{x=\"12345\"} 1\n", Format::kText, limits).ok());
  limits = {};
  limits.max_labels_per_sample = 2;  // __name__ counts
  EXPECT_FALSE(Parse("a{x=\"1\",y=\"2\"} 1\n", Format::kText, limits).ok());
}

TEST(ExpositionTest, WritesWhatItParses) {
  std::vector<Family> fams(2);
  fams[0].name = "vigil_requests";
  fams[0].type = MetricType::kCounter;
  fams[0].help = "Requests.\nSecond line with \\ backslash.";
  fams[0].samples.push_back(
      {Labels{{"__name__", "vigil_requests_total"}, {"path", "a\"b\\c\nd"}}, 1e6, 1700000000123});
  fams[1].name = "temp_celsius";
  fams[1].type = MetricType::kGauge;
  fams[1].unit = "celsius";
  fams[1].samples.push_back({Labels{{"__name__", "temp_celsius"}}, -0.5, std::nullopt});
  fams[1].samples.push_back({Labels{{"__name__", "temp_celsius"}, {"z", "1"}},
                             std::numeric_limits<double>::infinity(), std::nullopt});
  for (Format f : {Format::kText, Format::kOpenMetrics}) {
    std::string text = Write(fams, f);
    auto back = Parse(text, f);
    ASSERT_TRUE(back.ok()) << back.status().ToString() << "\n" << text;
    ASSERT_EQ(back->size(), 2u) << text;
    EXPECT_EQ((*back)[0].help, fams[0].help);
    EXPECT_EQ((*back)[0].samples[0].labels, fams[0].samples[0].labels);
    EXPECT_EQ((*back)[0].samples[0].value, 1e6);
    EXPECT_EQ((*back)[0].samples[0].timestamp_ms, 1700000000123);
    EXPECT_EQ((*back)[1].samples.size(), 2u);
    EXPECT_TRUE(std::isinf((*back)[1].samples[1].value));
    if (f == Format::kOpenMetrics) {
      EXPECT_EQ((*back)[1].unit, "celsius");
      EXPECT_TRUE(text.ends_with("# EOF\n"));
      EXPECT_NE(text.find(" 1700000000.123\n"), std::string::npos) << text;
    } else {
      EXPECT_NE(text.find("# TYPE vigil_requests counter\n"), std::string::npos);
      EXPECT_NE(text.find("vigil_requests_total{path=\"a\\\"b\\\\c\\nd\"} 1e+06 1700000000123\n"),
                std::string::npos)
          << text;
    }
  }
}

TEST(ExpositionTest, FormatsValuesLikeGo) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(1), "1");
  EXPECT_EQ(FormatValue(-0.5), "-0.5");
  EXPECT_EQ(FormatValue(123456), "123456");
  EXPECT_EQ(FormatValue(1234567), "1.234567e+06");
  EXPECT_EQ(FormatValue(0.0001), "0.0001");
  EXPECT_EQ(FormatValue(0.00001), "1e-05");
  EXPECT_EQ(FormatValue(1.5e300), "1.5e+300");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
}

}  // namespace
}  // namespace vigil::expo
