#include "vigil/logship/query_cli.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>

#include "query_api.h"
#include "vigil/common/http_client.h"
#include "vigil/common/http_util.h"

namespace vigil::logship {
namespace {

using nlohmann::json;

std::string FormatTime(int64_t ns) {
  const time_t secs = static_cast<time_t>(ns / 1'000'000'000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[40];
  const size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  char frac[16];
  std::snprintf(frac, sizeof(frac), ".%03lldZ", static_cast<long long>((ns / 1'000'000) % 1000));
  return std::string(buf, n) + frac;
}

std::string LabelsText(const json& labels) {
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels.items()) {
    if (!first) out += ", ";
    first = false;
    out += k + "=\"" + v.get<std::string>() + "\"";
  }
  return out + "}";
}

}  // namespace

Status RunLogQueryCommand(const LogQueryCommand& cmd, std::ostream& out) {
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  VIGIL_ASSIGN_OR_RETURN(int64_t end, ParseLokiTime(cmd.end.value_or(""), now));
  VIGIL_ASSIGN_OR_RETURN(
      int64_t start, ParseLokiTime(cmd.start.value_or(""), end - int64_t{3600} * 1'000'000'000));
  std::string url = cmd.server + "/loki/api/v1/query_range?direction=backward&query=" +
                    http::PercentEncode(cmd.query) + "&start=" + std::to_string(start) +
                    "&end=" + std::to_string(end) + "&limit=" + std::to_string(cmd.limit);
  if (cmd.step) url += "&step=" + http::PercentEncode(*cmd.step);
  http::HttpClient client;
  auto res = client.Get(url);
  if (!res.ok()) return Unavailable("cannot reach " + cmd.server + ": " + res.status().message());
  if (res->status == 400) return InvalidArgument(res->body);
  if (res->status != 200) {
    return FailedPrecondition("HTTP " + std::to_string(res->status) + ": " + res->body);
  }
  if (cmd.json) {
    out << res->body << "\n";
    return Status::Ok();
  }
  json body = json::parse(res->body, nullptr, false);
  if (body.is_discarded() || !body.contains("data")) {
    return FailedPrecondition("the server's answer is not Loki's JSON");
  }
  const json& data = body["data"];
  if (data["resultType"] == "streams") {
    struct Line {
      int64_t ts;
      std::string labels, line;
    };
    std::vector<Line> lines;
    for (const auto& s : data["result"]) {
      const std::string labels = LabelsText(s["stream"]);
      for (const auto& v : s["values"]) {
        lines.push_back({std::stoll(v[0].get<std::string>()), labels, v[1].get<std::string>()});
      }
    }
    std::stable_sort(lines.begin(), lines.end(),
                     [](const Line& a, const Line& b) { return a.ts < b.ts; });
    for (const auto& l : lines) out << FormatTime(l.ts) << " " << l.labels << " " << l.line << "\n";
    if (lines.empty()) out << "(no lines)\n";
    return Status::Ok();
  }
  size_t n = 0;
  for (const auto& s : data["result"]) {
    const std::string labels = LabelsText(s["metric"]);
    for (const auto& v : s["values"]) {
      const auto ns = static_cast<int64_t>(v[0].get<double>() * 1e9);
      out << FormatTime(ns) << " " << labels << " " << v[1].get<std::string>() << "\n";
      ++n;
    }
  }
  if (n == 0) out << "(no points)\n";
  return Status::Ok();
}

}  // namespace vigil::logship
