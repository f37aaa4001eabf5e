#pragma once

// Config: one YAML file with a section per component, defaults built in, command-line flags
// override. Every key is also a flag (see Flags()); both go through one table of fields, so a
// value means the same from a file and from a flag. A Config is built once at start-up and then
// shared read-only (std::shared_ptr<const Config>); a reload builds a new one.
//
// A bad file fails with "<file>:<line>:<column>: <key>: expected <what>, got <text>".

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vigil/common/status.h"

namespace vigil {

using std::chrono::milliseconds;

struct LogConfig {
  std::string level = "info";   // trace, debug, info, warn, error, off
  std::string format = "text";  // text or json (one JSON object per line)
};

struct ServerConfig {
  std::string listen;  // empty: the component's default (DESIGN.md's table)
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string bearer_token;
  milliseconds read_timeout{60'000};
  milliseconds idle_timeout{120'000};
};

struct AgentConfig {
  std::vector<std::string> remote_write;
  std::vector<std::string> log_push;
  std::vector<std::string> log_root = {"/var/log/pods/*/*/*.log"};
  std::string proc_root = "/proc";
  std::string sys_root = "/sys";
  std::string cgroup_root = "/sys/fs/cgroup";
  std::string rootfs = "/";  // where the host's root filesystem is (node_filesystem_*)
  // Which collectors run: "containers" (cgroups, cAdvisor's names), "node" (node_exporter's).
  std::vector<std::string> collectors = {"containers", "node"};
  std::string scrape_config;
  milliseconds interval{15'000};
  // Where the container runtimes keep each container's record (containerd's bundles, CRI-O's
  // and docker's container directories), for the image label; empty: the runtimes' defaults.
  std::vector<std::string> runtime_dirs;
  // "name=value" labels added to everything shipped by remote_write (node, cluster); a series
  // that has the label already keeps its own, as Prometheus' external_labels.
  std::vector<std::string> external_labels;
  // name=value pairs added to every log line's labels (after the path's and the external ones).
  std::vector<std::string> log_labels;
  // The `instance` label of the agent's own series (empty: this host's name).
  std::string instance;
  // On-disk bound of the remote_write queue (<data_dir>/agent-queue); past it the oldest
  // unsent samples are dropped and counted.
  uint64_t queue_max_bytes = 512ULL << 20;
  milliseconds remote_write_timeout{30'000};
  milliseconds remote_write_max_backoff{5'000};
  std::vector<std::string> kafka_options;  // librdkafka name=value, for kafka:// remote_write
};

struct TsdbConfig {
  milliseconds retention{15LL * 24 * 3600 * 1000};
  uint64_t retention_bytes = 0;  // 0: no size limit
  uint64_t max_body_bytes = 32 << 20;
  // RocksDB's cache of uncompressed blocks, shared by all column families: what repeated
  // dashboard queries read comes from memory instead of decompressing again.
  uint64_t block_cache_bytes = 64 << 20;
  milliseconds query_timeout{120'000};
  uint64_t query_max_samples = 50'000'000;
  milliseconds query_lookback_delta{300'000};  // how far back an instant selector looks
  // Samples this far behind a series' newest are still accepted (Prometheus 2.42: none).
  milliseconds out_of_order_window{3'600'000};
  bool wal_sync = true;           // fsync each commit before answering the writer
  bool enable_admin_api = false;  // POST /api/v1/admin/tsdb/delete_series
  // Scale-out: read remote_write batches (snappy WriteRequest bodies) from a Kafka topic, as a
  // member of a consumer group whose instances share the partitions.
  std::vector<std::string> kafka_brokers;
  std::string kafka_consume;  // the topic; empty: no consumer
  std::string kafka_group = "vigil-tsdb";
  std::vector<std::string> kafka_options;  // librdkafka name=value
  // Ingest-only: remote_write batches published to this topic instead of stored.
  std::string kafka_publish;
  // Fan-out: queries answered over these stores (base URLs) instead of the local one.
  std::vector<std::string> query_shards;
};

struct LogshipConfig {
  std::vector<std::string> kafka_brokers;
  std::string kafka_topic = "vigil-logs";  // {{label}} is replaced by the stream's label value
  std::string kafka_compression = "lz4";
  milliseconds kafka_delivery_timeout{30000};
  std::vector<std::string> kafka_options;  // librdkafka name=value, for producer and consumer
  std::string kafka_consume;               // consumer mode: the topic read into the store
  std::string kafka_group = "vigil-logship";
  bool store = true;  // false: a forwarder (spool → Kafka), no log store, no query API
  milliseconds retention{7LL * 24 * 3600 * 1000};
  // A fan-out front: Loki queries go to these logship stores (base URLs) and are merged.
  std::vector<std::string> query_shards;
};

struct AlertdConfig {
  std::vector<std::string> rules;
  std::string query_url;
  std::string logs_url;
  std::vector<std::string> alertmanager_url;
  std::string pagerduty_url = "https://events.pagerduty.com/v2/enqueue";
  std::string pagerduty_key;
  std::vector<std::string> webhook_url;
  std::string remote_write;
  milliseconds eval_interval{60'000};
  milliseconds resend_delay{60'000};
  // "name=value": added to alerts sent (unless they have the label) and $externalLabels.
  std::vector<std::string> external_labels;
  std::string external_url;  // generatorURL's base; empty: http://<listen address>
};

struct Config {
  std::string data_dir = "./data";
  LogConfig log;
  ServerConfig server;
  AgentConfig agent;
  TsdbConfig tsdb;
  LogshipConfig logship;
  AlertdConfig alertd;
};

// A flag and the YAML key it overrides ("--retention" -> "tsdb.retention").
struct FlagSpec {
  std::string flag;  // "--retention"
  std::string key;   // "tsdb.retention"
  std::string help;
  bool repeated = false;  // list-valued: each use adds one value
};

// The flags of a component ("agent", "tsdb", "logship", "alertd"), or the common ones ("").
const std::vector<FlagSpec>& Flags(std::string_view component);

// Parses YAML text into `config` (over its current values). `file` names the source in errors.
Status LoadConfigText(std::string_view yaml, std::string_view file, Config& config);
// Reads and parses a file.
Status LoadConfigFile(const std::string& path, Config& config);
// Sets one key from flag values (one for a scalar key; any number for a list key).
Status ApplyOverride(std::string_view key, const std::vector<std::string>& values, Config& config);

// The reference of every key: YAML key, flag, which commands take it, the value it expects, its
// default and its help, as Markdown tables by section (docs/configuration.md holds it; a test
// keeps the two the same).
std::string ConfigReference();

// Byte sizes: "1048576", "512KiB", "64MB", "2GiB" (KB, MB, GB, TB are 1024-based, as in
// Prometheus' flags).
Result<uint64_t> ParseBytes(std::string_view s);

}  // namespace vigil
