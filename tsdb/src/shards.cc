#include "vigil/tsdb/shards.h"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>

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
  prometheus::Counter* pushdowns;
  prometheus::Counter* pushdowns_refused;
  ShardMetrics() {
    auto& fam = prometheus::BuildCounter()
                    .Name("vigil_tsdb_shard_requests_total")
                    .Help("Requests to the shards of --query-shards, by result.")
                    .Register(SelfMetrics());
    requests = &fam.Add({{"result", "ok"}});
    failures = &fam.Add({{"result", "failed"}});
    auto& pd = prometheus::BuildCounter()
                   .Name("vigil_tsdb_shard_pushdowns_total")
                   .Help(
                       "Aggregations of --query-shards the shards evaluated (pushed) or not, "
                       "because a series of theirs was in two shards (refused).")
                   .Register(SelfMetrics());
    pushdowns = &pd.Add({{"result", "pushed"}});
    pushdowns_refused = &pd.Add({{"result", "refused"}});
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
    if (!answers.ok()) return std::make_unique<MergedSet>(std::move(merged), answers.status());
    std::vector<SeriesSamples> all;
    for (const auto& data : *answers) {
      Status st = AppendSeries(data, all);
      if (!st.ok()) return std::make_unique<MergedSet>(std::move(merged), st);
    }
    for (SeriesSamples& s : all) {
      auto& samples = merged[std::move(s.labels)];
      samples.insert(samples.end(), s.samples.begin(), s.samples.end());
    }
    for (auto& [labels, samples] : merged) {
      std::stable_sort(samples.begin(), samples.end(),
                       [](const Sample& a, const Sample& b) { return a.t < b.t; });
      samples.erase(std::unique(samples.begin(), samples.end(),
                                [](const Sample& a, const Sample& b) { return a.t == b.t; }),
                    samples.end());
    }
    return std::make_unique<MergedSet>(std::move(merged), Status::Ok());
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

  bool CanPushDown() const override { return true; }

  Result<std::optional<std::vector<std::vector<SeriesSamples>>>> Evaluate(
      const PushDown& p) override {
    using Out = std::optional<std::vector<std::vector<SeriesSamples>>>;
    // At once: the series each shard has where the queries read, and the queries.
    http::Params series = {{"start", FormatApiTime(p.mint)}, {"end", FormatApiTime(p.maxt)}};
    for (const auto& m : p.selectors) series.emplace_back("match[]", Selector(m));
    std::vector<std::string> targets = {"/api/v1/series?" + http::EncodeQuery(series)};
    for (const std::string& q : p.queries) {
      if (p.start == p.end) {
        targets.push_back("/api/v1/query?" +
                          http::EncodeQuery({{"query", q}, {"time", FormatApiTime(p.start)}}));
      } else {
        targets.push_back("/api/v1/query_range?" +
                          http::EncodeQuery({{"query", q},
                                             {"start", FormatApiTime(p.start)},
                                             {"end", FormatApiTime(p.end)},
                                             {"step", FormatApiTime(p.step)}}));
      }
    }
    auto answers = Gather(targets);
    if (!answers.error.ok()) return answers.error;
    // Exact only if no series (its metric name aside: functions drop it) is in two shards.
    std::unordered_map<uint64_t, size_t> owner;
    for (size_t i = 0; i < answers.shards.size(); ++i) {
      const json& list = answers.shards[i][0];
      if (!list.is_array()) return Internal("a shard's series are not a list");
      for (const auto& l : list) {
        LabelsBuilder b;
        for (const auto& [k, v] : l.items()) {
          if (k != kMetricNameLabel && v.is_string()) b.Set(k, v.get<std::string>());
        }
        auto [it, fresh] = owner.emplace(b.Build().Hash(), i);
        if (!fresh && it->second != i) {
          Metrics().pushdowns_refused->Increment();
          return Out();
        }
      }
    }
    Metrics().pushdowns->Increment();
    std::vector<std::vector<SeriesSamples>> out(p.queries.size());
    for (const auto& shard : answers.shards) {
      for (size_t q = 0; q < p.queries.size(); ++q) {
        VIGIL_RETURN_IF_ERROR(AppendSeries(shard[q + 1], out[q]));
      }
    }
    return Out(std::move(out));
  }

 private:
  // What the shards answered: for each shard that answered every target, each target's "data".
  struct Gathered {
    std::vector<std::vector<json>> shards;
    Status error;  // set when no shard answered
  };

  static std::string RangeAndMatch(int64_t mint, int64_t maxt,
                                   const std::vector<Matcher>& matchers) {
    http::Params p = {{"start", FormatApiTime(mint)}, {"end", FormatApiTime(maxt)}};
    if (!matchers.empty()) p.emplace_back("match[]", Selector(matchers));
    return http::EncodeQuery(p);
  }

  // A query's series (a matrix, or a vector at one time) appended to `out`.
  static Status AppendSeries(const json& data, std::vector<SeriesSamples>& out) {
    if (!data.is_object() || !data["result"].is_array()) {
      return Internal("a shard's answer has no result");
    }
    const bool vector = data.value("resultType", "") == "vector";
    for (const auto& series : data["result"]) {
      SeriesSamples s;
      LabelsBuilder b;
      for (const auto& [k, v] : series["metric"].items()) b.Set(k, v.get<std::string>());
      s.labels = b.Build();
      auto add = [&](const json& point) -> Status {
        if (!point.is_array() || point.size() != 2 || !point[0].is_number()) {
          return InvalidArgument("a shard's sample is not [time, value]");
        }
        VIGIL_ASSIGN_OR_RETURN(double v, ParseValue(point[1]));
        s.samples.push_back({std::llround(point[0].get<double>() * 1000), v});
        return Status::Ok();
      };
      if (vector) {
        VIGIL_RETURN_IF_ERROR(add(series["value"]));
      } else {
        for (const auto& point : series["values"]) VIGIL_RETURN_IF_ERROR(add(point));
      }
      out.push_back(std::move(s));
    }
    return Status::Ok();
  }

  // GETs every target from every shard at once. A shard that fails any of them is left out and
  // becomes a warning; the shards' own warnings are passed on.
  Gathered Gather(const std::vector<std::string>& targets) {
    std::vector<std::vector<std::future<Result<json>>>> futures(urls_.size());
    for (size_t i = 0; i < urls_.size(); ++i) {
      for (const std::string& target : targets) {
        futures[i].push_back(std::async(std::launch::async, [this, i, target]() -> Result<json> {
          auto r = clients_[i]->Get(urls_[i] + target);
          if (!r.ok()) return r.status();
          auto j = json::parse(r->body, nullptr, false);
          if (r->status != 200 || j.is_discarded() || j.value("status", "") != "success") {
            std::string why = j.is_discarded() ? r->body.substr(0, 200) : j.value("error", "");
            return Unavailable("HTTP " + std::to_string(r->status) + ": " + why);
          }
          return j;
        }));
      }
    }
    Gathered out;
    Status first;
    for (size_t i = 0; i < futures.size(); ++i) {
      std::vector<json> data;
      Status failed;
      std::vector<std::string> passed_on;
      for (auto& f : futures[i]) {
        auto r = f.get();
        if (!r.ok()) {
          if (failed.ok()) failed = r.status();
          continue;
        }
        if ((*r)["warnings"].is_array()) {
          for (const auto& w : (*r)["warnings"]) {
            if (w.is_string()) passed_on.push_back(w.get<std::string>());
          }
        }
        data.push_back(std::move((*r)["data"]));
      }
      std::lock_guard lock(mu_);
      if (failed.ok()) {
        Metrics().requests->Increment();
        out.shards.push_back(std::move(data));
        for (const auto& w : passed_on) warnings_.insert("shard " + urls_[i] + ": " + w);
        continue;
      }
      Metrics().failures->Increment();
      const std::string warning = "shard " + urls_[i] + ": " + failed.message();
      spdlog::warn("tsdb: {}", warning);
      if (first.ok()) first = Unavailable(warning);
      warnings_.insert(warning);
    }
    if (out.shards.empty() && !urls_.empty()) out.error = first;
    return out;
  }

  // The same for one target: each answering shard's "data".
  Result<std::vector<json>> FanOut(const std::string& target) {
    auto g = Gather({target});
    if (!g.error.ok()) return g.error;
    std::vector<json> out;
    for (auto& shard : g.shards) out.push_back(std::move(shard[0]));
    return out;
  }

  Result<std::vector<std::string>> Union(const std::string& target) {
    VIGIL_ASSIGN_OR_RETURN(std::vector<json> answers, FanOut(target));
    std::set<std::string> all;
    for (const auto& data : answers) {
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
