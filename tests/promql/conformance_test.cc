// Runs Prometheus 2.42's own PromQL test scripts (../shared/conformance/promql/*.test) against
// the engine on a real RocksDbStore: each file a test, each eval counted. Evals known to fail are
// listed with their reason in docs/promql-conformance.md; an unlisted failure fails the test, and
// so does a listed eval that now passes (the list must stay true).

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "testing.h"
#include "vigil/common/duration.h"
#include "vigil/tsdb/promql/engine.h"
#include "vigil/tsdb/promql/parser.h"
#include "vigil/tsdb/promql/series_notation.h"
#include "vigil/tsdb/rocksdb_store.h"

namespace vigil::promql {
namespace {

namespace fs = std::filesystem;

// ../shared/conformance/promql beside the checkout; for a clone of a local checkout (CI clones
// the team's), beside that checkout; $VIGIL_SHARED_DIR overrides both.
fs::path ConformanceDir() {
  const fs::path rel = fs::path("conformance") / "promql";
  if (const char* dir = std::getenv("VIGIL_SHARED_DIR")) return fs::path(dir) / rel;
  const fs::path here = fs::path(VIGIL_SOURCE_DIR) / ".." / "shared" / rel;
  if (fs::exists(here) || std::string(VIGIL_ORIGIN_DIR).empty()) return here;
  return fs::path(VIGIL_ORIGIN_DIR) / ".." / "shared" / rel;
}

std::string Trim(std::string_view s) {
  size_t a = s.find_first_not_of(" \t\r");
  if (a == std::string_view::npos) return "";
  size_t b = s.find_last_not_of(" \t\r");
  return std::string(s.substr(a, b - a + 1));
}

bool AlmostEqual(double a, double b) {
  if (std::isnan(a) && std::isnan(b)) return true;
  if (a == b) return true;
  const double diff = std::fabs(a - b);
  constexpr double kMinNormal = 2.2250738585072014e-308;
  if (a == 0 || b == 0 || diff < kMinNormal) return diff < 1e-6 * kMinNormal;
  return diff / (std::fabs(a) + std::fabs(b)) < 1e-6;
}

struct Outcome {
  int passed = 0;
  std::vector<std::pair<int, std::string>> failed;  // line, why
};

class ScriptRunner {
 public:
  explicit ScriptRunner(const fs::path& file) : file_(file) {}

  Outcome Run() {
    std::ifstream in(file_);
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    NewStore();
    Outcome out;
    for (size_t i = 0; i < lines.size(); ++i) {
      const std::string line = Trim(lines[i]);
      if (line.empty() || line[0] == '#') continue;
      if (line == "clear") {
        NewStore();
        continue;
      }
      if (line.rfind("load ", 0) == 0) {
        auto step = ParseDuration(Trim(line.substr(5)));
        EXPECT_TRUE(step.ok()) << file_ << ":" << i + 1;
        // As Prometheus' test loader: a series defined twice in one block keeps the last
        // definition.
        std::map<Labels, std::vector<std::optional<double>>> defs;
        std::vector<Labels> order;
        while (i + 1 < lines.size() && !lines[i + 1].empty() &&
               (lines[i + 1][0] == ' ' || lines[i + 1][0] == '\t')) {
          ++i;
          const std::string def = Trim(lines[i]);
          if (def.empty() || def[0] == '#') continue;
          auto d = ParseSeriesDescription(def);
          if (!d.ok()) {
            ADD_FAILURE() << file_ << ":" << i + 1 << ": " << d.status().ToString();
            continue;
          }
          const Labels& labels = d->labels;
          std::vector<std::optional<double>>& values = d->values;
          if (!defs.count(labels)) order.push_back(labels);
          defs[labels] = std::move(values);
        }
        auto app = store_->NewAppender();
        for (const Labels& labels : order) {
          const auto& values = defs[labels];
          for (size_t k = 0; k < values.size(); ++k) {
            if (!values[k]) continue;
            auto r = app->Append(0, labels, static_cast<int64_t>(k) * step->count(), *values[k]);
            if (!r.ok()) {
              ADD_FAILURE() << file_ << ":" << labels.ToString() << ": " << r.status().ToString();
            }
          }
        }
        EXPECT_TRUE(app->Commit().ok());
        continue;
      }
      if (line.rfind("eval", 0) == 0) {
        const size_t eval_line = i + 1;
        std::istringstream hs(line);
        std::string kind, instant, at, when;
        hs >> kind >> instant >> at >> when;
        std::string expr;
        std::getline(hs, expr);
        expr = Trim(expr);
        std::vector<std::string> expected;
        while (i + 1 < lines.size() && !lines[i + 1].empty() &&
               (lines[i + 1][0] == ' ' || lines[i + 1][0] == '\t')) {
          ++i;
          const std::string x = Trim(lines[i]);
          if (!x.empty() && x[0] != '#') expected.push_back(x);
        }
        auto t = ParseDuration(when);
        std::string why = Check(kind, expr, t.ok() ? t->count() : 0, expected);
        if (why.empty()) {
          ++out.passed;
        } else {
          out.failed.emplace_back(static_cast<int>(eval_line), expr + ": " + why);
        }
        continue;
      }
      ADD_FAILURE() << file_ << ":" << i + 1 << ": unknown command " << line;
    }
    return out;
  }

 private:
  void NewStore() {
    store_.reset();
    dirs_.push_back(std::make_unique<testing::TempDir>());
    tsdb::StoreOptions opts;
    opts.dir = dirs_.back()->Join("db");
    opts.sync_wal = false;
    opts.clock = std::make_shared<ManualClock>(Clock::SystemTime(std::chrono::milliseconds(0)));
    opts.retention = std::chrono::hours(24 * 365 * 100);
    auto s = tsdb::RocksDbStore::Open(opts);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
  }

  // "" when the eval holds, else why not.
  std::string Check(const std::string& kind, const std::string& expr, int64_t t,
                    const std::vector<std::string>& expected) {
    auto res = engine_.Instant(*store_, expr, t);
    if (kind == "eval_fail") return res.ok() ? "expected an error, got a result" : "";
    if (!res.ok()) return "error: " + res.status().ToString();
    const QueryResult& r = *res;
    if (r.type == ValueType::kScalar) {
      if (expected.size() != 1)
        return "got a scalar, expected " + std::to_string(expected.size()) + " lines";
      auto values = ParseSeriesValues(expected[0]);
      if (!values.ok() || values->size() != 1 || !(*values)[0]) {
        return "cannot read expected scalar " + expected[0];
      }
      const double want = *(*values)[0];
      if (!AlmostEqual(r.scalar, want)) {
        return "scalar: got " + std::to_string(r.scalar) + ", want " + expected[0];
      }
      return "";
    }
    if (r.type == ValueType::kMatrix) return "received range result on instant evaluation";
    if (r.type == ValueType::kString) return "got a string";
    std::vector<std::pair<Labels, double>> want;
    for (const std::string& x : expected) {
      auto d = ParseSeriesDescription(x);
      if (!d.ok() || d->values.size() != 1 || !d->values[0]) {
        return "cannot read expected line " + x;
      }
      want.emplace_back(d->labels, *d->values[0]);
    }
    if (r.vector.size() != want.size()) {
      std::string got;
      for (const auto& el : r.vector)
        got += " " + el.labels.ToString() + "=" + std::to_string(el.v);
      return "got " + std::to_string(r.vector.size()) + " elements, want " +
             std::to_string(want.size()) + ":" + got;
    }
    for (size_t k = 0; k < want.size(); ++k) {
      const auto& [l, v] = want[k];
      const Element* found = nullptr;
      if (kind == "eval_ordered") {
        if (r.vector[k].labels == l) found = &r.vector[k];
        if (found == nullptr) {
          return "element " + std::to_string(k) + " is " + r.vector[k].labels.ToString() +
                 ", want " + l.ToString();
        }
      } else {
        for (const auto& el : r.vector) {
          if (el.labels == l) found = &el;
        }
      }
      if (found == nullptr) return "missing " + l.ToString();
      if (!AlmostEqual(found->v, v)) {
        return l.ToString() + ": got " + std::to_string(found->v) + ", want " + std::to_string(v);
      }
    }
    return "";
  }

  fs::path file_;
  std::vector<std::unique_ptr<testing::TempDir>> dirs_;
  std::unique_ptr<tsdb::RocksDbStore> store_;
  Engine engine_;
};

// docs/promql-conformance.md lists known failures as "- `file.test:LINE` reason".
std::set<std::string> KnownFailures() {
  std::set<std::string> out;
  std::ifstream in(fs::path(VIGIL_SOURCE_DIR) / "docs" / "promql-conformance.md");
  for (std::string l; std::getline(in, l);) {
    if (l.rfind("- `", 0) != 0) continue;
    const size_t end = l.find('`', 3);
    if (end != std::string::npos) out.insert(l.substr(3, end - 3));
  }
  return out;
}

class ConformanceTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ConformanceTest, EveryEvalAsPrometheus) {
  const fs::path file = ConformanceDir() / GetParam();
  if (!fs::exists(file)) {
    if (std::getenv("CI") != nullptr && std::string(std::getenv("CI")) == "true") {
      FAIL() << "the conformance suite is missing at " << file << "; CI must run it";
    }
    GTEST_SKIP() << "no conformance suite at " << file << " (a clone outside the team)";
  }
  const auto known = KnownFailures();
  Outcome o = ScriptRunner(file).Run();
  const int total = o.passed + static_cast<int>(o.failed.size());
  std::cout << GetParam() << ": " << o.passed << "/" << total << " evals pass\n";
  std::set<std::string> failing;
  for (const auto& [line, why] : o.failed) {
    const std::string id = GetParam() + ":" + std::to_string(line);
    failing.insert(id);
    if (!known.count(id)) ADD_FAILURE() << id << ": " << why;
  }
  for (const std::string& id : known) {
    if (id.rfind(GetParam() + ":", 0) == 0 && !failing.count(id)) {
      ADD_FAILURE() << id << " is listed as failing in docs/promql-conformance.md but passes";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Prometheus242, ConformanceTest,
                         ::testing::Values("aggregators.test", "at_modifier.test", "collision.test",
                                           "functions.test", "histograms.test", "literals.test",
                                           "operators.test", "selectors.test", "staleness.test",
                                           "subquery.test", "trig_functions.test"),
                         [](const auto& info) {
                           std::string n = info.param.substr(0, info.param.find('.'));
                           return n;
                         });

}  // namespace
}  // namespace vigil::promql
