#include "kafka_client.h"

#include <spdlog/spdlog.h>

namespace vigil::logship {
namespace {

void OnLog(const rd_kafka_t*, int level, const char* fac, const char* buf) {
  if (level <= 3) {
    spdlog::warn("logship: kafka: {}: {}", fac, buf);
  } else {
    spdlog::debug("logship: kafka: {}: {}", fac, buf);
  }
}

}  // namespace

Result<rd_kafka_conf_t*> MakeKafkaConf(const KafkaSettings& settings,
                                       const std::vector<std::string>& options) {
  KafkaSettings all = settings;
  for (const auto& o : options) {
    const size_t eq = o.find('=');
    if (eq == std::string::npos || eq == 0) {
      return InvalidArgument("kafka: option \"" + o + "\" is not name=value");
    }
    all.emplace_back(o.substr(0, eq), o.substr(eq + 1));
  }
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  for (const auto& [k, v] : all) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return InvalidArgument("kafka: " + k + "=" + v + ": " + err);
    }
  }
  rd_kafka_conf_set_log_cb(conf, OnLog);
  return conf;
}

std::string JoinBrokers(const std::vector<std::string>& brokers) {
  std::string out;
  for (const auto& b : brokers) out += (out.empty() ? "" : ",") + b;
  return out;
}

}  // namespace vigil::logship
