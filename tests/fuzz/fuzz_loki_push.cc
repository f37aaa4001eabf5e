// Fuzzes Loki push decoding. The first byte picks the body: 0 a JSON body, 1 a snappy protobuf
// body as is, 2 the rest snappy-compressed first (so the fuzzer reaches the protobuf layer), 3
// a stream label set. Whatever decodes must encode and decode again to the same streams.
#include <snappy.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "vigil/common/loki_push.h"

namespace {

void RoundTrip(const std::vector<vigil::loki::Stream>& streams) {
  vigil::loki::PushLimits unlimited;
  unlimited.max_line_bytes = 1 << 30;
  auto again = vigil::loki::DecodePush(vigil::loki::EncodePush(streams),
                                       vigil::loki::kProtobufContentType, unlimited);
  if (!again.ok() || again->size() != streams.size()) std::abort();
  for (size_t i = 0; i < streams.size(); ++i) {
    if (!((*again)[i].labels == streams[i].labels)) std::abort();
    if ((*again)[i].entries.size() != streams[i].entries.size()) std::abort();
    for (size_t j = 0; j < streams[i].entries.size(); ++j) {
      if ((*again)[i].entries[j].ts_ns != streams[i].entries[j].ts_ns) std::abort();
      if ((*again)[i].entries[j].line != streams[i].entries[j].line) std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  vigil::loki::PushLimits limits;
  limits.max_body_bytes = 1 << 20;
  limits.max_streams = 100;
  limits.max_entries = 1000;
  switch (data[0] % 4) {
    case 0: {
      auto r = vigil::loki::DecodePush(rest, vigil::loki::kJsonContentType, limits);
      if (r.ok()) RoundTrip(*r);
      break;
    }
    case 1:
    case 2: {
      std::string body(rest);
      if (data[0] % 4 == 2) {
        body.clear();
        snappy::Compress(rest.data(), rest.size(), &body);
      }
      auto r = vigil::loki::DecodePush(body, vigil::loki::kProtobufContentType, limits);
      if (r.ok()) RoundTrip(*r);
      break;
    }
    default: {
      auto labels = vigil::loki::ParseStreamLabels(rest);
      if (labels.ok()) {
        auto again = vigil::loki::ParseStreamLabels(vigil::loki::FormatStreamLabels(*labels));
        if (!again.ok() || !(*again == *labels)) std::abort();
      }
    }
  }
  return 0;
}
