#include "vigil/agent/top.h"

#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <ostream>
#include <vector>

#include "container_collector.h"
#include "vigil/common/exposition.h"
#include "vigil/common/http_client.h"

namespace vigil::agent {
namespace {

// One container's counters at one moment.
struct Sample {
  std::string ns, pod, container, id;
  double cpu = 0, throttled = 0, periods = 0, memory = 0, limit = 0, rx = 0, tx = 0;
};

// A container's line: its gauges and the rates between two samples.
struct Row {
  std::string ns, pod, container, id;
  double cpu_pct = 0, memory = 0, limit = 0, throttled_pct = 0, rx_rate = 0, tx_rate = 0;
  std::string Name() const {
    if (!pod.empty()) return ns + "/" + pod + "/" + (container.empty() ? "-" : container);
    return id.size() > 12 ? id.substr(0, 12) : id;
  }
};

// Containers only (cgroups with a runtime id): the root, slices and pods' own cgroups are not.
std::map<std::string, Sample> FromFamilies(const std::vector<expo::Family>& families) {
  std::map<std::string, Sample> out;
  for (const auto& f : families) {
    for (const auto& s : f.samples) {
      const std::string_view name = s.labels.Get("name");
      if (name.empty()) continue;
      Sample& row = out[std::string(s.labels.Get("id"))];
      row.id = name;
      row.ns = s.labels.Get("namespace");
      row.pod = s.labels.Get("pod");
      if (row.container.empty()) row.container = s.labels.Get("container");
      const std::string_view metric = s.labels.MetricName();
      if (metric == "container_cpu_usage_seconds_total") row.cpu = s.value;
      if (metric == "container_cpu_cfs_throttled_periods_total") row.throttled = s.value;
      if (metric == "container_cpu_cfs_periods_total") row.periods = s.value;
      if (metric == "container_memory_working_set_bytes") row.memory = s.value;
      if (metric == "container_spec_memory_limit_bytes") row.limit = s.value;
      if (metric == "container_network_receive_bytes_total") row.rx += s.value;
      if (metric == "container_network_transmit_bytes_total") row.tx += s.value;
    }
  }
  return out;
}

std::vector<Row> Rates(const std::map<std::string, Sample>& before,
                       const std::map<std::string, Sample>& now, double seconds) {
  std::vector<Row> rows;
  for (const auto& [id, s] : now) {
    Row r{s.ns, s.pod, s.container, s.id};
    r.memory = s.memory;
    r.limit = s.limit;
    auto it = before.find(id);
    if (it != before.end() && seconds > 0) {
      const Sample& b = it->second;
      r.cpu_pct = std::max(0.0, (s.cpu - b.cpu) / seconds * 100);
      const double periods = s.periods - b.periods;
      r.throttled_pct = periods > 0 ? (s.throttled - b.throttled) / periods * 100 : 0;
      r.rx_rate = std::max(0.0, (s.rx - b.rx) / seconds);
      r.tx_rate = std::max(0.0, (s.tx - b.tx) / seconds);
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

std::string Bytes(double v) {
  static const char* kUnits[] = {"B", "K", "M", "G", "T"};
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f%s" : "%.1f%s", v, kUnits[u]);
  return buf;
}

class Source {
 public:
  Source(const Config& config, const TopOptions& options) : options_(options) {
    if (!options.server.empty()) return;
    auto collector = ContainerCollector::FromConfig(RealFileSystem(), config.agent);
    if (collector.ok()) {
      collector_ = std::move(*collector);
    } else {
      error_ = collector.status();
    }
  }

  Result<std::map<std::string, Sample>> Read() {
    if (!error_.ok()) return error_;
    if (collector_) {
      VIGIL_ASSIGN_OR_RETURN(auto view, collector_->Collect());
      return FromFamilies(view->ToFamilies());
    }
    std::string url = options_.server;
    while (!url.empty() && url.back() == '/') url.pop_back();
    VIGIL_ASSIGN_OR_RETURN(auto res, client_.Get(url + "/metrics"));
    if (res.status != 200) {
      return Status(StatusCode::kUnavailable,
                    url + "/metrics answered " + std::to_string(res.status));
    }
    VIGIL_ASSIGN_OR_RETURN(
        auto families,
        expo::Parse(res.body, expo::FormatFromContentType(res.Header("Content-Type"))));
    return FromFamilies(families);
  }

 private:
  TopOptions options_;
  Status error_;
  std::unique_ptr<ContainerCollector> collector_;
  http::HttpClient client_;
};

enum class SortKey { kCpu, kMemory, kThrottle, kNetwork, kName };

struct View {
  SortKey key = SortKey::kCpu;
  bool reverse = false;
  std::string filter;
  bool editing = false;
  std::string editing_text;
};

void SortRows(std::vector<Row>& rows, const View& v) {
  auto value = [&](const Row& r) -> double {
    switch (v.key) {
      case SortKey::kCpu:
        return r.cpu_pct;
      case SortKey::kMemory:
        return r.memory;
      case SortKey::kThrottle:
        return r.throttled_pct;
      case SortKey::kNetwork:
        return r.rx_rate + r.tx_rate;
      case SortKey::kName:
        return 0;
    }
    return 0;
  };
  std::stable_sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) {
    const bool less = v.key == SortKey::kName ? a.Name() < b.Name() : value(a) > value(b);
    const bool greater = v.key == SortKey::kName ? b.Name() < a.Name() : value(b) > value(a);
    return v.reverse ? greater : less;
  });
}

std::string Render(std::vector<Row> rows, const View& v, int width, int height,
                   const std::string& status) {
  if (!v.filter.empty()) {
    std::erase_if(rows, [&](const Row& r) {
      return r.Name().find(v.filter) == std::string::npos &&
             r.id.find(v.filter) == std::string::npos;
    });
  }
  SortRows(rows, v);
  static const char* kKeyNames[] = {"CPU", "MEM", "THROTTLE", "NET", "NAME"};
  std::string out;
  char line[512];
  std::snprintf(line, sizeof(line), "vigil top - %zu containers - sorted by %s%s%s%s", rows.size(),
                kKeyNames[static_cast<int>(v.key)], v.reverse ? " (reversed)" : "",
                v.filter.empty() ? "" : " - filter: ", v.filter.c_str());
  out += line;
  out += "\n";
  if (v.editing) {
    out += "filter: " + v.editing_text + "_\n";
  } else {
    out += "keys: c m t n i sort (again: reverse)  / filter  q quit" +
           (status.empty() ? std::string() : "  [" + status + "]") + "\n";
  }
  const int name_width = std::max(20, width - 60);
  std::snprintf(line, sizeof(line), "%-*s %7s %9s %6s %9s %9s %9s\n", name_width, "CONTAINER",
                "CPU%", "MEM", "MEM%", "THROTTLE%", "RX/s", "TX/s");
  out += line;
  int shown = 0;
  for (const Row& r : rows) {
    if (height > 0 && shown >= height - 4) break;
    std::string name = r.Name();
    if (static_cast<int>(name.size()) > name_width) name.resize(static_cast<size_t>(name_width));
    const std::string mem_pct =
        r.limit > 0 ? std::to_string(static_cast<int>(std::lround(r.memory / r.limit * 100))) : "-";
    std::snprintf(line, sizeof(line), "%-*s %7.1f %9s %6s %9.1f %9s %9s\n", name_width,
                  name.c_str(), r.cpu_pct, Bytes(r.memory).c_str(), mem_pct.c_str(),
                  r.throttled_pct, Bytes(r.rx_rate).c_str(), Bytes(r.tx_rate).c_str());
    out += line;
    ++shown;
  }
  return out;
}

// Raw terminal input for the life of the view; restored on every exit path.
class RawTerminal {
 public:
  RawTerminal() {
    if (!::isatty(STDIN_FILENO) || ::tcgetattr(STDIN_FILENO, &saved_) != 0) return;
    termios raw = saved_;
    raw.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO));
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    active_ = ::tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
  }
  ~RawTerminal() {
    if (active_) ::tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  bool active() const { return active_; }

 private:
  termios saved_{};
  bool active_ = false;
};

void TerminalSize(int& width, int& height) {
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
    width = ws.ws_col;
    height = ws.ws_row;
  }
}

}  // namespace

Status RunTop(const Config& config, const TopOptions& options, std::ostream& out) {
  Source source(config, options);
  VIGIL_ASSIGN_OR_RETURN(auto before, source.Read());
  auto before_time = std::chrono::steady_clock::now();
  View view;
  if (options.once) {
    ::usleep(static_cast<useconds_t>(std::min<int64_t>(options.interval.count(), 10'000) * 1000));
    VIGIL_ASSIGN_OR_RETURN(auto now, source.Read());
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - before_time).count();
    out << Render(Rates(before, now, secs), view, 120, 0, "");
    return Status::Ok();
  }
  RawTerminal term;
  out << "\x1b[?1049h\x1b[?25l";  // the alternate screen, no cursor
  std::vector<Row> rows = Rates(before, before, 0);
  std::string status;
  auto next_sample = before_time + options.interval;
  bool quit = false;
  while (!quit) {
    int width = 120, height = 40;
    TerminalSize(width, height);
    out << "\x1b[H\x1b[2J" << Render(rows, view, width, height, status) << std::flush;
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        next_sample - std::chrono::steady_clock::now());
    pollfd pfd{STDIN_FILENO, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, static_cast<int>(std::max<int64_t>(0, wait.count())));
    if (ready > 0) {
      char buf[64];
      const ssize_t n = ::read(STDIN_FILENO, buf, sizeof(buf));
      if (n == 0 && !term.active()) quit = true;  // stdin closed
      for (ssize_t i = 0; i < n; ++i) {
        const char c = buf[i];
        if (view.editing) {
          if (c == '\n' || c == '\r') {
            view.filter = view.editing_text;
            view.editing = false;
          } else if (c == 27) {
            view.filter.clear();
            view.editing = false;
          } else if (c == 127 || c == 8) {
            if (!view.editing_text.empty()) view.editing_text.pop_back();
          } else if (c >= 32 && c < 127) {
            view.editing_text += c;
          }
          continue;
        }
        auto sort = [&](SortKey k) {
          view.reverse = view.key == k ? !view.reverse : false;
          view.key = k;
        };
        switch (c) {
          case 'q':
            quit = true;
            break;
          case 'c':
            sort(SortKey::kCpu);
            break;
          case 'm':
            sort(SortKey::kMemory);
            break;
          case 't':
            sort(SortKey::kThrottle);
            break;
          case 'n':
            sort(SortKey::kNetwork);
            break;
          case 'i':
            sort(SortKey::kName);
            break;
          case '/':
            view.editing = true;
            view.editing_text.clear();
            break;
          case 27:
            view.filter.clear();
            break;
          default:
            break;
        }
      }
      continue;
    }
    auto now = source.Read();
    const auto now_time = std::chrono::steady_clock::now();
    if (now.ok()) {
      rows = Rates(before, *now, std::chrono::duration<double>(now_time - before_time).count());
      before = std::move(*now);
      before_time = now_time;
      status.clear();
    } else {
      status = now.status().ToString();
    }
    next_sample = now_time + options.interval;
  }
  out << "\x1b[?25h\x1b[?1049l" << std::flush;
  return Status::Ok();
}

}  // namespace vigil::agent
