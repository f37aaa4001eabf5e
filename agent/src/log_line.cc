#include "log_line.h"

#include <nlohmann/json.hpp>

#include "vigil/common/labels.h"
#include "vigil/common/timestamp.h"

namespace vigil::agent {
namespace {

std::string Head(std::string_view line) {
  return std::string(line.substr(0, 64)) + (line.size() > 64 ? "…" : "");
}

std::string_view StreamName(std::string_view s) {
  if (s == "stdout") return "stdout";
  if (s == "stderr") return "stderr";
  return {};
}

}  // namespace

LogFormat DetectFormat(std::string_view first_line) {
  size_t i = 0;
  while (i < first_line.size() && (first_line[i] == ' ' || first_line[i] == '\t')) ++i;
  return i < first_line.size() && first_line[i] == '{' ? LogFormat::kDocker : LogFormat::kCri;
}

Result<LogLine> ParseCriLine(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const size_t s1 = line.find(' ');
  if (s1 == std::string_view::npos) {
    return InvalidArgument("CRI log line \"" + Head(line) + "\": no space after the timestamp");
  }
  auto ts = ParseRfc3339Nanos(line.substr(0, s1));
  if (!ts.ok()) {
    return InvalidArgument("CRI log line \"" + Head(line) +
                           "\": at byte 0: " + ts.status().message());
  }
  const size_t s2 = line.find(' ', s1 + 1);
  if (s2 == std::string_view::npos) {
    return InvalidArgument("CRI log line \"" + Head(line) + "\": no tag after the stream");
  }
  LogLine out;
  out.ts_ns = *ts;
  out.stream = StreamName(line.substr(s1 + 1, s2 - s1 - 1));
  if (out.stream.empty()) {
    return InvalidArgument("CRI log line \"" + Head(line) + "\": at byte " +
                           std::to_string(s1 + 1) + ": stream must be stdout or stderr");
  }
  // The tag: P or F, possibly followed by more ':'-separated tags in newer runtimes.
  const size_t s3 = line.find(' ', s2 + 1);
  const std::string_view tag =
      line.substr(s2 + 1, (s3 == std::string_view::npos ? line.size() : s3) - s2 - 1);
  const std::string_view first_tag = tag.substr(0, tag.find(':'));
  if (first_tag != "P" && first_tag != "F") {
    return InvalidArgument("CRI log line \"" + Head(line) + "\": at byte " +
                           std::to_string(s2 + 1) + ": tag must be P or F");
  }
  out.partial = first_tag == "P";
  if (s3 != std::string_view::npos) out.message = std::string(line.substr(s3 + 1));
  return out;
}

Result<LogLine> ParseDockerLine(std::string_view line) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument("docker log line \"" + Head(line) + "\": " + e.what());
  }
  if (!doc.is_object() || !doc.contains("log") || !doc["log"].is_string() ||
      !doc.contains("time") || !doc["time"].is_string()) {
    return InvalidArgument("docker log line \"" + Head(line) +
                           "\": expected an object with \"log\" and \"time\" strings");
  }
  LogLine out;
  auto ts = ParseRfc3339Nanos(doc["time"].get<std::string>());
  if (!ts.ok())
    return InvalidArgument("docker log line \"" + Head(line) +
                           "\": time: " + ts.status().message());
  out.ts_ns = *ts;
  const std::string stream = doc.contains("stream") && doc["stream"].is_string()
                                 ? doc["stream"].get<std::string>()
                                 : "stdout";
  out.stream = StreamName(stream);
  if (out.stream.empty()) {
    return InvalidArgument("docker log line \"" + Head(line) +
                           "\": stream must be stdout or stderr");
  }
  out.message = doc["log"].get<std::string>();
  if (!out.message.empty() && out.message.back() == '\n') {
    out.message.pop_back();
  } else {
    out.partial = true;
  }
  return out;
}

bool PartialJoiner::Add(LogLine line, LogLine& out, bool& truncated) {
  truncated = false;
  Pending& p = For(line.stream);
  if (p.skipping) {
    p.skipping = line.partial;
    return false;
  }
  if (!line.partial && !p.active) {
    if (line.message.size() > max_bytes_) {
      line.message.resize(max_bytes_);
      truncated = true;
    }
    out = std::move(line);
    return true;
  }
  if (!p.active) {
    p.active = true;
    p.ts_ns = line.ts_ns;  // a joined line has its first piece's time
    p.message.clear();
  }
  const size_t room = max_bytes_ - std::min(max_bytes_, p.message.size());
  if (line.message.size() > room) {
    p.message.append(line.message, 0, room);
    truncated = true;
  } else {
    p.message += line.message;
  }
  if (line.partial && !truncated) return false;
  p.skipping = line.partial;  // truncated mid-line: its remaining pieces are dropped
  out.ts_ns = p.ts_ns;
  out.stream = line.stream;
  out.partial = false;
  out.message = std::move(p.message);
  p.active = false;
  p.message.clear();
  return true;
}

bool PartialJoiner::Flush(std::string_view stream, LogLine& out) {
  Pending& p = For(stream);
  if (!p.active) return false;
  out.ts_ns = p.ts_ns;
  out.stream = stream == "stderr" ? "stderr" : "stdout";
  out.partial = false;
  out.message = std::move(p.message);
  p.active = false;
  p.message.clear();
  return true;
}

}  // namespace vigil::agent
