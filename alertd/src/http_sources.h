#pragma once

// Rule expressions evaluated by a server over HTTP: PromQL against any Prometheus HTTP API
// (vigil tsdb or a real Prometheus), LogQL metric queries against logship's (or Loki's) query
// API. Both are instant queries at the evaluation's time; errors carry the server's text.

#include <memory>
#include <string>

#include "rules.h"
#include "vigil/common/http_client.h"

namespace vigil::alertd {

class PrometheusApiSource final : public QuerySource {
 public:
  // `base` is the server's root, e.g. http://127.0.0.1:9090.
  PrometheusApiSource(std::string base, std::chrono::milliseconds timeout);
  Result<std::vector<Sample>> Query(std::string_view expr, int64_t t_ms) override;

 private:
  std::string base_;
  http::HttpClient client_;
};

class LokiApiSource final : public QuerySource {
 public:
  LokiApiSource(std::string base, std::chrono::milliseconds timeout);
  Result<std::vector<Sample>> Query(std::string_view expr, int64_t t_ms) override;

 private:
  std::string base_;
  http::HttpClient client_;
};

// Reads a query response's body (Prometheus' and Loki's envelope are the same for instant
// vectors and scalars) into samples.
Result<std::vector<Sample>> ParseInstantResponse(int http_status, std::string_view body);

}  // namespace vigil::alertd
