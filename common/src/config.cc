#include "vigil/common/config.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <functional>
#include <map>
#include <set>

#include "vigil/common/duration.h"
#include "vigil/common/file_system.h"

namespace vigil {
namespace {

constexpr size_t kMaxConfigBytes = 16 << 20;

// One settable field: its kind (for the error message), how to set it from a YAML node, and how
// to show its value (the reference shows the defaults).
struct Field {
  std::string expected;
  std::function<Status(const YAML::Node&, Config&)> set;
  std::function<std::string(const Config&)> show;
};

std::string NodeText(const YAML::Node& n) {
  if (n.IsScalar()) return "\"" + n.Scalar() + "\"";
  if (n.IsSequence()) return "a list";
  if (n.IsMap()) return "a mapping";
  return "nothing";
}

Status Expected(const std::string& what, const YAML::Node& n) {
  return InvalidArgument("expected " + what + ", got " + NodeText(n));
}

template <typename T>
using Member = std::function<T&(Config&)>;

Field StringField(Member<std::string> m) {
  return {"a string",
          [m](const YAML::Node& n, Config& c) {
            if (!n.IsScalar()) return Expected("a string", n);
            m(c) = n.Scalar();
            return Status::Ok();
          },
          [m](const Config& c) {
            return m(const_cast<Config&>(c)).empty() ? std::string("(empty)")
                                                     : "`" + m(const_cast<Config&>(c)) + "`";
          }};
}

Field ChoiceField(Member<std::string> m, std::vector<std::string> choices) {
  std::string what = "one of";
  for (const auto& ch : choices) what += " " + ch;
  return {what,
          [m, choices, what](const YAML::Node& n, Config& c) {
            if (n.IsScalar()) {
              for (const auto& ch : choices) {
                if (n.Scalar() == ch) {
                  m(c) = ch;
                  return Status::Ok();
                }
              }
            }
            return Expected(what, n);
          },
          [m](const Config& c) { return "`" + m(const_cast<Config&>(c)) + "`"; }};
}

Field ListField(Member<std::vector<std::string>> m) {
  return {"a list of strings",
          [m](const YAML::Node& n, Config& c) {
            std::vector<std::string> out;
            if (n.IsScalar()) {
              out.push_back(n.Scalar());
            } else if (n.IsSequence()) {
              for (const auto& item : n) {
                if (!item.IsScalar()) return Expected("a list of strings", n);
                out.push_back(item.Scalar());
              }
            } else if (!n.IsNull()) {
              return Expected("a list of strings", n);
            }
            m(c) = std::move(out);
            return Status::Ok();
          },
          [m](const Config& c) {
            std::string out;
            for (const auto& x : m(const_cast<Config&>(c)))
              out += (out.empty() ? "`" : ", `") + x + "`";
            return out.empty() ? std::string("(none)") : out;
          }};
}

Field DurationField(Member<milliseconds> m) {
  const std::string what = "a duration such as 30s, 5m or 15d";
  return {what,
          [m, what](const YAML::Node& n, Config& c) {
            if (!n.IsScalar()) return Expected(what, n);
            auto d = ParseDuration(n.Scalar());
            if (!d.ok()) return Expected(what, n);
            m(c) = *d;
            return Status::Ok();
          },
          [m](const Config& c) { return "`" + FormatDuration(m(const_cast<Config&>(c))) + "`"; }};
}

Field BytesField(Member<uint64_t> m) {
  const std::string what = "a size in bytes such as 1048576 or 64MiB";
  return {what,
          [m, what](const YAML::Node& n, Config& c) {
            if (!n.IsScalar()) return Expected(what, n);
            auto b = ParseBytes(n.Scalar());
            if (!b.ok()) return Expected(what, n);
            m(c) = *b;
            return Status::Ok();
          },
          [m](const Config& c) { return "`" + std::to_string(m(const_cast<Config&>(c))) + "`"; }};
}

Field CountField(Member<uint64_t> m) {
  const std::string what = "a non-negative integer";
  return {what,
          [m, what](const YAML::Node& n, Config& c) {
            if (!n.IsScalar()) return Expected(what, n);
            const std::string& s = n.Scalar();
            uint64_t v = 0;
            auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
            if (ec != std::errc() || p != s.data() + s.size() || s.empty())
              return Expected(what, n);
            m(c) = v;
            return Status::Ok();
          },
          [m](const Config& c) { return "`" + std::to_string(m(const_cast<Config&>(c))) + "`"; }};
}

Field BoolField(Member<bool> m) {
  const std::string what = "true or false";
  return {what,
          [m, what](const YAML::Node& n, Config& c) {
            if (n.IsScalar() && (n.Scalar() == "true" || n.Scalar() == "false")) {
              m(c) = n.Scalar() == "true";
              return Status::Ok();
            }
            return Expected(what, n);
          },
          [m](const Config& c) {
            return m(const_cast<Config&>(c)) ? std::string("`true`") : std::string("`false`");
          }};
}

#define VIGIL_M(path) \
  [](Config & c) -> auto& { return c.path; }

const std::map<std::string, Field, std::less<>>& Fields() {
  static const auto* fields = new std::map<std::string, Field, std::less<>>{
      {"data_dir", StringField(VIGIL_M(data_dir))},
      {"log.level",
       ChoiceField(VIGIL_M(log.level), {"trace", "debug", "info", "warn", "error", "off"})},
      {"log.format", ChoiceField(VIGIL_M(log.format), {"text", "json"})},
      {"server.listen", StringField(VIGIL_M(server.listen))},
      {"server.tls_cert_file", StringField(VIGIL_M(server.tls_cert_file))},
      {"server.tls_key_file", StringField(VIGIL_M(server.tls_key_file))},
      {"server.bearer_token", StringField(VIGIL_M(server.bearer_token))},
      {"server.read_timeout", DurationField(VIGIL_M(server.read_timeout))},
      {"server.idle_timeout", DurationField(VIGIL_M(server.idle_timeout))},
      {"agent.remote_write", ListField(VIGIL_M(agent.remote_write))},
      {"agent.log_push", ListField(VIGIL_M(agent.log_push))},
      {"agent.log_root", ListField(VIGIL_M(agent.log_root))},
      {"agent.proc_root", StringField(VIGIL_M(agent.proc_root))},
      {"agent.sys_root", StringField(VIGIL_M(agent.sys_root))},
      {"agent.cgroup_root", StringField(VIGIL_M(agent.cgroup_root))},
      {"agent.rootfs", StringField(VIGIL_M(agent.rootfs))},
      {"agent.collectors", ListField(VIGIL_M(agent.collectors))},
      {"agent.scrape_config", StringField(VIGIL_M(agent.scrape_config))},
      {"agent.interval", DurationField(VIGIL_M(agent.interval))},
      {"agent.external_labels", ListField(VIGIL_M(agent.external_labels))},
      {"agent.log_labels", ListField(VIGIL_M(agent.log_labels))},
      {"agent.runtime_dirs", ListField(VIGIL_M(agent.runtime_dirs))},
      {"agent.instance", StringField(VIGIL_M(agent.instance))},
      {"agent.queue_max_bytes", BytesField(VIGIL_M(agent.queue_max_bytes))},
      {"agent.remote_write_timeout", DurationField(VIGIL_M(agent.remote_write_timeout))},
      {"agent.remote_write_max_backoff", DurationField(VIGIL_M(agent.remote_write_max_backoff))},
      {"agent.kafka_options", ListField(VIGIL_M(agent.kafka_options))},
      {"tsdb.retention", DurationField(VIGIL_M(tsdb.retention))},
      {"tsdb.retention_bytes", BytesField(VIGIL_M(tsdb.retention_bytes))},
      {"tsdb.block_cache_bytes", BytesField(VIGIL_M(tsdb.block_cache_bytes))},
      {"tsdb.max_body_bytes", BytesField(VIGIL_M(tsdb.max_body_bytes))},
      {"tsdb.query_timeout", DurationField(VIGIL_M(tsdb.query_timeout))},
      {"tsdb.query_max_samples", CountField(VIGIL_M(tsdb.query_max_samples))},
      {"tsdb.query_lookback_delta", DurationField(VIGIL_M(tsdb.query_lookback_delta))},
      {"tsdb.out_of_order_window", DurationField(VIGIL_M(tsdb.out_of_order_window))},
      {"tsdb.wal_sync", BoolField(VIGIL_M(tsdb.wal_sync))},
      {"tsdb.enable_admin_api", BoolField(VIGIL_M(tsdb.enable_admin_api))},
      {"tsdb.kafka_brokers", ListField(VIGIL_M(tsdb.kafka_brokers))},
      {"tsdb.kafka_consume", StringField(VIGIL_M(tsdb.kafka_consume))},
      {"tsdb.kafka_group", StringField(VIGIL_M(tsdb.kafka_group))},
      {"tsdb.kafka_options", ListField(VIGIL_M(tsdb.kafka_options))},
      {"tsdb.query_shards", ListField(VIGIL_M(tsdb.query_shards))},
      {"tsdb.kafka_publish", StringField(VIGIL_M(tsdb.kafka_publish))},
      {"logship.kafka_brokers", ListField(VIGIL_M(logship.kafka_brokers))},
      {"logship.kafka_topic", StringField(VIGIL_M(logship.kafka_topic))},
      {"logship.kafka_compression", StringField(VIGIL_M(logship.kafka_compression))},
      {"logship.kafka_delivery_timeout", DurationField(VIGIL_M(logship.kafka_delivery_timeout))},
      {"logship.kafka_options", ListField(VIGIL_M(logship.kafka_options))},
      {"logship.kafka_consume", StringField(VIGIL_M(logship.kafka_consume))},
      {"logship.kafka_group", StringField(VIGIL_M(logship.kafka_group))},
      {"logship.store", BoolField(VIGIL_M(logship.store))},
      {"logship.retention", DurationField(VIGIL_M(logship.retention))},
      {"logship.query_shards", ListField(VIGIL_M(logship.query_shards))},
      {"alertd.rules", ListField(VIGIL_M(alertd.rules))},
      {"alertd.query_url", StringField(VIGIL_M(alertd.query_url))},
      {"alertd.logs_url", StringField(VIGIL_M(alertd.logs_url))},
      {"alertd.alertmanager_url", ListField(VIGIL_M(alertd.alertmanager_url))},
      {"alertd.pagerduty_url", StringField(VIGIL_M(alertd.pagerduty_url))},
      {"alertd.pagerduty_key", StringField(VIGIL_M(alertd.pagerduty_key))},
      {"alertd.webhook_url", ListField(VIGIL_M(alertd.webhook_url))},
      {"alertd.remote_write", StringField(VIGIL_M(alertd.remote_write))},
      {"alertd.eval_interval", DurationField(VIGIL_M(alertd.eval_interval))},
      {"alertd.resend_delay", DurationField(VIGIL_M(alertd.resend_delay))},
      {"alertd.external_labels", ListField(VIGIL_M(alertd.external_labels))},
      {"alertd.external_url", StringField(VIGIL_M(alertd.external_url))},
  };
  return *fields;
}

#undef VIGIL_M

std::string Position(std::string_view file, const YAML::Mark& mark) {
  return std::string(file) + ":" + std::to_string(mark.line + 1) + ":" +
         std::to_string(mark.column + 1);
}

// Walks a mapping, setting each leaf key through the field table.
Status Walk(const YAML::Node& node, const std::string& prefix, std::string_view file,
            Config& config) {
  if (!node.IsMap()) {
    return InvalidArgument(Position(file, node.Mark()) + ": " +
                           (prefix.empty() ? std::string("the file") : prefix) +
                           ": expected a mapping of keys, got " + NodeText(node));
  }
  const auto& fields = Fields();
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) {
      return InvalidArgument(Position(file, kv.first.Mark()) + ": expected a key");
    }
    const std::string key = prefix.empty() ? kv.first.Scalar() : prefix + "." + kv.first.Scalar();
    auto field = fields.find(key);
    if (field != fields.end()) {
      Status st = field->second.set(kv.second, config);
      if (!st.ok()) {
        return InvalidArgument(Position(file, kv.second.Mark()) + ": " + key + ": " + st.message());
      }
      continue;
    }
    // A section: some field starts with "key.".
    auto sub = fields.lower_bound(key + ".");
    if (sub != fields.end() && sub->first.starts_with(key + ".")) {
      if (kv.second.IsNull()) continue;  // an empty section keeps the defaults
      VIGIL_RETURN_IF_ERROR(Walk(kv.second, key, file, config));
      continue;
    }
    std::set<std::string> heads;
    for (const auto& [k, f] : fields) {
      std::string_view rest = k;
      if (!prefix.empty()) {
        if (!rest.starts_with(prefix + ".")) continue;
        rest.remove_prefix(prefix.size() + 1);
      }
      heads.emplace(rest.substr(0, rest.find('.')));
    }
    std::string known;
    for (const auto& h : heads) known += (known.empty() ? " " : ", ") + h;
    return InvalidArgument(Position(file, kv.first.Mark()) + ": unknown key \"" + key +
                           "\" (expected one of:" + known + ")");
  }
  return Status::Ok();
}

}  // namespace

const std::vector<FlagSpec>& Flags(std::string_view component) {
  static const auto* flags = new std::map<std::string, std::vector<FlagSpec>, std::less<>>{
      {"",
       {{"--listen", "server.listen", "address to serve on (host:port)"},
        {"--data-dir", "data_dir", "directory for stored data"},
        {"--log-level", "log.level", "trace, debug, info, warn, error or off"},
        {"--log-format", "log.format", "text or json"},
        {"--tls-cert-file", "server.tls_cert_file", "serve TLS with this certificate (PEM)"},
        {"--tls-key-file", "server.tls_key_file", "the private key of --tls-cert-file (PEM)"},
        {"--bearer-token", "server.bearer_token", "require this bearer token on API requests"}}},
      {"agent",
       {{"--remote-write", "agent.remote_write",
         "remote_write URL, or kafka://HOST:PORT[,HOST:PORT]/TOPIC (repeatable)", true},
        {"--log-push", "agent.log_push", "Loki push URL (repeatable)", true},
        {"--log-root", "agent.log_root", "glob of log files to tail (repeatable)", true},
        {"--proc-root", "agent.proc_root", "where the host's /proc is mounted"},
        {"--sys-root", "agent.sys_root", "where the host's /sys is mounted"},
        {"--cgroup-root", "agent.cgroup_root", "where the host's cgroup tree is mounted"},
        {"--rootfs", "agent.rootfs", "where the host's root filesystem is mounted"},
        {"--collector", "agent.collectors",
         "collectors to run: containers, node (repeatable; default both)", true},
        {"--scrape-config", "agent.scrape_config", "file of exporters to scrape"},
        {"--interval", "agent.interval", "collection and scrape interval"},
        {"--external-label", "agent.external_labels",
         "name=value added to every shipped series (repeatable)", true},
        {"--log-label", "agent.log_labels",
         "name=value added to every log line's labels (repeatable)", true},
        {"--instance", "agent.instance", "instance label of the agent's own series"},
        {"--runtime-dir", "agent.runtime_dirs",
         "directory of container runtime records, for the image label (repeatable)", true},
        {"--queue-max-bytes", "agent.queue_max_bytes", "disk bound of the remote_write queue"},
        {"--remote-write-timeout", "agent.remote_write_timeout", "timeout of one send"},
        {"--kafka-option", "agent.kafka_options",
         "a librdkafka setting name=value for kafka:// remote_write (repeatable)", true},
        {"--remote-write-max-backoff", "agent.remote_write_max_backoff",
         "longest wait between retries of a send"}}},
      {"tsdb",
       {{"--retention", "tsdb.retention", "how long samples are kept"},
        {"--retention-bytes", "tsdb.retention_bytes", "size limit of stored chunks (0: none)"},
        {"--max-body-bytes", "tsdb.max_body_bytes", "largest remote_write body accepted"},
        {"--block-cache-bytes", "tsdb.block_cache_bytes",
         "RocksDB block cache shared by all column families"},
        {"--query-timeout", "tsdb.query_timeout", "longest a query may run"},
        {"--query-max-samples", "tsdb.query_max_samples", "most samples a query may load"},
        {"--query-lookback-delta", "tsdb.query_lookback_delta",
         "how far back an instant vector selector looks for a sample"},
        {"--out-of-order-window", "tsdb.out_of_order_window",
         "how far behind a series' newest sample a sample is still accepted"},
        {"--wal-sync", "tsdb.wal_sync", "fsync each commit before answering (true or false)"},
        {"--enable-admin-api", "tsdb.enable_admin_api",
         "serve /api/v1/admin/tsdb/delete_series (true or false)"},
        {"--kafka-brokers", "tsdb.kafka_brokers", "Kafka bootstrap brokers (repeatable)", true},
        {"--kafka-consume", "tsdb.kafka_consume",
         "read remote_write batches (snappy WriteRequest bodies) from this Kafka topic"},
        {"--kafka-group", "tsdb.kafka_group",
         "consumer group of --kafka-consume; instances in one group share the partitions"},
        {"--kafka-option", "tsdb.kafka_options",
         "a librdkafka setting name=value for the consumer and producer (repeatable)", true},
        {"--kafka-publish", "tsdb.kafka_publish",
         "ingest-only: publish remote_write batches to this Kafka topic (split by series) "
         "instead of storing them"},
        {"--query-shards", "tsdb.query_shards",
         "answer queries over these stores (base URLs, comma-separated or repeated) instead of "
         "the local one",
         true}}},
      {"logship",
       {{"--kafka-brokers", "logship.kafka_brokers", "Kafka bootstrap brokers (repeatable)", true},
        {"--kafka-topic", "logship.kafka_topic",
         "Kafka topic for log records; {{label}} in it is the stream's label value"},
        {"--kafka-compression", "logship.kafka_compression",
         "Kafka compression: none, gzip, snappy, lz4 or zstd"},
        {"--kafka-delivery-timeout", "logship.kafka_delivery_timeout",
         "how long the producer retries a batch before the spool sends it again later"},
        {"--kafka-option", "logship.kafka_options",
         "a librdkafka setting name=value for producer and consumer (repeatable)", true},
        {"--kafka-consume", "logship.kafka_consume",
         "consumer mode: read this topic into the log store (pushes then go to the store only)"},
        {"--kafka-group", "logship.kafka_group",
         "consumer group of --kafka-consume; instances in one group share the partitions"},
        {"--store", "logship.store",
         "keep a log store and serve the Loki query API (false: forward to Kafka only)"},
        {"--retention", "logship.retention", "how long log lines are kept"},
        {"--query-shards", "logship.query_shards",
         "answer Loki queries over these logship stores (base URLs, comma-separated or repeated) "
         "instead of the local one",
         true}}},
      {"alertd",
       {{"--rules", "alertd.rules", "glob of rule files (repeatable)", true},
        {"--query-url", "alertd.query_url", "Prometheus API to evaluate PromQL rules against"},
        {"--logs-url", "alertd.logs_url", "Loki API to evaluate LogQL rules against"},
        {"--alertmanager-url", "alertd.alertmanager_url", "Alertmanager URL (repeatable)", true},
        {"--pagerduty-url", "alertd.pagerduty_url", "PagerDuty Events API v2 URL"},
        {"--pagerduty-key", "alertd.pagerduty_key", "PagerDuty routing key"},
        {"--webhook-url", "alertd.webhook_url", "webhook URL (repeatable)", true},
        {"--remote-write", "alertd.remote_write", "where ALERTS and recording rules are written"},
        {"--eval-interval", "alertd.eval_interval", "default rule group interval"},
        {"--resend-delay", "alertd.resend_delay", "how often a firing alert is sent again"},
        {"--external-label", "alertd.external_labels",
         "name=value added to alerts sent and seen by templates (repeatable)", true},
        {"--external-url", "alertd.external_url", "the URL alerts link back to"}}},
  };
  static const std::vector<FlagSpec> kNone;
  auto it = flags->find(component);
  return it == flags->end() ? kNone : it->second;
}

Status LoadConfigText(std::string_view yaml, std::string_view file, Config& config) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::ParserException& e) {
    return InvalidArgument(Position(file, e.mark) + ": invalid YAML: " + e.msg);
  } catch (const std::exception& e) {
    return InvalidArgument(std::string(file) + ": invalid YAML: " + e.what());
  }
  if (root.IsNull()) return Status::Ok();  // an empty file keeps every default
  try {
    return Walk(root, "", file, config);
  } catch (const std::exception& e) {
    return InvalidArgument(std::string(file) + ": " + e.what());
  }
}

Status LoadConfigFile(const std::string& path, Config& config) {
  auto text = RealFileSystem()->ReadFile(path, kMaxConfigBytes);
  if (!text.ok()) return text.status().WithContext("config file");
  return LoadConfigText(*text, path, config);
}

Status ApplyOverride(std::string_view key, const std::vector<std::string>& values, Config& config) {
  const auto& fields = Fields();
  auto it = fields.find(key);
  if (it == fields.end()) return InvalidArgument("unknown configuration key " + std::string(key));
  YAML::Node node;
  if (values.size() == 1) {
    node = YAML::Node(values[0]);
  } else {
    for (const auto& v : values) node.push_back(v);
  }
  return it->second.set(node, config);
}

Result<uint64_t> ParseBytes(std::string_view s) {
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || p == s.data()) {
    return InvalidArgument("invalid size \"" + std::string(s) + "\"");
  }
  std::string_view unit = s.substr(static_cast<size_t>(p - s.data()));
  static const std::map<std::string_view, uint64_t> kUnits = {{"", 1},
                                                              {"B", 1},
                                                              {"KB", 1ULL << 10},
                                                              {"KiB", 1ULL << 10},
                                                              {"MB", 1ULL << 20},
                                                              {"MiB", 1ULL << 20},
                                                              {"GB", 1ULL << 30},
                                                              {"GiB", 1ULL << 30},
                                                              {"TB", 1ULL << 40},
                                                              {"TiB", 1ULL << 40}};
  auto it = kUnits.find(unit);
  if (it == kUnits.end()) {
    return InvalidArgument("invalid size \"" + std::string(s) + "\": unknown unit \"" +
                           std::string(unit) + "\"");
  }
  if (n > UINT64_MAX / it->second)
    return InvalidArgument("size \"" + std::string(s) + "\" too large");
  return n * it->second;
}

}  // namespace vigil

namespace vigil {

std::string ConfigReference() {
  struct FlagOf {
    std::string flag, component, help;
  };
  std::map<std::string, FlagOf> flags;
  for (const char* component : {"", "agent", "tsdb", "logship", "alertd"}) {
    for (const auto& f : Flags(component)) {
      flags[f.key] = {f.flag + (f.repeated ? " (repeatable)" : ""),
                      *component ? component : "every daemon and `vigil up`", f.help};
    }
  }
  const Config defaults;
  std::string out;
  std::string section = "-";
  for (const auto& [key, field] : Fields()) {
    const size_t dot = key.find('.');
    const std::string s = dot == std::string::npos ? "" : key.substr(0, dot);
    if (s != section) {
      section = s;
      out += "\n### " + (s.empty() ? std::string("top level") : "`" + s + ":`") + "\n\n";
      out += "| YAML key | flag | taken by | value | default | what |\n";
      out += "| --- | --- | --- | --- | --- | --- |\n";
    }
    auto f = flags.find(key);
    out += "| `" + key + "` | " + (f != flags.end() ? "`" + f->second.flag + "`" : "—") + " | " +
           (f != flags.end() ? f->second.component : "the YAML file only") + " | " +
           field.expected + " | " + field.show(defaults) + " | " +
           (f != flags.end() ? f->second.help : "") + " |\n";
  }
  return out;
}

}  // namespace vigil
