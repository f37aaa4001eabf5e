#!/usr/bin/env bash
# Ingest, CPU, memory, restart time and bytes per sample: vigil tsdb against Prometheus 2.42
# (--web.enable-remote-write-receiver), the same pre-encoded requests, client and concurrency,
# one after the other in one run on this machine. Prints one JSON object per measurement and a
# summary with the ratios. Needs a build (make build) and the Debian packages of setup.sh.
#
#   bench/tsdb_vs_prometheus.sh                     # 20k series x 240 steps (1 h at 15 s)
#   SERIES=100000 STEPS=3 bench/tsdb_vs_prometheus.sh   # memory per series at 100k
set -euo pipefail
cd "$(dirname "$0")/.."
SERIES=${SERIES:-20000}
STEPS=${STEPS:-240}
CONCURRENCY=${CONCURRENCY:-4}
BATCH=${BATCH:-500}
WAL_SYNC=${WAL_SYNC:-true}
BUILD=${BUILD:-build}
work=$(mktemp -d /tmp/vigil-bench-XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
tck=$(getconf CLK_TCK)
start_ms=$(( ($(date +%s) - 3 * 3600) * 1000 ))

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_seconds() { awk -v t="$tck" '{printf "%.2f", ($14+$15)/t}' "/proc/$1/stat"; }
rss_bytes() { awk '/VmRSS/{printf "%.0f", $2*1024}' "/proc/$1/status"; }  # %d overflows in mawk
# Readiness poll, not a fixed wait; prints the seconds it took.
wait_ready() {
  local url=$1 t0; t0=$(date +%s.%N)
  for _ in $(seq 1 6000); do
    if curl -sf -o /dev/null "$url"; then python3 -c "print($(date +%s.%N) - $t0)"; return 0; fi
    sleep 0.05
  done
  echo "not ready: $url" >&2; return 1
}
stop() { kill -TERM "$1"; while kill -0 "$1" 2>/dev/null; do sleep 0.05; done; }

load() {
  "$BUILD/bench/remote_write_load" --url "$1" --series "$SERIES" --steps "$STEPS" \
    --batch "$BATCH" --concurrency "$CONCURRENCY" --start-ms "$start_ms" "${@:2}"
}

run_server() {  # name start-command ready-url write-url
  local name=$1 cmd=$2 ready=$3 write=$4
  $cmd > "$work/$name.log" 2>&1 &
  local pid=$!
  wait_ready "$ready" > /dev/null
  local rss0 cpu0; rss0=$(rss_bytes $pid); cpu0=$(cpu_seconds $pid)
  local result; result=$(load "$write" "${@:5}")
  local cpu1 rss1; cpu1=$(cpu_seconds $pid); rss1=$(rss_bytes $pid)
  local samples rate
  samples=$(echo "$result" | python3 -c 'import json,sys; print(json.load(sys.stdin)["samples"])')
  rate=$(echo "$result" | python3 -c 'import json,sys; print(json.load(sys.stdin)["samples_per_second"])')
  stop $pid
  # Restart: time until ready again with everything it must replay.
  $cmd >> "$work/$name.log" 2>&1 &
  pid=$!
  local restart; restart=$(wait_ready "$ready")
  stop $pid
  python3 - "$name" "$samples" "$rate" "$cpu0" "$cpu1" "$rss0" "$rss1" "$restart" <<'PY'
import json, sys
n, samples, rate, c0, c1, r0, r1, restart = sys.argv[1:]
samples = int(samples)
import os
series = int(os.environ["SERIES"])
print(json.dumps({"server": n, "series": series,
  "samples": samples, "samples_per_second": float(rate),
  "cpu_seconds_per_million_samples": round((float(c1) - float(c0)) / samples * 1e6, 3),
  "rss_bytes_after": int(r1), "rss_bytes_before": int(r0),
  "rss_bytes_per_series": round((int(r1) - int(r0)) / series, 1),
  "restart_seconds": round(float(restart), 2)}))
PY
}

export SERIES
vp=$(free_port)
vigil_json=$(run_server vigil \
  "$BUILD/vigil tsdb --listen 127.0.0.1:$vp --data-dir $work/vigil --wal-sync $WAL_SYNC" \
  "http://127.0.0.1:$vp/-/ready" "http://127.0.0.1:$vp/api/v1/write")
echo "$vigil_json"
"$BUILD/bench/tsdb_compact" "$work/vigil/tsdb" > "$work/compact.json"
vigil_chunk_bytes=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["chunk_bytes"])' "$work/compact.json")
vigil_dir_bytes=$(du -sb "$work/vigil/tsdb" | cut -f1)

pp=$(free_port)
echo "global: {}" > "$work/prometheus.yml"
prom_json=$(run_server prometheus \
  "prometheus --config.file=$work/prometheus.yml --storage.tsdb.path=$work/prom --web.listen-address=127.0.0.1:$pp --web.enable-remote-write-receiver" \
  "http://127.0.0.1:$pp/-/ready" "http://127.0.0.1:$pp/api/v1/write" --openmetrics "$work/data.om")
echo "$prom_json"
promtool tsdb create-blocks-from openmetrics "$work/data.om" "$work/blocks" > /dev/null
prom_block_bytes=$(du -sb "$work/blocks" | cut -f1)
prom_chunk_bytes=$(du -cb "$work"/blocks/*/chunks/* | tail -1 | cut -f1)

python3 - "$vigil_json" "$prom_json" "$vigil_chunk_bytes" "$vigil_dir_bytes" "$prom_chunk_bytes" "$prom_block_bytes" <<'PY'
import json, sys
v, p = json.loads(sys.argv[1]), json.loads(sys.argv[2])
vc, vd, pc, pb = map(int, sys.argv[3:7])
n = v["samples"]
print(json.dumps({
  "series": v["series"], "samples": n,
  "ingest_ratio_vigil_over_prometheus": round(v["samples_per_second"] / p["samples_per_second"], 2),
  "cpu_ratio_vigil_over_prometheus": round(v["cpu_seconds_per_million_samples"] / p["cpu_seconds_per_million_samples"], 2),
  "vigil_chunk_bytes_per_sample": round(vc / n, 3), "prometheus_chunk_bytes_per_sample": round(pc / n, 3),
  "vigil_total_bytes_per_sample": round(vd / n, 3), "prometheus_block_bytes_per_sample": round(pb / n, 3),
  "bytes_ratio_chunks": round(vc / pc, 2), "bytes_ratio_total": round(vd / pb, 2),
  "rss_per_series_vigil": v["rss_bytes_per_series"], "rss_per_series_prometheus": p["rss_bytes_per_series"],
  "restart_seconds_vigil": v["restart_seconds"], "restart_seconds_prometheus": p["restart_seconds"]}, indent=1))
PY
