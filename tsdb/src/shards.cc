#include "vigil/tsdb/shards.h"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>

#include "vigil/common/api_answer.h"
#include "vigil/common/fan_out.h"
#include "vigil/common/http_util.h"
#include "vigil/common/self_metrics.h"
#include "vigil/common/timestamp.h"

namespace vigil::tsdb {
namespace {

using nlohmann::json;

struct ShardMetrics {
  prometheus::Counter* pushdowns;
  prometheus::Counter* pushdowns_refused;
  ShardMetrics() {
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
  explicit ShardedQuerier(const http::FanOut& shards) : shards_(shards) {}

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
        SelectorString(matchers) + "[" + std::to_string(std::max<int64_t>(maxt - mint, 1)) + "ms]";
    auto answers = Gather(
        {"/api/v1/query?" + http::EncodeQuery({{"query", query}, {"time", FormatApiTime(maxt)}})});
    std::map<Labels, std::vector<Sample>> merged;
    if (!answers.ok()) return std::make_unique<MergedSet>(std::move(merged), answers.status());
    std::vector<SeriesSamples> all;
    for (const ShardData& shard : *answers) {
      Status st = AppendSeries(shard, 0, all);
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
    for (const auto& m : p.selectors) series.emplace_back("match[]", SelectorString(m));
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
    if (!answers.ok()) return answers.status();
    // Exact only if no series is in two shards (nor two series that become one without their
    // names, where the queries drop them).
    std::unordered_map<uint64_t, size_t> owner;
    for (size_t i = 0; i < answers->size(); ++i) {
      const ShardData& shard = (*answers)[i];
      if (!shard.data[0].is_array()) return Malformed(shard, "the series are not a list");
      for (const auto& l : shard.data[0]) {
        auto labels = api::DecodeLabels(l);
        if (!labels.ok()) return Malformed(shard, labels.status().message());
        const Labels key =
            p.names_kept ? *labels : LabelsBuilder(*labels).Del(kMetricNameLabel).Build();
        auto [it, fresh] = owner.emplace(key.Hash(), i);
        if (!fresh && it->second != i) {
          Metrics().pushdowns_refused->Increment();
          return Out();
        }
      }
    }
    Metrics().pushdowns->Increment();
    std::vector<std::vector<SeriesSamples>> out(p.queries.size());
    for (const ShardData& shard : *answers) {
      for (size_t q = 0; q < p.queries.size(); ++q) {
        VIGIL_RETURN_IF_ERROR(AppendSeries(shard, q + 1, out[q]));
      }
    }
    return Out(std::move(out));
  }

 private:
  static std::string RangeAndMatch(int64_t mint, int64_t maxt,
                                   const std::vector<Matcher>& matchers) {
    http::Params p = {{"start", FormatApiTime(mint)}, {"end", FormatApiTime(maxt)}};
    if (!matchers.empty()) p.emplace_back("match[]", SelectorString(matchers));
    return http::EncodeQuery(p);
  }

  // What one shard answered to each target: its "data".
  struct ShardData {
    std::string url;
    std::vector<json> data;
  };

  // A shard's answer that does not read as one of the API's: the query fails (5xx), naming it.
  static Status Malformed(const ShardData& shard, const std::string& why) {
    return Unavailable("shard " + shard.url + ": a malformed answer: " + why);
  }

  // A query's series (a matrix, or a vector at one time) of target `t` appended to `out`.
  static Status AppendSeries(const ShardData& shard, size_t t, std::vector<SeriesSamples>& out) {
    std::vector<api::Series> series;
    if (Status st = api::DecodeSeries(shard.data[t], series); !st.ok()) {
      return Malformed(shard, st.message());
    }
    for (api::Series& s : series) {
      SeriesSamples samples{std::move(s.labels), {}};
      samples.samples.reserve(s.points.size());
      for (const auto& [t_ms, v] : s.points) samples.samples.push_back({t_ms, v});
      out.push_back(std::move(samples));
    }
    return Status::Ok();
  }

  // Each answering shard's "data" of each target; the others become warnings.
  Result<std::vector<ShardData>> Gather(const std::vector<std::string>& targets) {
    auto g = shards_.Gather(targets);
    {
      std::lock_guard lock(mu_);
      warnings_.insert(g.warnings.begin(), g.warnings.end());
    }
    if (!g.error.ok()) return g.error;
    std::vector<ShardData> out;
    for (auto& shard : g.shards) {
      ShardData d{shards_.urls()[shard.index], {}};
      for (auto& doc : shard.docs) d.data.push_back(std::move(doc["data"]));
      out.push_back(std::move(d));
    }
    return out;
  }

  Result<std::vector<std::string>> Union(const std::string& target) {
    VIGIL_ASSIGN_OR_RETURN(auto answers, Gather({target}));
    std::vector<std::string> all;
    for (const ShardData& shard : answers) {
      if (Status st = api::DecodeStrings(shard.data[0], all); !st.ok()) {
        return Malformed(shard, st.message());
      }
    }
    std::sort(all.begin(), all.end());
    all.erase(std::unique(all.begin(), all.end()), all.end());
    return all;
  }

  const http::FanOut& shards_;
  mutable std::mutex mu_;
  std::set<std::string> warnings_;
};

}  // namespace

ShardedQueryable::ShardedQueryable(std::vector<std::string> urls, std::chrono::milliseconds timeout)
    : shards_(std::move(urls), timeout, "tsdb") {
  Metrics();
}

ShardedQueryable::~ShardedQueryable() = default;

std::unique_ptr<Querier> ShardedQueryable::NewQuerier() {
  return std::make_unique<ShardedQuerier>(shards_);
}

}  // namespace vigil::tsdb
