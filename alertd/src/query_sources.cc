#include "query_sources.h"

#include "vigil/logship/log_store.h"
#include "vigil/logship/logql.h"
#include "vigil/logship/logql_engine.h"

namespace vigil::alertd {

Result<std::vector<Sample>> EngineSource::Query(std::string_view expr, int64_t t_ms) {
  VIGIL_ASSIGN_OR_RETURN(auto res, engine_.Instant(store_, expr, t_ms));
  std::vector<Sample> out;
  switch (res.type) {
    case promql::ValueType::kScalar:
      out.push_back({Labels(), res.scalar});
      return out;
    case promql::ValueType::kVector:
      out.reserve(res.vector.size());
      for (auto& e : res.vector) out.push_back({std::move(e.labels), e.v});
      return out;
    default:
      return FailedPrecondition("rule result is not a vector or scalar");
  }
}

Result<std::vector<Sample>> LogStoreSource::Query(std::string_view expr, int64_t t_ms) {
  VIGIL_ASSIGN_OR_RETURN(auto q, logql::Parse(expr));
  if (!q.metric) return FailedPrecondition("a rule's LogQL must be a metric query");
  const int64_t t_ns = t_ms * 1'000'000;
  VIGIL_ASSIGN_OR_RETURN(auto series, logql::RunMetricQuery(store_, *q.metric, t_ns, t_ns, 0));
  std::vector<Sample> out;
  for (auto& s : series) {
    if (!s.points.empty()) out.push_back({std::move(s.labels), s.points.back().second});
  }
  return out;
}

Status AppendSamples(tsdb::Appendable& store, std::vector<OutSample> samples) {
  auto app = store.NewAppender();
  size_t rejected = 0;
  std::string first;
  for (const OutSample& s : samples) {
    auto r = app->Append(0, s.labels, s.t_ms, s.value);
    if (!r.ok()) {
      if (rejected++ == 0) first = s.labels.ToString() + ": " + r.status().message();
    }
  }
  VIGIL_RETURN_IF_ERROR(app->Commit());
  if (rejected > 0) {
    return FailedPrecondition(std::to_string(rejected) + " samples rejected, the first " + first);
  }
  return Status::Ok();
}

}  // namespace vigil::alertd
