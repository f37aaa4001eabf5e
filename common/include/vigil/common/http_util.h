#pragma once

// Small HTTP helpers shared by the server and the client: URLs, query strings, gzip.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vigil/common/status.h"

namespace vigil::http {

using Params = std::vector<std::pair<std::string, std::string>>;

struct Url {
  std::string scheme;  // "http" or "https"
  std::string host;
  uint16_t port = 0;
  std::string target;  // path and query, at least "/"
};
// Parses "http[s]://host[:port][/path][?query]"; IPv6 hosts in brackets.
Result<Url> ParseUrl(std::string_view url);

// Percent-decoding; '+' becomes ' ' when `plus_is_space` (query strings and forms).
Result<std::string> PercentDecode(std::string_view s, bool plus_is_space);
std::string PercentEncode(std::string_view s);
// "a=1&b=2" -> {{"a","1"},{"b","2"}}; fails on bad percent escapes, naming the parameter.
Result<Params> ParseQuery(std::string_view query);
std::string EncodeQuery(const Params& params);

// gzip (RFC 1952) with zlib.
std::string GzipCompress(std::string_view data);
// Fails if the data is not gzip or inflates past `max_bytes`.
Result<std::string> GzipDecompress(std::string_view data, size_t max_bytes);

// ASCII case-insensitive equality, for header names and tokens.
bool IEquals(std::string_view a, std::string_view b);

// Whether an Accept-Encoding header value accepts gzip (a q=0 refuses it).
bool AcceptsGzip(std::string_view accept_encoding);

// Splits "host:port" ("[::1]:9090", ":9090" means all interfaces on 0.0.0.0).
Result<std::pair<std::string, uint16_t>> SplitHostPort(std::string_view address);

}  // namespace vigil::http
