// The log tailer alone, without the network: LogTailer::ReadBatch over a file of CRI lines (the
// follower, each line parsed, partials joined, labelled, batched into 1 MiB push requests and
// encoded as the agent sends them: protobuf, snappy), with nothing pushed. Reports lines, MiB
// and CPU seconds, and MiB/s per core (MiB over CPU seconds). --generate writes the file first:
// realistic access-log lines in CRI format, one in 50 split into two partials.
//
//   build/bench/log_tail --generate 1000000 --file /dev/shm/cri.log
//   build/bench/log_tail --file /dev/shm/cri.log

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "log_tailer.h"

namespace {

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

void Generate(const std::string& path, long lines) {
  std::ofstream out(path, std::ios::trunc);
  std::mt19937 engine(42);
  auto rng = [&engine] { return static_cast<unsigned>(engine()); };
  const char* paths[] = {"/api/v1/items", "/api/v1/users", "/healthz", "/static/app.js",
                         "/api/v1/orders"};
  const char* agents[] = {"Go-http-client/1.1", "curl/7.88.1",
                          "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"};
  const int codes[] = {200, 200, 200, 201, 304, 404, 500};
  int64_t ts = int64_t{1'764'489'600} * 1'000'000'000;  // 2025-11-30T08:00:00Z
  char buf[512];
  for (long i = 0; i < lines; ++i) {
    ts += 1'000'000 + rng() % 1000;
    const time_t secs = static_cast<time_t>(ts / 1'000'000'000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char stamp[40];
    std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    const int n = std::snprintf(
        buf, sizeof(buf),
        "10.%u.%u.%u - - [30/Nov/2025:08:00:00 +0000] \"GET %s/%u HTTP/1.1\" %d %u \"-\" \"%s\" "
        "rt=0.%03u req=%08x",
        rng() % 256, rng() % 256, rng() % 256, paths[rng() % 5], rng() % 100000, codes[rng() % 7],
        200 + rng() % 5000, agents[rng() % 3], rng() % 1000, rng());
    std::string msg(buf, n);
    char prefix[64];
    std::snprintf(prefix, sizeof(prefix), "%s.%09lldZ %s ", stamp,
                  static_cast<long long>(ts % 1'000'000'000), i % 7 == 0 ? "stderr" : "stdout");
    if (i % 50 == 0) {  // a long line the runtime split
      out << prefix << "P " << msg.substr(0, 60) << '\n'
          << prefix << "F " << msg.substr(60) << '\n';
    } else {
      out << prefix << "F " << msg << '\n';
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string file = "/dev/shm/vigil-cri.log";
  long generate = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--file") file = argv[i + 1];
    if (a == "--generate") generate = std::atol(argv[i + 1]);
  }
  if (generate > 0) {
    Generate(file, generate);
    std::fprintf(stderr, "wrote %ld lines to %s\n", generate, file.c_str());
    return 0;
  }
  using namespace vigil;
  agent::LogTailerOptions o;
  o.globs = {file};
  o.positions_file = file + ".positions";
  o.inotify = false;
  std::filesystem::remove(o.positions_file);  // from the start, always
  agent::LogTailer tailer(RealFileSystem(), RealClock(), o);
  const double cpu0 = CpuSeconds();
  const auto wall0 = std::chrono::steady_clock::now();
  size_t lines = 0, encoded = 0;
  for (;;) {
    const agent::LogTailer::Batch b = tailer.ReadBatch();
    if (b.lines == 0) break;
    lines += b.lines;
    encoded += b.body.size();
  }
  const double cpu = CpuSeconds() - cpu0;
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  std::filesystem::remove(o.positions_file);
  const double mib = static_cast<double>(std::filesystem::file_size(file)) / 1048576.0;
  std::printf(
      "{\"lines\": %zu, \"file_mib\": %.1f, \"encoded_mib\": %.1f, \"cpu_s\": %.3f, "
      "\"wall_s\": %.3f, \"mib_per_cpu_s\": %.1f, \"lines_per_cpu_s\": %.0f}\n",
      lines, mib, encoded / 1048576.0, cpu, wall, mib / cpu, lines / cpu);
  return 0;
}
