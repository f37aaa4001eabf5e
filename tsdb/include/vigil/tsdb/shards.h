#pragma once

// ShardedQueryable: `vigil tsdb --query-shards URL,URL…`. The stores of a consumer group (each
// holding the series of its partitions) answer as one, so Grafana points at one URL.
//
// A Select goes to every shard at once as a range selection of its matchers over its window
// (GET /api/v1/query?query={…}[Nms]&time=maxt: the raw samples in [maxt - N, maxt]), and the
// samples are merged by series: a series a rebalance moved has parts in two shards, and equal
// timestamps are kept once. The PromQL engine then evaluates here, so every query means what it
// means on one store. Label names and values are the union of the shards' answers.
//
// Most queries are pushed down (Querier::Evaluate), where that is exact:
// - an expression each of whose series comes from one stored series (a selector, rate() and the
//   other functions that map series, arithmetic with numbers) is evaluated by the shards whole,
//   and their results are put side by side;
// - `sum`, `min`, `max`, `count`, `group`, `avg`, `topk` and `bottomk` over such an expression go
//   to the shards as they are, and the shards' partial results are combined here (counts summed,
//   an average as a sum over a count);
// - the rest (binary operators between vectors, quantile, histogram_quantile, label_replace...)
//   is evaluated here over the pushed-down parts.
// Exact only where every series read is whole in one shard; a series a rebalance split between
// two shards makes a shard's part wrong. So with the queries the front asks each shard which
// series it has in the window read (/api/v1/series), and where one is in two shards, it drops
// the pushed results and evaluates the rest of the query on the raw samples (Select above). The
// shards need only the Prometheus HTTP API.
//
// A shard that fails is left out and named in the querier's warnings, which the query API
// returns in "warnings", as Prometheus reports a partial response; when every shard fails, the
// query fails (http::FanOut). Stale markers: the API's range selections leave them out, so on the
// raw path a series that ended shows for up to the lookback delta after its end, instead of
// stopping at once; pushed down, the shards see them.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "vigil/common/fan_out.h"
#include "vigil/tsdb/storage.h"

namespace vigil::tsdb {

class ShardedQueryable : public Queryable {
 public:
  // `urls`: the shards' base URLs (http://host:port). `timeout`: of each shard's answer.
  ShardedQueryable(std::vector<std::string> urls, std::chrono::milliseconds timeout);
  ~ShardedQueryable() override;
  std::unique_ptr<Querier> NewQuerier() override;

 private:
  http::FanOut shards_;
};

}  // namespace vigil::tsdb
