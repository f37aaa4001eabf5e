#pragma once

// JSON written by hand where a document per item would cost (query results, Kafka records).

#include <string>
#include <string_view>

#include "vigil/common/labels.h"

namespace vigil {

// Appends `s` as a JSON string (quotes and escapes; invalid UTF-8 becomes U+FFFD).
void AppendJsonString(std::string& out, std::string_view s);

// Appends a label set as a JSON object: {"name":"value",...} in label order.
void AppendJsonLabels(std::string& out, const Labels& labels);

}  // namespace vigil
