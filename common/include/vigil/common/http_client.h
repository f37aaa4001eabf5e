#pragma once

// HttpClient: a blocking HTTP/1.1 client on Boost.Beast with connect and request timeouts,
// keep-alive (idle connections are pooled per scheme, host and port and reused), and TLS through
// OpenSSL (server certificate verified against the system roots or `ca_file`, unless
// `insecure_skip_verify`).
//
// Thread safety: Do() may be called from many threads at once; each call uses its own
// connection. A request on a reused connection that fails before any response byte arrived is
// retried once on a new connection (the peer may have closed it while idle), as Go's client does.

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "vigil/common/status.h"

namespace vigil::http {

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{5'000};
  // For the whole exchange after connecting: write the request, read the response.
  std::chrono::milliseconds request_timeout{30'000};
  size_t max_response_bytes = 64 << 20;
  size_t max_idle_per_host = 4;
  std::string ca_file;  // empty: the system's default roots
  bool insecure_skip_verify = false;
  std::string bearer_token;  // sent as "Authorization: Bearer ..." when set
  std::string user_agent = "vigil";
  // Decompress "Content-Encoding: gzip" responses (the client then sends Accept-Encoding: gzip).
  bool accept_gzip = false;
};

struct ClientRequest {
  std::string method = "GET";
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct ClientResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string_view Header(std::string_view name) const;
};

class HttpClient {
 public:
  explicit HttpClient(ClientOptions options = {});
  ~HttpClient();

  // Any HTTP status is a successful exchange; a Status error means no response was read:
  // Unavailable (connect failed or reset), DeadlineExceeded (timed out), InvalidArgument (bad
  // URL), OutOfRange (response over max_response_bytes).
  Result<ClientResponse> Do(const ClientRequest& request);
  Result<ClientResponse> Get(const std::string& url);
  Result<ClientResponse> Post(const std::string& url, std::string content_type, std::string body);

  // Connections opened so far (for tests of keep-alive).
  size_t connections_opened() const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace vigil::http
