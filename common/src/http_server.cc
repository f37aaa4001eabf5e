#include "vigil/common/http_server.h"

#include <csignal>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <spdlog/spdlog.h>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "vigil/common/self_metrics.h"

namespace vigil::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

// ---------------------------------------------------------------------------------------------
// Request, Response, Router.

namespace {
std::string_view SV(beast::string_view s) { return {s.data(), s.size()}; }
}  // namespace

std::string_view Request::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (IEquals(k, name)) return v;
  }
  return {};
}

std::optional<std::string> Request::Param(std::string_view name) const {
  for (const Params* params : {&form, &query}) {
    for (const auto& [k, v] : *params) {
      if (k == name) return v;
    }
  }
  return std::nullopt;
}

std::vector<std::string> Request::ParamValues(std::string_view name) const {
  std::vector<std::string> out;
  for (const Params* params : {&form, &query}) {
    for (const auto& [k, v] : *params) {
      if (k == name) out.push_back(v);
    }
  }
  return out;
}

std::string_view Request::PathParam(std::string_view name) const {
  for (const auto& [k, v] : path_params) {
    if (k == name) return v;
  }
  return {};
}

Response Response::Text(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Response Response::Json(int status, std::string body) {
  Response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

void Router::Handle(std::vector<std::string> methods, std::string pattern, Handler handler) {
  routes_.push_back(Route{std::move(methods), std::move(pattern), std::move(handler)});
}

namespace {
// Matches `path` against a pattern; fills `params` from {name} segments.
bool MatchPattern(std::string_view pattern, std::string_view path, Params& params) {
  params.clear();
  if (pattern.ends_with("/*")) {
    return path.starts_with(pattern.substr(0, pattern.size() - 1)) ||
           path == pattern.substr(0, pattern.size() - 2);
  }
  while (!pattern.empty() && !path.empty()) {
    if (pattern.front() == '{') {
      size_t close = pattern.find('}');
      std::string_view name = pattern.substr(1, close - 1);
      size_t seg_end = path.find('/');
      std::string_view value = path.substr(0, seg_end);
      if (value.empty()) return false;
      params.emplace_back(std::string(name), std::string(value));
      pattern.remove_prefix(close + 1);
      path.remove_prefix(value.size());
      continue;
    }
    if (pattern.front() != path.front()) return false;
    pattern.remove_prefix(1);
    path.remove_prefix(1);
  }
  return pattern.empty() && path.empty();
}
}  // namespace

Status ParseRequestTarget(Request& req) {
  std::string_view target = req.target;
  size_t q = target.find('?');
  auto path = PercentDecode(target.substr(0, q), false);
  Result<Params> query = Params{};
  if (q != std::string_view::npos) query = ParseQuery(target.substr(q + 1));
  if (!path.ok() || !query.ok()) {
    const Status& st = !path.ok() ? path.status() : query.status();
    return InvalidArgument("malformed request target: " + st.message());
  }
  req.path = std::move(*path);
  req.query = std::move(*query);
  if (req.method == "POST" &&
      req.Header("Content-Type").starts_with("application/x-www-form-urlencoded")) {
    auto form = ParseQuery(req.body);
    if (!form.ok()) return InvalidArgument("malformed form body: " + form.status().message());
    req.form = std::move(*form);
  }
  return Status::Ok();
}

namespace {
std::mutex g_local_mu;
std::map<std::string, const Router*>& LocalRouters() {
  static std::map<std::string, const Router*> routers;
  return routers;
}
}  // namespace

void RegisterLocalRouter(const std::string& name, const Router* router) {
  std::lock_guard lock(g_local_mu);
  if (router == nullptr) {
    LocalRouters().erase(name);
  } else {
    LocalRouters()[name] = router;
  }
}

Result<Response> DispatchLocal(const std::string& name, Request& req) {
  const Router* router;
  {
    std::lock_guard lock(g_local_mu);
    auto it = LocalRouters().find(name);
    if (it == LocalRouters().end()) return Unavailable("no local router \"" + name + "\"");
    router = it->second;
  }
  Response res;
  if (Status st = ParseRequestTarget(req); !st.ok()) return Response::Text(400, st.message());
  int status = 404;
  std::string allow;
  const Router::Route* route = router->Match(req, status, allow);
  if (route == nullptr) {
    return Response::Text(status,
                          status == 404 ? "404 page not found\n" : "405 method not allowed\n");
  }
  try {
    route->handler(req, res);
  } catch (const std::exception& e) {
    spdlog::error("http: local handler for {} {} threw: {}", req.method, req.path, e.what());
    res = Response::Text(500, "internal error\n");
  }
  return res;
}

const Router::Route* Router::Match(Request& req, int& status, std::string& allow) const {
  status = 404;
  allow.clear();
  Params params;
  for (const Route& r : routes_) {
    if (!MatchPattern(r.pattern, req.path, params)) continue;
    for (const auto& m : r.methods) {
      if (m == req.method) {
        req.path_params = std::move(params);
        return &r;
      }
    }
    status = 405;
    for (const auto& m : r.methods) {
      if (allow.find(m) != std::string::npos) continue;
      if (!allow.empty()) allow += ", ";
      allow += m;
    }
  }
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Server.

class SessionBase : public std::enable_shared_from_this<SessionBase> {
 public:
  virtual ~SessionBase() = default;
  virtual void Start() = 0;
  virtual void CloseIfIdle() = 0;
};

class HttpServer::Impl {
 public:
  struct Worker {
    asio::io_context ioc{1};
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
    std::thread thread;
  };

  struct RouteMetrics {
    prometheus::Histogram* duration = nullptr;
    std::mutex mu;
    std::unordered_map<int, prometheus::Counter*> by_code;
  };

  Impl(ServerOptions options, Router router)
      : opts_(std::move(options)),
        router_(std::move(router)),
        requests_(prometheus::BuildCounter()
                      .Name("vigil_http_requests_total")
                      .Help("HTTP requests answered, by route and status code.")
                      .Register(SelfMetrics())),
        durations_(prometheus::BuildHistogram()
                       .Name("vigil_http_request_duration_seconds")
                       .Help("Time from a complete request to its response, by route.")
                       .Register(SelfMetrics())),
        in_flight_(prometheus::BuildGauge()
                       .Name("vigil_http_in_flight_requests")
                       .Help("HTTP requests being handled.")
                       .Register(SelfMetrics())
                       .Add({})),
        open_connections_(prometheus::BuildGauge()
                              .Name("vigil_http_open_connections")
                              .Help("Open HTTP connections.")
                              .Register(SelfMetrics())
                              .Add({})),
        conn_errors_(prometheus::BuildCounter()
                         .Name("vigil_http_connection_errors_total")
                         .Help("HTTP connections ended by an error, by reason.")
                         .Register(SelfMetrics())) {
    const auto& rs = RoutesForMetrics();
    route_metrics_.reserve(rs.size() + 1);
    for (const auto& r : rs) AddRouteMetrics(r.pattern);
    AddRouteMetrics("other");  // 404s and 405s, so unknown paths cannot grow the label set
    timeout_errors_ = &conn_errors_.Add({{"reason", "timeout"}});
    malformed_errors_ = &conn_errors_.Add({{"reason", "malformed"}});
    tls_errors_ = &conn_errors_.Add({{"reason", "tls"}});
  }

  Status Listen() {
    if (opts_.threads < 1) opts_.threads = 1;
    if (!opts_.tls_cert_file.empty() || !opts_.tls_key_file.empty()) {
      if (opts_.tls_cert_file.empty() || opts_.tls_key_file.empty()) {
        return InvalidArgument("TLS needs both a certificate file and a key file");
      }
      ssl_.emplace(asio::ssl::context::tls_server);
      ssl_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                        asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                        asio::ssl::context::no_tlsv1_1);
      boost::system::error_code ec;
      ssl_->use_certificate_chain_file(opts_.tls_cert_file, ec);
      if (ec)
        return InvalidArgument("TLS certificate " + opts_.tls_cert_file + ": " + ec.message());
      ssl_->use_private_key_file(opts_.tls_key_file, asio::ssl::context::pem, ec);
      if (ec) return InvalidArgument("TLS key " + opts_.tls_key_file + ": " + ec.message());
    }
    VIGIL_ASSIGN_OR_RETURN(auto hp, SplitHostPort(opts_.listen));
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(hp.first, ec);
    if (ec) {
      return InvalidArgument("listen address \"" + opts_.listen + "\": \"" + hp.first +
                             "\" is not an IP address");
    }
    for (int i = 0; i < opts_.threads; ++i) workers_.push_back(std::make_unique<Worker>());
    acceptor_.emplace(workers_[0]->ioc);
    tcp::endpoint ep(addr, hp.second);
    acceptor_->open(ep.protocol(), ec);
    if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_->bind(ep, ec);
    if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return Unavailable("listen on " + opts_.listen + ": " + ec.message());
    bound_ = acceptor_->local_endpoint();
    Accept();
    for (auto& w : workers_) {
      w->guard.emplace(w->ioc.get_executor());
      w->thread = std::thread([this, w = w.get()] {
        w->ioc.run();
        std::lock_guard lock(done_mu_);
        ++workers_done_;
        done_cv_.notify_all();
      });
    }
    spdlog::info("http: listening on {}{}", address(), ssl_ ? " (TLS)" : "");
    return Status::Ok();
  }

  void Shutdown() {
    std::call_once(shutdown_once_, [this] {
      stopping_ = true;
      if (acceptor_) {
        asio::post(workers_[0]->ioc, [this] {
          boost::system::error_code ignored;
          acceptor_->close(ignored);
        });
      }
      // Take the sessions out of the lock first: dropping the last reference to one runs its
      // destructor, which unregisters it under the same lock.
      std::vector<std::shared_ptr<SessionBase>> open;
      {
        std::lock_guard lock(sessions_mu_);
        for (auto& [ptr, weak] : sessions_) {
          if (auto s = weak.lock()) open.push_back(std::move(s));
        }
      }
      for (auto& s : open) s->CloseIfIdle();
      open.clear();
      for (auto& w : workers_) w->guard.reset();
      std::unique_lock lock(done_mu_);
      if (!done_cv_.wait_for(lock, opts_.shutdown_grace,
                             [&] { return workers_done_ == workers_.size(); })) {
        spdlog::warn("http: requests still running after {} ms of shutdown; closing them",
                     opts_.shutdown_grace.count());
        for (auto& w : workers_) w->ioc.stop();
      }
      lock.unlock();
      for (auto& w : workers_) {
        if (w->thread.joinable()) w->thread.join();
      }
      spdlog::info("http: stopped serving {}", address());
    });
  }

  std::string address() const {
    auto a = bound_.address();
    return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" +
           std::to_string(bound_.port());
  }
  uint16_t port() const { return bound_.port(); }

  // Called by sessions.
  const ServerOptions& options() const { return opts_; }
  bool stopping() const { return stopping_; }
  asio::ssl::context* ssl() { return ssl_ ? &*ssl_ : nullptr; }
  void Register(SessionBase* s, std::weak_ptr<SessionBase> w) {
    std::lock_guard lock(sessions_mu_);
    sessions_[s] = std::move(w);
    open_connections_.Increment();
  }
  void Unregister(SessionBase* s) {
    std::lock_guard lock(sessions_mu_);
    sessions_.erase(s);
    open_connections_.Decrement();
  }
  void CountTimeout() { timeout_errors_->Increment(); }
  void CountMalformed() { malformed_errors_->Increment(); }
  void CountTls() { tls_errors_->Increment(); }

  // Runs the handler for a complete request; never throws.
  void Dispatch(Request& req, Response& res) {
    auto start = std::chrono::steady_clock::now();
    in_flight_.Increment();
    size_t route_index = route_metrics_.size() - 1;
    if (!Authorized(req)) {
      res = Response::Text(401, "Unauthorized\n");
      res.headers.emplace_back("WWW-Authenticate", "Bearer");
    } else {
      int status = 404;
      std::string allow;
      const Router::Route* route = router_.Match(req, status, allow);
      if (route == nullptr) {
        res = Response::Text(status,
                             status == 404 ? "404 page not found\n" : "405 method not allowed\n");
        if (status == 405) res.headers.emplace_back("Allow", allow);
      } else {
        route_index = static_cast<size_t>(route - RoutesForMetrics().data());
        try {
          route->handler(req, res);
        } catch (const std::exception& e) {
          spdlog::error("http: handler for {} {} threw: {}", req.method, req.path, e.what());
          res = Response::Text(500, "internal error\n");
        } catch (...) {
          spdlog::error("http: handler for {} {} threw a non-exception", req.method, req.path);
          res = Response::Text(500, "internal error\n");
        }
      }
    }
    in_flight_.Decrement();
    auto& rm = *route_metrics_[route_index];
    rm.duration->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    prometheus::Counter* counter;
    {
      std::lock_guard lock(rm.mu);
      auto& c = rm.by_code[res.status];
      if (c == nullptr) {
        c = &requests_.Add({{"handler", route_index < RoutesForMetrics().size()
                                            ? RoutesForMetrics()[route_index].pattern
                                            : "other"},
                            {"code", std::to_string(res.status)}});
      }
      counter = c;
    }
    counter->Increment();
  }

 private:
  const std::vector<Router::Route>& RoutesForMetrics() const { return router_.routes(); }

  void AddRouteMetrics(const std::string& pattern) {
    auto rm = std::make_unique<RouteMetrics>();
    rm->duration = &durations_.Add({{"handler", pattern}}, LatencyBuckets());
    route_metrics_.push_back(std::move(rm));
  }

  bool Authorized(const Request& req) const {
    if (opts_.bearer_token.empty()) return true;
    for (const auto& p : opts_.auth_exempt_paths) {
      if (p == req.path) return true;
    }
    std::string_view h = req.Header("Authorization");
    constexpr std::string_view kBearer = "Bearer ";
    if (!h.starts_with(kBearer)) return false;
    h.remove_prefix(kBearer.size());
    const std::string& want = opts_.bearer_token;
    // Constant time in the token's content.
    unsigned diff = h.size() != want.size();
    for (size_t i = 0; i < want.size(); ++i) {
      diff |= static_cast<unsigned>(want[i]) ^ static_cast<unsigned>(i < h.size() ? h[i] : 0);
    }
    return diff == 0;
  }

  void Accept();

  ServerOptions opts_;
  Router router_;
  std::optional<asio::ssl::context> ssl_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::optional<tcp::acceptor> acceptor_;
  tcp::endpoint bound_;
  size_t next_worker_ = 0;
  std::atomic<bool> stopping_{false};
  std::once_flag shutdown_once_;
  std::mutex done_mu_;
  std::condition_variable done_cv_;
  size_t workers_done_ = 0;
  std::mutex sessions_mu_;
  std::unordered_map<SessionBase*, std::weak_ptr<SessionBase>> sessions_;

  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& durations_;
  prometheus::Gauge& in_flight_;
  prometheus::Gauge& open_connections_;
  prometheus::Family<prometheus::Counter>& conn_errors_;
  prometheus::Counter* timeout_errors_ = nullptr;
  prometheus::Counter* malformed_errors_ = nullptr;
  prometheus::Counter* tls_errors_ = nullptr;
  std::vector<std::unique_ptr<RouteMetrics>> route_metrics_;
};

namespace {

template <class Stream>
class Session final : public SessionBase {
 public:
  Session(HttpServer::Impl& server, Stream stream, std::string remote)
      : server_(server), stream_(std::move(stream)), remote_(std::move(remote)) {}
  ~Session() override { server_.Unregister(this); }

  void Start() override {
    server_.Register(this, weak_from_this());
    asio::dispatch(stream_.get_executor(), [self = Self()] { self->Begin(); });
  }

  void CloseIfIdle() override {
    asio::post(stream_.get_executor(), [self = Self()] {
      if (self->idle_) beast::get_lowest_layer(self->stream_).cancel();
    });
  }

 private:
  static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

  std::shared_ptr<Session> Self() { return std::static_pointer_cast<Session>(shared_from_this()); }
  beast::tcp_stream& Tcp() { return beast::get_lowest_layer(stream_); }

  void Begin() {
    if constexpr (kTls) {
      Tcp().expires_after(server_.options().header_timeout);
      stream_.async_handshake(
          asio::ssl::stream_base::server, [self = Self()](beast::error_code ec) {
            if (ec) {
              self->server_.CountTls();
              spdlog::debug("http: TLS handshake with {} failed: {}", self->remote_, ec.message());
              return self->CloseNow();
            }
            self->ReadHeader();
          });
    } else {
      ReadHeader();
    }
  }

  void ReadHeader() {
    if (server_.stopping()) return Close();
    idle_ = true;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_.options().max_header_bytes));
    parser_->body_limit(server_.options().max_body_bytes);
    Tcp().expires_after(first_ ? server_.options().header_timeout : server_.options().idle_timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = Self()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    idle_ = false;
    if (ec) return OnReadError(ec, /*in_header=*/true);
    auto length = parser_->content_length();
    if (length && *length > server_.options().max_body_bytes) return RejectTooLarge(*length);
    if (IEquals(SV(parser_->get()[bhttp::field::expect]), "100-continue")) {
      // Tell the client to send the body now rather than after its own wait (curl waits 1 s).
      auto cont = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_,
                                                                       parser_->get().version());
      Tcp().expires_after(server_.options().write_timeout);
      bhttp::async_write(stream_, *cont, [self = Self(), cont](beast::error_code ec, size_t) {
        if (ec) return self->CloseNow();
        self->ReadBody();
      });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    Tcp().expires_after(server_.options().read_timeout);
    bhttp::async_read(stream_, buffer_, *parser_, [self = Self()](beast::error_code ec, size_t) {
      if (ec) return self->OnReadError(ec, /*in_header=*/false);
      self->HandleRequest();
    });
  }

  void OnReadError(beast::error_code ec, bool in_header) {
    if (ec == bhttp::error::end_of_stream || ec == asio::error::operation_aborted ||
        ec == asio::error::connection_reset || ec == asio::error::eof ||
        ec == asio::ssl::error::stream_truncated) {
      return CloseNow();
    }
    if (ec == beast::error::timeout) {
      // An idle keep-alive connection timing out is normal, not an error.
      if (!(in_header && idle_buffer_empty())) server_.CountTimeout();
      return CloseNow();
    }
    if (ec == bhttp::error::body_limit) {
      // Beast checks a Content-Length against the limit while reading the head.
      return RejectTooLarge(parser_->content_length().value_or(0));
    }
    if (ec == bhttp::error::header_limit) {
      return Reply(
          Response::Text(431, "request header fields too large: over " +
                                  std::to_string(server_.options().max_header_bytes) + " bytes\n"),
          /*keep_alive=*/false);
    }
    if (&ec.category() == &bhttp::make_error_code(bhttp::error::bad_target).category()) {
      server_.CountMalformed();
      return Reply(Response::Text(400, "malformed HTTP request: " + ec.message() + "\n"), false);
    }
    spdlog::debug("http: read from {} failed: {}", remote_, ec.message());
    CloseNow();
  }

  bool idle_buffer_empty() const { return buffer_.size() == 0; }

  void RejectTooLarge(uint64_t length) {
    std::string msg = "request body too large: the limit is " +
                      std::to_string(server_.options().max_body_bytes) + " bytes";
    if (length > 0) msg += ", Content-Length is " + std::to_string(length);
    // The client may still be sending the body: close gently so it reads the 413 before a reset.
    linger_ = true;
    Reply(Response::Text(413, msg + "\n"), /*keep_alive=*/false);
  }

  void HandleRequest() {
    auto& in = parser_->get();
    Request req;
    req.method = std::string(SV(in.method_string()));
    req.target = std::string(SV(in.target()));
    req.remote_address = remote_;
    for (const auto& f : in) req.headers.emplace_back(SV(f.name_string()), SV(f.value()));
    req.body = std::move(in.body());
    Response res;
    if (Status st = ParseRequestTarget(req); !st.ok()) {
      res = Response::Text(400, st.message() + "\n");
    } else {
      server_.Dispatch(req, res);
    }
    const bool gzip = AcceptsGzip(req.Header("Accept-Encoding"));
    head_ = req.method == "HEAD";
    Reply(std::move(res), in.keep_alive(), gzip, in.version());
  }

  void Reply(Response res, bool keep_alive, bool gzip = false, unsigned version = 11) {
    out_.emplace();
    auto& m = *out_;
    m.version(version);
    m.result(static_cast<unsigned>(res.status));
    m.set(bhttp::field::server, "vigil");
    m.set(bhttp::field::content_type, res.content_type);
    bool has_encoding = false;
    for (auto& [k, v] : res.headers) {
      if (IEquals(k, "Content-Encoding")) has_encoding = true;
      m.insert(k, v);
    }
    if (gzip && !has_encoding && res.body.size() >= server_.options().gzip_min_bytes) {
      std::string z = GzipCompress(res.body);
      if (!z.empty()) {
        res.body = std::move(z);
        m.set(bhttp::field::content_encoding, "gzip");
        m.set(bhttp::field::vary, "Accept-Encoding");
      }
    }
    m.body() = std::move(res.body);
    m.keep_alive(keep_alive && !server_.stopping());
    m.prepare_payload();
    // A HEAD response carries the GET's headers, Content-Length included, and no body.
    if (head_) m.body().clear();
    Tcp().expires_after(server_.options().write_timeout);
    bhttp::async_write(stream_, m, [self = Self()](beast::error_code ec, size_t) {
      const bool close = !self->out_->keep_alive();
      self->out_.reset();
      self->head_ = false;
      if (ec) return self->CloseNow();
      if (close) return self->Close();
      self->first_ = false;
      self->ReadHeader();
    });
  }

  // Orderly close: TLS close_notify, then the TCP shutdown.
  void Close() {
    if (linger_) return LingerClose();
    if constexpr (kTls) {
      Tcp().expires_after(std::chrono::seconds(2));
      stream_.async_shutdown([self = Self()](beast::error_code) { self->CloseNow(); });
    } else {
      CloseNow();
    }
  }

  // Stops sending, then discards what the client still sends for up to a second, so that closing
  // with unread data does not reset the connection before the client read our response.
  void LingerClose() {
    beast::error_code ignored;
    Tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
    Tcp().expires_after(std::chrono::seconds(1));
    Discard();
  }

  void Discard() {
    discard_.resize(16 * 1024);
    Tcp().async_read_some(asio::buffer(discard_), [self = Self()](beast::error_code ec, size_t) {
      if (ec) return self->CloseNow();
      self->Discard();
    });
  }

  void CloseNow() {
    beast::error_code ignored;
    Tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
    Tcp().close();
  }

  HttpServer::Impl& server_;
  Stream stream_;
  std::string remote_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::response<bhttp::string_body>> out_;
  std::string discard_;
  bool idle_ = true;
  bool first_ = true;
  bool linger_ = false;
  bool head_ = false;  // the response being written answers a HEAD request
};

}  // namespace

void HttpServer::Impl::Accept() {
  auto& worker = *workers_[next_worker_];
  next_worker_ = (next_worker_ + 1) % workers_.size();
  acceptor_->async_accept(worker.ioc, [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || stopping_) return;
      spdlog::warn("http: accept failed: {}", ec.message());
    } else if (stopping_) {
      return;
    } else {
      boost::system::error_code rec;
      auto ep = socket.remote_endpoint(rec);
      std::string remote =
          rec ? "unknown" : ep.address().to_string() + ":" + std::to_string(ep.port());
      std::shared_ptr<SessionBase> s;
      if (ssl_) {
        s = std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
            *this,
            beast::ssl_stream<beast::tcp_stream>(beast::tcp_stream(std::move(socket)), *ssl_),
            std::move(remote));
      } else {
        s = std::make_shared<Session<beast::tcp_stream>>(
            *this, beast::tcp_stream(std::move(socket)), std::move(remote));
      }
      s->Start();
    }
    Accept();
  });
}

Result<std::unique_ptr<HttpServer>> HttpServer::Start(ServerOptions options, Router router) {
  auto impl = std::make_unique<Impl>(std::move(options), std::move(router));
  try {
    VIGIL_RETURN_IF_ERROR(impl->Listen());
  } catch (const std::exception& e) {
    return Unavailable(std::string("start HTTP server: ") + e.what());
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() { Shutdown(); }
uint16_t HttpServer::port() const { return impl_->port(); }
std::string HttpServer::address() const { return impl_->address(); }
void HttpServer::Shutdown() { impl_->Shutdown(); }

void BlockTerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int WaitForTerminationSignal(const std::atomic<bool>* stop) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  // Block them in this thread so sigtimedwait receives them; threads started earlier must block
  // them too (BlockTerminationSignals at the top of main).
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  for (;;) {
    timespec timeout{0, 100'000'000};
    int sig = sigtimedwait(&set, nullptr, &timeout);
    if (sig > 0) return sig;
    if (stop != nullptr && stop->load()) return 0;
  }
}

}  // namespace vigil::http
