// Fuzzes remote_write decoding: snappy, protobuf, validation. Inputs are snappy bodies; a first
// byte of 0xff instead compresses the rest first, so the fuzzer also reaches the protobuf layer.
#include <snappy.h>

#include <cstdint>

#include "vigil/common/remote_write.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  vigil::remote::WriteLimits limits;
  limits.max_decompressed_bytes = 1 << 20;
  if (!in.empty() && static_cast<uint8_t>(in[0]) == 0xff) {
    std::string body;
    snappy::Compress(in.data() + 1, in.size() - 1, &body);
    (void)vigil::remote::Decode(body, limits);
  } else {
    (void)vigil::remote::Decode(in, limits);
  }
  return 0;
}
