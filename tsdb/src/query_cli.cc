#include "vigil/tsdb/query_cli.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>

#include "vigil/common/http_client.h"
#include "vigil/common/http_util.h"
#include "vigil/common/timestamp.h"

namespace vigil::tsdb {
namespace {

using nlohmann::json;

std::string LabelsText(const json& metric) {
  std::string name, rest;
  for (auto it = metric.begin(); it != metric.end(); ++it) {
    if (it.key() == "__name__") {
      name = it.value().get<std::string>();
      continue;
    }
    if (!rest.empty()) rest += ", ";
    rest += it.key() + "=\"" + it.value().get<std::string>() + "\"";
  }
  if (rest.empty() && !name.empty()) return name;
  return name + "{" + rest + "}";
}

// Eight levels of block characters, scaled between the series' min and max.
std::string Sparkline(const std::vector<double>& values, size_t width) {
  static const char* kLevels[] = {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"};
  if (values.empty()) return "";
  std::vector<double> cells;
  const size_t n = std::min(width, values.size());
  for (size_t c = 0; c < n; ++c) {
    const size_t a = c * values.size() / n, b = std::max(a + 1, (c + 1) * values.size() / n);
    double sum = 0;
    size_t cnt = 0;
    for (size_t i = a; i < b; ++i) {
      if (std::isfinite(values[i])) {
        sum += values[i];
        ++cnt;
      }
    }
    cells.push_back(cnt ? sum / static_cast<double>(cnt) : NAN);
  }
  double lo = INFINITY, hi = -INFINITY;
  for (double v : cells) {
    if (std::isfinite(v)) {
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
  }
  std::string out;
  for (double v : cells) {
    if (!std::isfinite(v)) {
      out += " ";
      continue;
    }
    const int level = hi > lo ? static_cast<int>(std::lround((v - lo) / (hi - lo) * 7)) : 3;
    out += kLevels[std::clamp(level, 0, 7)];
  }
  return out;
}

double ToDouble(const json& s) {
  const std::string v = s.get<std::string>();
  if (v == "NaN") return NAN;
  if (v == "+Inf") return INFINITY;
  if (v == "-Inf") return -INFINITY;
  return std::strtod(v.c_str(), nullptr);
}

void PrintTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  // Widths by display columns: count UTF-8 lead bytes, not bytes.
  auto width = [](const std::string& s) {
    size_t w = 0;
    for (unsigned char c : s) w += (c & 0xc0) != 0x80;
    return w;
  };
  std::vector<size_t> widths;
  for (const auto& r : rows) {
    if (widths.size() < r.size()) widths.resize(r.size(), 0);
    for (size_t i = 0; i < r.size(); ++i) widths[i] = std::max(widths[i], width(r[i]));
  }
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(widths[i] - width(r[i]) + 2, ' ');
    }
    out << line << "\n";
  }
}

}  // namespace

Status RunQueryCommand(const QueryCommand& cmd, std::ostream& out) {
  std::string path = "/api/v1/query";
  std::vector<std::pair<std::string, std::string>> form = {{"query", cmd.expr}};
  if (cmd.start) {
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    auto start = ParseTimestamp(*cmd.start);
    if (!start.ok()) return InvalidArgument("--start: " + start.status().message());
    int64_t end = now;
    if (cmd.end) {
      auto e = ParseTimestamp(*cmd.end);
      if (!e.ok()) return InvalidArgument("--end: " + e.status().message());
      end = *e;
    }
    std::string step =
        cmd.step.value_or(std::to_string(std::max<int64_t>(1, (end - *start) / 60 / 1000)));
    path = "/api/v1/query_range";
    form.emplace_back("start", std::to_string(*start / 1000.0));
    form.emplace_back("end", std::to_string(end / 1000.0));
    form.emplace_back("step", step);
  } else if (cmd.time) {
    form.emplace_back("time", *cmd.time);
  }
  std::string body;
  for (const auto& [k, v] : form) {
    if (!body.empty()) body += '&';
    body += http::PercentEncode(k) + "=" + http::PercentEncode(v);
  }
  std::string server = cmd.server;
  while (!server.empty() && server.back() == '/') server.pop_back();
  http::HttpClient client;
  auto res = client.Post(server + path, "application/x-www-form-urlencoded", body);
  if (!res.ok()) return Unavailable("cannot reach " + server + ": " + res.status().message());
  json j = json::parse(res->body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return FailedPrecondition("HTTP " + std::to_string(res->status) + " from " + server +
                              " is not a Prometheus API answer: " + res->body.substr(0, 200));
  }
  if (j.value("status", "") != "success") {
    const std::string type = j.value("errorType", "");
    const std::string msg = type + ": " + j.value("error", "");
    return type == "bad_data" ? InvalidArgument(msg) : FailedPrecondition(msg);
  }
  if (cmd.json) {
    out << res->body << (res->body.ends_with('\n') ? "" : "\n");
    return Status::Ok();
  }
  const json& data = j["data"];
  const std::string type = data.value("resultType", "");
  const json& result = data["result"];
  if (type == "scalar" || type == "string") {
    out << result[1].get<std::string>() << "\n";
    return Status::Ok();
  }
  std::vector<std::vector<std::string>> rows;
  if (type == "vector") {
    rows.push_back({"SERIES", "VALUE"});
    std::vector<std::vector<std::string>> body_rows;
    for (const auto& r : result) {
      body_rows.push_back({LabelsText(r["metric"]), r["value"][1].get<std::string>()});
    }
    std::sort(body_rows.begin(), body_rows.end());
    rows.insert(rows.end(), body_rows.begin(), body_rows.end());
    PrintTable(out, rows);
    out << "(" << result.size() << " series)\n";
    return Status::Ok();
  }
  rows.push_back({"SERIES", "POINTS", "MIN", "MAX", "LAST", "TREND"});
  for (const auto& r : result) {
    std::vector<double> vs;
    for (const auto& p : r["values"]) vs.push_back(ToDouble(p[1]));
    double lo = INFINITY, hi = -INFINITY;
    for (double v : vs) {
      if (!std::isnan(v)) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
    }
    auto fmt = [](double v) {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.6g", v);
      return std::string(buf);
    };
    rows.push_back({LabelsText(r["metric"]), std::to_string(vs.size()), fmt(lo), fmt(hi),
                    r["values"].empty() ? "" : r["values"].back()[1].get<std::string>(),
                    Sparkline(vs, 40)});
  }
  PrintTable(out, rows);
  out << "(" << result.size() << " series)\n";
  return Status::Ok();
}

}  // namespace vigil::tsdb
