#include "http_sources.h"

#include "format.h"

#include <nlohmann/json.hpp>

#include "vigil/common/exposition.h"
#include "vigil/common/http_util.h"
#include "vigil/common/timestamp.h"

namespace vigil::alertd {
namespace {

http::ClientOptions Options(std::chrono::milliseconds timeout) {
  http::ClientOptions o;
  o.request_timeout = timeout;
  o.accept_gzip = true;
  return o;
}

Result<double> ParseValue(const nlohmann::json& pair) {
  if (!pair.is_array() || pair.size() != 2 || !pair[1].is_string()) {
    return InvalidArgument("a sample is not [time, \"value\"]");
  }
  const std::string& s = pair[1].get_ref<const std::string&>();
  double v = 0;
  if (!expo::ParseValue(s, v)) {
    return InvalidArgument("a sample value \"" + s + "\" is not a number");
  }
  return v;
}

}  // namespace

Result<std::vector<Sample>> ParseInstantResponse(int http_status, std::string_view body) {
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return Unavailable("query answered " + std::to_string(http_status) +
                       " with a body that is not JSON: " + std::string(body.substr(0, 200)));
  }
  if (j.value("status", "") != "success") {
    const std::string type = j.value("errorType", "");
    const std::string err = j.value("error", std::string(body.substr(0, 200)));
    // The server refused the query itself (bad_data, execution): the rule is wrong, not the
    // server.
    if (http_status >= 400 && http_status < 500) {
      return FailedPrecondition((type.empty() ? "" : type + ": ") + err);
    }
    return Unavailable("query answered " + std::to_string(http_status) + ": " + err);
  }
  const auto& data = j["data"];
  const std::string type = data.value("resultType", "");
  std::vector<Sample> out;
  if (type == "scalar") {
    VIGIL_ASSIGN_OR_RETURN(double v, ParseValue(data["result"]));
    out.push_back({Labels(), v});
    return out;
  }
  if (type != "vector") {
    return FailedPrecondition("rule result is not a vector or scalar (the server answered " + type +
                              ")");
  }
  for (const auto& r : data["result"]) {
    std::vector<Label> pairs;
    if (r.contains("metric") && r["metric"].is_object()) {
      for (const auto& [k, v] : r["metric"].items()) {
        if (v.is_string()) pairs.push_back({k, v.get<std::string>()});
      }
    }
    VIGIL_ASSIGN_OR_RETURN(Labels labels, Labels::FromPairs(std::move(pairs)));
    VIGIL_ASSIGN_OR_RETURN(double v,
                           ParseValue(r.contains("value") ? r["value"] : nlohmann::json()));
    out.push_back({std::move(labels), v});
  }
  return out;
}

PrometheusApiSource::PrometheusApiSource(std::string base, std::chrono::milliseconds timeout)
    : base_(WithoutTrailingSlash(std::move(base))), client_(Options(timeout)) {}

Result<std::vector<Sample>> PrometheusApiSource::Query(std::string_view expr, int64_t t_ms) {
  const std::string body =
      http::EncodeQuery({{"query", std::string(expr)}, {"time", FormatApiTime(t_ms)}});
  auto res = client_.Post(base_ + "/api/v1/query", "application/x-www-form-urlencoded", body);
  if (!res.ok()) return Unavailable("query " + base_ + ": " + res.status().message());
  return ParseInstantResponse(res->status, res->body);
}

LokiApiSource::LokiApiSource(std::string base, std::chrono::milliseconds timeout)
    : base_(WithoutTrailingSlash(std::move(base))), client_(Options(timeout)) {}

Result<std::vector<Sample>> LokiApiSource::Query(std::string_view expr, int64_t t_ms) {
  const std::string q =
      http::EncodeQuery({{"query", std::string(expr)}, {"time", std::to_string(t_ms * 1'000'000)}});
  auto res = client_.Get(base_ + "/loki/api/v1/query?" + q);
  if (!res.ok()) return Unavailable("query " + base_ + ": " + res.status().message());
  return ParseInstantResponse(res->status, res->body);
}

}  // namespace vigil::alertd
