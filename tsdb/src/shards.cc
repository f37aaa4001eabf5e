#include "vigil/tsdb/shards.h"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <future>
#include <map>
#include <mutex>
#include <set>

#include "vigil/common/exposition.h"
#include "vigil/common/http_client.h"
#include "vigil/common/http_util.h"
#include "vigil/common/self_metrics.h"
#include "vigil/common/timestamp.h"

namespace vigil::tsdb {
namespace {

using nlohmann::json;

struct ShardMetrics {
  prometheus::Counter* requests;
  prometheus::Counter* failures;
  ShardMetrics() {
    auto& fam = prometheus::BuildCounter()
                    .Name("vigil_tsdb_shard_requests_total")
                    .Help("Requests to the shards of --query-shards, by result.")
                    .Register(SelfMetrics());
    requests = &fam.Add({{"result", "ok"}});
    failures = &fam.Add({{"result", "failed"}});
  }
};

ShardMetrics& Metrics() {
  static ShardMetrics m;
  return m;
}

std::string Selector(const std::vector<Matcher>& matchers) {
  std::string out = "{";
  for (const Matcher& m : matchers) {
    if (out.size() > 1) out += ',';
    out += m.ToString();
  }
  return out + "}";
}

Result<double> ParseValue(const json& v) {
  if (!v.is_string()) return InvalidArgument("a sample value is not a string");
  const std::string& s = v.get_ref<const std::string&>();
  double d = 0;
  if (!expo::ParseValue(s, d)) return InvalidArgument("bad sample value \"" + s + "\"");
  return d;
}

// A set over series already merged and sorted.
class MergedSet final : public SeriesSet {
 public:
  MergedSet(std::map<Labels, std::vector<Sample>> series, Status err)
      : series_(std::move(series)), err_(std::move(err)) {}
  bool Next() override {
    if (!err_.ok()) return false;
    if (!started_) {
      started_ = true;
      it_ = series_.begin();
    } else if (it_ != series_.end()) {
      ++it_;
    }
    if (it_ == series_.end()) return false;
    labels_ = it_->first;
    return true;
  }
  const Labels& labels() const override { return labels_; }
  const std::vector<Sample>& samples() const override { return it_->second; }
  Status Err() const override { return err_; }

 private:
  std::map<Labels, std::vector<Sample>> series_;
  std::map<Labels, std::vector<Sample>>::iterator it_;
  Labels labels_;
  bool started_ = false;
  Status err_;
};

class ShardedQuerier final : public Querier {
 public:
  ShardedQuerier(const std::vector<std::string>& urls,
                 const std::vector<std::unique_ptr<http::HttpClient>>& clients)
      : urls_(urls), clients_(clients) {}

  std::unique_ptr<SeriesSet> Select(int64_t mint, int64_t maxt,
                                    const std::vector<Matcher>& matchers, SelectHints) override {
    // The series and label APIs ask for all time by default: kept to what a store can hold (a
    // range selection of hundreds of years is refused by the shards' parsers).
    const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    mint = std::max<int64_t>(mint, 0);
    maxt = std::min<int64_t>(maxt, now_ms + int64_t{366} * 24 * 3600 * 1000);
    if (maxt < mint) {
      return std::make_unique<MergedSet>(std::map<Labels, std::vector<Sample>>{}, Status::Ok());
    }
    const std::string query =
        Selector(matchers) + "[" + std::to_string(std::max<int64_t>(maxt - mint, 1)) + "ms]";
    auto answers = FanOut("/api/v1/query?" +
                          http::EncodeQuery({{"query", query}, {"time", FormatApiTime(maxt)}}));
    std::map<Labels, std::vector<Sample>> merged;
    for (const auto& data : answers.data) {
      if (!data.is_object() || !data["result"].is_array()) continue;
      for (const auto& series : data["result"]) {
        LabelsBuilder b;
        for (const auto& [k, v] : series["metric"].items()) b.Set(k, v.get<std::string>());
        auto& samples = merged[b.Build()];
        for (const auto& point : series["values"]) {
          auto v = ParseValue(point[1]);
          if (!v.ok()) return std::make_unique<MergedSet>(decltype(merged){}, v.status());
          samples.push_back({std::llround(point[0].get<double>() * 1000), *v});
        }
      }
    }
    for (auto& [labels, samples] : merged) {
      std::stable_sort(samples.begin(), samples.end(),
                       [](const Sample& a, const Sample& b) { return a.t < b.t; });
      samples.erase(std::unique(samples.begin(), samples.end(),
                                [](const Sample& a, const Sample& b) { return a.t == b.t; }),
                    samples.end());
    }
    return std::make_unique<MergedSet>(std::move(merged), answers.error);
  }

  Result<std::vector<std::string>> LabelNames(int64_t mint, int64_t maxt,
                                              const std::vector<Matcher>& matchers) override {
    return Union("/api/v1/labels?" + RangeAndMatch(mint, maxt, matchers));
  }

  Result<std::vector<std::string>> LabelValues(std::string_view name, int64_t mint, int64_t maxt,
                                               const std::vector<Matcher>& matchers) override {
    return Union("/api/v1/label/" + http::PercentEncode(name) + "/values?" +
                 RangeAndMatch(mint, maxt, matchers));
  }

  std::vector<std::string> Warnings() const override {
    std::lock_guard lock(mu_);
    return std::vector<std::string>(warnings_.begin(), warnings_.end());
  }

 private:
  struct Answers {
    std::vector<json> data;  // each answering shard's "data"
    Status error;            // set when no shard answered
  };

  static std::string RangeAndMatch(int64_t mint, int64_t maxt,
                                   const std::vector<Matcher>& matchers) {
    http::Params p = {{"start", FormatApiTime(mint)}, {"end", FormatApiTime(maxt)}};
    if (!matchers.empty()) p.emplace_back("match[]", Selector(matchers));
    return http::EncodeQuery(p);
  }

  // GETs `target` from every shard at once; a shard that fails becomes a warning.
  Answers FanOut(const std::string& target) {
    std::vector<std::future<Result<json>>> futures;
    for (size_t i = 0; i < urls_.size(); ++i) {
      futures.push_back(std::async(std::launch::async, [this, i, target]() -> Result<json> {
        auto r = clients_[i]->Get(urls_[i] + target);
        if (!r.ok()) return r.status();
        auto j = json::parse(r->body, nullptr, false);
        if (r->status != 200 || j.is_discarded() || j.value("status", "") != "success") {
          std::string why = j.is_discarded() ? r->body.substr(0, 200) : j.value("error", "");
          return Unavailable("HTTP " + std::to_string(r->status) + ": " + why);
        }
        return std::move(j["data"]);
      }));
    }
    Answers out;
    Status first;
    for (size_t i = 0; i < futures.size(); ++i) {
      auto r = futures[i].get();
      if (r.ok()) {
        Metrics().requests->Increment();
        out.data.push_back(std::move(*r));
        continue;
      }
      Metrics().failures->Increment();
      const std::string warning = "shard " + urls_[i] + ": " + r.status().message();
      spdlog::warn("tsdb: {}", warning);
      if (first.ok()) first = Unavailable(warning);
      std::lock_guard lock(mu_);
      warnings_.insert(warning);
    }
    if (out.data.empty() && !urls_.empty()) out.error = first;
    return out;
  }

  Result<std::vector<std::string>> Union(const std::string& target) {
    auto answers = FanOut(target);
    if (!answers.error.ok()) return answers.error;
    std::set<std::string> all;
    for (const auto& data : answers.data) {
      if (!data.is_array()) continue;
      for (const auto& v : data) {
        if (v.is_string()) all.insert(v.get<std::string>());
      }
    }
    return std::vector<std::string>(all.begin(), all.end());
  }

  const std::vector<std::string>& urls_;
  const std::vector<std::unique_ptr<http::HttpClient>>& clients_;
  mutable std::mutex mu_;
  std::set<std::string> warnings_;
};

}  // namespace

ShardedQueryable::ShardedQueryable(std::vector<std::string> urls, std::chrono::milliseconds timeout)
    : urls_(std::move(urls)) {
  http::ClientOptions o;
  o.request_timeout = timeout;
  o.connect_timeout = std::min(timeout, std::chrono::milliseconds(5'000));
  o.max_response_bytes = 1ULL << 30;
  o.user_agent = "vigil-tsdb";
  for (auto& u : urls_) {
    while (!u.empty() && u.back() == '/') u.pop_back();
    clients_.push_back(std::make_unique<http::HttpClient>(o));
  }
  Metrics();
}

std::unique_ptr<Querier> ShardedQueryable::NewQuerier() {
  return std::make_unique<ShardedQuerier>(urls_, clients_);
}

}  // namespace vigil::tsdb
