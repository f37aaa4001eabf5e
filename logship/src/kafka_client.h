#pragma once

// What logship's Kafka producer (KafkaSink) and consumer (KafkaConsumer) share: building a
// librdkafka configuration from our settings plus the user's `--kafka-option name=value` pairs
// (security, SASL, timeouts: anything librdkafka takes), and routing librdkafka's log to spdlog.

#include <librdkafka/rdkafka.h>

#include <string>
#include <utility>
#include <vector>

#include "vigil/common/status.h"

namespace vigil::logship {

using KafkaSettings = std::vector<std::pair<std::string, std::string>>;

// A configuration with `settings`, then `options` ("name=value"; they override ours). The caller
// owns the result (rd_kafka_new takes it). An unknown name or bad value is an error naming it.
Result<rd_kafka_conf_t*> MakeKafkaConf(const KafkaSettings& settings,
                                       const std::vector<std::string>& options);

std::string JoinBrokers(const std::vector<std::string>& brokers);

}  // namespace vigil::logship
