// Fuzzes the reading of query API answers (common/api_answer.h), what a --query-shards front
// reads from its shards: any bytes are an answer or an error saying what is wrong, never a crash.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "vigil/common/api_answer.h"

namespace {

void Check(const vigil::Status& st) {
  if (!st.ok() && st.message().empty()) std::abort();
}

void DecodeAll(const nlohmann::json& j) {
  std::vector<vigil::api::Series> series;
  Check(vigil::api::DecodeSeries(j, series));
  std::vector<vigil::api::Stream> streams;
  Check(vigil::api::DecodeStreams(j, streams));
  std::vector<std::string> strings;
  Check(vigil::api::DecodeStrings(j, strings));
  auto labels = vigil::api::DecodeLabels(j);
  if (!labels.ok()) Check(labels.status());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 16384) return 0;
  const auto j = nlohmann::json::parse(data, data + size, nullptr, false);
  if (j.is_discarded()) return 0;
  DecodeAll(j);
  if (j.is_object()) {
    if (auto it = j.find("data"); it != j.end()) DecodeAll(*it);
  }
  return 0;
}
