#include "vigil/common/api_answer.h"

#include <charconv>
#include <cmath>

#include "vigil/common/exposition.h"

namespace vigil::api {
namespace {

using nlohmann::json;

// The member `key` of an object, or nullptr.
const json* Member(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

Result<std::pair<int64_t, double>> DecodePoint(const json& p) {
  if (!p.is_array() || p.size() != 2 || !p[0].is_number() || !p[1].is_string()) {
    return InvalidArgument("a sample is not [time, \"value\"]");
  }
  const double secs = p[0].get<double>();
  if (!std::isfinite(secs) || std::fabs(secs) > 9.2e12) {
    return InvalidArgument("a sample's time is out of range");
  }
  double v = 0;
  const std::string& s = p[1].get_ref<const std::string&>();
  if (!expo::ParseValue(s, v)) return InvalidArgument("a sample value \"" + s + "\" is no number");
  return std::pair<int64_t, double>(std::llround(secs * 1000), v);
}

// The "result" list of a query answer's "data".
Result<const json*> ResultList(const json& data) {
  const json* result = Member(data, "result");
  if (result == nullptr || !result->is_array()) return InvalidArgument("the answer has no result");
  return result;
}

}  // namespace

Result<Labels> DecodeLabels(const json& obj) {
  if (!obj.is_object()) return InvalidArgument("a label set is not an object");
  LabelsBuilder b;
  for (const auto& [k, v] : obj.items()) {
    if (!v.is_string()) return InvalidArgument("label " + k + " is not a string");
    b.Set(k, v.get<std::string>());
  }
  return b.Build();
}

Status DecodeSeries(const json& data, std::vector<Series>& out) {
  VIGIL_ASSIGN_OR_RETURN(const json* result, ResultList(data));
  const json* type = Member(data, "resultType");
  const bool vector = type != nullptr && *type == "vector";
  for (const json& s : *result) {
    const json* metric = Member(s, "metric");
    if (metric == nullptr) return InvalidArgument("a series has no metric");
    Series series;
    VIGIL_ASSIGN_OR_RETURN(series.labels, DecodeLabels(*metric));
    if (vector) {
      const json* value = Member(s, "value");
      if (value == nullptr) return InvalidArgument("a vector sample has no value");
      VIGIL_ASSIGN_OR_RETURN(auto p, DecodePoint(*value));
      series.points.push_back(p);
    } else {
      const json* values = Member(s, "values");
      if (values == nullptr || !values->is_array()) {
        return InvalidArgument("a matrix series has no values");
      }
      for (const json& v : *values) {
        VIGIL_ASSIGN_OR_RETURN(auto p, DecodePoint(v));
        series.points.push_back(p);
      }
    }
    out.push_back(std::move(series));
  }
  return Status::Ok();
}

Status DecodeStreams(const json& data, std::vector<Stream>& out) {
  VIGIL_ASSIGN_OR_RETURN(const json* result, ResultList(data));
  for (const json& s : *result) {
    const json* labels = Member(s, "stream");
    const json* values = Member(s, "values");
    if (labels == nullptr || values == nullptr || !values->is_array()) {
      return InvalidArgument("a stream has no stream labels or values");
    }
    Stream stream;
    VIGIL_ASSIGN_OR_RETURN(stream.labels, DecodeLabels(*labels));
    for (const json& v : *values) {
      if (!v.is_array() || v.size() != 2 || !v[0].is_string() || !v[1].is_string()) {
        return InvalidArgument("an entry is not [\"nanoseconds\", \"line\"]");
      }
      const std::string& t = v[0].get_ref<const std::string&>();
      int64_t ns = 0;
      auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), ns);
      if (ec != std::errc() || p != t.data() + t.size()) {
        return InvalidArgument("an entry's time \"" + t + "\" is not nanoseconds");
      }
      stream.entries.emplace_back(ns, v[1].get<std::string>());
    }
    out.push_back(std::move(stream));
  }
  return Status::Ok();
}

Status DecodeStrings(const json& data, std::vector<std::string>& out) {
  if (!data.is_array()) return InvalidArgument("the answer's data is not a list");
  for (const json& v : data) {
    if (!v.is_string()) return InvalidArgument("the answer's list has a non-string");
    out.push_back(v.get<std::string>());
  }
  return Status::Ok();
}

}  // namespace vigil::api
