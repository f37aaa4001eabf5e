#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "testing.h"
#include "vigil/common/http_client.h"
#include "vigil/common/http_server.h"
#include "vigil/common/self_metrics.h"

namespace vigil::http {
namespace {

using namespace std::chrono_literals;

// Sends raw bytes on a fresh connection and returns everything read until the server closes it
// (or 10 s pass).
std::string RawExchange(uint16_t port, const std::string& bytes, bool half_close = false) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  size_t sent = 0;
  while (sent < bytes.size()) {
    ssize_t w = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (w <= 0) break;  // the server may close early (413)
    sent += static_cast<size_t>(w);
  }
  if (half_close) ::shutdown(fd, SHUT_WR);
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t r = ::recv(fd, buf, sizeof(buf), 0);
    if (r <= 0) break;
    out.append(buf, static_cast<size_t>(r));
  }
  ::close(fd);
  return out;
}

class HttpTest : public ::testing::Test {
 protected:
  void Start(ServerOptions opts = {}) {
    opts.listen = "127.0.0.1:0";
    Router r;
    r.Get("/hello", [](const Request& req, Response& res) {
      res = Response::Text(200, "hello " + req.Param("name").value_or("world"));
    });
    r.Get("/api/v1/label/{name}/values", [](const Request& req, Response& res) {
      res = Response::Json(200, "{\"label\":\"" + std::string(req.PathParam("name")) + "\"}");
    });
    r.GetPost("/echo", [](const Request& req, Response& res) {
      std::string out;
      for (const auto& v : req.ParamValues("match[]")) out += v + ";";
      res =
          Response::Text(200, req.method + " " + out + " body=" + std::to_string(req.body.size()));
    });
    r.Handle({"GET", "HEAD"}, "/both",
             [](const Request&, Response& res) { res = Response::Text(200, "twelve bytes"); });
    r.Get("/big", [](const Request&, Response& res) {
      res = Response::Text(200, std::string(100'000, 'x'));
    });
    r.Get("/throw", [](const Request&, Response&) { throw std::runtime_error("boom"); });
    r.Get("/block", [this](const Request&, Response& res) {
      entered_.set_value();
      release_.get_future().wait();
      res = Response::Text(200, "released");
    });
    auto s = HttpServer::Start(opts, std::move(r));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(*s);
    base_ = "http://127.0.0.1:" + std::to_string(server_->port());
  }

  std::unique_ptr<HttpServer> server_;
  std::string base_;
  std::promise<void> entered_;
  std::promise<void> release_;
};

TEST_F(HttpTest, RoutesParamsAndErrors) {
  Start();
  HttpClient c;
  auto r = c.Get(base_ + "/hello?name=a%20b");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello a b");
  EXPECT_EQ(c.Get(base_ + "/api/v1/label/job/values")->body, "{\"label\":\"job\"}");
  EXPECT_EQ(c.Get(base_ + "/api/v1/label/job/values")->Header("content-type"), "application/json");
  EXPECT_EQ(c.Get(base_ + "/nope")->status, 404);
  auto post = c.Post(base_ + "/hello", "text/plain", "x");
  EXPECT_EQ(post->status, 405);
  EXPECT_EQ(post->Header("Allow"), "GET");
  auto form = c.Post(base_ + "/echo?match[]=a", "application/x-www-form-urlencoded",
                     "match%5B%5D=up%7Bjob%3D%22x%22%7D&match[]=b");
  EXPECT_EQ(form->body, "POST up{job=\"x\"};b;a; body=43");
  EXPECT_EQ(c.Get(base_ + "/hello?name=%zz")->status, 400);
  EXPECT_EQ(c.Get(base_ + "/throw")->status, 500);
}

TEST_F(HttpTest, HeadGetsTheHeadersWithoutABody) {
  Start();
  HttpClient c;
  ClientRequest head;
  head.method = "HEAD";
  head.url = base_ + "/both";
  for (int i = 0; i < 2; ++i) {  // twice: the connection stays usable after a HEAD
    auto r = c.Do(head);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "");
    EXPECT_EQ(r->Header("Content-Length"), "12");
  }
  EXPECT_EQ(c.Get(base_ + "/both")->body, "twelve bytes");
  EXPECT_EQ(c.connections_opened(), 1u);
}

TEST_F(HttpTest, KeepAliveReusesOneConnection) {
  Start();
  HttpClient c;
  for (int i = 0; i < 5; ++i) ASSERT_EQ(c.Get(base_ + "/hello")->status, 200);
  EXPECT_EQ(c.connections_opened(), 1u);
}

TEST_F(HttpTest, BodyOverTheLimitGets413) {
  ServerOptions opts;
  opts.max_body_bytes = 1000;
  Start(opts);
  HttpClient c;
  EXPECT_EQ(c.Post(base_ + "/echo", "text/plain", std::string(1000, 'a'))->status, 200);
  auto big = c.Post(base_ + "/echo", "text/plain", std::string(200'000, 'a'));
  ASSERT_TRUE(big.ok()) << big.status().ToString();
  EXPECT_EQ(big->status, 413);
  EXPECT_NE(big->body.find("the limit is 1000 bytes, Content-Length is 200000"), std::string::npos)
      << big->body;
  // Chunked, so the size is only known while reading.
  std::string chunked =
      "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "7d0\r\n" +
      std::string(2000, 'b') + "\r\n0\r\n\r\n";
  EXPECT_EQ(RawExchange(server_->port(), chunked).substr(0, 12), "HTTP/1.1 413");
}

TEST_F(HttpTest, MalformedRequestsGet400OrAreClosed) {
  Start();
  EXPECT_EQ(RawExchange(server_->port(), "GARBAGE\r\n\r\n").substr(0, 12), "HTTP/1.1 400");
  std::string huge_header =
      "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(100'000, 'h') + "\r\n\r\n";
  EXPECT_EQ(RawExchange(server_->port(), huge_header).substr(0, 12), "HTTP/1.1 431");
}

TEST_F(HttpTest, SilentConnectionIsClosedAfterTheHeaderTimeout) {
  ServerOptions opts;
  opts.header_timeout = 200ms;
  Start(opts);
  // Sends half a request head and then nothing: the server must hang up by itself.
  std::string got = RawExchange(server_->port(), "GET /hello HTTP/1.1\r\nHo");
  EXPECT_EQ(got, "");
}

TEST_F(HttpTest, GzipWhenAsked) {
  Start();
  HttpClient plain;
  ClientRequest req;
  req.url = base_ + "/big";
  req.headers.emplace_back("Accept-Encoding", "gzip, deflate");
  auto raw = plain.Do(req);
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->Header("Content-Encoding"), "gzip");
  EXPECT_LT(raw->body.size(), 1000u);
  EXPECT_EQ(*GzipDecompress(raw->body, 1 << 20), std::string(100'000, 'x'));
  // Not asked, or refused with q=0: not compressed.
  EXPECT_EQ(plain.Get(base_ + "/big")->body.size(), 100'000u);
  req.headers = {{"Accept-Encoding", "gzip;q=0"}};
  EXPECT_EQ(plain.Do(req)->Header("Content-Encoding"), "");
  // Small bodies are not worth it.
  req.url = base_ + "/hello";
  req.headers = {{"Accept-Encoding", "gzip"}};
  EXPECT_EQ(plain.Do(req)->Header("Content-Encoding"), "");
  ClientOptions opts;
  opts.accept_gzip = true;
  HttpClient gz(opts);
  EXPECT_EQ(gz.Get(base_ + "/big")->body, std::string(100'000, 'x'));
}

TEST_F(HttpTest, BearerToken) {
  ServerOptions opts;
  opts.bearer_token = "s3cret";
  Start(opts);
  HttpClient anon;
  auto r = anon.Get(base_ + "/hello");
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(r->Header("WWW-Authenticate"), "Bearer");
  ClientOptions wrong_opts;
  wrong_opts.bearer_token = "s3crex";
  EXPECT_EQ(HttpClient(wrong_opts).Get(base_ + "/hello")->status, 401);
  ClientOptions right_opts;
  right_opts.bearer_token = "s3cret";
  EXPECT_EQ(HttpClient(right_opts).Get(base_ + "/hello")->status, 200);
  EXPECT_EQ(anon.Get(base_ + "/-/healthy")->status, 404);  // exempt from auth, not routed here
}

TEST_F(HttpTest, GracefulShutdownFinishesRequestsInFlight) {
  Start();
  auto in_flight =
      std::async(std::launch::async, [&] { return HttpClient().Get(base_ + "/block"); });
  entered_.get_future().wait();
  auto shutdown = std::async(std::launch::async, [&] { server_->Shutdown(); });
  // Shutdown waits for the request; release it only now.
  EXPECT_EQ(shutdown.wait_for(100ms), std::future_status::timeout);
  release_.set_value();
  auto r = in_flight.get();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, "released");
  EXPECT_EQ(r->Header("Connection"), "close");
  shutdown.get();
  auto after = HttpClient().Get(base_ + "/hello");
  EXPECT_FALSE(after.ok());
  EXPECT_EQ(after.status().code(), StatusCode::kUnavailable);
}

TEST(HttpShutdownTest, IdleKeepAliveConnectionsDoNotHoldShutdown) {
  // Regression: Shutdown() held the session registry's lock while dropping its references, and a
  // session destroyed by that drop unregistered itself under the same lock: a deadlock.
  for (int i = 0; i < 10; ++i) {
    ServerOptions opts;
    opts.listen = "127.0.0.1:0";
    Router r;
    r.Get("/x", [](const Request&, Response& res) { res = Response::Text(200, "x"); });
    auto server = HttpServer::Start(opts, std::move(r));
    ASSERT_TRUE(server.ok());
    // Many idle keep-alive connections, so sessions end while Shutdown() is still walking them.
    std::vector<std::unique_ptr<HttpClient>> clients;
    for (int c = 0; c < 64; ++c) {
      clients.push_back(std::make_unique<HttpClient>());
      ASSERT_EQ(clients.back()->Get("http://" + (*server)->address() + "/x")->status, 200);
    }
    auto done = std::async(std::launch::async, [&] { (*server)->Shutdown(); });
    ASSERT_EQ(done.wait_for(10s), std::future_status::ready) << "shutdown hung, iteration " << i;
  }
}

TEST_F(HttpTest, ClientTimesOut) {
  Start();
  ClientOptions opts;
  opts.request_timeout = 200ms;
  auto r = HttpClient(opts).Get(base_ + "/block");
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded) << r.status().ToString();
  release_.set_value();
}

TEST_F(HttpTest, ServerMetricsCountRequests) {
  Start();
  HttpClient c;
  ASSERT_EQ(c.Get(base_ + "/hello")->status, 200);
  ASSERT_EQ(c.Get(base_ + "/unknown/path")->status, 404);
  std::string m = SerializeSelfMetrics();
  EXPECT_NE(m.find("vigil_http_requests_total{code=\"200\",handler=\"/hello\"}"), std::string::npos)
      << m;
  EXPECT_NE(m.find("vigil_http_requests_total{code=\"404\",handler=\"other\"}"), std::string::npos);
  EXPECT_NE(m.find("vigil_http_request_duration_seconds_bucket{handler=\"/hello\""),
            std::string::npos);
  EXPECT_NE(m.find("process_resident_memory_bytes"), std::string::npos);
}

TEST(HttpServerStartTest, BadAddressesFailClearly) {
  ServerOptions opts;
  opts.listen = "localhost:0";
  auto r = HttpServer::Start(opts, Router());
  EXPECT_NE(r.status().message().find("is not an IP address"), std::string::npos);
  opts.listen = "127.0.0.1";
  EXPECT_NE(HttpServer::Start(opts, Router()).status().message().find("missing port"),
            std::string::npos);
  opts.listen = "127.0.0.1:0";
  auto first = HttpServer::Start(opts, Router());
  ASSERT_TRUE(first.ok());
  opts.listen = (*first)->address();
  auto taken = HttpServer::Start(opts, Router());
  EXPECT_EQ(taken.status().code(), StatusCode::kUnavailable);
  opts.listen = "127.0.0.1:0";
  opts.tls_cert_file = "/nonexistent.pem";
  opts.tls_key_file = "/nonexistent.key";
  EXPECT_NE(HttpServer::Start(opts, Router()).status().message().find("TLS certificate"),
            std::string::npos);
}

TEST(HttpClientTest, ConnectionRefusedIsUnavailable) {
  const int port = testing::FreePort();
  auto r = HttpClient().Get("http://127.0.0.1:" + std::to_string(port) + "/");
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(HttpClient().Get("ftp://x/").status().code(), StatusCode::kInvalidArgument);
}

TEST(HttpTlsTest, ServesAndVerifiesTls) {
  testing::TempDir dir;
  auto gen =
      testing::Run({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
                    "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-days", "1", "-keyout", dir.Join("key.pem"), "-out", dir.Join("cert.pem")});
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  ServerOptions opts;
  opts.listen = "127.0.0.1:0";
  opts.tls_cert_file = dir.Join("cert.pem");
  opts.tls_key_file = dir.Join("key.pem");
  Router r;
  r.Get("/x", [](const Request&, Response& res) { res = Response::Text(200, "secure"); });
  auto server = HttpServer::Start(opts, std::move(r));
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const std::string url = "https://127.0.0.1:" + std::to_string((*server)->port()) + "/x";

  ClientOptions trusted;
  trusted.ca_file = dir.Join("cert.pem");
  HttpClient c(trusted);
  for (int i = 0; i < 3; ++i) {
    auto res = c.Get(url);
    ASSERT_TRUE(res.ok()) << res.status().ToString();
    EXPECT_EQ(res->body, "secure");
  }
  EXPECT_EQ(c.connections_opened(), 1u);  // keep-alive over TLS
  auto untrusted = HttpClient().Get(url);
  EXPECT_FALSE(untrusted.ok());
  EXPECT_NE(untrusted.status().message().find("TLS handshake"), std::string::npos)
      << untrusted.status().message();
  ClientOptions insecure;
  insecure.insecure_skip_verify = true;
  EXPECT_EQ(HttpClient(insecure).Get(url)->body, "secure");
  // Plain HTTP to a TLS port is refused without crashing the server.
  auto plain = HttpClient().Get("http://127.0.0.1:" + std::to_string((*server)->port()) + "/x");
  EXPECT_FALSE(plain.ok() && plain->status == 200);
  EXPECT_EQ(c.Get(url)->status, 200);
}

TEST(HttpUtilTest, UrlsQueriesAndGzip) {
  auto u = ParseUrl("https://example.org:8443/api/v1/write?x=1");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "example.org");
  EXPECT_EQ(u->port, 8443);
  EXPECT_EQ(u->target, "/api/v1/write?x=1");
  EXPECT_EQ(ParseUrl("http://h")->target, "/");
  EXPECT_EQ(ParseUrl("http://h")->port, 80);
  EXPECT_EQ(ParseUrl("http://[::1]:9090/")->host, "::1");
  EXPECT_FALSE(ParseUrl("h:80/x").ok());
  EXPECT_FALSE(ParseUrl("http://h:99999/").ok());
  auto q = ParseQuery("query=up%7Bjob%3D%22a%22%7D&time=1.5&flag&a+b=c+d");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ((*q)[0].second, "up{job=\"a\"}");
  EXPECT_EQ((*q)[2].first, "flag");
  EXPECT_EQ((*q)[3], (std::pair<std::string, std::string>{"a b", "c d"}));
  auto bad = ParseQuery("a=%4");
  EXPECT_NE(bad.status().message().find("invalid URL escape \"%4\""), std::string::npos);
  EXPECT_EQ(*PercentDecode(PercentEncode("a b/ü&="), false), "a b/ü&=");
  std::string data(50'000, 'q');
  EXPECT_EQ(*GzipDecompress(GzipCompress(data), 1 << 20), data);
  EXPECT_EQ(GzipDecompress(GzipCompress(data), 1000).status().code(), StatusCode::kOutOfRange);
  EXPECT_FALSE(GzipDecompress("not gzip", 1000).ok());
  std::string z = GzipCompress(data);
  EXPECT_FALSE(GzipDecompress(z.substr(0, z.size() / 2), 1 << 20).ok());
  EXPECT_TRUE(AcceptsGzip("deflate, gzip;q=1.0"));
  EXPECT_FALSE(AcceptsGzip("gzip;q=0"));
  EXPECT_FALSE(AcceptsGzip("identity"));
}

}  // namespace
}  // namespace vigil::http

namespace vigil::http {
namespace {

TEST(LocalRouterTest, ClientDispatchesLocalUrlsInProcess) {
  Router router;
  router.Post("/api/{thing}", [](const Request& req, Response& res) {
    res = Response::Text(201, std::string(req.PathParam("thing")) + " " +
                                  req.Param("a").value_or("-") + " " +
                                  req.Param("b").value_or("-") + " " + req.remote_address);
  });
  RegisterLocalRouter("t", &router);
  HttpClient c;
  auto r = c.Post("local://t/api/x?a=1", "application/x-www-form-urlencoded", "b=2");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "x 1 2 local");
  EXPECT_EQ(c.Get("local://t/api/x")->status, 405);
  EXPECT_EQ(c.Get("local://t/nowhere")->status, 404);
  EXPECT_EQ(c.Get("local://t/a%zz")->status, 400);
  RegisterLocalRouter("t", nullptr);
  EXPECT_EQ(c.Get("local://t/api/x").status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace vigil::http
