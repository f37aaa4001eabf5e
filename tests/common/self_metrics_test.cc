// The self metrics as /metrics serves them: our writer over prometheus-cpp's registry, in both
// formats, parsed back by the strict parser.

#include "vigil/common/self_metrics.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace vigil {
namespace {

const expo::Family* Find(const std::vector<expo::Family>& families, std::string_view name) {
  for (const auto& f : families) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

TEST(SelfMetricsTest, BothFormatsParseBackWithEveryKind) {
  auto& counters = prometheus::BuildCounter()
                       .Name("vigil_test_events_total")
                       .Help("Events, with a \"quoted\" help and a \\ backslash.")
                       .Register(SelfMetrics());
  counters.Add({{"kind", "a\"b\\c\nd"}}).Increment(3);
  auto& histogram = prometheus::BuildHistogram()
                        .Name("vigil_test_seconds")
                        .Help("Durations.")
                        .Register(SelfMetrics())
                        .Add({{"op", "x"}}, prometheus::Histogram::BucketBoundaries{0.5, 1});
  histogram.Observe(0.25);
  histogram.Observe(2);

  auto text = expo::Parse(SerializeSelfMetrics(), expo::Format::kText);
  ASSERT_TRUE(text.ok()) << text.status().ToString() << "\n" << SerializeSelfMetrics();
  std::string om;
  AppendSelfMetrics(om, expo::Format::kOpenMetrics);
  expo::AppendEnd(om, expo::Format::kOpenMetrics);
  auto open = expo::Parse(om, expo::Format::kOpenMetrics);
  ASSERT_TRUE(open.ok()) << open.status().ToString() << "\n" << om;

  const expo::Family* events = Find(*text, "vigil_test_events_total");
  ASSERT_NE(events, nullptr);
  EXPECT_EQ(events->type, expo::MetricType::kCounter);
  ASSERT_EQ(events->samples.size(), 1u);
  EXPECT_EQ(events->samples[0].labels.Get("kind"), "a\"b\\c\nd");
  EXPECT_EQ(events->samples[0].value, 3);
  EXPECT_NE(Find(*open, "vigil_test_events"), nullptr);  // OpenMetrics names it without _total

  for (const auto* families : {&*text, &*open}) {
    const expo::Family* seconds = Find(*families, "vigil_test_seconds");
    ASSERT_NE(seconds, nullptr);
    EXPECT_EQ(seconds->type, expo::MetricType::kHistogram);
    std::map<std::string, double> got;
    for (const auto& s : seconds->samples) {
      got[std::string(s.labels.MetricName()) + "/" + std::string(s.labels.Get("le"))] = s.value;
    }
    EXPECT_EQ(got["vigil_test_seconds_bucket/0.5"], 1);
    EXPECT_EQ(got["vigil_test_seconds_bucket/1"], 1);
    EXPECT_EQ(got["vigil_test_seconds_bucket/+Inf"], 2);
    EXPECT_EQ(got["vigil_test_seconds_sum/"], 2.25);
    EXPECT_EQ(got["vigil_test_seconds_count/"], 2);
  }

  auto value = [&](std::string_view name) {
    const expo::Family* f = Find(*text, name);
    EXPECT_NE(f, nullptr) << name;
    return f && !f->samples.empty() ? f->samples[0].value : -1;
  };
  EXPECT_GT(value("process_cpu_seconds_total"), 0);
  EXPECT_GT(value("process_resident_memory_bytes"), 1 << 20);
  EXPECT_GE(value("process_virtual_memory_bytes"), value("process_resident_memory_bytes"));
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_GT(value("process_start_time_seconds"), now - 3600);
  EXPECT_LE(value("process_start_time_seconds"), now + 1);
  size_t fds = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    (void)e;
    ++fds;
  }
  // The listing holds one descriptor of its own; the collector keeps two open.
  EXPECT_NEAR(value("process_open_fds"), static_cast<double>(fds), 3);
}

}  // namespace
}  // namespace vigil
