#pragma once

// Helpers for tests that run real programs: temporary directories, free loopback ports, child
// processes, and readiness checks (poll until a condition holds, with a deadline; never a fixed
// sleep).

#include <sys/types.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "vigil/common/http_client.h"
#include "vigil/common/loki_push.h"

namespace vigil::testing {

// A fresh directory under $TMPDIR, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string Join(const std::string& name) const { return path_ + "/" + name; }
  void Write(const std::string& name, const std::string& content) const;

 private:
  std::string path_;
};

// Writes `content` to `path`, making its parent directories first.
void WriteFile(const std::string& path, const std::string& content);

// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released). For
// peers that cannot report the port they bound themselves.
int FreePort();

// True if `path` is an executable found on PATH (or an absolute path).
bool HaveProgram(const std::string& name);

// A child process with stdout and stderr captured to files in `log_dir`.
class Subprocess {
 public:
  Subprocess(std::vector<std::string> argv, const std::string& log_dir,
             std::map<std::string, std::string> env = {});
  ~Subprocess();  // SIGKILL if still running

  pid_t pid() const { return pid_; }
  bool Running();
  // Sends `sig` and waits up to `timeout` for exit; returns the wait status or -1 on timeout.
  int Stop(int sig, std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Waits for exit; returns the raw wait status, or -1 on timeout.
  int Wait(std::chrono::milliseconds timeout = std::chrono::seconds(20));
  std::string Stdout() const;
  std::string Stderr() const;

 private:
  pid_t pid_ = -1;
  int status_ = -1;
  std::string out_path_;
  std::string err_path_;
};

// Runs a command to completion; returns its exit code (or -1), with stdout and stderr.
struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
RunResult Run(std::vector<std::string> argv,
              std::chrono::milliseconds timeout = std::chrono::seconds(60));

// Polls `cond` every 20 ms until it returns true or `timeout` passes; returns whether it held.
bool WaitFor(const std::function<bool()>& cond,
             std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Polls GET `url` until it answers 200.
bool WaitForHttpOk(const std::string& url,
                   std::chrono::milliseconds timeout = std::chrono::seconds(30));

std::string ReadFileOrEmpty(const std::string& path);

// A vigil daemon started as `<binary> <args...> --listen 127.0.0.1:0`: it picks its own port
// and the address is read from its "is up: http://ADDR/" log line (the readiness signal).
// address() is empty if it exited first.
class VigilProcess {
 public:
  VigilProcess(const std::string& binary, std::vector<std::string> args,
               const std::string& log_dir);
  const std::string& address() const { return address_; }  // "http://127.0.0.1:PORT"
  std::string Url(const std::string& path) const { return address_ + path; }
  Subprocess& proc() { return *proc_; }

 private:
  std::unique_ptr<Subprocess> proc_;
  std::string address_;
};

// `<binary> <command> --listen 127.0.0.1:0 --data-dir <dir>/<name> <extra…>`, logging to
// <dir>/<name>-logs: a store, a front or any vigil daemon of a test.
std::unique_ptr<VigilProcess> StartVigil(const std::string& binary, const std::string& command,
                                         const TempDir& dir, const std::string& name,
                                         const std::vector<std::string>& extra = {});

// A query answer's series (Prometheus' or Loki's JSON: a vector, matrix or scalar) as their
// labels (JSON text, "" for a scalar) → [seconds, value] points, for comparing two answers.
using AnswerPoints = std::map<std::string, std::vector<std::pair<double, double>>>;
AnswerPoints PointsOf(const nlohmann::json& answer);
// Fails the test where `got` differs from `want` beyond float rounding (relative 1e-12): the
// same series, at the same times.
void ExpectSamePoints(const AnswerPoints& want, const AnswerPoints& got, const std::string& what);

// A POST of a remote_write body with the headers of the specification.
http::ClientRequest RemoteWritePost(const std::string& url, std::string body);

// The value of one series in the text exposition at `url` (`series` as written there:
// name{labels} or name), or -1 when absent or unreachable.
double MetricValue(const std::string& url, const std::string& series);

// Rotates the log at `path` that `out` appends to, as the n-th rotation of a storm: an even n
// the kubelet's way (renamed to path.<n, 6 digits>, a new file made), an odd n logrotate's
// copytruncate (copied to that name, then cut to 0). `out` appends to `path` after either.
void RotateLog(std::ofstream& out, const std::string& path, int n);

// The wall clock in Unix nanoseconds.
int64_t NowNs();

// POSTs a Loki push (snappy protobuf, or JSON) to `base`/loki/api/v1/push; the answer.
http::ClientResponse LokiPush(http::HttpClient& c, const std::string& base,
                              const std::vector<loki::Stream>& streams, bool proto = true);

// Every entry of `selector` in [start_ns, end_ns) from `base`'s Loki query_range (up to 5000),
// oldest first, with its stream's labels. A failed query fails the test and returns nothing.
struct LokiEntry {
  std::map<std::string, std::string> labels;
  int64_t ts_ns = 0;
  std::string line;
};
std::vector<LokiEntry> LokiEntries(http::HttpClient& c, const std::string& base,
                                   const std::string& selector, int64_t start_ns, int64_t end_ns);
// The lines of the last hour, oldest first.
std::vector<std::string> LokiLastHour(http::HttpClient& c, const std::string& base,
                                      const std::string& selector);

// Waits up to a minute until every member of a consumer group reports `n` partitions in its
// gauge `metric` (vigil_<component>_kafka_consumer_partitions): the group has settled.
bool WaitForPartitions(const std::vector<VigilProcess*>& members, const std::string& metric,
                       double n);

// librdkafka's mock cluster (the vigil_kafka_mock binary at `binary`): 3 brokers on loopback
// ports, with `topic` ("name:partitions") made, its state under `dir`.
class KafkaMock {
 public:
  KafkaMock(const std::string& binary, const std::string& dir, const std::string& topic);
  const std::string& bootstrap() const { return bootstrap_; }  // empty if it did not start
  // Sends a command ("down all", "up all") and waits for its answer.
  bool Command(const std::string& cmd);

 private:
  size_t Answers() const;
  std::string control_;
  std::string bootstrap_;
  std::unique_ptr<Subprocess> proc_;
};

}  // namespace vigil::testing
