// Fuzzes URL, query-string and address parsing of the HTTP server and client.
#include <cstdint>
#include <cstdlib>

#include "vigil/common/http_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  (void)vigil::http::ParseUrl(in);
  (void)vigil::http::SplitHostPort(in);
  (void)vigil::http::AcceptsGzip(in);
  auto q = vigil::http::ParseQuery(in);
  if (q.ok()) {
    auto again = vigil::http::ParseQuery(vigil::http::EncodeQuery(*q));
    if (!again.ok() || *again != *q) std::abort();
  }
  return 0;
}
