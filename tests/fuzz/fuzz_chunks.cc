// Fuzzes the decoders of stored chunks (XOR and decimal): bytes read back from disk must never
// crash or read out of bounds, whatever they hold. A first byte of 0 or 1 picks the decoder.
#include <cstdint>
#include <limits>

#include "decimal_chunk.h"
#include "xor_chunk.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    vigil::tsdb::XorIterator it(in);
    while (it.Next()) {
    }
  } else {
    std::vector<vigil::tsdb::Sample> out;
    (void)vigil::tsdb::DecodeDecimal(in, std::numeric_limits<int64_t>::min(),
                                     std::numeric_limits<int64_t>::max(), out);
  }
  return 0;
}
