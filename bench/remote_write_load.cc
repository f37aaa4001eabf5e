// Sends the same pre-encoded remote_write requests of a realistic workload to a receiver with a
// fixed concurrency, and reports samples per second. Encoding happens before the clock starts,
// so the figure is the receiver's (and the loopback's), not the client's.
//
//   remote_write_load --url http://127.0.0.1:9090/api/v1/write --series 20000 --steps 240
//                     [--batch 500] [--concurrency 4] [--openmetrics FILE]
//                     [--histograms true]

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "vigil/common/exposition.h"
#include "vigil/common/http_client.h"
#include "vigil/common/remote_write.h"
#include "workload.h"

namespace {

struct Args {
  std::string url;
  size_t series = 20000;
  size_t steps = 240;
  size_t batch = 500;
  size_t concurrency = 4;
  int64_t start_ms = 1'700'000'000'000;
  std::string openmetrics;
  bool histograms = false;
};

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--url")
      a.url = v;
    else if (k == "--series")
      a.series = std::stoul(v);
    else if (k == "--steps")
      a.steps = std::stoul(v);
    else if (k == "--batch")
      a.batch = std::stoul(v);
    else if (k == "--concurrency")
      a.concurrency = std::stoul(v);
    else if (k == "--start-ms")
      a.start_ms = std::stoll(v);
    else if (k == "--openmetrics")
      a.openmetrics = v;
    else if (k == "--histograms")
      a.histograms = v == "true";
    else {
      std::cerr << "unknown flag " << k << "\n";
      std::exit(2);
    }
  }
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  Args args = Parse(argc, argv);
  vigil::bench::Workload w(args.series, 1, args.histograms);
  std::vector<std::string> bodies;
  // Per series, its values over time (only kept when an OpenMetrics file is wanted).
  std::vector<std::vector<double>> history(args.openmetrics.empty() ? 0 : args.series);
  size_t samples = 0;
  for (size_t step = 0; step < args.steps; ++step) {
    w.Step();
    const int64_t t = args.start_ms + static_cast<int64_t>(step) * 15'000;
    prometheus::WriteRequest req;
    for (size_t i = 0; i < w.series().size(); ++i) {
      const auto& s = w.series()[i];
      auto* ts = req.add_timeseries();
      for (const auto& l : s.labels) {
        auto* pl = ts->add_labels();
        pl->set_name(l.name);
        pl->set_value(l.value);
      }
      auto* smp = ts->add_samples();
      smp->set_timestamp(t);
      smp->set_value(s.value);
      if (!history.empty()) history[i].push_back(s.value);
      ++samples;
      if (static_cast<size_t>(req.timeseries_size()) == args.batch) {
        bodies.push_back(vigil::remote::Encode(req));
        req.Clear();
      }
    }
    if (req.timeseries_size() > 0) bodies.push_back(vigil::remote::Encode(req));
  }
  if (!args.openmetrics.empty()) {
    // One family per series name, samples in time order: what promtool create-blocks-from
    // openmetrics reads.
    std::map<std::string, std::vector<size_t>> by_name;
    for (size_t i = 0; i < w.series().size(); ++i) {
      by_name[std::string(w.series()[i].labels.MetricName())].push_back(i);
    }
    std::ofstream out(args.openmetrics);
    for (const auto& [name, idx] : by_name) {
      for (size_t i : idx) {
        std::string prefix;
        vigil::expo::Sample proto{w.series()[i].labels, 0, std::nullopt};
        vigil::expo::Family f{name, vigil::expo::MetricType::kUnknown, "", "", {proto}};
        std::string line = vigil::expo::Write({f}, vigil::expo::Format::kText);
        line = line.substr(line.find('\n') + 1);  // drop the TYPE line
        prefix = line.substr(0, line.rfind(' ') + 1);
        for (size_t step = 0; step < history[i].size(); ++step) {
          const int64_t t = args.start_ms + static_cast<int64_t>(step) * 15'000;
          out << prefix << vigil::expo::FormatValue(history[i][step]) << ' ' << t / 1000 << '\n';
        }
      }
    }
    out << "# EOF\n";
  }

  // Like Prometheus' shards: a series range always goes through the same connection, in time
  // order, so no receiver sees its own sender's samples out of order.
  const size_t per_step = (args.series + args.batch - 1) / args.batch;
  std::atomic<size_t> errors{0}, retries{0};
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (size_t c = 0; c < args.concurrency; ++c) {
    threads.emplace_back([&, c] {
      vigil::http::HttpClient client;
      for (size_t i = 0; i < bodies.size(); ++i) {
        if ((i % per_step) % args.concurrency != c) continue;
        vigil::http::ClientRequest req;
        req.method = "POST";
        req.url = args.url;
        req.headers = {{"Content-Type", "application/x-protobuf"},
                       {"Content-Encoding", "snappy"},
                       {"X-Prometheus-Remote-Write-Version", "0.1.0"}};
        req.body = bodies[i];
        for (int attempt = 0;; ++attempt) {
          auto r = client.Do(req);
          if (r.ok() && r->status / 100 == 2) break;
          if (attempt > 50 || (r.ok() && r->status / 100 == 4 && r->status != 429)) {
            ++errors;
            if (r.ok() && errors < 5) std::cerr << r->status << " " << r->body << "\n";
            break;
          }
          ++retries;
          std::this_thread::sleep_for(std::chrono::milliseconds(10 * (attempt + 1)));
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "{\"samples\": %zu, \"requests\": %zu, \"seconds\": %.3f, \"samples_per_second\": %.0f, "
      "\"errors\": %zu, \"retries\": %zu}\n",
      samples, bodies.size(), secs, static_cast<double>(samples) / secs, errors.load(),
      retries.load());
  return errors == 0 ? 0 : 1;
}
