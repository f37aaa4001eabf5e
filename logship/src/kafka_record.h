#pragma once

// The Kafka record of one log line, as logship's sink writes it and its consumer reads it:
// value {"ts":"<RFC 3339, ns>","labels":{"name":"value",...},"line":"..."} (DESIGN.md).

#include <cstdint>
#include <string>
#include <string_view>

#include "vigil/common/labels.h"
#include "vigil/common/loki_push.h"
#include "vigil/common/status.h"

namespace vigil::logship {

std::string EncodeKafkaRecord(const Labels& labels, int64_t ts_ns, std::string_view line);
// The same in two parts, for the sink's loop: the start of every record of a stream (its labels),
// made once per stream, then each record appended to a buffer the caller reuses.
std::string KafkaRecordPrefix(const Labels& labels);
void AppendKafkaRecord(std::string& out, std::string_view prefix, int64_t ts_ns,
                       std::string_view line);

// Fills `labels` and `entry` from a record's value; InvalidArgument saying what is wrong (not
// JSON, a field missing or of the wrong type, a bad timestamp, an invalid label).
Status DecodeKafkaRecord(std::string_view value, Labels& labels, loki::Entry& entry);

}  // namespace vigil::logship
