#include "testing.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <regex>

#include "vigil/common/http_client.h"
#include "vigil/common/http_util.h"
#include "vigil/common/remote_write.h"

namespace vigil::testing {

TempDir::TempDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp ? tmp : "/tmp") + "/vigil-test-XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = buf.data();
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void TempDir::Write(const std::string& name, const std::string& content) const {
  WriteFile(Join(name), content);
}

void WriteFile(const std::string& path, const std::string& content) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary);
  out << content;
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool HaveProgram(const std::string& name) {
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0;
  const char* path = std::getenv("PATH");
  std::stringstream ss(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(ss, dir, ':');) {
    if (::access((dir + "/" + name).c_str(), X_OK) == 0) return true;
  }
  return false;
}

Subprocess::Subprocess(std::vector<std::string> argv, const std::string& log_dir,
                       std::map<std::string, std::string> env) {
  static int counter = 0;
  std::string base = log_dir + "/" + std::filesystem::path(argv[0]).filename().string() + "." +
                     std::to_string(++counter);
  out_path_ = base + ".out";
  err_path_ = base + ".err";
  pid_ = ::fork();
  if (pid_ == 0) {
    // Child: a process group of its own, so a test's Ctrl-C does not reach it twice.
    ::setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    std::FILE* out = std::fopen(out_path_.c_str(), "w");
    std::FILE* err = std::fopen(err_path_.c_str(), "w");
    if (out) ::dup2(fileno(out), 1);
    if (err) ::dup2(fileno(err), 2);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::perror("execvp");
    ::_exit(127);
  }
}

Subprocess::~Subprocess() {
  if (pid_ > 0 && status_ == -1) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status_, 0);
  }
}

bool Subprocess::Running() {
  if (status_ != -1) return false;
  int st;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = st;
    return false;
  }
  return true;
}

int Subprocess::Wait(std::chrono::milliseconds timeout) {
  if (!WaitFor([&] { return !Running(); }, timeout)) return -1;
  return status_;
}

int Subprocess::Stop(int sig, std::chrono::milliseconds timeout) {
  if (Running()) ::kill(pid_, sig);
  return Wait(timeout);
}

std::string Subprocess::Stdout() const { return ReadFileOrEmpty(out_path_); }
std::string Subprocess::Stderr() const { return ReadFileOrEmpty(err_path_); }

RunResult Run(std::vector<std::string> argv, std::chrono::milliseconds timeout) {
  TempDir logs;
  Subprocess p(std::move(argv), logs.path());
  RunResult r;
  int st = p.Wait(timeout);
  if (st != -1 && WIFEXITED(st)) r.exit_code = WEXITSTATUS(st);
  r.out = p.Stdout();
  r.err = p.Stderr();
  return r;
}

bool WaitFor(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

bool WaitForHttpOk(const std::string& url, std::chrono::milliseconds timeout) {
  http::ClientOptions opts;
  opts.connect_timeout = std::chrono::milliseconds(500);
  opts.request_timeout = std::chrono::seconds(5);
  http::HttpClient client(opts);
  return WaitFor(
      [&] {
        auto r = client.Get(url);
        return r.ok() && r->status == 200;
      },
      timeout);
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

VigilProcess::VigilProcess(const std::string& binary, std::vector<std::string> args,
                           const std::string& log_dir) {
  std::vector<std::string> argv = {binary};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--listen", "127.0.0.1:0"});
  proc_ = std::make_unique<Subprocess>(argv, log_dir);
  const std::regex up_re("is up: (https?://[0-9.]+:[0-9]+)/");
  WaitFor([&] {
    std::smatch m;
    const std::string err = proc_->Stderr();
    if (std::regex_search(err, m, up_re)) {
      address_ = m[1].str();
      return true;
    }
    return !proc_->Running();
  });
}

std::unique_ptr<VigilProcess> StartVigil(const std::string& binary, const std::string& command,
                                         const TempDir& dir, const std::string& name,
                                         const std::vector<std::string>& extra) {
  const std::string logs = dir.Join(name + "-logs");
  std::filesystem::create_directories(logs);
  std::vector<std::string> args = {command, "--listen", "127.0.0.1:0", "--data-dir",
                                   dir.Join(name)};
  args.insert(args.end(), extra.begin(), extra.end());
  return std::make_unique<VigilProcess>(binary, args, logs);
}

AnswerPoints PointsOf(const nlohmann::json& answer) {
  AnswerPoints out;
  const auto& data = answer["data"];
  auto point = [](const nlohmann::json& p) {
    return std::pair<double, double>(p[0].get<double>(), std::stod(p[1].get<std::string>()));
  };
  if (data["resultType"] == "scalar") {
    out[""] = {point(data["result"])};
    return out;
  }
  for (const auto& s : data["result"]) {
    auto& pts = out[s["metric"].dump()];
    if (s.contains("value")) pts.push_back(point(s["value"]));
    if (s.contains("values")) {
      for (const auto& p : s["values"]) pts.push_back(point(p));
    }
  }
  return out;
}

void ExpectSamePoints(const AnswerPoints& want, const AnswerPoints& got, const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [labels, points] : want) {
    auto it = got.find(labels);
    ASSERT_TRUE(it != got.end()) << labels << " missing";
    ASSERT_EQ(it->second.size(), points.size()) << labels;
    for (size_t i = 0; i < points.size(); ++i) {
      EXPECT_EQ(it->second[i].first, points[i].first) << labels;
      const double w = points[i].second;
      if (std::isnan(w)) {
        EXPECT_TRUE(std::isnan(it->second[i].second)) << labels;
      } else {
        EXPECT_NEAR(it->second[i].second, w, std::fabs(w) * 1e-12 + 1e-12) << labels;
      }
    }
  }
}

http::ClientRequest RemoteWritePost(const std::string& url, std::string body) {
  http::ClientRequest req;
  req.method = "POST";
  req.url = url;
  req.headers = {{"Content-Type", std::string(remote::kContentType)},
                 {"Content-Encoding", std::string(remote::kContentEncoding)},
                 {std::string(remote::kVersionHeader), std::string(remote::kVersion)}};
  req.body = std::move(body);
  return req;
}

double MetricValue(const std::string& url, const std::string& series) {
  auto r = http::HttpClient().Get(url);
  if (!r.ok() || r->status != 200) return -1;
  std::istringstream in(r->body);
  for (std::string line; std::getline(in, line);) {
    if (line.size() > series.size() && line.starts_with(series) && line[series.size()] == ' ') {
      return std::strtod(line.c_str() + series.size() + 1, nullptr);
    }
  }
  return -1;
}

void RotateLog(std::ofstream& out, const std::string& path, int n) {
  out.flush();
  char suffix[32];
  std::snprintf(suffix, sizeof(suffix), ".%06d", n);
  if (n % 2 == 0) {
    out.close();
    std::filesystem::rename(path, path + suffix);
    out.open(path, std::ios::app);
  } else {
    std::filesystem::copy_file(path, path + suffix);
    std::filesystem::resize_file(path, 0);  // `out` appends (O_APPEND): on at the new end
  }
}

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

http::ClientResponse LokiPush(http::HttpClient& c, const std::string& base,
                              const std::vector<loki::Stream>& streams, bool proto) {
  http::ClientRequest req;
  req.method = "POST";
  req.url = base + "/loki/api/v1/push";
  req.body = proto ? loki::EncodePush(streams) : loki::EncodePushJson(streams);
  req.headers.emplace_back(
      "Content-Type", std::string(proto ? loki::kProtobufContentType : loki::kJsonContentType));
  auto r = c.Do(req);
  return r.ok() ? *r : http::ClientResponse{};
}

std::vector<LokiEntry> LokiEntries(http::HttpClient& c, const std::string& base,
                                   const std::string& selector, int64_t start_ns, int64_t end_ns) {
  const std::string url = base + "/loki/api/v1/query_range?direction=forward&limit=5000&query=" +
                          http::PercentEncode(selector) + "&start=" + std::to_string(start_ns) +
                          "&end=" + std::to_string(end_ns);
  auto r = c.Get(url);
  EXPECT_TRUE(r.ok() && r->status == 200)
      << url << ": " << (r.ok() ? r->body : r.status().ToString());
  std::vector<LokiEntry> out;
  if (!r.ok() || r->status != 200) return out;
  const nlohmann::json body = nlohmann::json::parse(r->body, nullptr, false);
  if (body.is_discarded()) return out;
  for (const auto& s : body["data"]["result"]) {
    std::map<std::string, std::string> labels = s["stream"];
    for (const auto& v : s["values"]) {
      out.push_back({labels, std::stoll(v[0].get<std::string>()), v[1].get<std::string>()});
    }
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const LokiEntry& a, const LokiEntry& b) { return a.ts_ns < b.ts_ns; });
  return out;
}

std::vector<std::string> LokiLastHour(http::HttpClient& c, const std::string& base,
                                      const std::string& selector) {
  std::vector<std::string> out;
  const int64_t now = NowNs();
  for (auto& e :
       LokiEntries(c, base, selector, now - int64_t{3600} * 1'000'000'000, now + 1'000'000'000)) {
    out.push_back(std::move(e.line));
  }
  return out;
}

bool WaitForPartitions(const std::vector<VigilProcess*>& members, const std::string& metric,
                       double n) {
  return WaitFor(
      [&] {
        for (VigilProcess* m : members) {
          if (MetricValue(m->Url("/metrics"), metric) != n) return false;
        }
        return true;
      },
      std::chrono::seconds(60));
}

KafkaMock::KafkaMock(const std::string& binary, const std::string& dir, const std::string& topic)
    : control_(dir + "/control") {
  std::filesystem::create_directories(dir);
  proc_ = std::make_unique<Subprocess>(
      std::vector<std::string>{binary, "--brokers", "3", "--topic", topic, "--control", control_},
      dir);
  const std::regex re("bootstrap (\\S+)");
  WaitFor([&] {
    std::smatch m;
    const std::string out = proc_->Stdout();
    if (std::regex_search(out, m, re)) bootstrap_ = m[1].str();
    return !bootstrap_.empty() || !proc_->Running();
  });
}

bool KafkaMock::Command(const std::string& cmd) {
  const size_t before = Answers();
  const int fd = ::open(control_.c_str(), O_WRONLY);
  if (fd < 0) return false;
  const std::string line = cmd + "\n";
  const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ::close(fd);
  return ok && WaitFor([&] { return Answers() > before; });
}

size_t KafkaMock::Answers() const {
  const std::string out = proc_->Stdout();
  size_t n = 0;
  for (size_t p = out.find("\nok"); p != std::string::npos; p = out.find("\nok", p + 1)) ++n;
  return n;
}

}  // namespace vigil::testing
