// Fuzzes remote_write decoding: snappy, the wire parser, validation. Inputs are snappy bodies; a
// first byte of 0xff instead compresses the rest first, so the fuzzer also reaches the protobuf
// layer. Differential: whatever the view decoder accepts, protobuf must parse to the same series.
#include <snappy.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "vigil/common/remote_write.h"

namespace {

void CheckAgainstProtobuf(std::string_view body, const vigil::remote::WriteLimits& limits) {
  vigil::remote::WriteRequestView view;
  if (!vigil::remote::DecodeView(body, limits, view).ok()) return;
  prometheus::WriteRequest req;
  if (!req.ParseFromArray(view.raw().data(), static_cast<int>(view.raw().size()))) {
    return;  // protobuf also checks UTF-8 in fields we skip (exemplar labels, metadata)
  }
  if (static_cast<size_t>(req.timeseries_size()) != view.size()) std::abort();
  for (size_t i = 0; i < view.size(); ++i) {
    const auto& ts = req.timeseries(static_cast<int>(i));
    auto labels = vigil::remote::ToLabels(ts);
    if (!labels.ok() || labels->ToString() != vigil::LabelsToString(view.labels(i))) std::abort();
    if (static_cast<size_t>(ts.samples_size()) != view.samples(i).size()) std::abort();
    for (int k = 0; k < ts.samples_size(); ++k) {
      const auto& p = view.samples(i)[static_cast<size_t>(k)];
      const double v = ts.samples(k).value();
      if (p.t != ts.samples(k).timestamp() || std::memcmp(&p.v, &v, 8) != 0) std::abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  vigil::remote::WriteLimits limits;
  limits.max_decompressed_bytes = 1 << 20;
  std::string body;
  if (!in.empty() && static_cast<uint8_t>(in[0]) == 0xff) {
    snappy::Compress(in.data() + 1, in.size() - 1, &body);
  } else {
    body = std::string(in);
  }
  (void)vigil::remote::Decode(body, limits);
  CheckAgainstProtobuf(body, limits);
  return 0;
}
