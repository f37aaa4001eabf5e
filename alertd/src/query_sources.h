#pragma once

// Where rules' expressions are evaluated in-process (vigil up, vigil rules test): PromQL by
// vigil's engine on a metric store, LogQL metric queries by logship's engine on a log store.
// The HTTP sources (any Prometheus API, logship's or Loki's API) are in http_sources.h.

#include <memory>

#include "rules.h"
#include "vigil/tsdb/promql/engine.h"
#include "vigil/tsdb/storage.h"

namespace vigil::logship {
class LogStore;
}

namespace vigil::alertd {

// PromQL on a Queryable, as Prometheus' EngineQueryFunc: a scalar becomes one sample without
// labels; a matrix or a string is an error.
class EngineSource final : public QuerySource {
 public:
  EngineSource(tsdb::Queryable& store, promql::EngineOptions options = {})
      : store_(store), engine_(options) {}
  Result<std::vector<Sample>> Query(std::string_view expr, int64_t t_ms) override;

 private:
  tsdb::Queryable& store_;
  promql::Engine engine_;
};

// LogQL metric queries on a LogStore: each result series' point at the evaluation time.
class LogStoreSource final : public QuerySource {
 public:
  explicit LogStoreSource(const logship::LogStore& store) : store_(store) {}
  Result<std::vector<Sample>> Query(std::string_view expr, int64_t t_ms) override;

 private:
  const logship::LogStore& store_;
};

// Writes rule output into an Appendable, committing each rule's samples together.
Status AppendSamples(tsdb::Appendable& store, std::vector<OutSample> samples);

}  // namespace vigil::alertd
