#!/usr/bin/env bash
# Scale-out through Kafka (issue #9): the ingest of `vigil tsdb --kafka-consume` with 1, 2 and 3
# consumers in a group, and the query fan-out of `--query-shards` against one store, in one run
# on this machine. librdkafka's mock cluster (3 brokers) runs on the same cores.
#
# A backlog of SERIES series x SCRAPES scrapes is published first, as the agent publishes it
# (kafka_remote_write: batches split by series, a message per partition, 6 partitions). Then for
# K = 1, 2, 3 a new group of K stores reads the whole topic: the wall time until every sample is
# committed, and each store's CPU (utime + stime). Last, the same queries are timed on the K=1
# store (all the data) and through a --query-shards front over the K=2 stores, with the front's
# count of aggregations it pushed down to the shards.
#
#   bench/tsdb_kafka_ingest.sh                    # SERIES=20000 SCRAPES=30
set -euo pipefail
cd "$(dirname "$0")/.."
SERIES=${SERIES:-20000}
SCRAPES=${SCRAPES:-30}
QUERIES=${QUERIES:-20}
BUILD=${BUILD:-build}
work=$(mktemp -d /tmp/vigil-kbench-XXXXXX)
trap 'kill -9 $(jobs -p) 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT
source bench/lib.sh

mkfifo "$work/control"
"$BUILD/tests/vigil_kafka_mock" --brokers 3 --topic vigil-metrics:6 --control "$work/control" \
  > "$work/mock.out" 2>&1 &
for _ in $(seq 1 200); do grep -q bootstrap "$work/mock.out" && break; sleep 0.05; done
bootstrap=$(awk '/bootstrap/ {print $2}' "$work/mock.out")
echo "mock cluster: $bootstrap" >&2
"$BUILD/bench/kafka_remote_write" --brokers "$bootstrap" --series "$SERIES" --scrapes "$SCRAPES" \
  > "$work/produce.json"
total=$(grep "^{" "$work/produce.json" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["samples"])')
echo "published: $(grep "^{" "$work/produce.json")" >&2

metric() {  # metric URL NAME: the value of an unlabelled series, 0 if absent
  curl -s "$1/metrics" | awk -v n="$2" '$1 == n {print $2; f=1} END {if (!f) print 0}'
}
declare -A urls pids
results=()
for k in 1 2 3; do
  for i in $(seq 1 "$k"); do
    port=$(free_port)
    "$BUILD/vigil" tsdb --listen "127.0.0.1:$port" --data-dir "$work/g$k-$i" \
      --kafka-brokers "$bootstrap" --kafka-consume vigil-metrics --kafka-group "bench-$k" \
      --kafka-option session.timeout.ms=6000 --kafka-option heartbeat.interval.ms=500 \
      > "$work/g$k-$i.log" 2>&1 &
    pids[$k-$i]=$!
    urls[$k-$i]="http://127.0.0.1:$port"
  done
  t0=$(date +%s.%N)
  for i in $(seq 1 "$k"); do wait_ready "${urls[$k-$i]}/-/ready"; done
  while :; do
    sum=0
    for i in $(seq 1 "$k"); do
      v=$(metric "${urls[$k-$i]}" vigil_tsdb_kafka_samples_total)
      sum=$(python3 -c "print(int($sum + float('$v')))")
    done
    [ "$sum" -ge "$total" ] && break
    sleep 0.2
  done
  t1=$(date +%s.%N)
  cpus=""
  hz=$(getconf CLK_TCK)
  for i in $(seq 1 "$k"); do
    cpus="$cpus $(python3 -c "print($(cpu_ticks "${pids[$k-$i]}") / $hz)")"
  done
  results+=("$(python3 - "$k" "$t0" "$t1" "$total" $cpus <<'PY'
import sys
k, t0, t1, total = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
cpus = [float(x) for x in sys.argv[5:]]
wall = t1 - t0
print('{"consumers": %d, "samples": %d, "wall_s": %.2f, "samples_per_s": %.0f, '
      '"cpu_s": [%s], "cpu_s_per_million_samples": %.2f}'
      % (k, total, wall, total / wall, ", ".join("%.2f" % c for c in cpus), sum(cpus) / total * 1e6))
PY
)")
  echo "${results[-1]}" >&2
done

# Fan-out: the same queries on the K=1 store and through a front over the K=2 stores.
port=$(free_port)
"$BUILD/vigil" tsdb --listen "127.0.0.1:$port" --data-dir "$work/front" \
  --query-shards "${urls[2-1]},${urls[2-2]}" > "$work/front.log" 2>&1 &
front="http://127.0.0.1:$port"
wait_ready "$front/-/ready"
python3 - "${urls[1-1]}" "$front" "$QUERIES" <<'PY'
import json, sys, time, urllib.parse, urllib.request
single, front, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
end = time.time()
queries = [
    ("instant", {"query": "sum by (instance) (rate(node_cpu_seconds_total[5m]))", "time": end}),
    ("instant", {"query": "count({__name__=~\"node_.+\"})", "time": end}),
    ("range", {"query": "sum(rate(container_cpu_usage_seconds_total[2m]))", "start": end - 600,
               "end": end, "step": 15}),
    # Not pushed down (a quantile does not come from partial results): raw samples.
    ("instant", {"query": "quantile(0.9, rate(node_cpu_seconds_total[5m]))", "time": end}),
]
out = {}
for kind, params in queries:
    times = {}
    for name, base in (("single", single), ("front", front)):
        url = base + "/api/v1/" + ("query" if kind == "instant" else "query_range") + "?" + \
            urllib.parse.urlencode(params)
        body = json.load(urllib.request.urlopen(url))
        assert body["status"] == "success", body
        t0 = time.monotonic()
        for _ in range(n):
            urllib.request.urlopen(url).read()
        times[name] = (time.monotonic() - t0) / n * 1000
    out[params["query"]] = {"single_ms": round(times["single"], 1),
                            "front_ms": round(times["front"], 1),
                            "front_over_single": round(times["front"] / times["single"], 2)}
metrics = urllib.request.urlopen(front + "/metrics").read().decode()
out["front_pushdowns"] = {l.split("{")[1].split("}")[0]: float(l.split()[-1])
                          for l in metrics.splitlines()
                          if l.startswith("vigil_tsdb_shard_pushdowns_total{")}
print(json.dumps({"fan_out": out}))
PY
for r in "${results[@]}"; do echo "$r"; done
