#include "kafka_record.h"

#include <nlohmann/json.hpp>

#include "vigil/common/json_text.h"
#include "vigil/common/timestamp.h"

namespace vigil::logship {

using nlohmann::json;

std::string KafkaRecordPrefix(const Labels& labels) {
  // By hand (a JSON document per line was most of logship's CPU), keys in nlohmann's order.
  std::string out = "{\"labels\":";
  AppendJsonLabels(out, labels);
  out += ",\"line\":";
  return out;
}

void AppendKafkaRecord(std::string& out, std::string_view prefix, int64_t ts_ns,
                       std::string_view line) {
  out.reserve(out.size() + prefix.size() + line.size() + 48);
  out += prefix;
  AppendJsonString(out, line);
  out += ",\"ts\":\"";
  AppendRfc3339Nanos(out, ts_ns);
  out += "\"}";
}

std::string EncodeKafkaRecord(const Labels& labels, int64_t ts_ns, std::string_view line) {
  std::string out;
  AppendKafkaRecord(out, KafkaRecordPrefix(labels), ts_ns, line);
  return out;
}

Status DecodeKafkaRecord(std::string_view value, Labels& labels, loki::Entry& entry) {
  json v = json::parse(value, nullptr, false);
  if (v.is_discarded() || !v.is_object()) return InvalidArgument("the value is not a JSON object");
  auto ts = v.find("ts");
  auto ls = v.find("labels");
  auto line = v.find("line");
  if (ts == v.end() || !ts->is_string())
    return InvalidArgument("\"ts\" is missing or not a string");
  if (ls == v.end() || !ls->is_object() || ls->empty()) {
    return InvalidArgument("\"labels\" is missing, empty or not an object");
  }
  if (line == v.end() || !line->is_string()) {
    return InvalidArgument("\"line\" is missing or not a string");
  }
  auto t = ParseRfc3339Nanos(ts->get_ref<const std::string&>());
  if (!t.ok()) return InvalidArgument("\"ts\": " + t.status().message());
  LabelsBuilder b;
  for (const auto& [name, val] : ls->items()) {
    if (!val.is_string()) return InvalidArgument("label " + name + " is not a string");
    b.Set(name, val.get<std::string>());
  }
  Labels built = b.Build();  // labels with empty values are left out, as Loki does
  if (built.empty()) return InvalidArgument("\"labels\" has no label with a value");
  if (Status st = ValidateLabels(built, /*require_name=*/false); !st.ok()) {
    return InvalidArgument("labels: " + st.message());
  }
  labels = std::move(built);
  entry.ts_ns = *t;
  entry.line = line->get<std::string>();
  entry.metadata = {};
  return Status::Ok();
}

}  // namespace vigil::logship
