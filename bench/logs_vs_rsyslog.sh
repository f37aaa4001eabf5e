#!/usr/bin/env bash
# Log shipping into Kafka: vigil (agent tailing → logship → Kafka) against rsyslog (imfile →
# omkafka, Debian's rsyslog + rsyslog-kafka), in one run on this machine, into the same mock
# Kafka cluster (librdkafka's, 3 brokers, as its own process). Both read the same file of
# realistic CRI lines (build/bench/log_tail --generate) from its start; each run ends when the
# topic's high watermarks (summed over partitions, by kcat -Q) count every line. Reported:
# lines/s and MiB/s of the file, peak RSS (VmHWM; vigil's is agent + logship) and CPU seconds.
# vigil runs twice: logship with its store (and Kafka), and as a forwarder (--store=false).
# Then the tailer alone (file → parsed, batched, encoded records; no network) in MiB/s per core.
#
# What each does per line is not the same, which the figures should be read with:
# - vigil parses CRI (time, stream, partial joins: the file's 1,020,000 lines are 1,000,000
#   records), labels each line, writes it to logship's fsynced spool and log store as well as
#   to Kafka (idempotent, acks=all, lz4);
# - rsyslog ships each raw line (no CRI parsing: partials stay two messages) from an in-memory
#   queue (its default; nothing on disk) to Kafka with acks=all and lz4.
#
#   bench/logs_vs_rsyslog.sh                  # 1,000,000 records
#   LINES=200000 bench/logs_vs_rsyslog.sh     # a quick look
set -euo pipefail
cd "$(dirname "$0")/.."
LINES=${LINES:-1000000}
BUILD=${BUILD:-build}
work=$(mktemp -d /tmp/vigil-lbench-XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT
source bench/lib.sh

"$BUILD/bench/log_tail" --generate "$LINES" --file "$work/cri.log" 2>/dev/null
file_lines=$(wc -l < "$work/cri.log")
file_bytes=$(stat -c %s "$work/cri.log")

mkfifo "$work/kafka-control"
"$BUILD/tests/vigil_kafka_mock" --brokers 3 --topic vigil-logs:3 --topic vigil-forward:3 --topic rsyslog:3 \
  --control "$work/kafka-control" > "$work/kafka.out" 2>&1 &
for _ in $(seq 1 200); do grep -q '^bootstrap' "$work/kafka.out" && break; sleep 0.05; done
bootstrap=$(awk '/^bootstrap/ {print $2}' "$work/kafka.out")

# Messages in a topic: the sum of its partitions' high watermarks.
watermarks() {
  kcat -b "$bootstrap" -Q -t "$1:0:-1" -t "$1:1:-1" -t "$1:2:-1" 2>/dev/null |
    awk '{s += $4} END {print s + 0}'
}
peak_rss_kib() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
# Waits until TOPIC holds WANT messages; prints the seconds since START (date +%s.%N).
wait_topic() {
  local topic=$1 want=$2 start=$3
  while (($(watermarks "$topic") < want)); do sleep 0.1; done
  python3 -c "import time; print(round(time.time() - $start, 2))"
}

# vigil: logship, then the agent tailing a kubelet-layout copy of the file. Twice: logship with
# its log store and Kafka (the default), and as a forwarder (--store=false: spool → Kafka).
# Prints: seconds agent_rss_kib logship_rss_kib agent_ticks logship_ticks.
run_vigil() {
  local name=$1 topic=$2 store=$3
  mkdir -p "$work/$name/pods/bench_web-1_u1/app"
  cp "$work/cri.log" "$work/$name/pods/bench_web-1_u1/app/0.log"
  local lp ap lpid apid start secs
  lp=$(free_port)
  "$BUILD/vigil" logship --listen 127.0.0.1:$lp --data-dir "$work/$name/logship" \
    --kafka-brokers "$bootstrap" --kafka-topic "$topic" --kafka-compression lz4 \
    --store="$store" > "$work/$name/logship.log" 2>&1 &
  lpid=$!
  wait_ready "http://127.0.0.1:$lp/-/ready"
  ap=$(free_port)
  start=$(date +%s.%N)
  "$BUILD/vigil" agent --listen 127.0.0.1:$ap --data-dir "$work/$name/agent" --collector node \
    --interval 1h --log-root "$work/$name/pods/*/*/*.log" \
    --log-push "http://127.0.0.1:$lp/loki/api/v1/push" > "$work/$name/agent.log" 2>&1 &
  apid=$!
  secs=$(wait_topic "$topic" "$LINES" "$start")
  echo "$secs $(peak_rss_kib $apid) $(peak_rss_kib $lpid) $(cpu_ticks $apid) $(cpu_ticks $lpid)"
  kill $apid $lpid
  wait $apid $lpid 2>/dev/null || true
}
read -r vigil_s agent_rss logship_rss agent_cpu logship_cpu < <(run_vigil vigil vigil-logs true)
read -r fwd_s fwd_agent_rss fwd_logship_rss fwd_agent_cpu fwd_logship_cpu \
  < <(run_vigil forwarder vigil-forward false)

# rsyslog: imfile → omkafka, in the foreground with its own configuration and state directory.
mkdir -p "$work/rsyslog/state"
cp "$work/cri.log" "$work/rsyslog/0.log"
cat > "$work/rsyslog/rsyslog.conf" <<CONF
global(workDirectory="$work/rsyslog/state" maxMessageSize="256k")
module(load="imfile")
module(load="omkafka")
template(name="record" type="list" option.jsonf="on") {
  property(outname="ts" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="line" name="msg" format="jsonf")
}
ruleset(name="tokafka") {
  action(type="omkafka" broker=["$bootstrap"] topic="rsyslog" template="record"
         confParam=["compression.codec=lz4", "request.required.acks=-1"])
}
input(type="imfile" file="$work/rsyslog/0.log" tag="bench" ruleset="tokafka"
      freshStartTail="off")
CONF
start=$(date +%s.%N)
rsyslogd -n -f "$work/rsyslog/rsyslog.conf" -i "$work/rsyslog/rsyslogd.pid" \
  > "$work/rsyslog/out.log" 2>&1 &
rpid=$!
rsyslog_s=$(wait_topic rsyslog "$file_lines" "$start")
rsyslog_rss=$(peak_rss_kib $rpid)
rsyslog_cpu=$(cpu_ticks $rpid)
kill $rpid; wait $rpid 2>/dev/null || true

tail_json=$("$BUILD/bench/log_tail" --file "$work/cri.log")
hz=$(getconf CLK_TCK)
python3 - <<PY
import json
lines, file_lines, mib, hz = $LINES, $file_lines, $file_bytes / 1048576, $hz
def vigil(secs, arss, lrss, acpu, lcpu):
  return {"seconds": secs, "lines_per_s": round(lines / secs), "mib_per_s": round(mib / secs, 1),
          "peak_rss_mib": round((arss + lrss) / 1024, 1), "cpu_s": round((acpu + lcpu) / hz, 2),
          "agent": {"peak_rss_mib": round(arss / 1024, 1), "cpu_s": round(acpu / hz, 2)},
          "logship": {"peak_rss_mib": round(lrss / 1024, 1), "cpu_s": round(lcpu / hz, 2)}}
out = {
  "records": lines, "file_lines": file_lines, "file_mib": round(mib, 1),
  "vigil_store_and_kafka": vigil($vigil_s, $agent_rss, $logship_rss, $agent_cpu, $logship_cpu),
  "vigil_forwarder": vigil($fwd_s, $fwd_agent_rss, $fwd_logship_rss, $fwd_agent_cpu, $fwd_logship_cpu),
  "rsyslog": {"seconds": $rsyslog_s, "lines_per_s": round(file_lines / $rsyslog_s),
              "mib_per_s": round(mib / $rsyslog_s, 1),
              "peak_rss_mib": round($rsyslog_rss / 1024, 1), "cpu_s": round($rsyslog_cpu / hz, 2)},
  "tailer_alone": json.loads('''$tail_json'''),
}
r = out["rsyslog"]
for k in ("vigil_store_and_kafka", "vigil_forwarder"):
  v = out[k]
  # Records per second: vigil's records are whole lines (partials joined); rsyslog's are the
  # file's lines. The same file either way: MiB/s compares like with like.
  out[k + "_over_rsyslog"] = {
    "mib_per_s": round(v["mib_per_s"] / r["mib_per_s"], 2),
    "records_per_s": round(v["lines_per_s"] / r["lines_per_s"], 2),
    "peak_rss": round(v["peak_rss_mib"] / r["peak_rss_mib"], 2),
    "cpu": round(v["cpu_s"] / r["cpu_s"], 2),
  }
print(json.dumps(out))
PY
