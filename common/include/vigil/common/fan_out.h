#pragma once

// FanOut: one request to every shard of a `--query-shards` front at once (tsdb's Prometheus API,
// logship's Loki API), with the partial-response rule both follow, as Prometheus does:
// - a shard that answers 200 with a JSON object (not "status": "error") answered;
// - a shard that cannot be reached, times out or answers 5xx is left out and becomes a warning
//   ("shard URL: why"); its own "warnings" are passed on the same way;
// - a shard that answers 4xx refused the request itself (too many series, a limit): the request
//   fails with its error, since every shard would answer the same;
// - when no shard answered, the request fails (Unavailable).
// Counted in vigil_<component>_shard_requests_total{result="ok"|"failed"}.

#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "vigil/common/http_client.h"
#include "vigil/common/status.h"

namespace prometheus {
class Counter;
}

namespace vigil::http {

// The shards of --query-shards, given comma-separated or repeated; each must be an http(s) URL.
Result<std::vector<std::string>> ShardUrls(const std::vector<std::string>& items);

class FanOut {
 public:
  // `urls`: the shards' base URLs (trailing slashes dropped). `timeout`: of each answer.
  FanOut(std::vector<std::string> urls, std::chrono::milliseconds timeout,
         const std::string& component);
  ~FanOut();

  struct Gathered {
    // For each shard that answered every target: its index and each target's JSON, in order.
    struct Shard {
      size_t index = 0;
      std::vector<nlohmann::json> docs;
    };
    std::vector<Shard> shards;
    std::vector<std::string> warnings;
    Status error;  // set when a shard refused, or none answered: `shards` is then empty
  };
  // GETs every target (a path and query, "/api/v1/query?…") from every shard at once.
  Gathered Gather(const std::vector<std::string>& targets) const;

  const std::vector<std::string>& urls() const { return urls_; }

 private:
  std::vector<std::string> urls_;
  // One client per shard, shared by the requests (its connections are kept; making a client
  // loads the TLS trust store, ~40 ms).
  std::vector<std::unique_ptr<HttpClient>> clients_;
  prometheus::Counter* ok_;
  prometheus::Counter* failed_;
};

}  // namespace vigil::http
