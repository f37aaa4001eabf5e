// alertd's evaluation cost: 10,000 alerting rules in 100 groups over 100,000 series.
//
//   alertd_rules --dir D --prepare          writes D/tsdb (100k series, 10 minutes at 15 s) and
//                                           D/rules/*.yml (100 groups of 100 rules)
//   alertd_rules --dir D [--rounds N]       evaluates every group N times (15 s apart)
//                                           in-process, on this thread: one core
//   alertd_rules --dir D --query-url URL    the same through a Prometheus API (vigil tsdb on D)
//
// Each rule is `bench_value{group="gG", rule="rR"} > 90` (10 series; about one in ten is above,
// so ~10,000 alerts are active) with `for: 1m`, a label and a templated annotation. Prints JSON:
// wall and CPU seconds per round (median), rules and alerts.

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "http_sources.h"
#include "query_sources.h"
#include "rule_file.h"
#include "rules.h"
#include "vigil/common/logging.h"
#include "vigil/tsdb/rocksdb_store.h"

namespace {

using namespace vigil;
namespace fs = std::filesystem;

constexpr int kGroups = 100, kRules = 100, kInstances = 10, kSamples = 41;
constexpr int64_t kStepMs = 15'000;

double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double Value(int g, int r, int i) { return static_cast<double>((i * 7 + r * 13 + g) % 100); }

int Prepare(const fs::path& dir) {
  fs::create_directories(dir / "rules");
  const int64_t end = NowMs() / kStepMs * kStepMs;
  std::ofstream(dir / "t0") << end;
  tsdb::StoreOptions o;
  o.dir = (dir / "tsdb").string();
  o.sync_wal = false;
  o.retention = std::chrono::hours(24 * 365);
  auto store = tsdb::RocksDbStore::Open(o);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }
  for (int k = 0; k < kSamples; ++k) {
    const int64_t t = end - (kSamples - 1 - k) * kStepMs;
    for (int g = 0; g < kGroups; ++g) {
      auto app = (*store)->NewAppender();
      for (int r = 0; r < kRules; ++r) {
        for (int i = 0; i < kInstances; ++i) {
          Labels l{{"__name__", "bench_value"},
                   {"group", "g" + std::to_string(g)},
                   {"rule", "r" + std::to_string(r)},
                   {"instance", "i" + std::to_string(i)},
                   {"job", "bench"}};
          auto res = app->Append(0, l, t, Value(g, r, i));
          if (!res.ok()) {
            std::fprintf(stderr, "%s\n", res.status().ToString().c_str());
            return 1;
          }
        }
      }
      if (auto st = app->Commit(); !st.ok()) {
        std::fprintf(stderr, "%s\n", st.ToString().c_str());
        return 1;
      }
    }
    std::fprintf(stderr, "prepare: %d/%d steps\r", k + 1, kSamples);
  }
  std::fprintf(stderr, "\n");
  for (int g = 0; g < kGroups; ++g) {
    std::ofstream f(dir / "rules" / ("g" + std::to_string(g) + ".yml"));
    f << "groups:\n  - name: g" << g << "\n    interval: 15s\n    rules:\n";
    for (int r = 0; r < kRules; ++r) {
      f << "      - alert: Bench_" << g << "_" << r << "\n"
        << "        expr: bench_value{group=\"g" << g << "\", rule=\"r" << r << "\"} > 90\n"
        << "        for: 1m\n        labels: {severity: warning}\n"
        << "        annotations: {summary: '{{ $labels.instance }} at {{ $value }}'}\n";
    }
  }
  return 0;
}

int Evaluate(const fs::path& dir, const std::string& query_url, int rounds) {
  int64_t t0 = 0;
  std::ifstream(dir / "t0") >> t0;
  std::vector<std::unique_ptr<alertd::Group>> groups;
  size_t rules = 0;
  for (int g = 0; g < kGroups; ++g) {
    auto specs =
        alertd::LoadRuleFile((dir / "rules" / ("g" + std::to_string(g) + ".yml")).string());
    if (!specs.ok()) {
      std::fprintf(stderr, "%s\n", specs.status().ToString().c_str());
      return 1;
    }
    for (auto& s : *specs) {
      rules += s.rules.size();
      groups.push_back(std::make_unique<alertd::Group>(std::move(s), 15'000));
    }
  }
  std::unique_ptr<tsdb::RocksDbStore> store;
  std::unique_ptr<alertd::QuerySource> source;
  alertd::WriteFunc write;
  if (query_url.empty()) {
    tsdb::StoreOptions o;
    o.dir = (dir / "tsdb").string();
    o.sync_wal = false;
    o.retention = std::chrono::hours(24 * 365);
    auto s = tsdb::RocksDbStore::Open(o);
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.status().ToString().c_str());
      return 1;
    }
    store = std::move(*s);
    source = std::make_unique<alertd::EngineSource>(*store);
    write = [&](std::vector<alertd::OutSample> out) {
      return alertd::AppendSamples(*store, std::move(out));
    };
  } else {
    source = std::make_unique<alertd::PrometheusApiSource>(query_url, std::chrono::seconds(60));
  }
  std::vector<double> wall, cpu;
  size_t alerts = 0, failures = 0;
  for (int round = 0; round < rounds; ++round) {
    alertd::EvalContext ctx;
    // Rounds 15 s apart, the last at the newest sample; the store's 5 minute lookback keeps
    // every series visible in all of them.
    ctx.t_ms = t0 - (rounds - 1 - round) * 15'000;
    ctx.source = source.get();
    const auto w0 = std::chrono::steady_clock::now();
    const double c0 = CpuSeconds();
    for (auto& g : groups) g->Eval(ctx, 60'000, write, nullptr);
    cpu.push_back(CpuSeconds() - c0);
    wall.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count());
    alerts = failures = 0;
    for (auto& g : groups) {
      for (auto& r : g->rules()) {
        failures += r->health() == alertd::RuleHealth::kErr;
        alerts += dynamic_cast<alertd::AlertingRule&>(*r).alerts().size();
      }
    }
    std::fprintf(stderr, "round %d: %.3f s wall, %.3f s cpu, %zu alerts\n", round + 1, wall.back(),
                 cpu.back(), alerts);
  }
  std::sort(wall.begin(), wall.end());
  std::sort(cpu.begin(), cpu.end());
  std::printf(
      "{\"mode\": \"%s\", \"groups\": %zu, \"rules\": %zu, \"series\": %d, \"alerts\": %zu, "
      "\"failed_rules\": %zu, \"rounds\": %d, \"median_wall_s\": %.3f, \"median_cpu_s\": %.3f, "
      "\"min_cpu_s\": %.3f, \"max_cpu_s\": %.3f}\n",
      query_url.empty() ? "in-process" : "http", groups.size(), rules,
      kGroups * kRules * kInstances, alerts, failures, rounds, wall[wall.size() / 2],
      cpu[cpu.size() / 2], cpu.front(), cpu.back());
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  (void)vigil::InitLogging("error", "text");
  std::string dir, query_url;
  bool prepare = false;
  int rounds = 5;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--dir" && i + 1 < argc) {
      dir = argv[++i];
    } else if (a == "--query-url" && i + 1 < argc) {
      query_url = argv[++i];
    } else if (a == "--rounds" && i + 1 < argc) {
      rounds = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--prepare") {
      prepare = true;
    } else {
      std::fprintf(stderr,
                   "usage: alertd_rules --dir D [--prepare | --query-url URL] [--rounds N]\n");
      return 2;
    }
  }
  if (dir.empty()) return 2;
  return prepare ? Prepare(dir) : Evaluate(dir, query_url, rounds);
}
