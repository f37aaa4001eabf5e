// Fuzzes gzip decompression with a size limit (request bodies, scrape responses).
#include <cstdint>

#include "vigil/common/http_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)vigil::http::GzipDecompress(std::string_view(reinterpret_cast<const char*>(data), size),
                                    1 << 20);
  return 0;
}
