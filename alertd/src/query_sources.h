#pragma once

// Where rules' expressions are evaluated: in-process, by vigil's PromQL engine on a store
// (vigil up, vigil rules test). The HTTP sources (any Prometheus API, logship's Loki API) live
// beside it.

#include <memory>

#include "rules.h"
#include "vigil/tsdb/promql/engine.h"
#include "vigil/tsdb/storage.h"

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

// Writes rule output into an Appendable, committing each rule's samples together.
Status AppendSamples(tsdb::Appendable& store, std::vector<OutSample> samples);

}  // namespace vigil::alertd
