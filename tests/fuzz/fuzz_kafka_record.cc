// Fuzzes the decoder of logship's Kafka records: any value is a record or an error saying what is
// wrong, never a crash; a record decoded, encoded again and decoded gives the same record.
#include <cstdint>
#include <cstdlib>

#include "kafka_record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 8192) return 0;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  vigil::Labels labels;
  vigil::loki::Entry e;
  vigil::Status st = vigil::logship::DecodeKafkaRecord(in, labels, e);
  if (!st.ok()) {
    if (st.message().empty()) std::abort();
    return 0;
  }
  const std::string again = vigil::logship::EncodeKafkaRecord(labels, e.ts_ns, e.line);
  vigil::Labels labels2;
  vigil::loki::Entry e2;
  if (!vigil::logship::DecodeKafkaRecord(again, labels2, e2).ok()) std::abort();
  if (labels2 != labels || e2.ts_ns != e.ts_ns || e2.line != e.line) std::abort();
  return 0;
}
