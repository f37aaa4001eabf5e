#include "vigil/common/http_client.h"
#include "vigil/common/http_server.h"

#include <map>
#include <mutex>
#include <variant>

#include <openssl/ssl.h>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "vigil/common/http_util.h"

namespace vigil::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {
std::string_view SV(beast::string_view s) { return {s.data(), s.size()}; }
}  // namespace

std::string_view ClientResponse::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (IEquals(k, name)) return v;
  }
  return {};
}

namespace {

// One connection with its own io_context, driven synchronously: start an async operation with
// a deadline on the stream, then run the context until it completes.
struct Connection {
  asio::io_context ioc{1};
  std::variant<std::monostate, beast::tcp_stream, beast::ssl_stream<beast::tcp_stream>> stream;
  beast::flat_buffer buffer;

  beast::tcp_stream& Tcp() {
    if (auto* s = std::get_if<beast::tcp_stream>(&stream)) return *s;
    return beast::get_lowest_layer(std::get<beast::ssl_stream<beast::tcp_stream>>(stream));
  }

  // Runs the io_context until `done`; the stream's expiry bounds every operation.
  void Run() {
    ioc.restart();
    ioc.run();
  }
};

Status FromError(const beast::error_code& ec, std::string_view what, const Url& url) {
  std::string m = std::string(what) + " " + url.scheme + "://" + url.host + ":" +
                  std::to_string(url.port) + ": " + ec.message();
  if (ec == beast::error::timeout) return DeadlineExceeded(std::move(m));
  if (ec == bhttp::error::body_limit) return OutOfRange(std::move(m));
  return Unavailable(std::move(m));
}

}  // namespace

class HttpClient::Impl {
 public:
  explicit Impl(ClientOptions options)
      : opts_(std::move(options)), ssl_(asio::ssl::context::tls_client) {
    if (opts_.insecure_skip_verify) {
      ssl_.set_verify_mode(asio::ssl::verify_none);
    } else {
      ssl_.set_verify_mode(asio::ssl::verify_peer);
      beast::error_code ec;
      if (!opts_.ca_file.empty()) {
        ssl_.load_verify_file(opts_.ca_file, ec);
        if (ec) ca_error_ = "CA file " + opts_.ca_file + ": " + ec.message();
      } else {
        ssl_.set_default_verify_paths(ec);
      }
    }
  }

  Result<ClientResponse> Do(const ClientRequest& req) {
    VIGIL_ASSIGN_OR_RETURN(Url url, ParseUrl(req.url));
    if (url.scheme == "https" && !ca_error_.empty()) return InvalidArgument(ca_error_);
    const std::string key = url.scheme + "://" + url.host + ":" + std::to_string(url.port);
    for (int attempt = 0; attempt < 2; ++attempt) {
      std::unique_ptr<Connection> conn = TakeIdle(key);
      const bool reused = conn != nullptr;
      if (!conn) {
        VIGIL_ASSIGN_OR_RETURN(conn, Connect(url));
      }
      bool got_bytes = false;
      auto res = Exchange(*conn, url, req, got_bytes);
      if (res.ok()) {
        if (res->second) PutIdle(key, std::move(conn));
        return std::move(res->first);
      }
      if (!(reused && !got_bytes)) return res.status();
    }
    return Unavailable("request to " + key + " failed twice");
  }

  size_t connections_opened() const {
    std::lock_guard lock(mu_);
    return opened_;
  }

 private:
  std::unique_ptr<Connection> TakeIdle(const std::string& key) {
    std::lock_guard lock(mu_);
    auto it = idle_.find(key);
    if (it == idle_.end() || it->second.empty()) return nullptr;
    auto conn = std::move(it->second.back());
    it->second.pop_back();
    return conn;
  }

  void PutIdle(const std::string& key, std::unique_ptr<Connection> conn) {
    std::lock_guard lock(mu_);
    auto& list = idle_[key];
    if (list.size() < opts_.max_idle_per_host) list.push_back(std::move(conn));
  }

  Result<std::unique_ptr<Connection>> Connect(const Url& url) {
    auto conn = std::make_unique<Connection>();
    beast::error_code ec;
    tcp::resolver resolver(conn->ioc);
    tcp::resolver::results_type endpoints;
    resolver.async_resolve(url.host, std::to_string(url.port),
                           [&](beast::error_code e, tcp::resolver::results_type r) {
                             ec = e;
                             endpoints = std::move(r);
                           });
    conn->Run();
    if (ec) return FromError(ec, "resolve", url);
    beast::tcp_stream tcp_stream(conn->ioc);
    tcp_stream.expires_after(opts_.connect_timeout);
    tcp_stream.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) { ec = e; });
    conn->Run();
    if (ec) return FromError(ec, "connect to", url);
    tcp_stream.socket().set_option(tcp::no_delay(true), ec);
    if (url.scheme == "https") {
      conn->stream.emplace<beast::ssl_stream<beast::tcp_stream>>(std::move(tcp_stream), ssl_);
      auto& tls = std::get<beast::ssl_stream<beast::tcp_stream>>(conn->stream);
      if (!SSL_set_tlsext_host_name(tls.native_handle(), url.host.c_str())) {
        return Unavailable("TLS: cannot set the server name " + url.host);
      }
      if (!opts_.insecure_skip_verify) {
        tls.set_verify_callback(asio::ssl::host_name_verification(url.host));
      }
      conn->Tcp().expires_after(opts_.connect_timeout);
      tls.async_handshake(asio::ssl::stream_base::client, [&](beast::error_code e) { ec = e; });
      conn->Run();
      if (ec) return FromError(ec, "TLS handshake with", url);
    } else {
      conn->stream.emplace<beast::tcp_stream>(std::move(tcp_stream));
    }
    std::lock_guard lock(mu_);
    ++opened_;
    return conn;
  }

  // Returns the response and whether the connection may be kept.
  Result<std::pair<ClientResponse, bool>> Exchange(Connection& conn, const Url& url,
                                                   const ClientRequest& req, bool& got_bytes) {
    bhttp::request<bhttp::string_body> out;
    out.method_string(req.method);
    out.target(url.target);
    out.version(11);
    std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
    if (!((url.scheme == "http" && url.port == 80) || (url.scheme == "https" && url.port == 443))) {
      host += ":" + std::to_string(url.port);
    }
    out.set(bhttp::field::host, host);
    out.set(bhttp::field::user_agent, opts_.user_agent);
    if (!opts_.bearer_token.empty()) {
      out.set(bhttp::field::authorization, "Bearer " + opts_.bearer_token);
    }
    if (opts_.accept_gzip) out.set(bhttp::field::accept_encoding, "gzip");
    for (const auto& [k, v] : req.headers) out.set(k, v);
    out.body() = req.body;
    out.keep_alive(true);
    out.prepare_payload();

    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(opts_.max_response_bytes);
    // A response to HEAD has a Content-Length but no body.
    if (req.method == "HEAD") parser.skip(true);
    beast::error_code ec;
    conn.Tcp().expires_after(opts_.request_timeout);
    auto on_read = [&](beast::error_code e, size_t) { ec = e; };
    std::visit(
        [&](auto& s) {
          if constexpr (!std::is_same_v<std::decay_t<decltype(s)>, std::monostate>) {
            bhttp::async_write(s, out, [&](beast::error_code e, size_t) {
              ec = e;
              if (!e) bhttp::async_read(s, conn.buffer, parser, on_read);
            });
          }
        },
        conn.stream);
    conn.Run();
    got_bytes = parser.got_some();
    if (ec) return FromError(ec, "request to", url);

    auto& msg = parser.get();
    ClientResponse res;
    res.status = static_cast<int>(msg.result_int());
    for (const auto& f : msg) res.headers.emplace_back(SV(f.name_string()), SV(f.value()));
    res.body = std::move(msg.body());
    if (opts_.accept_gzip && IEquals(res.Header("Content-Encoding"), "gzip")) {
      VIGIL_ASSIGN_OR_RETURN(res.body, GzipDecompress(res.body, opts_.max_response_bytes));
    }
    return std::make_pair(std::move(res), msg.keep_alive());
  }

  ClientOptions opts_;
  asio::ssl::context ssl_;
  std::string ca_error_;
  mutable std::mutex mu_;
  std::map<std::string, std::vector<std::unique_ptr<Connection>>> idle_;
  size_t opened_ = 0;
};

HttpClient::HttpClient(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
HttpClient::~HttpClient() = default;

Result<ClientResponse> HttpClient::Do(const ClientRequest& request) {
  if (request.url.starts_with("local://")) {
    // An in-process router (RegisterLocalRouter): no socket.
    const std::string_view rest = std::string_view(request.url).substr(8);
    const size_t slash = rest.find('/');
    Request req;
    req.method = request.method;
    req.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
    req.headers = request.headers;
    req.body = request.body;
    req.remote_address = "local";
    VIGIL_ASSIGN_OR_RETURN(Response res, DispatchLocal(std::string(rest.substr(0, slash)), req));
    ClientResponse out;
    out.status = res.status;
    out.headers = std::move(res.headers);
    out.headers.emplace_back("Content-Type", res.content_type);
    out.body = std::move(res.body);
    return out;
  }
  try {
    return impl_->Do(request);
  } catch (const std::exception& e) {
    return Unavailable(std::string("HTTP request to ") + request.url + ": " + e.what());
  }
}

Result<ClientResponse> HttpClient::Get(const std::string& url) {
  ClientRequest req;
  req.url = url;
  return Do(req);
}

Result<ClientResponse> HttpClient::Post(const std::string& url, std::string content_type,
                                        std::string body) {
  ClientRequest req;
  req.method = "POST";
  req.url = url;
  req.headers.emplace_back("Content-Type", std::move(content_type));
  req.body = std::move(body);
  return Do(req);
}

size_t HttpClient::connections_opened() const { return impl_->connections_opened(); }

}  // namespace vigil::http
