// `vigil rules check` and `vigil rules test`. The test runner follows promtool 2.42's
// (cmd/promtool/unittest.go): input series loaded into a store, every group evaluated at each
// evaluation_interval from 0 to the largest eval_time, alerts compared at the evaluation
// where eval_time falls (ts <= eval_time < ts + interval), firing alerts only, labels and
// annotations exactly; PromQL tests as instant queries at their eval_time afterwards, values
// compared exactly.

#include "vigil/alertd/rules_cli.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <sstream>

#include "format.h"
#include "query_sources.h"
#include "rule_file.h"
#include "rules.h"
#include "vigil/common/clock.h"
#include "vigil/common/duration.h"
#include "vigil/common/file_system.h"
#include "vigil/logship/log_store.h"
#include "vigil/tsdb/promql/series_notation.h"
#include "vigil/tsdb/rocksdb_store.h"

namespace vigil::alertd {
namespace {

namespace fs = std::filesystem;

// ---- check ----------------------------------------------------------------------------------

Result<size_t> CheckFile(const std::string& file) {
  VIGIL_ASSIGN_OR_RETURN(auto groups, LoadRuleFile(file));
  size_t n = 0;
  for (const auto& g : groups) n += g.rules.size();
  return n;
}

// ---- test files -----------------------------------------------------------------------------

struct ExpAlert {
  Labels labels;
  Labels annotations;
};
struct AlertTest {
  int64_t eval_time = 0;
  std::string alertname;
  std::vector<ExpAlert> exp;
};
struct ExpSample {
  std::string labels;
  double value = 0;
};
struct ExprTest {
  std::string expr;
  int64_t eval_time = 0;
  std::vector<ExpSample> exp;
};
struct InputSeries {
  std::string series;
  std::string values;
};
// vigil's extension for log rules: `counts` copies of `line` in `stream` per interval, in the
// expanding notation (spread evenly over each interval).
struct InputLogs {
  std::string stream;
  std::string line;
  std::string counts;
};
struct TestGroup {
  std::string name;
  int64_t interval = 0;  // 0: the evaluation interval
  std::vector<InputSeries> input;
  std::vector<InputLogs> input_logs;
  std::vector<AlertTest> alert_tests;
  std::vector<ExprTest> expr_tests;
  std::map<std::string, std::string> external_labels;
  std::string external_url;
};
struct TestFile {
  std::vector<std::string> rule_files;
  int64_t evaluation_interval = 60'000;
  std::vector<std::string> group_eval_order;
  std::vector<TestGroup> tests;
};

class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  Status Err(const YAML::Node& n, const std::string& what) const {
    const auto m = n.Mark();
    return InvalidArgument(file_ + ":" + std::to_string(m.line + 1) + ":" +
                           std::to_string(m.column + 1) + ": " + what);
  }
  // Each key of `n` must be one of `known`; fn(key, value) reads it.
  Status Map(const YAML::Node& n, const std::string& what, const std::set<std::string>& known,
             const std::function<Status(const std::string&, const YAML::Node&)>& fn) const {
    if (n.IsNull()) return Status::Ok();
    if (!n.IsMap()) return Err(n, what + ": expected a mapping");
    for (const auto& kv : n) {
      const std::string k = kv.first.Scalar();
      if (!known.count(k)) {
        std::string list;
        for (const auto& x : known) list += (list.empty() ? "" : ", ") + x;
        return Err(kv.first,
                   "field " + k + " not found in " + what + " (expected one of: " + list + ")");
      }
      VIGIL_RETURN_IF_ERROR(fn(k, kv.second));
    }
    return Status::Ok();
  }
  Status List(const YAML::Node& n, const std::string& what,
              const std::function<Status(const YAML::Node&)>& fn) const {
    if (n.IsNull()) return Status::Ok();
    if (!n.IsSequence()) return Err(n, what + ": expected a list");
    for (const auto& x : n) VIGIL_RETURN_IF_ERROR(fn(x));
    return Status::Ok();
  }
  Result<std::string> Str(const YAML::Node& n, const std::string& what) const {
    if (n.IsNull()) return std::string();
    if (!n.IsScalar()) return Err(n, what + ": expected a string");
    return n.Scalar();
  }
  Result<int64_t> Dur(const YAML::Node& n, const std::string& what) const {
    VIGIL_ASSIGN_OR_RETURN(std::string s, Str(n, what));
    auto d = ParseDuration(s);
    if (!d.ok()) return Err(n, what + ": " + d.status().message());
    return d->count();
  }
  // A YAML float, as Go's YAML reads one: 1, 1.5e3, .inf, -.inf, .nan (not "NaN").
  Result<double> Num(const YAML::Node& n, const std::string& what) const {
    if (!n.IsScalar()) return Err(n, what + ": expected a number");
    try {
      return n.as<double>();
    } catch (const YAML::Exception&) {
      return Err(n, what + ": cannot read \"" + n.Scalar() + "\" as a number");
    }
  }
  Result<Labels> LabelMap(const YAML::Node& n, const std::string& what) const {
    std::vector<Label> pairs;
    if (n.IsNull()) return Labels();
    if (!n.IsMap()) return Err(n, what + ": expected a mapping");
    for (const auto& kv : n) {
      VIGIL_ASSIGN_OR_RETURN(std::string v, Str(kv.second, what));
      pairs.push_back({kv.first.Scalar(), v});
    }
    auto l = Labels::FromPairs(std::move(pairs));
    if (!l.ok()) return Err(n, what + ": " + l.status().message());
    return *l;
  }

  Result<TestFile> Read(const YAML::Node& root) const {
    TestFile t;
    VIGIL_RETURN_IF_ERROR(Map(root, "the test file",
                              {"rule_files", "evaluation_interval", "group_eval_order", "tests"},
                              [&](const std::string& k, const YAML::Node& v) -> Status {
                                if (k == "rule_files") {
                                  return List(v, k, [&](const YAML::Node& x) -> Status {
                                    VIGIL_ASSIGN_OR_RETURN(std::string s, Str(x, k));
                                    t.rule_files.push_back(s);
                                    return Status::Ok();
                                  });
                                }
                                if (k == "evaluation_interval") {
                                  VIGIL_ASSIGN_OR_RETURN(t.evaluation_interval, Dur(v, k));
                                  return Status::Ok();
                                }
                                if (k == "group_eval_order") {
                                  return List(v, k, [&](const YAML::Node& x) -> Status {
                                    VIGIL_ASSIGN_OR_RETURN(std::string s, Str(x, k));
                                    t.group_eval_order.push_back(s);
                                    return Status::Ok();
                                  });
                                }
                                return List(v, k, [&](const YAML::Node& x) -> Status {
                                  VIGIL_ASSIGN_OR_RETURN(TestGroup g, ReadGroup(x));
                                  t.tests.push_back(std::move(g));
                                  return Status::Ok();
                                });
                              }));
    if (t.evaluation_interval == 0) t.evaluation_interval = 60'000;
    return t;
  }

  Result<TestGroup> ReadGroup(const YAML::Node& n) const {
    TestGroup g;
    VIGIL_RETURN_IF_ERROR(Map(
        n, "a test group",
        {"name", "interval", "input_series", "input_logs", "alert_rule_test", "promql_expr_test",
         "external_labels", "external_url"},
        [&](const std::string& k, const YAML::Node& v) -> Status {
          if (k == "name") {
            VIGIL_ASSIGN_OR_RETURN(g.name, Str(v, k));
          } else if (k == "interval") {
            VIGIL_ASSIGN_OR_RETURN(g.interval, Dur(v, k));
          } else if (k == "external_url") {
            VIGIL_ASSIGN_OR_RETURN(g.external_url, Str(v, k));
          } else if (k == "external_labels") {
            VIGIL_ASSIGN_OR_RETURN(Labels l, LabelMap(v, k));
            for (const Label& x : l) g.external_labels[x.name] = x.value;
          } else if (k == "input_series") {
            return List(v, k, [&](const YAML::Node& x) -> Status {
              InputSeries s;
              VIGIL_RETURN_IF_ERROR(Map(x, k, {"series", "values"},
                                        [&](const std::string& f, const YAML::Node& y) -> Status {
                                          VIGIL_ASSIGN_OR_RETURN(std::string str, Str(y, f));
                                          (f == "series" ? s.series : s.values) = str;
                                          return Status::Ok();
                                        }));
              g.input.push_back(std::move(s));
              return Status::Ok();
            });
          } else if (k == "input_logs") {
            return List(v, k, [&](const YAML::Node& x) -> Status {
              InputLogs l;
              VIGIL_RETURN_IF_ERROR(
                  Map(x, k, {"stream", "line", "counts"},
                      [&](const std::string& f, const YAML::Node& y) -> Status {
                        VIGIL_ASSIGN_OR_RETURN(std::string str, Str(y, f));
                        (f == "stream" ? l.stream : f == "line" ? l.line : l.counts) = str;
                        return Status::Ok();
                      }));
              g.input_logs.push_back(std::move(l));
              return Status::Ok();
            });
          } else if (k == "alert_rule_test") {
            return List(v, k, [&](const YAML::Node& x) -> Status {
              AlertTest a;
              VIGIL_RETURN_IF_ERROR(
                  Map(x, k, {"eval_time", "alertname", "exp_alerts"},
                      [&](const std::string& f, const YAML::Node& y) -> Status {
                        if (f == "eval_time") {
                          VIGIL_ASSIGN_OR_RETURN(a.eval_time, Dur(y, f));
                        } else if (f == "alertname") {
                          VIGIL_ASSIGN_OR_RETURN(a.alertname, Str(y, f));
                        } else {
                          return List(y, f, [&](const YAML::Node& z) -> Status {
                            ExpAlert e;
                            VIGIL_RETURN_IF_ERROR(
                                Map(z, f, {"exp_labels", "exp_annotations"},
                                    [&](const std::string& h, const YAML::Node& w) -> Status {
                                      VIGIL_ASSIGN_OR_RETURN(Labels l, LabelMap(w, h));
                                      (h == "exp_labels" ? e.labels : e.annotations) = l;
                                      return Status::Ok();
                                    }));
                            a.exp.push_back(std::move(e));
                            return Status::Ok();
                          });
                        }
                        return Status::Ok();
                      }));
              g.alert_tests.push_back(std::move(a));
              return Status::Ok();
            });
          } else if (k == "promql_expr_test") {
            return List(v, k, [&](const YAML::Node& x) -> Status {
              ExprTest e;
              VIGIL_RETURN_IF_ERROR(
                  Map(x, k, {"expr", "eval_time", "exp_samples"},
                      [&](const std::string& f, const YAML::Node& y) -> Status {
                        if (f == "expr") {
                          VIGIL_ASSIGN_OR_RETURN(e.expr, Str(y, f));
                        } else if (f == "eval_time") {
                          VIGIL_ASSIGN_OR_RETURN(e.eval_time, Dur(y, f));
                        } else {
                          return List(y, f, [&](const YAML::Node& z) -> Status {
                            ExpSample s;
                            VIGIL_RETURN_IF_ERROR(
                                Map(z, f, {"labels", "value"},
                                    [&](const std::string& h, const YAML::Node& w) -> Status {
                                      if (h == "labels") {
                                        VIGIL_ASSIGN_OR_RETURN(s.labels, Str(w, h));
                                      } else {
                                        VIGIL_ASSIGN_OR_RETURN(s.value, Num(w, h));
                                      }
                                      return Status::Ok();
                                    }));
                            e.exp.push_back(std::move(s));
                            return Status::Ok();
                          });
                        }
                        return Status::Ok();
                      }));
              g.expr_tests.push_back(std::move(e));
              return Status::Ok();
            });
          }
          return Status::Ok();
        }));
    return g;
  }

 private:
  std::string file_;
};

// ---- running a test group -------------------------------------------------------------------

// 90s -> "1m30s", as model.Duration prints eval times in failures.
std::string D(int64_t ms) { return FormatDuration(std::chrono::milliseconds(ms)); }

std::string ShowAlerts(std::vector<ExpAlert> v) {
  std::sort(v.begin(), v.end(), [](const ExpAlert& a, const ExpAlert& b) {
    return std::tie(a.labels, a.annotations) < std::tie(b.labels, b.annotations);
  });
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    out += "\n            " + std::to_string(i) +
           ":\n              Labels:" + v[i].labels.ToString() +
           "\n              Annotations:" + v[i].annotations.ToString();
  }
  return out + (v.empty() ? "]" : "\n            ]");
}

struct ParsedSample {
  Labels labels;
  double value;
};
// Go's %E with the shortest digits, as promtool prints sample values: 5E-01, 1.5E+00.
std::string GoE(double v) {
  std::string s = FormatGoExp(v);
  for (char& c : s) c = c == 'e' ? 'E' : c;
  return s;
}

std::string ShowSamples(const std::vector<ParsedSample>& v) {
  std::string out;
  for (const auto& s : v)
    out += (out.empty() ? "" : ", ") + s.labels.ToString() + " " + GoE(s.value);
  return out;
}

// The errors of one test group (empty: it passed).
std::vector<std::string> RunGroup(const TestGroup& tg, std::vector<std::unique_ptr<Group>>& groups,
                                  int64_t eval_interval) {
  std::vector<std::string> errs;
  const std::string named = tg.name.empty() ? "" : "    name: " + tg.name + ",\n";
  std::error_code ec;
  const fs::path dir =
      fs::temp_directory_path(ec) / ("vigil-rules-test-" + std::to_string(::getpid()) + "-" +
                                     std::to_string(reinterpret_cast<uintptr_t>(&tg)));
  fs::remove_all(dir, ec);
  tsdb::StoreOptions opts;
  opts.dir = dir.string();
  opts.sync_wal = false;
  opts.clock = std::make_shared<ManualClock>(Clock::SystemTime(std::chrono::milliseconds(0)));
  opts.retention = std::chrono::hours(24 * 365 * 100);
  opts.block_cache_bytes = 1 << 20;
  struct Cleanup {  // declared first: it runs after the store is closed
    fs::path dir;
    ~Cleanup() {
      std::error_code e;
      fs::remove_all(dir, e);
    }
  } cleanup{dir};
  auto store = tsdb::RocksDbStore::Open(opts);
  if (!store.ok()) return {"    cannot open a store for the test: " + store.status().message()};
  // Input series, one value per interval from 0. promtool 2.42 has no default for a test
  // group's interval: without one every value lands at 0, and the first one stays.
  const int64_t step = tg.interval;
  {
    auto app = (*store)->NewAppender();
    for (const auto& in : tg.input) {
      auto labels = promql::ParseSeriesLabels(in.series);
      if (!labels.ok()) {
        errs.push_back("    series " + in.series + ": " + labels.status().message());
        continue;
      }
      auto values = promql::ParseSeriesValues(in.values);
      if (!values.ok()) {
        errs.push_back("    series " + in.series + ": " + values.status().message());
        continue;
      }
      bool appended = false;
      for (size_t k = 0; k < values->size(); ++k) {
        if (!(*values)[k] || (step == 0 && appended)) continue;
        appended = true;
        auto r = app->Append(0, *labels, static_cast<int64_t>(k) * step, *(*values)[k]);
        if (!r.ok()) errs.push_back("    series " + in.series + ": " + r.status().message());
      }
    }
    if (Status st = app->Commit(); !st.ok()) errs.push_back("    " + st.message());
  }
  if (!errs.empty()) return errs;
  // Log lines, into a log store, for `source: logs` groups.
  std::unique_ptr<logship::LogStore> logs;
  bool want_logs = !tg.input_logs.empty();
  for (const auto& g : groups) want_logs = want_logs || g->spec().source == Source::kLogs;
  if (want_logs) {
    logship::LogStoreOptions lo;
    lo.dir = (dir / "logs").string();
    lo.retention_ns = std::numeric_limits<int64_t>::max() / 2;
    auto ls = logship::LogStore::Open(lo);
    if (!ls.ok()) return {"    cannot open a log store for the test: " + ls.status().message()};
    logs = std::move(*ls);
    std::map<Labels, std::vector<loki::Entry>> streams;
    for (const auto& in : tg.input_logs) {
      auto labels = promql::ParseSeriesLabels(in.stream);
      auto counts = promql::ParseSeriesValues(in.counts);
      if (!labels.ok() || !counts.ok()) {
        errs.push_back("    input_logs " + in.stream + ": " +
                       (labels.ok() ? counts.status() : labels.status()).message());
        continue;
      }
      const int64_t step_ns = step * 1'000'000;
      for (size_t k = 0; k < counts->size(); ++k) {
        if (!(*counts)[k] || *(*counts)[k] < 1) continue;
        const auto n = static_cast<int64_t>(*(*counts)[k]);
        for (int64_t j = 0; j < n; ++j) {
          const int64_t ts =
              static_cast<int64_t>(k) * step_ns + (step_ns > 0 ? j * step_ns / n : j);
          streams[*labels].push_back({ts, in.line, {}});
        }
      }
    }
    std::vector<loki::Stream> batch;
    for (auto& [labels, entries] : streams) {
      std::stable_sort(entries.begin(), entries.end(),
                       [](const auto& a, const auto& b) { return a.ts_ns < b.ts_ns; });
      batch.push_back({labels, std::move(entries)});
    }
    if (Status st = logs->Write(batch); !st.ok()) errs.push_back("    input_logs: " + st.message());
    if (!errs.empty()) return errs;
  }
  EngineSource source(**store);
  std::unique_ptr<LogStoreSource> log_source;
  if (logs) log_source = std::make_unique<LogStoreSource>(*logs);
  const WriteFunc write = [&](std::vector<OutSample> s) {
    return AppendSamples(**store, std::move(s));
  };
  int64_t max_eval = 0;
  std::map<int64_t, std::vector<const AlertTest*>> alert_tests;
  for (const auto& a : tg.alert_tests) {
    if (a.alertname.empty()) return {"    alertname can't be empty"};
    alert_tests[a.eval_time].push_back(&a);
    max_eval = std::max(max_eval, a.eval_time);
  }
  for (const auto& e : tg.expr_tests) max_eval = std::max(max_eval, e.eval_time);
  auto next = alert_tests.begin();
  for (int64_t ts = 0; ts <= max_eval; ts += eval_interval) {
    EvalContext ctx;
    ctx.t_ms = ts;
    ctx.external_labels = tg.external_labels;
    ctx.external_url = tg.external_url;
    std::vector<std::string> eval_errs;
    for (auto& g : groups) {
      ctx.source =
          g->spec().source == Source::kLogs ? static_cast<QuerySource*>(log_source.get()) : &source;
      g->Eval(ctx, 60'000, write, nullptr);
      for (const auto& r : g->rules()) {
        if (r->health() == RuleHealth::kErr) {
          eval_errs.push_back("    rule: " + r->name() + ", time: " + D(ts) +
                              ", err: " + r->last_error());
        }
      }
    }
    if (!eval_errs.empty()) {
      errs.insert(errs.end(), eval_errs.begin(), eval_errs.end());
      return errs;
    }
    for (; next != alert_tests.end() && ts <= next->first && next->first < ts + eval_interval;
         ++next) {
      for (const AlertTest* t : next->second) {
        std::vector<ExpAlert> got;
        for (const auto& g : groups) {
          for (const auto& r : g->rules()) {
            const auto* ar = dynamic_cast<const AlertingRule*>(r.get());
            if (ar == nullptr || ar->name() != t->alertname) continue;
            for (const auto& [h, a] : ar->alerts()) {
              if (a.state == AlertState::kFiring) got.push_back({a.labels, a.annotations});
            }
          }
        }
        std::vector<ExpAlert> exp;
        for (const ExpAlert& e : t->exp) {
          exp.push_back(
              {LabelsBuilder(e.labels).Set("alertname", t->alertname).Build(), e.annotations});
        }
        auto key = [](const ExpAlert& a) { return std::tie(a.labels, a.annotations); };
        auto less = [&](const ExpAlert& a, const ExpAlert& b) { return key(a) < key(b); };
        std::sort(got.begin(), got.end(), less);
        std::sort(exp.begin(), exp.end(), less);
        const bool same =
            got.size() == exp.size() &&
            std::equal(got.begin(), got.end(), exp.begin(),
                       [&](const ExpAlert& a, const ExpAlert& b) { return key(a) == key(b); });
        if (!same) {
          errs.push_back(named + "    alertname: " + t->alertname + ", time: " + D(t->eval_time) +
                         ", \n        exp:" + ShowAlerts(exp) +
                         ", \n        got:" + ShowAlerts(got));
        }
      }
    }
  }
  // PromQL tests, on everything the rules wrote too.
  for (const auto& e : tg.expr_tests) {
    auto got = source.Query(e.expr, e.eval_time);
    const std::string head = "    expr: \"" + e.expr + "\", time: " + D(e.eval_time);
    if (!got.ok()) {
      errs.push_back(head + ", err: " + got.status().message());
      continue;
    }
    std::vector<ParsedSample> exp, have;
    bool bad = false;
    for (const auto& s : e.exp) {
      auto l = promql::ParseSeriesLabels(s.labels);
      if (!l.ok()) {
        errs.push_back(head + ", err: labels \"" + s.labels + "\": " + l.status().message());
        bad = true;
        break;
      }
      exp.push_back({*l, s.value});
    }
    if (bad) continue;
    for (auto& s : *got) have.push_back({std::move(s.labels), s.value});
    auto by_labels = [](const ParsedSample& a, const ParsedSample& b) {
      return a.labels < b.labels;
    };
    std::sort(exp.begin(), exp.end(), by_labels);
    std::sort(have.begin(), have.end(), by_labels);
    // Exactly equal, as promtool's reflect.DeepEqual (so NaN never equals NaN).
    const bool same =
        exp.size() == have.size() && std::equal(exp.begin(), exp.end(), have.begin(),
                                                [](const ParsedSample& a, const ParsedSample& b) {
                                                  return a.labels == b.labels && a.value == b.value;
                                                });
    if (!same) {
      errs.push_back(head + ",\n        exp: " + ShowSamples(exp) +
                     "\n        got: " + ShowSamples(have));
    }
  }
  return errs;
}

// The errors of one test file (empty: it passed); warnings go to `warnings`.
std::vector<std::string> RunFile(const std::string& file, std::vector<std::string>& warnings) {
  auto text = RealFileSystem()->ReadFile(file);
  if (!text.ok()) return {"  " + text.status().message()};
  YAML::Node root;
  try {
    root = YAML::Load(*text);
  } catch (const YAML::Exception& e) {
    return {"  " + file + ":" + std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg};
  }
  Reader reader(file);
  auto tf = reader.Read(root);
  if (!tf.ok()) return {"  " + tf.status().message()};
  // Rule files relative to the test file, each a glob; one that matches nothing is a warning,
  // as promtool says it.
  std::vector<std::string> files;
  const fs::path base = fs::path(file).parent_path();
  for (const auto& r : tf->rule_files) {
    const std::string pattern = fs::path(r).is_absolute() || base.empty() ? r : (base / r).string();
    auto matched = RealFileSystem()->Glob(pattern);
    if (!matched.ok() || matched->empty()) {
      warnings.push_back("  WARNING: no file match pattern " + r);
      continue;
    }
    files.insert(files.end(), matched->begin(), matched->end());
  }
  std::vector<std::string> errs;
  for (const auto& tg : tf->tests) {
    // Fresh rules (and alert state) for each test group.
    std::vector<std::unique_ptr<Group>> groups;
    for (const auto& f : files) {
      auto specs = LoadRuleFile(f);
      if (!specs.ok()) return {"  " + specs.status().message()};
      for (auto& s : *specs) {
        groups.push_back(std::make_unique<Group>(std::move(s), tf->evaluation_interval));
      }
    }
    if (!tf->group_eval_order.empty()) {
      std::map<std::string, size_t> order;
      for (size_t i = 0; i < tf->group_eval_order.size(); ++i) {
        order[tf->group_eval_order[i]] = i;
      }
      for (const auto& g : groups) {
        if (!order.count(g->spec().name)) {
          return {"    group \"" + g->spec().name + "\" is not in group_eval_order"};
        }
      }
      std::stable_sort(groups.begin(), groups.end(), [&](const auto& a, const auto& b) {
        return order[a->spec().name] < order[b->spec().name];
      });
    }
    auto e = RunGroup(tg, groups, tf->evaluation_interval);
    errs.insert(errs.end(), e.begin(), e.end());
  }
  return errs;
}

}  // namespace

int RulesCheck(const std::vector<std::string>& files, std::ostream& out) {
  int failed = 0;
  for (const auto& f : files) {
    out << "Checking " << f << "\n";
    auto n = CheckFile(f);
    if (n.ok()) {
      out << "  SUCCESS: " << *n << " rules found\n\n";
    } else {
      out << "  FAILED:\n" << n.status().message() << "\n\n";
      ++failed;
    }
  }
  return failed > 0 ? 1 : 0;
}

int RulesTest(const std::vector<std::string>& files, std::ostream& out) {
  int failed = 0;
  for (const auto& f : files) {
    out << "Unit Testing:  " << f << "\n";
    std::vector<std::string> warnings;
    auto errs = RunFile(f, warnings);
    for (const auto& w : warnings) out << w << "\n";
    if (errs.empty()) {
      out << "  SUCCESS\n\n";
      continue;
    }
    ++failed;
    out << "  FAILED:\n";
    for (const auto& e : errs) out << e << "\n";
    out << "\n";
  }
  return failed > 0 ? 1 : 0;
}

}  // namespace vigil::alertd
