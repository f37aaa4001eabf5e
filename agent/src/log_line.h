#pragma once

// Container log lines as the kubelet's runtimes write them:
// - CRI (containerd, CRI-O): `<RFC 3339 ns> <stdout|stderr> <P|F> <message>`; P marks a
//   partial line, continued by the next ones of the same stream up to an F;
// - docker json-file: `{"log":"<message>\n","stream":"stdout","time":"<RFC 3339 ns>"}`; a
//   message without its trailing newline is partial (docker splits lines at 16 KiB).
// The format is decided per file from its first line (DetectFormat). A line that parses as
// neither is shipped raw by the tailer and counted, never dropped.

#include <cstdint>
#include <string>
#include <string_view>

#include "vigil/common/status.h"

namespace vigil::agent {

enum class LogFormat { kCri, kDocker };

struct LogLine {
  int64_t ts_ns = 0;
  std::string_view stream;  // "stdout" or "stderr"
  bool partial = false;
  std::string message;  // without the trailing newline
};

LogFormat DetectFormat(std::string_view first_line);

// Errors name what is wrong and at which byte, without the line's content past 64 bytes.
Result<LogLine> ParseCriLine(std::string_view line);
Result<LogLine> ParseDockerLine(std::string_view line);
inline Result<LogLine> ParseLogLine(LogFormat f, std::string_view line) {
  return f == LogFormat::kCri ? ParseCriLine(line) : ParseDockerLine(line);
}

// Joins the pieces of partial lines per stream, up to `max_bytes`: past it the line is cut there,
// handed out marked truncated, and the rest of its pieces (up to its final F piece) dropped.
class PartialJoiner {
 public:
  explicit PartialJoiner(size_t max_bytes) : max_bytes_(max_bytes) {}
  // Feeds a parsed line; returns true and sets `out` when a whole line is ready.
  bool Add(LogLine line, LogLine& out, bool& truncated);
  // What is pending for a stream (to flush at the end of a file); false if nothing.
  bool Flush(std::string_view stream, LogLine& out);

 private:
  struct Pending {
    bool active = false;
    bool skipping = false;  // the rest of a line already handed out truncated
    int64_t ts_ns = 0;
    std::string message;
  };
  Pending& For(std::string_view stream) { return stream == "stderr" ? err_ : out_; }
  size_t max_bytes_;
  Pending out_, err_;
};

}  // namespace vigil::agent
