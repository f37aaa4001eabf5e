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
// A shard that fails is left out and named in the querier's warnings, which the query API
// returns in "warnings", as Prometheus reports a partial response; when every shard fails, the
// query fails. What this does not do yet: push aggregations down to the shards (each shard sends
// its raw samples), and stale markers (the API's range selections leave them out, so a series
// that ended shows for up to the lookback delta after its end, instead of stopping at once).

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "vigil/common/http_client.h"
#include "vigil/tsdb/storage.h"

namespace vigil::tsdb {

class ShardedQueryable : public Queryable {
 public:
  // `urls`: the shards' base URLs (http://host:port). `timeout`: of each shard's answer.
  ShardedQueryable(std::vector<std::string> urls, std::chrono::milliseconds timeout);
  std::unique_ptr<Querier> NewQuerier() override;

 private:
  std::vector<std::string> urls_;
  // One client per shard, shared by the queries (its connections are kept; making a client
  // loads the TLS trust store, ~40 ms).
  std::vector<std::unique_ptr<http::HttpClient>> clients_;
};

}  // namespace vigil::tsdb
