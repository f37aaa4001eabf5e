#pragma once

// HttpServer: HTTP/1.1 on Boost.Beast over Asio, the one server every vigil API is served from.
//
// Threads: `threads` workers, each running its own io_context (Envoy's model); the acceptor lives
// on the first and hands each connection to the next worker in turn. A handler runs on its
// connection's worker thread and must not block for long.
//
// Per connection: keep-alive; the request head must arrive within `header_timeout` (the first
// request) or `idle_timeout` (later ones), the body within `read_timeout`; a body over
// `max_body_bytes` gets 413 without being read; heads over `max_header_bytes` get 431.
// Responses are gzip-compressed when the client asks (Accept-Encoding) and the body is at least
// `gzip_min_bytes`. With a bearer token set, every path but the exempt ones needs
// "Authorization: Bearer <token>" (else 401). With a certificate and key, connections are TLS.
//
// Shutdown(): stops accepting, closes idle keep-alive connections, lets requests in flight finish
// (up to `shutdown_grace`), then returns. Handlers never see exceptions escape: one that throws
// answers 500 and is logged and counted.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/common/http_util.h"
#include "vigil/common/status.h"

namespace vigil::http {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as received: path and query
  std::string path;    // percent-decoded, without the query
  Params query;        // decoded query parameters
  Params form;         // decoded application/x-www-form-urlencoded body parameters
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string remote_address;
  // Values captured by {name} segments of the route pattern, in order.
  Params path_params;

  // The first header with that name (case-insensitive), or "".
  std::string_view Header(std::string_view name) const;
  // The first value of a form or query parameter, as Go's r.FormValue: body (form) values come
  // before query values.
  std::optional<std::string> Param(std::string_view name) const;
  // Every value of a parameter, form values first, then query values ("match[]").
  std::vector<std::string> ParamValues(std::string_view name) const;
  std::string_view PathParam(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  static Response Text(int status, std::string body);
  static Response Json(int status, std::string body);
};

using Handler = std::function<void(const Request&, Response&)>;

// Maps (method, path pattern) to handlers. Patterns are literal paths, paths with {name}
// segments ("/api/v1/label/{name}/values"), or prefixes ending in "/*". The first route that
// matches wins. A path that matches but not for the method answers 405 with an Allow header.
class Router {
 public:
  void Handle(std::vector<std::string> methods, std::string pattern, Handler handler);
  void Get(std::string pattern, Handler h) { Handle({"GET"}, std::move(pattern), std::move(h)); }
  // GET and POST: the Prometheus API accepts both for its query endpoints.
  void GetPost(std::string pattern, Handler h) {
    Handle({"GET", "POST"}, std::move(pattern), std::move(h));
  }
  void Post(std::string pattern, Handler h) { Handle({"POST"}, std::move(pattern), std::move(h)); }

  struct Route {
    std::vector<std::string> methods;
    std::string pattern;
    Handler handler;
  };
  // The matching route for the request (path_params filled), or nullptr with `status` 404/405
  // and `allow` set for a 405.
  const Route* Match(Request& req, int& status, std::string& allow) const;
  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

// Fills req.path, req.query and (for a form POST) req.form from req.target and the body, as
// the server does before dispatching. InvalidArgument for a malformed target or form.
Status ParseRequestTarget(Request& req);

// Routers reachable in-process: HttpClient sends a request for local://<name>/<target> straight
// to the router's handler (the same parsing and handlers as over a socket, no network), so
// `vigil up` wires its components through the HTTP interfaces the daemons use. nullptr
// unregisters; the router must outlive its registration.
void RegisterLocalRouter(const std::string& name, const Router* router);
Result<Response> DispatchLocal(const std::string& name, Request& req);

struct ServerOptions {
  std::string listen = "127.0.0.1:9090";  // port 0 picks a free port
  int threads = 2;
  size_t max_body_bytes = 32 << 20;
  size_t max_header_bytes = 64 << 10;
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds read_timeout{60'000};
  std::chrono::milliseconds idle_timeout{120'000};
  std::chrono::milliseconds write_timeout{60'000};
  std::chrono::milliseconds shutdown_grace{10'000};
  size_t gzip_min_bytes = 1024;
  std::string bearer_token;  // empty: no authentication
  std::vector<std::string> auth_exempt_paths = {"/-/healthy", "/-/ready"};
  std::string tls_cert_file;  // both set: TLS
  std::string tls_key_file;
};

class HttpServer {
 public:
  // Binds and starts serving. Fails with a clear Status if the address is taken or invalid, or
  // the TLS files cannot be loaded.
  static Result<std::unique_ptr<HttpServer>> Start(ServerOptions options, Router router);
  ~HttpServer();  // Shutdown()

  // The bound port (useful with port 0) and "host:port".
  uint16_t port() const;
  std::string address() const;

  // Idempotent and safe from any thread, including from a handler via another thread.
  void Shutdown();

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Blocks SIGINT and SIGTERM in the calling thread and the threads it starts later, so that
// WaitForTerminationSignal receives them. Call first thing in main().
void BlockTerminationSignals();

// Blocks until SIGINT or SIGTERM arrives, or until `stop` becomes true (checked every 100 ms).
// Returns the signal number, or 0 when `stop` ended the wait.
int WaitForTerminationSignal(const std::atomic<bool>* stop = nullptr);

}  // namespace vigil::http
